"""The snippet and the demo shop in a real browser: Debian's Chromium, driven by Playwright through its
executable path (no browser download), against the real app under uvicorn with a small synthetic shop and a
trained model. What the browser sends is checked where it lands: through the admin API (data export).

``make test`` installs Chromium when it is missing (scripts/ensure-chromium.sh). Without it, or when it cannot
start, these tests are skipped with the reason. Screenshots are kept in test-artifacts/browser/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
import pytest

from pertinent.browser.demo_content import install_demo_content
from pertinent.recommend.service import train_from_store
from pertinent.services import Services
from pertinent.synthetic import SyntheticConfig, SyntheticGenerator
from tests.conftest import ADMIN, WRITE_KEY, LiveServer, make_settings

pytestmark = pytest.mark.browser
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make install-dev)")
    path = chromium_path()
    pw = sync_api.sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=path, headless=True)
    except Exception as exc:  # noqa: BLE001 - any launch failure is a reason to skip, reported as such
        pw.stop()
        pytest.skip(f"Chromium at {path} cannot start: {str(exc).splitlines()[0]}")
    yield chromium
    chromium.close()
    pw.stop()


class Shop:
    """A small synthetic shop (events, catalogue, trained model) served by the real app on loopback."""

    def __init__(self, root: Path) -> None:
        self.services = Services.build(make_settings(root, demo_site=True))
        self.services.store.migrate()
        gen = SyntheticGenerator(SyntheticConfig(n_users=300, n_items=120, seed=3))
        for batch in gen.batches(500):
            self.services.ingest.ingest(batch, prefix="batch")
        self.catalogue = gen.catalogue()
        stored = self.services.recommend.upsert_items([
            {"item_id": r.item_id, "title": r.title, "categories": list(r.categories), "tags": list(r.tags),
             "attributes": {"price": float(r.price)}} for r in self.catalogue.itertuples()])
        assert stored.stored == len(self.catalogue)
        train_from_store(self.services.store, root, "default")
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


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] or e["type"] for e in events]


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if (e["event"] or e["type"]) == name]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Shop]:
    s = Shop(tmp_path_factory.mktemp("browser-shop"))
    yield s
    s.close()


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


@pytest.fixture
def new_tab(browser: Any, shop: Shop, request: pytest.FixtureRequest) -> Iterator[Callable[..., Tab]]:
    contexts: list[Any] = []
    tabs: list[Tab] = []

    def make(**options: Any) -> Tab:
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
        contexts.append(context)
        tabs.append(Tab(context, shop.url))
        return tabs[-1]

    yield make
    for i, tab in enumerate(tabs):
        if tab.page.url.startswith("http"):
            tab.shot(f"{request.node.name}-end{i}")
    for context in contexts:
        context.close()
    errors = [e for t in tabs for e in t.errors]
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def tab(new_tab: Callable[..., Tab]) -> Tab:
    return new_tab()


def test_banner_holds_everything_until_accepted_then_events_carry_the_choice(tab: Tab, shop: Shop) -> None:
    tab.goto("/demo/")
    banner = tab.page.locator("[data-pertinent-consent]")
    assert banner.is_visible()
    tab.page.wait_for_selector("#listing .card")
    tab.page.evaluate("pertinent.track('Before Choice', {n: 1})")
    tab.flush()
    anon = tab.anonymous_id()
    assert tab.sent() == [] and tab.sent("/v1/consent") == []
    assert shop.export(anon) is None  # nothing reached the server, not even a profile
    tab.shot("consent-banner")

    tab.click_banner("accept")
    events = shop.wait_events(anon, lambda ev: {"page", "Before Choice"} <= set(names(ev)))
    page = named(events, "page")[0]
    assert page["context"]["consent"]["categoryPreferences"] == {"analytics": True, "personalization": True}
    assert page["context"]["page"]["path"] == "/demo/" and page["context"]["library"]["name"] == "pertinent.js"
    assert page["properties"]["path"] == "/demo/" and page["properties"]["title"] == "Pertinent demo shop"
    assert named(events, "Before Choice")[0]["properties"] == {"n": 1}
    assert tab.sent()[0].headers["authorization"].startswith("Basic ")
    consent = shop.export(anon)["consent_history"]
    assert {(c["purpose"], c["granted"]) for c in consent if c["source"] == "api"} == \
        {("analytics", True), ("personalization", True)}
    cookies = {c["name"]: c["value"] for c in tab.context.cookies()}
    assert cookies["pt_aid"] == anon and "pt_consent" in cookies

    tab.goto("/demo/")  # the choice is remembered: no banner on the next page
    tab.page.wait_for_selector("#listing .card")
    assert tab.page.locator("[data-pertinent-consent]").count() == 0


def test_rejecting_consent_stops_tracking(tab: Tab, shop: Shop) -> None:
    tab.goto("/demo/")
    tab.click_banner("reject")
    anon = tab.anonymous_id()
    tab.page.wait_for_selector("#listing .card")
    tab.page.locator("#listing .card").first.click()
    tab.page.wait_for_selector("#add-to-cart")
    tab.page.click("#add-to-cart")
    tab.page.click("#buy-now")
    tab.page.evaluate("dataLayer.push({event: 'Newsletter Signup'})")
    tab.flush()
    tab.goto("/demo/cart")  # pagehide: the beacon has nothing to send either
    tab.page.wait_for_selector("#place-order:not([disabled])")
    tab.page.click("#place-order")
    tab.flush()
    tab.shot("consent-rejected")

    assert tab.sent() == []
    data = shop.export(anon)  # the refusal itself is recorded, as proof of the choice
    assert data is not None and data["events"] == []
    assert {(c["purpose"], c["granted"]) for c in data["consent_history"]} == \
        {("analytics", False), ("personalization", False)}
    assert tab.sent("/v1/decide") == []  # no personalised content either
    recs = [parse_qs(urlparse(r.url).query) for r in tab.sent("/v1/recommendations")]
    assert recs and all(q["user_id"][0].startswith("pt-np-") and q["user_id"][0] != anon for q in recs)


def test_analytics_without_personalization(tab: Tab, shop: Shop) -> None:
    tab.goto("/demo/")
    tab.page.click("[data-pertinent-consent] button[data-action=customize]")
    tab.page.check("[data-pertinent-consent] input[name=analytics]")
    tab.shot("consent-customize")
    tab.click_banner("save")
    anon = tab.anonymous_id()
    tab.page.evaluate("pertinent.track('Analytics Only')")
    tab.flush()
    events = shop.wait_events(anon, lambda ev: "Analytics Only" in names(ev))
    assert named(events, "Analytics Only")[0]["context"]["consent"]["categoryPreferences"] == \
        {"analytics": True, "personalization": False}
    assert all(not e["personalize"] for e in events)
    assert tab.sent("/v1/decide") == []
    recs = [parse_qs(urlparse(r.url).query)["user_id"][0] for r in tab.sent("/v1/recommendations")]
    assert recs and anon not in recs


def rec_cards(tab: Tab, selector: str = "#recommended") -> list[str]:
    tab.page.wait_for_selector(f"{selector}[data-pertinent-state=filled]")
    return tab.page.eval_on_selector_all(f"{selector} [data-item-id]", "els => els.map(e => e.dataset.itemId)")


def hero(tab: Tab) -> dict[str, Any]:
    tab.page.wait_for_selector(".hero[data-pertinent-state=filled]")
    return tab.page.eval_on_selector(".hero", """el => ({reason: el.dataset.reason, variant: el.dataset.variant,
        decision: el.dataset.decisionId, title: el.querySelector('h2') && el.querySelector('h2').textContent,
        items: [...el.querySelectorAll('[data-item-id]')].map(e => e.dataset.itemId)})""")


def test_browsing_changes_recommendations_and_the_hero(tab: Tab, shop: Shop) -> None:
    tab.goto("/demo/")
    tab.click_banner("accept")
    anon = tab.anonymous_id()
    before = rec_cards(tab)
    assert tab.page.get_attribute("#recommended", "data-source") == "popularity"
    first = hero(tab)  # a new visitor: the demo slot's bandit picks one of two headlines
    assert first["reason"] == "bandit" and first["variant"] in {"welcome", "deals"}
    assert first["title"] in {"Welcome to the demo shop", "Fresh picks every day"} and first["items"] == []
    tab.shot("recommendations-before")

    tab.goto("/demo/category/toys")
    tab.page.wait_for_selector("#listing .card")
    products = tab.page.eval_on_selector_all("#listing .card", "els => els.map(e => e.dataset.itemId)")[:4]
    for item_id in products:
        tab.goto(f"/demo/products/{item_id}")
        tab.page.wait_for_selector("#add-to-cart")
    tab.page.click("#add-to-cart")
    tab.flush()
    events = shop.wait_events(anon, lambda ev: len(named(ev, "Product Viewed")) == 4 and "Product Added" in names(ev))
    assert [e["properties"]["product_id"] for e in named(events, "Product Viewed")] == products
    assert named(events, "Product Added")[0]["properties"]["product_id"] == products[-1]

    tab.goto("/demo/")
    after = rec_cards(tab)
    personal = hero(tab)
    tab.shot("recommendations-after")
    assert tab.page.get_attribute("#recommended", "data-source") == "model"
    assert after != before and not set(after) & set(products)  # personal now, and not what was just seen
    reasons = tab.page.eval_on_selector_all("#recommended [data-field=reason]", "els => els.map(e => e.textContent)")
    assert any(r != "popular" for r in reasons)
    # the hero too: enough events for the slot's recommender rule, a product list with catalogue titles
    assert personal["reason"] == "recommender" and personal["title"] == "Picked for you"
    assert personal["items"] and not set(personal["items"]) & set(products)
    titles = tab.page.eval_on_selector_all(".hero [data-field=title]", "els => els.map(e => e.textContent)")
    assert titles == [shop.catalogue.set_index("item_id").title[i] for i in personal["items"]]

    tab.page.locator(".hero [data-item-id]").first.click()
    tab.page.wait_for_url(re.compile(r"/demo/products/"))
    tab.page.wait_for_selector("#add-to-cart")
    tab.goto("/demo/")
    tab.page.locator("#recommended [data-item-id]").first.click()
    tab.page.wait_for_url(re.compile(r"/demo/products/"))
    tab.page.wait_for_selector("#add-to-cart")
    events = shop.wait_events(anon, lambda ev: {"Recommendation Clicked", "Slot Clicked"} <= set(names(ev)))
    viewed = {e["properties"]["decision_id"]: e["properties"] for e in named(events, "Slot Viewed")}
    assert viewed[first["decision"]] == {"decision_id": first["decision"], "slot": "home.hero",
                                         "variant": first["variant"]}
    assert viewed[personal["decision"]]["slot"] == "home.hero"
    assert named(events, "Slot Clicked")[0]["properties"] == {
        "decision_id": personal["decision"], "slot": "home.hero", "variant": None, "item_id": personal["items"][0]}
    clicked = named(events, "Recommendation Clicked")[0]["properties"]
    assert clicked["rank"] == 1 and clicked["list"] == "home" and clicked["source"] == "model" and clicked["model"]


def test_identify_then_recommendations_use_the_user_id(tab: Tab, shop: Shop) -> None:
    tab.goto("/demo/")
    tab.click_banner("accept")
    anon = tab.anonymous_id()
    tab.page.fill("#signin-user", "browser-alice")
    tab.page.click("#signin button")
    tab.page.wait_for_selector("#whoami:not([hidden])")
    tab.flush()
    events = shop.wait_events("browser-alice", lambda ev: "identify" in names(ev))
    identify = named(events, "identify")[0]
    assert shop.export(anon)["profile_id"] == shop.export("browser-alice")["profile_id"]  # stitched
    assert identify["context"]["consent"]["categoryPreferences"]["analytics"] is True
    tab.goto("/demo/")
    rec_cards(tab)
    users = [parse_qs(urlparse(r.url).query)["user_id"][0] for r in tab.sent("/v1/recommendations")]
    assert users[-1] == "browser-alice"


def test_datalayer_entries_and_pushes_become_events(tab: Tab, shop: Shop) -> None:
    tab.page.add_init_script("""window.dataLayer = [{event: 'gtm.js', 'gtm.start': 1},
        {event: 'Newsletter Signup', plan: 'weekly'}, {pageType: 'home'}];""")
    tab.goto("/demo/")
    tab.click_banner("accept")
    anon = tab.anonymous_id()
    tab.page.evaluate("""() => {
        dataLayer.push({event: 'add_to_cart', ecommerce: {currency: 'EUR', value: 9.99,
            items: [{item_id: 'sku-000001', item_name: 'Thing', item_category: 'toys', price: 9.99, quantity: 1}]}});
        function gtag() { dataLayer.push(arguments); }
        gtag('event', 'purchase', {transaction_id: 'T-1', value: 20, currency: 'EUR',
            items: [{item_id: 'sku-000002', price: 10, quantity: 2}]});
        dataLayer.push({event: 'gtm.click'});
    }""")
    tab.flush()
    wanted = {"Newsletter Signup", "Product Added", "Order Completed"}
    events = shop.wait_events(anon, lambda ev: wanted <= set(names(ev)))
    assert named(events, "Newsletter Signup")[0]["properties"] == {"plan": "weekly"}
    added = named(events, "Product Added")[0]["properties"]
    assert added["product_id"] == "sku-000001" and added["price"] == 9.99 and added["category"] == "toys"
    assert added["currency"] == "EUR" and added["value"] == 9.99
    order = named(events, "Order Completed")[0]["properties"]
    assert order["order_id"] == "T-1" and order["revenue"] == 20
    assert order["products"] == [{"product_id": "sku-000002", "sku": "sku-000002", "price": 10, "quantity": 2}]
    assert not [n for n in names(events) if n.startswith("gtm.")]


TEST_PAGE = """<!doctype html><html><head><title>snippet test</title>
<script src="/pertinent.js" data-write-key="{key}" data-banner="false" {attrs}></script></head>
<body><h1>A page of some site</h1></body></html>"""


def site_page(tab: Tab, **attrs: str) -> str:
    """A page of "some site" that only loads the snippet (served from the live server's origin)."""
    extra = " ".join(f'data-{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    body = TEST_PAGE.format(key=WRITE_KEY, attrs=extra)
    tab.context.route(f"{tab.url}/site-page", lambda route: route.fulfill(body=body, content_type="text/html"))
    return "/site-page"


BEACON_SPY = """(() => {
  const send = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => {  // noted in sessionStorage: the page is gone when it matters
    const log = JSON.parse(sessionStorage.getItem('beacons') || '[]');
    log.push({url: String(url), type: data && data.type});
    sessionStorage.setItem('beacons', JSON.stringify(log));
    return send(url, data);
  };
})()"""


def test_send_beacon_flushes_the_queue_when_the_page_goes_away(tab: Tab, shop: Shop) -> None:
    tab.page.add_init_script(BEACON_SPY)
    tab.goto(site_page(tab, flush_interval="600000", flush_at="1000"))  # nothing leaves on its own
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: true})")
    tab.page.evaluate("pertinent.track('Beacon Test', {via: 'pagehide'})")
    anon = tab.anonymous_id()
    queued = tab.page.evaluate("JSON.parse(localStorage.getItem('pertinent.queue')).map(e => e.m.event || e.m.type)")
    assert queued == ["page", "Beacon Test"] and tab.sent() == []

    # pagehide -> navigator.sendBeacon (no headers possible: the write key travels in the body)
    tab.page.goto("about:blank")
    events = shop.wait_events(anon, lambda ev: {"page", "Beacon Test"} <= set(names(ev)))
    assert named(events, "Beacon Test")[0]["properties"] == {"via": "pagehide"}
    assert [r for r in tab.sent() if r.resource_type == "fetch"] == []  # it was not a fetch
    tab.page.go_back()
    beacons = tab.page.evaluate("JSON.parse(sessionStorage.getItem('beacons'))")
    assert beacons == [{"url": f"{tab.url}/v1/batch", "type": "text/plain;charset=utf-8"}]


