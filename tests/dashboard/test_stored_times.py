"""Times that ingestion now refuses but an older version stored (year 10000, before year 1, 1e300) must not break
the dashboard, nor move its windows away from the real data (issue 17, item 2: every reader tolerates what is
already stored)."""

from __future__ import annotations

import re

import pytest

from pertinent.storage.base import EventRow
from tests.support.common import dashboard_login

PAGES = ["/dashboard", "/dashboard/recommendations", "/dashboard/kpis", "/dashboard/segments", "/dashboard/experiments"]
OUT_OF_RANGE = [253402400000.0, -62135600000.0, 1e300, -1e300, 1e18]


def stat(html: str, name: str) -> str:
    m = re.search(rf'data-testid="{name}"[^>]*>(.*?)<', html, re.S)
    assert m, name
    return m.group(1).strip()


@pytest.mark.parametrize("ts", OUT_OF_RANGE)
def test_pages_answer_200_with_an_out_of_range_time_stored(any_client, services, ts):
    r = any_client.post(
        "/v1/batch",
        json={
            "batch": [
                {"type": "track", "userId": "u1", "event": "Product Viewed", "properties": {"product_id": "p1"}},
                {"type": "page", "userId": "u1", "name": "Home"},
                {
                    "type": "track",
                    "userId": "u2",
                    "event": "Order Completed",
                    "properties": {"revenue": 3, "products": [{"product_id": "p1"}]},
                },
            ]
        },
    )
    assert r.status_code == 200 and r.json()["stored"] == 3, r.text
    profile_id = services.profiles.get("u1").profile_id
    with services.store.transaction() as tx:  # as an older version stored it, before times were bounded
        tx.insert_events(
            [
                EventRow(
                    message_id=f"legacy-{kind}",
                    type="track",
                    event=kind,
                    profile_id=profile_id,
                    timestamp=ts,
                    received_at=ts,
                    personalize=True,
                    properties={"product_id": "p1", "revenue": 1},
                    traits=None,
                    context=None,
                    encoded=('{"product_id":"p1","revenue":1}', None, None),
                )
                for kind in ("Product Viewed", "Order Completed")
            ]
        )
    assert dashboard_login(any_client).status_code == 303
    for path in PAGES:
        for window in ("1h", "24h", "30d"):
            page = any_client.get(path, params={"window": window}, headers={"accept": "text/html"})
            assert page.status_code == 200, (path, window, page.text[-500:])
    overview = any_client.get("/dashboard", params={"window": "24h"}).text
    assert stat(overview, "stat-events-window") == "3"  # the window still ends now, not in year 10000
