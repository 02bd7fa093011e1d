"""What the browser tests share: finding Debian's Chromium, a small synthetic shop served by the real app under
uvicorn, a page in a fresh browser context, the admin dashboard's login.

The ``browser`` fixture itself lives in tests/conftest.py (a fixture imported into a test module would shadow
the test's argument of the same name). Screenshots land in test-artifacts/browser/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import pytest

from pertinent.browser.demo_content import install_demo_content
from pertinent.recommend.training import train_from_store
from pertinent.services import Services
from pertinent.synthetic import SyntheticConfig, SyntheticGenerator
from tests.support.common import ADMIN, ADMIN_KEY, IDENTITY_SECRET, LiveServer, make_settings

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
WAIT_S = 15  # the longest a test waits for events to land (a bound, never an assertion)


def chromium_path() -> str:
    reason = os.environ.get("PERTINENT_TEST_CHROMIUM_SKIP")
    if reason:
        pytest.skip(f"Chromium unavailable: {reason}")
    path = os.environ.get("PERTINENT_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium not found (make test installs Debian's chromium package)")
    return path


class Shop:
    """A small synthetic shop (events, catalogue, trained model) served by the real app on loopback."""

    def __init__(self, root: Path) -> None:
        # identity verification on, as `pertinent serve` runs: the demo's sign-in hands the page its user_hash
        self.services = Services.build(make_settings(root, demo_site=True, identity_secret=IDENTITY_SECRET))
        self.services.store.migrate()
        gen = SyntheticGenerator(SyntheticConfig(n_users=300, n_items=120, seed=3))
        for batch in gen.batches(500):
            self.services.ingest.ingest(batch, prefix="batch")
        self.catalogue = gen.catalogue()
        stored = self.services.recommend.upsert_items(
            [
                {
                    "item_id": r.item_id,
                    "title": r.title,
                    "categories": list(r.categories),
                    "tags": list(r.tags),
                    "attributes": {"price": float(r.price)},
                }
                for r in self.catalogue.itertuples()
            ]
        )
        assert stored.stored == len(self.catalogue)
        self.trained = train_from_store(self.services.store, root, "default")
        install_demo_content(self.services)  # the home.hero slot of `pertinent demo`, served by /v1/decide
        self.server = LiveServer(self.services)
        self.url = self.server.url
        self.http = httpx.Client(base_url=self.url, timeout=10, headers=ADMIN)

    def export(self, user_id: str) -> dict[str, Any] | None:
        res = self.http.get(f"/v1/users/{quote(user_id, safe='')}/export")
        if res.status_code == 404:
            return None
        assert res.status_code == 200, res.text
        return res.json()

    def events(self, user_id: str) -> list[dict[str, Any]]:
        data = self.export(user_id)
        return [] if data is None else data["events"]

    def wait_events(self, user_id: str, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT_S
        while True:
            events = self.events(user_id)
            if done(events):
                return events
            if time.monotonic() > deadline:
                pytest.fail(f"events of {user_id} never matched; stored: {[names(events)]}")
            time.sleep(0.1)

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.services.close()

    @classmethod
    def serve(cls, tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Any]:
        """For a module fixture: one served for the module, closed after it."""
        shop = cls(tmp_path_factory.mktemp(name))
        yield shop
        shop.close()


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] or e["type"] for e in events]


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if (e["event"] or e["type"]) == name]


class Tab:
    """A page in a fresh browser context (its own cookies and storage), with the requests it made."""

    def __init__(self, context: Any, url: str) -> None:
        self.context = context
        self.url = url
        self.page = context.new_page()
        self.requests: list[Any] = []
        self.errors: list[str] = []
        context.on("request", lambda req: self.requests.append(req))  # beacons sent while unloading too
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def goto(self, path: str) -> None:
        self.page.goto(self.url + path)
        self.page.wait_for_function("window.pertinent && window.pertinent.__pertinent")

    def sent(self, path: str = "/v1/batch") -> list[Any]:
        self.page.evaluate("0")  # the sync API delivers request events only while it is called
        return [r for r in self.requests if urlparse(r.url).path == path]

    def anonymous_id(self) -> str:
        return self.page.evaluate("pertinent.user().anonymousId")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def click_banner(self, action: str) -> None:
        self.page.locator(f"[data-pertinent-consent] button[data-action={action}]").click()
        self.page.wait_for_selector("[data-pertinent-consent]", state="detached")

    def flush(self) -> None:
        self.page.evaluate("pertinent.flush()")  # resolves once the queue is sent (or retries gave up)

    # ------------------------------------------------------------------------------------------ dashboard
    def dashboard_login(self, key: str = ADMIN_KEY, path: str = "/dashboard/login") -> None:
        """Log in through the dashboard's form, as a person does."""
        self.page.goto(self.url + path)
        self.page.fill("#admin_key", key)
        self.page.click("[data-testid=login-submit]")
        self.page.wait_for_load_state()

    def testid(self, name: str) -> str:
        """The visible text of the element with this data-testid (whitespace collapsed)."""
        return " ".join(self.page.get_by_test_id(name).inner_text().split())


def tab_factory(browser: Any, url: str, test_name: str) -> Iterator[Callable[..., Tab]]:
    """For a fixture: makes Tabs (each in its own context, 1280x900 unless told); at the end keeps a screenshot of
    each, closes them and fails the test if a page raised a JavaScript error."""
    contexts: list[Any] = []
    tabs: list[Tab] = []

    def make(**options: Any) -> Tab:
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
        contexts.append(context)
        tabs.append(Tab(context, url))
        return tabs[-1]

    yield make
    for i, tab in enumerate(tabs):
        if tab.page.url.startswith("http"):
            tab.shot(f"{test_name}-end{i}")
    for context in contexts:
        context.close()
    errors = [e for t in tabs for e in t.errors]
    assert not errors, f"JavaScript errors on the page: {errors}"


def overflows(page: Any) -> bool:
    """Whether the page scrolls sideways (content wider than the viewport)."""
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