def test_failed_batches_are_retried_with_backoff(tab: Tab, shop: Shop) -> None:
    attempts: list[int] = []

    def flaky(route: Any) -> None:
        attempts.append(1)
        if len(attempts) <= 2:
            route.fulfill(status=503, body='{"success": false}', content_type="application/json")
        else:
            route.continue_()

    tab.context.route(f"{tab.url}/v1/batch", flaky)
    tab.goto(site_page(tab, retry_base_ms="20", flush_interval="600000", flush_at="1000"))
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: false})")
    tab.page.evaluate("pertinent.track('Retry Test')")
    anon = tab.anonymous_id()
    tab.flush()  # 503, wait, 503, wait longer, then delivered
    assert len(attempts) == 3
    assert tab.page.evaluate("localStorage.getItem('pertinent.queue')") is None
    events = shop.wait_events(anon, lambda ev: "Retry Test" in names(ev))
    assert len(named(events, "Retry Test")) == 1


def test_a_rejected_batch_is_dropped_not_retried(tab: Tab, shop: Shop) -> None:
    tab.goto(site_page(tab, flush_interval="600000", flush_at="1000", auto_page="false"))
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: true})")
    tab.page.evaluate("pertinent.track('x'.repeat(300))")  # the server refuses event names over 200 characters
    tab.flush()
    assert len(tab.sent()) == 1
    assert tab.page.evaluate("localStorage.getItem('pertinent.queue')") is None


