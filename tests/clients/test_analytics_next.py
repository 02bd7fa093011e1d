"""Segment's browser library, ``@segment/analytics-next`` from npm (pinned in tests/clients/js/package-lock.json,
bundled by esbuild), in Debian's Chromium against a live Pertinent: loaded as a site loads it (its settings fetched
from Pertinent), in standard and batching delivery, each event stored exactly once with its properties; a 500
(before the server saw the event, or after it stored it) is retried through the CORS preflight and stored once.

The page is served by another origin (another loopback port), so every collection call is cross-site, with CORS,
as on a real site.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.support.clients import Collector, Site, assert_each_once, harness_file
from tests.support.common import IDENTITY_SECRET, WRITE_KEY

pytestmark = [pytest.mark.browser, pytest.mark.clients]

PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Client shop</title>
<script src="/analytics-next.js"></script></head>
<body><h1>Client shop</h1></body></html>"""

# What the page sends: the calls of a visit, and (type, event, properties or traits) as they should be stored.
SEND = """async ({cdnURL, writeKey, userId, delivery, userHash}) => {
  const options = delivery ? {integrations: {'Segment.io': {deliveryStrategy: delivery}}} : {}
  const analytics = AnalyticsBrowser.load({writeKey, cdnURL}, options)
  if (userHash) {  // the identity proof on every event, as docs/analytics-js.md shows
    window.PERTINENT_USER_HASH = userHash
    analytics.addSourceMiddleware(({ payload, next }) => {
      if (window.PERTINENT_USER_HASH) {
        payload.obj.context = { ...payload.obj.context, userHash: window.PERTINENT_USER_HASH }
      }
      next(payload)
    })
  }
  await analytics.identify(userId, {plan: 'pro', seats: 3})
  await analytics.page('Shop', 'Home', {section: 'front'})
  await analytics.track('Product Viewed', {product_id: 'mug', price: 12.5, tags: ['kitchen', 'blue']})
  await analytics.track('Order Completed', {
    order_id: 'o-1', revenue: 42.5, currency: 'EUR', products: [{product_id: 'mug', quantity: 2}], note: 'café ☕',
  })
  await analytics.group('acme', {name: 'Acme Inc', employees: 50})
  const [instance] = await analytics
  return instance.settings.cdnSettings.integrations['Segment.io'].apiHost
}"""
SENT: list[tuple[str, str | None, dict[str, Any]]] = [
    ("identify", None, {"plan": "pro", "seats": 3}),
    ("page", None, {"section": "front", "title": "Client shop"}),
    ("track", "Product Viewed", {"product_id": "mug", "price": 12.5, "tags": ["kitchen", "blue"]}),
    (
        "track",
        "Order Completed",
        {
            "order_id": "o-1",
            "revenue": 42.5,
            "currency": "EUR",
            "products": [{"product_id": "mug", "quantity": 2}],
            "note": "café ☕",
        },
    ),
    ("group", None, {}),
]
SHORT_PATHS = {"identify": "/v1/i", "page": "/v1/p", "track": "/v1/t", "group": "/v1/g"}
BATCHING = {"strategy": "batching", "config": {"size": 3, "timeout": 300}}  # 3 events at once, the rest in 300 ms


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    server = Collector(tmp_path_factory.mktemp("analytics-next"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def verifying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """Pertinent with identity verification on, as ``pertinent serve`` runs by default."""
    server = Collector(tmp_path_factory.mktemp("analytics-next-verified"), identity_secret=IDENTITY_SECRET)
    yield server
    server.close()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    bundle = harness_file("build/analytics-next.js").read_bytes()
    served = Site({"/": (PAGE, "text/html; charset=utf-8"), "/analytics-next.js": (bundle, "text/javascript")})
    yield served
    served.close()


class Visit:
    """A page of the site in a fresh browser context, with every request it made and the JavaScript errors."""

    def __init__(self, browser: Any, site: Site) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda req: self.urls.append(req.url))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(site.url + "/")

    def send(
        self, collector: Collector, user_id: str, delivery: dict[str, Any] | None = None, user_hash: str | None = None
    ) -> str:
        args = {"cdnURL": collector.url, "writeKey": WRITE_KEY, "userId": user_id, "delivery": delivery}
        args["userHash"] = user_hash
        api_host: str = self.page.evaluate(SEND, args)
        return api_host

    def hosts(self) -> set[str]:
        self.page.evaluate("0")  # the sync API delivers request events only while it is called
        return {urlparse(url).netloc for url in self.urls}


@pytest.fixture
def visit(browser: Any, site: Site) -> Iterator[Visit]:
    opened = Visit(browser, site)
    yield opened
    opened.context.close()
    assert not opened.errors, f"JavaScript errors on the page: {opened.errors}"


def test_standard_delivery_stores_each_event_once(visit: Visit, collector: Collector) -> None:
    before = len(collector.injected.seen)
    api_host = visit.send(collector, "ajs-ann")
    assert api_host == f"{urlparse(collector.url).netloc}/v1"  # from GET /v1/projects/{writeKey}/settings
    assert_each_once(collector.wait_events("ajs-ann", len(SENT)), SENT)
    posts = [s for s in collector.injected.seen[before:] if s.method == "POST"]
    assert sorted(s.path for s in posts) == sorted(SHORT_PATHS[kind] for kind, _, _ in SENT)
    assert all(s.status == 200 for s in posts), posts
    # the library talked to the site and to Pertinent only: no Segment CDN, no metrics to api.segment.io
    assert visit.hosts() == {urlparse(collector.url).netloc, urlparse(visit.page.url).netloc}


def test_batching_delivery_stores_each_event_once(visit: Visit, collector: Collector) -> None:
    before = len(collector.injected.seen)
    visit.send(collector, "ajs-bob", BATCHING)
    assert_each_once(collector.wait_events("ajs-bob", len(SENT)), SENT)
    posts = [s for s in collector.injected.seen[before:] if s.method == "POST"]
    assert [s.path for s in posts] == ["/v1/b", "/v1/b"] and all(s.status == 200 for s in posts), posts


def _retried(collector: Collector, path: str, since: int, faults: int, counted: bool) -> None:
    """Wait until, after its ``faults`` injected 500s, a POST to ``path`` was answered 200: a retry, with
    ``X-Retry-Count``, when ``counted``."""

    def done() -> bool:
        posts = [s for s in collector.injected.seen[since:] if s.path == path and s.method == "POST"]
        if counted:
            return any(s.retry_count and s.status == 200 for s in posts)
        return any(s.status == 200 for s in posts[faults:])

    collector.wait_until(f"a {'retry' if counted else 'POST'} to {path} answered after its faults", done)
    seen = collector.injected.seen[since:]
    assert [s.status for s in seen if s.path == path and s.fault] == [500] * faults
    assert all(s.status == 200 for s in seen if s.method == "OPTIONS"), "\n".join(map(str, seen))


def test_standard_delivery_retries_a_500_and_stores_once(visit: Visit, collector: Collector) -> None:
    before = len(collector.injected.seen)
    collector.injected.fail_next("/v1/t", "lost")  # the first track never reaches the app
    collector.injected.fail_next("/v1/p", "unanswered")  # the page is stored, but its answer is a 500
    visit.send(collector, "ajs-cat")
    # Each retry carries X-Retry-Count, which Chromium sends cross-site only as a preflight allowed (the first
    # preflight's answer lists it, and is cached for its max-age): had the server refused it, the retried event
    # would never arrive.
    _retried(collector, "/v1/t", before, faults=1, counted=True)
    _retried(collector, "/v1/p", before, faults=1, counted=True)
    assert_each_once(collector.wait_events("ajs-cat", len(SENT)), SENT)


def test_batching_delivery_retries_a_500_and_stores_once(visit: Visit, collector: Collector) -> None:
    before = len(collector.injected.seen)
    # The first batch never reaches the app; the next one (its retry, or the rest of the events: the library's
    # timer decides) is stored but answered 500. Either way every event must end up stored once.
    collector.injected.fail_next("/v1/b", "lost", "unanswered")
    visit.send(collector, "ajs-dan", BATCHING)
    _retried(collector, "/v1/b", before, faults=2, counted=False)
    assert_each_once(collector.wait_events("ajs-dan", len(SENT)), SENT)


def test_identity_proof_from_a_source_middleware_keeps_events_on_the_user(visit: Visit, verifying: Collector) -> None:
    user_hash = hmac.new(IDENTITY_SECRET.encode(), b"ajs-eve", hashlib.sha256).hexdigest()  # the site's server's
    visit.send(verifying, "ajs-eve", user_hash=user_hash)
    assert_each_once(verifying.wait_events("ajs-eve", len(SENT)), SENT)
    profile = verifying.http.get("/v1/profiles/ajs-eve").json()
    assert profile["user_id"] == "ajs-eve" and profile["traits"]["plan"] == "pro", profile
