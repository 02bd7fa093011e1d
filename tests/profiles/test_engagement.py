"""Engagement aggregates (active time, scroll depth, entry and exit pages), UTM parameters of a page's URL, and
count windows beyond 30 days, through ingestion and the profile API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pertinent.profiles.features import ProfileConfig, ProfileEvent, apply_event, merge_states, summarize
from pertinent.services import Services
from tests.support.common import ADMIN, api_client, make_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _page(user: str, path: str, at: datetime, **props: object) -> dict[str, object]:
    return {"type": "page", "userId": user, "name": path, "timestamp": iso(at), "properties": {"path": path, **props}}


def _engaged(user: str, path: str, at: datetime, seconds: float, depth: float) -> dict[str, object]:
    props = {"path": path, "active_seconds": seconds, "scroll_depth": depth}
    return {"type": "track", "userId": user, "event": "Page Engaged", "timestamp": iso(at), "properties": props}


def test_dwell_time_scroll_depth_and_entry_exit_pages(client):
    visit = [
        _page("u1", "/", T0),
        _engaged("u1", "/", T0 + timedelta(seconds=30), 25, 40),
        _page("u1", "/shoes", T0 + timedelta(minutes=1)),
        _engaged("u1", "/shoes", T0 + timedelta(minutes=3), 95, 100),
        # two hours later: a new session from the blog
        _page("u1", "/blog/trail-running", T0 + timedelta(hours=2)),
        _engaged("u1", "/blog/trail-running", T0 + timedelta(hours=2, minutes=5), 240, 60),
    ]
    r = client.post("/v1/batch", json={"batch": visit})
    assert r.status_code == 200 and r.json()["stored"] == 6, r.text
    e = client.get("/v1/profiles/u1", headers=ADMIN).json()["features"]["engagement"]
    assert e["pages"] == 3 and e["active_seconds"] == 360.0 and e["avg_active_seconds"] == 120.0
    assert e["avg_scroll_depth"] == pytest.approx(200 / 3, abs=0.001)
    assert e["entry_pages"] == {"/": 1, "/blog/trail-running": 1}
    # the first session ended on /shoes; the second is over too (its last event was long before now)
    assert e["exit_pages"] == {"/blog/trail-running": 1, "/shoes": 1}
    assert e["current_page"] == "/blog/trail-running"


def test_bad_engagement_values_are_clipped_or_ignored():
    cfg, state = ProfileConfig(), {}
    for props in ({"active_seconds": 1e12, "scroll_depth": 250}, {"active_seconds": "x"}, {"scroll_depth": -5}):
        apply_event(state, ProfileEvent("track", "Page Engaged", 1000.0, props), cfg)
    e = summarize(state, 1000.0, cfg)["engagement"]
    assert e["pages"] == 2 and e["active_seconds"] == 86400.0  # a day at most; the one with nothing usable is ignored
    assert e["avg_scroll_depth"] == 50.0  # 100 (clipped) and 0 (clipped)


def test_paths_are_bounded_and_merge_with_identity():
    cfg = ProfileConfig(max_paths=3)
    a: dict = {}
    for i in range(6):  # six sessions, each entering on another page
        apply_event(a, ProfileEvent("page", None, 10_000.0 * (i + 1), {"path": f"/p{i}"}), cfg)
    assert len(a["paths"]["entry"]) == 3 and "/p5" in a["paths"]["entry"]
    b: dict = {}
    apply_event(b, ProfileEvent("page", None, 100_000.0, {"url": "https://x.test/late?y=1"}), cfg)
    apply_event(b, ProfileEvent("track", "Page Engaged", 100_010.0, {"active_seconds": 5}), cfg)
    merged = merge_states(a, b, cfg)
    e = summarize(merged, 100_020.0, cfg)["engagement"]
    assert e["current_page"] == "/late" and e["pages"] == 1 and e["active_seconds"] == 5.0
    assert len(e["entry_pages"]) == 3  # still bounded after the merge


def test_utm_from_the_page_url_as_well_as_the_campaign(client):
    url = "https://shop.test/landing?utm_campaign=spring_sale&utm_source=newsletter&utm_medium=email"
    page = {"type": "page", "userId": "server-side", "name": "Landing", "properties": {"url": url}}
    assert client.post("/v1/batch", json={"batch": [page]}).json()["stored"] == 1  # a server library: no context
    ctx = client.get("/v1/profiles/server-side", headers=ADMIN).json()["features"]["context"]
    assert (ctx["utm_campaign"], ctx["utm_source"], ctx["utm_medium"]) == ("spring_sale", "newsletter", "email")
    # context.campaign wins over the URL when both are there
    both = {**page, "userId": "browser", "context": {"campaign": {"name": "from_context"}}}
    assert client.post("/v1/batch", json={"batch": [both]}).json()["stored"] == 1
    ctx = client.get("/v1/profiles/browser", headers=ADMIN).json()["features"]["context"]
    assert ctx["utm_campaign"] == "from_context" and ctx["utm_source"] == "newsletter"
    rule = {"type": "campaign", "fields": ["utm_campaign"], "values": ["spring"]}
    r = client.post("/v1/segments/preview", json={"id": "s", "name": "s", "rule": rule}, headers=ADMIN)
    assert r.json()["size"] == 1  # usable in rules


def test_a_rule_on_engagement_features(client):
    client.post("/v1/batch", json={"batch": [_page("reader", "/a", T0), _engaged("reader", "/a", T0, 300, 90)]})
    client.post("/v1/batch", json={"batch": [_page("skimmer", "/a", T0), _engaged("skimmer", "/a", T0, 4, 10)]})
    rule = {"type": "feature", "path": ["engagement", "avg_scroll_depth"], "op": "gte", "value": 75}
    r = client.post("/v1/segments/preview", json={"id": "r", "name": "r", "rule": rule}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["size"] == 1


def test_count_windows_beyond_30_days(tmp_path):
    svc = Services.build(make_settings(tmp_path, count_windows_days="7,30,90,365"))
    try:
        for c in api_client(svc):
            now = datetime.now(UTC)
            batch = [
                {"type": "track", "userId": "u1", "event": "Order Completed", "timestamp": iso(now - timedelta(days=d))}
                for d in (1, 45, 200, 400)
            ]
            assert c.post("/v1/batch", json={"batch": batch}).json()["stored"] == 4
            counts = c.get("/v1/profiles/u1", headers=ADMIN).json()["features"]["counts"]["Order Completed"]
            assert (counts["7d"], counts["30d"], counts["90d"], counts["365d"], counts["total"]) == (1, 1, 2, 3, 4)
            rule = {"type": "event_count", "event": "Order Completed", "window_days": 365, "op": "gte", "value": 3}
            r = c.post("/v1/segments", json={"id": "loyal", "name": "Loyal", "rule": rule}, headers=ADMIN)
            assert r.status_code == 201, r.text
            svc.segments.wait_idle(30)
            assert c.get("/v1/segments/loyal/members", headers=ADMIN).json()["members"][0]["profile_id"]
    finally:
        svc.close()


def test_windows_longer_than_the_kept_days_are_refused_naming_the_field(client):
    rule = {"type": "event_count", "event": "Order Completed", "window_days": 90, "value": 1}
    r = client.post("/v1/segments", json={"id": "q", "name": "q", "rule": rule}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "rule.window_days"
    assert "count_windows_days" in r.json()["errors"][0]["message"]
    assert client.put("/v1/blocks/b", json={"type": "text", "content": {"text": "x"}}, headers=ADMIN).status_code == 200
    slot = {
        "variants": {"a": "b"},
        "rules": [{"when": {"type": "not", "condition": rule}, "then": {"kind": "variant", "variant": "a"}}],
        "default": {"kind": "variant", "variant": "a"},
    }
    r = client.put("/v1/slots/s", json=slot, headers=ADMIN)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "rules[0].when.condition.window_days"


def test_count_windows_setting_is_validated():
    with pytest.raises(ValueError, match="count_windows_days"):
        make_settings(__import__("pathlib").Path("/tmp"), count_windows_days="0,7")