DECISION = {
    "decision_id": "dec-1", "slot": "home.hero", "variant": "spring",
    "block": {"type": "headline", "content": {"title": "Spring deals", "subtitle": "Fresh picks for you",
                                              "url": "/demo/category/garden", "cta": "Shop garden"}},
    "html": None, "reason": {"kind": "experiment", "detail": "spring-test: variant spring"},
}


def fake_decide(tab: Tab, body: dict[str, Any]) -> list[dict[str, list[str]]]:
    """/v1/decide answered by the test, in the route's shape: block kinds and failures the demo slot does not
    produce (the real route is exercised in test_browsing_changes_recommendations_and_the_hero)."""
    asked: list[dict[str, list[str]]] = []

    def answer(route: Any) -> None:
        asked.append(parse_qs(urlparse(route.request.url).query))
        route.fulfill(status=200, body=json.dumps(body), content_type="application/json")

    tab.context.route(re.compile(r".*/v1/decide\?.*"), answer)
    return asked


def test_slot_filled_from_a_decision_and_its_impression_and_click_tracked(tab: Tab, shop: Shop) -> None:
    asked = fake_decide(tab, DECISION)
    tab.goto("/demo/")
    assert tab.page.locator(".hero h1").inner_text() == "Welcome to the demo shop"  # fallback before consent
    tab.click_banner("accept")
    anon = tab.anonymous_id()
    tab.page.wait_for_selector(".hero[data-pertinent-state=filled]")
    assert asked[-1] == {"slot": ["home.hero"], "anonymous_id": [anon]}
    assert tab.page.locator(".hero h2").inner_text() == "Spring deals"
    assert tab.page.get_attribute(".hero", "data-variant") == "spring"
    rec_cards(tab)
    tab.shot("slot-filled")
    tab.page.click(".hero .pertinent-cta")
    tab.page.wait_for_url(re.compile(r"/demo/category/garden"))
    events = shop.wait_events(anon, lambda ev: {"Slot Viewed", "Slot Clicked"} <= set(names(ev)))
    expected = {"decision_id": "dec-1", "slot": "home.hero", "variant": "spring"}
    assert [e["properties"] for e in named(events, "Slot Viewed")] == [expected]
    assert named(events, "Slot Clicked")[0]["properties"] == expected


