"""Integrations in a real browser (Debian's Chromium through Playwright, against the real app under uvicorn):
the WordPress plugin's page (examples/wordpress/pertinent.php rendered by PHP's command line with a stand-in for
WordPress's functions) and the snippet's engagement measures (active time, scroll depth, navigation path).

Without PHP (``make test`` installs php-cli: scripts/ensure-php.sh) the WordPress test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pertinent.privacy.identity_proof import user_hash
from pertinent.services import Services
from tests.support.browser import Tab, named, names, tab_factory
from tests.support.common import ADMIN, IDENTITY_SECRET, WRITE_KEY, LiveServer, make_settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
BLOCK = {"type": "headline", "content": {"title": "Hello from Pertinent"}, "template": "<h1>{{ title }}</h1>"}
SLOT = {"variants": {"a": "hero"}, "default": {"kind": "variant", "variant": "a"}}
WAIT_MS = 15_000


class Site:
    """The real app on loopback with one slot and a popular item; events read back through the admin API."""

    def __init__(self, root: Path) -> None:
        self.services = Services.build(make_settings(root, identity_secret=IDENTITY_SECRET))
        self.server = LiveServer(self.services)
        self.url = self.server.url
        self.http = httpx.Client(base_url=self.url, timeout=10, headers=ADMIN)
        assert self.http.put("/v1/blocks/hero", json=BLOCK).status_code == 200
        assert self.http.put("/v1/slots/home.hero", json=SLOT).status_code == 200

    def events(self, user_id: str) -> list[dict[str, Any]]:
        res = self.http.get(f"/v1/users/{user_id}/export")
        return [] if res.status_code == 404 else res.json()["events"]

    def wait_events(self, tab: Tab, user_id: str, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        for _ in range(WAIT_MS // 100):
            events = self.events(user_id)
            if done(events):
                return events
            tab.page.wait_for_timeout(100)
        pytest.fail(f"events of {user_id} never matched; stored: {names(self.events(user_id))}")

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.services.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("integrations-site"))
    yield s
    s.close()


@pytest.fixture
def new_tab(browser: Any, site: Site, request: pytest.FixtureRequest) -> Iterator[Callable[..., Tab]]:
    yield from tab_factory(browser, site.url, request.node.name)


def _php() -> str:
    reason = os.environ.get("PERTINENT_TEST_PHP_SKIP")
    if reason:
        pytest.skip(f"PHP unavailable: {reason}")
    php = os.environ.get("PERTINENT_TEST_PHP") or shutil.which("php")
    if not php:
        pytest.skip("php not found (make test installs Debian's php-cli package)")
    return php


def wordpress_page(site_url: str, post: str, wp_user: int | None) -> str:
    """The HTML WordPress serves with the plugin active (settings as options, the secret in wp-config.php)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PERTINENT_HOST": site_url,
        "PERTINENT_WRITE_KEY": WRITE_KEY,
        "PERTINENT_IDENTITY_SECRET": IDENTITY_SECRET,
    }
    if wp_user is not None:
        env["WP_USER"] = str(wp_user)
    harness = ROOT / "tests" / "support" / "wp_harness.php"
    plugin = ROOT / "examples" / "wordpress" / "pertinent.php"
    done = subprocess.run(
        [_php(), str(harness), str(plugin)], input=post, env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


POST = """[pertinent_slot id="home.hero"]<h1>Welcome to the blog</h1>[/pertinent_slot]
[pertinent_recommendations list="home" k="3" href="/?p={item_id}"]<p>Popular posts</p>[/pertinent_recommendations]"""


def test_wordpress_plugin_page_tracks_a_signed_in_user_and_fills_the_slot(new_tab, site):
    html = wordpress_page(site.url, POST, wp_user=7)
    proof = user_hash(IDENTITY_SECRET, "wp-7")
    assert f'data-user-id="wp-7" data-user-hash="{proof}"' in html  # PHP's HMAC agrees with the server's
    assert IDENTITY_SECRET not in html  # the secret never reaches the page
    tab = new_tab()
    tab.context.route(f"{site.url}/blog/hello", lambda route: route.fulfill(body=html, content_type="text/html"))
    tab.goto("/blog/hello")
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: true})")
    slot = tab.page.locator('[data-pertinent-slot="home.hero"]')
    tab.page.wait_for_function(
        "document.querySelector('[data-pertinent-slot]').dataset.pertinentState === 'filled'", timeout=WAIT_MS
    )
    assert slot.inner_text().strip() == "Hello from Pertinent"
    events = site.wait_events(tab, "wp-7", lambda ev: "page" in names(ev))
    page = named(events, "page")[0]
    assert page["context"]["page"]["path"] == "/blog/hello"


def test_wordpress_plugin_anonymous_visitor(new_tab, site):
    html = wordpress_page(site.url, POST, wp_user=None)
    assert "data-user-id" not in html and f'data-write-key="{WRITE_KEY}"' in html
    tab = new_tab()
    tab.context.route(f"{site.url}/blog/anon", lambda route: route.fulfill(body=html, content_type="text/html"))
    tab.goto("/blog/anon")
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: true})")
    tab.page.wait_for_function(
        "document.querySelector('[data-pertinent-slot]').dataset.pertinentState === 'filled'", timeout=WAIT_MS
    )
    anon = tab.anonymous_id()
    assert "page" in names(site.wait_events(tab, anon, lambda ev: "page" in names(ev)))
