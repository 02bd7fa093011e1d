"""Events sent by Segment's official Python library (segment-analytics-python) reach the profiles."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.support.common import ADMIN, WRITE_KEY

analytics_client = pytest.importorskip("segment.analytics.client")


def _profile(server, uid):
    return httpx.get(f"{server.url}/v1/profiles/{uid}", headers=ADMIN, timeout=10)


@pytest.mark.parametrize("gzip", [False, True])
def test_official_library_events_reach_profiles(live_server, gzip):
    errors: list[Exception] = []
    client = analytics_client.Client(
        WRITE_KEY,
        host=live_server.url,
        sync_mode=True,
        gzip=gzip,
        on_error=lambda e, batch: errors.append(e),
        max_retries=0,
    )
    client.page(
        anonymous_id="anon-seg",
        name="Home",
        properties={"url": "https://shop.test/"},
        context={
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Safari/605.1.15"
        },
    )
    client.track(
        anonymous_id="anon-seg",
        event="Product Viewed",
        properties={"product_id": "p-1", "category": "Lamps", "price": 25.0},
    )
    client.identify(user_id="seg-user", anonymous_id="anon-seg", traits={"email": "s@example.test", "plan": "pro"})
    client.track(
        user_id="seg-user",
        event="Order Completed",
        properties={"order_id": "o-1", "revenue": 49.5, "products": [{"product_id": "p-1"}]},
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    client.group(user_id="seg-user", group_id="acme", traits={"name": "Acme"})
    client.alias(previous_id="seg-legacy", user_id="seg-user")
    client.screen(user_id="seg-user", name="Settings")
    client.flush()
    assert errors == []
    r = _profile(live_server, "seg-user")
    assert r.status_code == 200
    body = r.json()
    f = body["features"]
    assert f["events_total"] == 4  # page, track x2, screen (identify/group/alias are not counted)
    assert f["rfm"]["frequency"] == 1 and f["rfm"]["monetary"] == 49.5
    assert f["affinities"]["category"] == {"Lamps": 1.0}
    assert f["context"]["browser"] == "Safari" and f["context"]["os"] == "Mac OS X"
    assert body["traits"]["plan"] == "pro" and body["traits"]["email"].startswith("h_")
    assert _profile(live_server, "anon-seg").json()["profile_id"] == body["profile_id"]


def test_library_gets_a_readable_error_for_a_bad_key(live_server):
    from segment.analytics.request import APIError

    client = analytics_client.Client("wrong-key", host=live_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as err:
        client.track(user_id="x", event="E")
    assert err.value.status == 401 and err.value.code == "unauthorized" and "write key" in err.value.message