def test_slot_with_a_product_list_and_a_server_rendered_fragment(tab: Tab, shop: Shop) -> None:
    items = [{"item_id": r.item_id} for r in shop.catalogue.head(3).itertuples()]
    listing = {**DECISION, "decision_id": "dec-2", "variant": None,
               "block": {"type": "product_list", "content": {"title": "Our picks", "items": items}},
               "reason": {"kind": "recommender", "detail": "default model"}}
    fake_decide(tab, listing)
    tab.goto("/demo/")
    tab.click_banner("accept")
    anon = tab.anonymous_id()
    tab.page.wait_for_selector(".hero[data-pertinent-state=filled] [data-item-id]")
    titles = tab.page.eval_on_selector_all(".hero [data-field=title]", "els => els.map(e => e.textContent)")
    assert titles == list(shop.catalogue.head(3).title)  # titles from the public catalogue
    tab.shot("slot-product-list")
    tab.page.locator(".hero [data-item-id]").nth(1).click()
    tab.page.wait_for_url(re.compile(r"/demo/products/"))
    events = shop.wait_events(anon, lambda ev: "Slot Clicked" in names(ev))
    assert named(events, "Slot Clicked")[0]["properties"] == {
        "decision_id": "dec-2", "slot": "home.hero", "variant": None, "item_id": items[1]["item_id"]}

    tab.context.unroute(re.compile(r".*/v1/decide\?.*"))
    fake_decide(tab, {**DECISION, "html": '<div class="server-rendered"><h2>Rendered by the server</h2></div>'})
    tab.goto("/demo/")
    tab.page.wait_for_selector(".hero .server-rendered")
    assert tab.page.locator(".hero h2").inner_text() == "Rendered by the server"


def test_slot_keeps_its_fallback_when_decide_fails(tab: Tab, shop: Shop) -> None:
    tab.context.route(re.compile(r".*/v1/decide\?.*"), lambda route: route.fulfill(
        status=404, body='{"success": false, "code": "not_found"}', content_type="application/json"))
    tab.goto("/demo/")
    tab.click_banner("accept")
    tab.page.wait_for_selector(".hero[data-pertinent-state=fallback]")
    assert tab.page.locator(".hero h1").inner_text() == "Welcome to the demo shop"


def test_demo_on_a_phone(new_tab: Callable[..., Tab], shop: Shop) -> None:
    tab = new_tab(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    tab.goto("/demo/")
    tab.shot("phone-banner")
    tab.click_banner("accept")
    rec_cards(tab)
    assert tab.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.shot("phone-home")
    item = shop.catalogue.item_id.iloc[0]
    tab.goto(f"/demo/products/{item}")
    tab.page.wait_for_selector("#add-to-cart")
    assert tab.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.shot("phone-product")
