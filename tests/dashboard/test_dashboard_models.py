"""The models page's recommender drift: online hit rate per model version against the offline one, and an alert
when the hit rate falls within the window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pertinent.dashboard.pages import models as models_page
from pertinent.storage.base import DecisionRow

NOW = 1_790_000_000.0
HOUR = 3600.0


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_hit_rate_per_version_and_the_drop_alert(services):
    """120 recommender decisions over 30 days (model v1 the first 60, v2 the last 60). A decision is followed within
    an hour by a view of a shown item: 3 in 4 in the first third of the window, 1 in 10 in the last third."""
    decisions, views = [], []
    for i in range(120):
        at = NOW - 30 * 86_400 + HOUR + i * 6 * HOUR
        user = f"r{i}"
        views.append({"type": "track", "event": "Seen", "userId": user, "timestamp": _stamp(at - HOUR)})
        third = i * 3 // 120
        hit = (i % 4 != 0) if third == 0 else (i % 10 == 0) if third == 2 else (i % 2 == 0)
        item = "a" if hit else "zz"
        views.append(
            {
                "type": "track",
                "event": "Product Viewed",
                "userId": user,
                "timestamp": _stamp(at + HOUR / 2),
                "properties": {"product_id": item},
            }
        )
        decisions.append((user, at, "v1" if i < 60 else "v2"))
    assert services.ingest.ingest(views, received_at=NOW).accepted == len(views)
    rows = [
        DecisionRow(
            f"d{n}",
            services.profiles.get(u).profile_id,
            "home",
            None,
            "recommender",
            at,
            detail={"items": ["a", "b"], "model_version": v},
        )
        for n, (u, at, v) in enumerate(decisions)
    ]
    with services.store.transaction() as tx:
        tx.insert_decisions(rows)
    page = models_page.build(services.store, "30d", now=NOW + 1, attribution_s=HOUR)
    by = {r.label: r for r in page.by_version}
    assert (by["v1"].decisions, by["v2"].decisions) == (60, 60)
    assert by["v1"].hits == 30 + 10  # 40 decisions of the first third (30 hits), 20 of the middle (10)
    assert by["v1"].rate == pytest.approx(40 / 60) and by["v1"].low < by["v1"].rate < by["v1"].high
    first, _, last = page.over_time
    assert first.rate == pytest.approx(0.75) and last.rate == pytest.approx(0.1)
    assert any("hit rate fell from 75.0% to 10.0%" in a for a in page.alerts)


def test_no_recommender_decision_is_an_empty_section(services):
    page = models_page.build(services.store, "7d", now=NOW)
    assert page.by_version == [] and page.over_time == [] and page.alerts == []
    assert "pertinent predict train" in page.message
