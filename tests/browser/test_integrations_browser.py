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


LONG_PAGE = """<!doctype html><html><head><title>{title}</title>
<script src="/pertinent.js" data-write-key="{key}" data-banner="false" data-flush-interval="600000"
        data-flush-at="1000"></script></head>
<body style="margin:0"><div style="height:4000px">{title}</div></body></html>"""


def long_page(tab: Tab, path: str, title: str) -> str:
    body = LONG_PAGE.format(key=WRITE_KEY, title=title)
    tab.context.route(f"{tab.url}{path}", lambda route: route.fulfill(body=body, content_type="text/html"))
    return path


def test_engagement_is_measured_and_sent_once_when_the_page_goes(new_tab, site):
    tab = new_tab()
    tab.goto(long_page(tab, "/article", "An article"))
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: true})")
    anon = tab.anonymous_id()
    for y in (400, 900, 1500, 1800):  # read half-way down, scrolling with the wheel and the keyboard
        tab.page.mouse.wheel(0, 0)
        tab.page.evaluate(f"window.scrollTo(0, {y})")
        tab.page.keyboard.press("ArrowDown")
        tab.page.wait_for_timeout(300)
    assert tab.sent() == []  # no request per scroll: everything waits in the queue
    queued = tab.page.evaluate("JSON.parse(localStorage.getItem('pertinent.queue')).map(e => e.m.event || e.m.type)")
    assert queued == ["page"]  # measured, not yet reported
    tab.page.goto("about:blank")  # pagehide: the engagement is queued and the beacon carries it with the rest
    events = site.wait_events(tab, anon, lambda ev: "Page Engaged" in names(ev))
    (engaged,) = named(events, "Page Engaged")
    props = engaged["properties"]
    assert props["path"] == "/article" and props["title"] == "An article"
    assert 0.5 <= props["active_seconds"] <= 60  # active while reading (wall time of the test bounds it)
    assert 40 <= props["scroll_depth"] <= 70  # (1800 + 900) / 4000 of the page
    assert "continued" not in props
    assert [r for r in tab.sent() if r.resource_type == "fetch"] == []  # one beacon, no fetch
    profile = site.http.get(f"/v1/profiles/{anon}").json()["features"]["engagement"]
    assert profile["pages"] == 1 and profile["entry_pages"] == {"/article": 1}
    assert profile["avg_scroll_depth"] == props["scroll_depth"]


def test_navigation_path_and_single_page_apps(new_tab, site):
    tab = new_tab()
    tab.goto(long_page(tab, "/first", "First"))
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: true})")
    anon = tab.anonymous_id()
    tab.goto(long_page(tab, "/second", "Second"))  # a full navigation in the same tab
    tab.page.evaluate("history.pushState({}, '', '/second/tab-2'); pertinent.page('Tab 2')")  # a single-page app
    queued = tab.page.evaluate(
        "JSON.parse(localStorage.getItem('pertinent.queue')).map(e => [e.m.event || e.m.type, e.m.properties])"
    )
    assert [q[0] for q in queued[-2:]] == ["Page Engaged", "page"]  # the page before reports first
    assert queued[-2][1]["path"] == "/second" and queued[-1][1]["previous_path"] == "/second"
    tab.flush()

    def views(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in ev if e["type"] == "page"]

    events = site.wait_events(tab, anon, lambda ev: len(named(ev, "Page Engaged")) >= 2 and len(views(ev)) >= 3)
    pages = {e["properties"]["path"]: e["properties"].get("previous_path") for e in views(events)}
    assert pages == {"/first": None, "/second": "/first", "/second/tab-2": "/second"}
    paths = [e["properties"]["path"] for e in named(events, "Page Engaged")]
    assert sorted(paths) == ["/first", "/second"]  # /first reported by its pagehide, /second by the next page()


def test_engagement_can_be_turned_off(new_tab, site):
    tab = new_tab()
    body = LONG_PAGE.format(key=WRITE_KEY, title="Quiet").replace(
        'data-banner="false"', 'data-banner="false" data-engagement="false"'
    )
    tab.context.route(f"{site.url}/quiet", lambda route: route.fulfill(body=body, content_type="text/html"))
    tab.goto("/quiet")
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: true})")
    tab.page.evaluate("window.scrollTo(0, 2000); pertinent.page('Next')")
    queued = tab.page.evaluate("JSON.parse(localStorage.getItem('pertinent.queue')).map(e => e.m.event || e.m.type)")
    assert queued == ["page", "page"]
