"""The dashboard's data-quality page on both backends: violations, failed events, outliers, duplicates and
normalisation counts, values escaped, behind the session like every page; flagged bots leave the KPIs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pertinent.quality.models import TrackingPlanIn
from tests.dashboard.test_dashboard import HTML, login

SCHEMA = {"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}


def test_the_quality_page_shows_what_ingestion_fixed_flagged_and_refused(any_client, services) -> None:
    c = any_client
    assert c.get("/dashboard/quality", headers=HTML, follow_redirects=False).status_code == 303  # log in first
    assert login(c).status_code == 303
    services.quality.put_plan(TrackingPlanIn(event="<b>Order</b>", schema=SCHEMA, mode="block"))
    services.ingest.ingest(
        [
            {"type": "track", "event": "<b>Order</b>", "userId": "u", "properties": {}},
            {"type": "page", "userId": "u", "context": {"location": {"country": "france"}}},
        ]
    )
    r = c.get("/dashboard/quality", headers=HTML)
    assert r.status_code == 200
    html = r.text
    assert 'data-testid="nav-quality" aria-current="page"' in html
    assert "Failed events waiting (1)" in html and "properties.total" in html
    assert "<b>Order</b>" not in html and "&lt;b&gt;Order&lt;/b&gt;" in html
    assert "context.location.country" in html


def test_flagged_bots_are_left_out_of_the_kpis(any_client, services) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    bot = [
        {"type": "page", "anonymousId": "bot", "timestamp": (start + timedelta(seconds=i / 10)).isoformat()}
        for i in range(2100)
    ]
    services.ingest.ingest(bot + [{"type": "page", "anonymousId": "person"}])
    assert services.quality.scan_outliers().flagged == 1
    page = services.dashboard.kpis("7d")
    assert page.excluded_outliers == 1
    assert login(any_client).status_code == 303
    assert 'data-testid="kpis-outliers"' in any_client.get("/dashboard/kpis", headers=HTML).text
