"""The snippet and the demo shop in a real browser: Debian's Chromium, driven by Playwright through its
executable path (no browser download), against the real app under uvicorn with a small synthetic shop and a
trained model. What the browser sends is checked where it lands: through the admin API (data export).

``make test`` installs Chromium when it is missing (scripts/ensure-chromium.sh). Without it, or when it cannot
start, these tests are skipped with the reason. Screenshots are kept in test-artifacts/browser/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from pertinent.privacy.identity_proof import user_hash
from tests.support.browser import Shop, Tab, named, names, tab_factory
from tests.support.common import IDENTITY_SECRET, WRITE_KEY

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Shop]:
    yield from Shop.serve(tmp_path_factory, "browser-shop")


@pytest.fixture
def new_tab(browser: Any, shop: Shop, request: pytest.FixtureRequest) -> Iterator[Callable[..., Tab]]:
    yield from tab_factory(browser, shop.url, request.node.name)


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
    assert {(c["purpose"], c["granted"]) for c in consent if c["source"] == "api"} == {
        ("analytics", True),
        ("personalization", True),
    }
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
    assert {(c["purpose"], c["granted"]) for c in data["consent_history"]} == {
        ("analytics", False),
        ("personalization", False),
    }
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
    assert named(events, "Analytics Only")[0]["context"]["consent"]["categoryPreferences"] == {
        "analytics": True,
        "personalization": False,
    }
    assert all(not e["personalize"] for e in events)
    assert tab.sent("/v1/decide") == []
    recs = [parse_qs(urlparse(r.url).query)["user_id"][0] for r in tab.sent("/v1/recommendations")]
    assert recs and anon not in recs


def rec_cards(tab: Tab, selector: str = "#recommended") -> list[str]:
    tab.page.wait_for_selector(f"{selector}[data-pertinent-state=filled]")
    return tab.page.eval_on_selector_all(f"{selector} [data-item-id]", "els => els.map(e => e.dataset.itemId)")


def hero(tab: Tab) -> dict[str, Any]:
    tab.page.wait_for_selector(".hero[data-pertinent-state=filled]")
    return tab.page.eval_on_selector(
        ".hero",
        """el => ({reason: el.dataset.reason, variant: el.dataset.variant,
        decision: el.dataset.decisionId, title: el.querySelector('h2') && el.querySelector('h2').textContent,
        items: [...el.querySelectorAll('[data-item-id]')].map(e => e.dataset.itemId)})""",
    )


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
    assert viewed[first["decision"]] == {
        "decision_id": first["decision"],
        "slot": "home.hero",
        "variant": first["variant"],
    }
    assert viewed[personal["decision"]]["slot"] == "home.hero"
    assert named(events, "Slot Clicked")[0]["properties"] == {
        "decision_id": personal["decision"],
        "slot": "home.hero",
        "variant": None,
        "item_id": personal["items"][0],
    }
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
    assert shop.export(anon)["profile_id"] == shop.export("browser-alice")["profile_id"]  # stitched: proven
    assert identify["context"]["consent"]["categoryPreferences"]["analytics"] is True
    proof = user_hash(IDENTITY_SECRET, "browser-alice")
    sent = [m for r in tab.sent() for m in json.loads(r.post_data)["batch"] if m.get("userId") == "browser-alice"]
    assert sent and all(m["context"]["userHash"] == proof for m in sent)  # every message of the user carries it
    assert "userHash" not in identify["context"]  # checked, never stored
    tab.goto("/demo/")
    rec_cards(tab)
    recs = tab.sent("/v1/recommendations")
    assert parse_qs(urlparse(recs[-1].url).query)["user_id"] == ["browser-alice"]
    assert recs[-1].headers["x-user-hash"] == proof and "user_hash" not in recs[-1].url  # a header, not the URL


def test_identify_without_proof_links_nothing_and_reads_nothing(tab: Tab, shop: Shop) -> None:
    """A page that names a user id its server did not sign (anyone can: the write key is public) gets nothing of
    that user, and its device is not attached to them."""
    item = shop.catalogue.item_id.iloc[0]
    with httpx.Client(base_url=shop.url, auth=(WRITE_KEY, "")) as site:  # the victim's own history
        viewed = {"userId": "browser-victim", "event": "Product Viewed", "properties": {"product_id": item}}
        assert site.post("/v1/track", json=viewed).json()["stored"] == 1
    victim = shop.export("browser-victim")["profile_id"]
    tab.goto("/demo/")
    tab.click_banner("accept")
    anon = tab.anonymous_id()
    tab.page.evaluate("pertinent.identify('browser-victim', {name: 'mallory'})")
    tab.flush()
    shop.wait_events(anon, lambda ev: "identify" in names(ev))  # stored on the device's own profile...
    assert shop.export(anon)["profile_id"] != victim  # ...which is not the victim's
    assert shop.export("browser-victim")["profile"]["traits"] == {}  # no trait of the page reached the victim
    tab.goto("/demo/")
    rec_cards(tab)
    recs = tab.sent("/v1/recommendations")
    assert "x-user-hash" not in recs[-1].headers
    with httpx.Client(base_url=shop.url, auth=(WRITE_KEY, "")) as site:
        answer = site.get(recs[-1].url).json()
    assert answer["source"] == "popularity"  # the id is looked up as an anonymous id only: nobody's history


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
    "decision_id": "dec-1",
    "slot": "home.hero",
    "variant": "spring",
    "block": {
        "type": "headline",
        "content": {
            "title": "Spring deals",
            "subtitle": "Fresh picks for you",
            "url": "/demo/category/garden",
            "cta": "Shop garden",
        },
    },
    "html": None,
    "reason": {"kind": "experiment", "detail": "spring-test: variant spring"},
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
    listing = {
        **DECISION,
        "decision_id": "dec-2",
        "variant": None,
        "block": {"type": "product_list", "content": {"title": "Our picks", "items": items}},
        "reason": {"kind": "recommender", "detail": "default model"},
    }
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
        "decision_id": "dec-2",
        "slot": "home.hero",
        "variant": None,
        "item_id": items[1]["item_id"],
    }

    tab.context.unroute(re.compile(r".*/v1/decide\?.*"))
    fake_decide(tab, {**DECISION, "html": '<div class="server-rendered"><h2>Rendered by the server</h2></div>'})
    tab.goto("/demo/")
    tab.page.wait_for_selector(".hero .server-rendered")
    assert tab.page.locator(".hero h2").inner_text() == "Rendered by the server"


def test_slot_keeps_its_fallback_when_decide_fails(tab: Tab, shop: Shop) -> None:
    tab.context.route(
        re.compile(r".*/v1/decide\?.*"),
        lambda route: route.fulfill(
            status=404, body='{"success": false, "code": "not_found"}', content_type="application/json"
        ),
    )
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


LIST_PAGE = """<!doctype html><html><head><title>list test</title>
<script src="/pertinent.js" data-write-key="{key}" data-banner="false" data-auto-page="false"></script></head>
<body><h1>A page of some site</h1><div style="height: 3000px">a long article</div>
<section id="recs" data-pertinent-recommendations="below-the-fold" data-k="4"><h2>You may like</h2></section>
</body></html>"""
IMPRESSION_SPY = """window.__impressions = [];
window.addEventListener('pertinent:impression', (e) => window.__impressions.push(e.detail.impressionId));"""


def test_a_recommendation_list_records_its_impression_once_it_is_on_screen(tab: Tab, shop: Shop) -> None:
    body = LIST_PAGE.format(key=WRITE_KEY)
    tab.context.route(f"{tab.url}/list-page", lambda route: route.fulfill(body=body, content_type="text/html"))
    tab.page.add_init_script(IMPRESSION_SPY)
    tab.goto("/list-page")
    tab.page.evaluate("pertinent.consent.set({analytics: true, personalization: true})")
    anon = tab.anonymous_id()
    tab.page.wait_for_selector("#recs[data-pertinent-state=filled] [data-item-id]")
    shown = tab.page.eval_on_selector_all("#recs [data-item-id]", "els => els.map(e => e.dataset.itemId)")
    impression = tab.page.get_attribute("#recs", "data-impression-id")
    assert len(shown) == 4 and impression
    # filled but below the fold: two frames later (the observer has reported) still no impression
    tab.page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    tab.page.evaluate("pertinent.track('Marker')")
    tab.flush()
    assert names(shop.wait_events(anon, lambda ev: "Marker" in names(ev))) == ["Marker"]
    assert tab.page.evaluate("window.__impressions") == []

    tab.page.locator("#recs").scroll_into_view_if_needed()
    tab.page.wait_for_function("window.__impressions.length === 1")
    tab.page.locator("#recs [data-item-id]").nth(1).click()
    tab.page.evaluate("pertinent.slots.refresh()")  # drawn again with the same items: the same impression
    tab.page.wait_for_selector("#recs[data-pertinent-state=filled]")
    tab.page.mouse.wheel(0, -3000)
    tab.page.locator("#recs").scroll_into_view_if_needed()
    tab.flush()
    events = shop.wait_events(anon, lambda ev: "Recommendation Clicked" in names(ev))
    viewed = named(events, "Recommendations Viewed")
    assert [e["properties"] for e in viewed] == [
        {"impression_id": impression, "source": "popularity", "list": "below-the-fold", "item_ids": shown}
    ]
    assert tab.page.evaluate("window.__impressions") == [impression]
    assert tab.page.get_attribute("#recs", "data-impression-id") == impression
    assert named(events, "Recommendation Clicked")[0]["properties"] == {
        "item_id": shown[1],
        "rank": 2,
        "impression_id": impression,
        "source": "popularity",
        "list": "below-the-fold",
    }
    assert events.index(viewed[0]) < events.index(named(events, "Recommendation Clicked")[0])


def test_the_consent_banner_works_with_the_keyboard(tab: Tab, shop: Shop) -> None:
    tab.goto("/demo/")
    page = tab.page
    banner = page.locator("[data-pertinent-consent]")
    page.wait_for_selector("[data-pertinent-consent]")
    focused = (
        "document.activeElement.closest('[data-pertinent-consent]') ? "
        "(document.activeElement.dataset.action || document.activeElement.name || 'banner') : null"
    )
    assert page.evaluate(focused) == "banner"  # the keyboard lands in the banner
    assert banner.get_attribute("role") == "dialog"
    page.keyboard.press("Escape")  # no choice made: the banner stays
    assert banner.is_visible() and page.evaluate("pertinent.consent.get()") is None
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate(focused))
    assert order == ["reject", "customize", "accept"]  # every button, in order; the hidden "save" skipped
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # "Choose…": the purposes appear and the focus moves to the first one
    assert page.evaluate(focused) == "analytics"
    tab.shot("consent-keyboard")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "personalization"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "save"
    page.keyboard.press("Escape")
    assert banner.is_visible()
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-pertinent-consent]", state="detached")
    assert page.evaluate("pertinent.consent.get()") == {"analytics": True, "personalization": False}
    recorded = tab.sent("/v1/consent")
    assert len(recorded) == 1 and recorded[0].response().ok  # answered: stored
    consent = shop.export(tab.anonymous_id())["consent_history"]
    assert {(c["purpose"], c["granted"]) for c in consent if c["source"] == "api"} == {
        ("analytics", True),
        ("personalization", False),
    }


def test_a_list_inside_a_slot_names_the_slots_decision(tab: Tab, shop: Shop) -> None:
    fake_decide(
        tab,
        {
            **DECISION,
            "decision_id": "dec-list",
            "html": '<div class="server-rendered"><h2>For you</h2>'
            '<div data-pertinent-recommendations="hero-list" data-k="3"></div></div>',
        },
    )
    tab.goto("/demo/")
    tab.click_banner("accept")
    anon = tab.anonymous_id()
    tab.page.wait_for_selector(".hero [data-pertinent-recommendations][data-pertinent-state=filled] [data-item-id]")
    shown = tab.page.eval_on_selector_all(
        ".hero [data-pertinent-recommendations] [data-item-id]", "els => els.map(e => e.dataset.itemId)"
    )
    tab.flush()
    events = shop.wait_events(
        anon, lambda ev: any(e["properties"].get("list") == "hero-list" for e in named(ev, "Recommendations Viewed"))
    )
    viewed = [
        e["properties"] for e in named(events, "Recommendations Viewed") if e["properties"]["list"] == "hero-list"
    ]
    assert len(viewed) == 1 and viewed[0]["decision_id"] == "dec-list" and viewed[0]["item_ids"] == shown
