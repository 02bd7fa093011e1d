"""The KPI and drift page computed from SQL aggregates and kept event values gives exactly the numbers of a
straightforward computation over every event of the windows (the page's previous implementation, kept here
as the reference), through new events, identity merges, erasure, deletions and cache hits; the cache answers
repeated loads without recomputing; empty and thin data give messages."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import pytest

from pertinent.dashboard.pages import kpis, kpis_drift
from pertinent.dashboard.pages.common import label, number
from pertinent.dashboard.service import DashboardService
from pertinent.kpis import KpiEvents, kpis_by_group
from pertinent.storage.base import DecisionRow, MembershipChange, OutcomeRow
from tests.support.common import dashboard_login

NOW = 1_700_000_000.0  # in the past: a time over 24 h ahead of the clock is taken for one stored in error
DAY = 86400.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------- the reference computation
class Fact(NamedTuple):
    profile_id: str
    type: str
    event: str | None
    timestamp: float
    category: Any
    price: Any
    revenue: Any
    device: Any


FEATURES = (
    ("event name", lambda e: e.event or e.type),
    ("properties.category", lambda e: label(e.category)),
    ("properties.price", lambda e: number(e.price)),
    ("properties.revenue", lambda e: number(e.revenue)),
    ("context.device.type", lambda e: label(e.device)),
)


def per_profile(events: list[Fact], predicate: Any) -> list[float]:
    counts: dict[str, int] = defaultdict(int)
    for e in events:
        counts[e.profile_id] += 0
        if predicate(e):
            counts[e.profile_id] += 1
    return [float(n) for n in counts.values()]


def reference_page(dash: DashboardService, window: str, now: float) -> tuple[list[Any], list[Any], str]:
    """Every event of both windows read and counted in Python (what the page did before aggregates)."""
    from pertinent.drift import DETECTORS, make_detector, prepare

    span = dash.span(window, now)
    length = span.until - span.since
    reference = (span.since - length, span.since)
    with dash.store.transaction(write=False) as tx:
        events = [Fact(*row) for row in tx.iter_event_fields(reference[0], span.until, kpis_drift.FIELD_PATHS)]
        viewed = list(tx.iter_event_fields(span.since, span.until, kpis.EXPOSURE_PATHS, names=["Experiment Viewed"]))
        current = [e for e in events if e.timestamp >= span.since]
        profile_ids = {e.profile_id for e in current}
        memberships = tx.segments_of(profile_ids) if profile_ids else {}
        labels = dash._segment_labels(tx)
        decisions = [d for d in tx.iter_decisions(since=span.since, until=span.until) if d.experiment]
        clicked = {
            o.decision_id
            for o in tx.outcomes_of([d.decision_id for d in decisions])
            if o.kind == "click" or o.kind in dash.kpi_config.click_events
        }
    kpi_events = KpiEvents.from_records(
        ((e.profile_id, e.type, e.event, e.timestamp) for e in current), dash.kpi_config
    )
    groups: dict[str, dict[str, float]] = {"all profiles": dict.fromkeys(profile_ids, 0.0)}
    for pid, segs in memberships.items():
        for seg in segs:
            groups.setdefault(f"segment: {labels.get(seg, (seg, seg))[1]}", {})[pid] = 0.0
    groups.update(kpis.exposures(decisions, viewed))
    results = kpis_by_group(kpi_events, groups, dash.kpi_config)
    served: dict[str, list[bool]] = defaultdict(list)  # a variant served by /v1/decide: decisions are impressions
    for d in decisions:
        served[f"{d.experiment}: {d.variant or '(none)'}"].append(d.decision_id in clicked)
    for name, hits in served.items():
        r = results[name]
        notes = [m for m in r.message.split("; ") if m and m != "no impression events, so no click-through"]
        results[name] = replace(
            r, impressions=len(hits), clicks=sum(hits), click_through=sum(hits) / len(hits), message="; ".join(notes)
        )
    detectors = [make_detector(name) for name in DETECTORS]
    ref_events = [e for e in events if e.timestamp < span.since]
    features = [(name, [f(e) for e in ref_events], [f(e) for e in current]) for name, f in FEATURES]
    for name, predicate in (
        ("events per profile", lambda e: True),
        ("page views per profile", lambda e: e.type in dash.kpi_config.page_types),
    ):
        features.append((name, per_profile(ref_events, predicate), per_profile(current, predicate)))
    drift = []
    for name, ref, cur in features:
        prepared = prepare(ref, cur)
        res = {d.name: d.compare_prepared(*prepared) for d in detectors}
        kind = next(iter(res.values())).kind
        if kind != "numeric":
            res.pop("ks", None)
        drift.append((name, kind, res))
    return sorted((name, results[name]) for name in groups), drift, "" if current else "No events in the window."


def assert_same(dash: DashboardService, window: str, now: float) -> kpis.KpisPage:
    page = dash.kpis(window, now=now)
    rows, drift, message = reference_page(dash, window, now)
    assert sorted((r.group, r.result) for r in page.rows) == rows
    assert [(d.feature, d.kind, d.results) for d in page.drift] == drift
    assert page.message == message and not page.truncated
    return page


# ------------------------------------------------------------------------------------------------ the data
CATEGORIES: list[Any] = [f"c{i}" for i in range(24)] + [1, 1.0, "1", True, "", "x" * 150, "x" * 120, {"a": 1}]
PRICES: list[Any] = [9.5, 10, "12.5", "abc", True, None, 0, -3.25, "nan", 1e6]
NAMES = [
    "Product Viewed",
    "Slot Viewed",
    "Slot Clicked",
    "Order Completed",
    "Recommendations Viewed",
    "Recommendation Clicked",
    "Signed Up",
    "",
]


def messages(
    rng: np.random.Generator, n: int, start: float, end: float, users: int, prefix: str = "u"
) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        user = f"{prefix}{int(rng.integers(users))}"
        who = {"userId": user} if rng.random() < 0.8 else {"anonymousId": f"anon-{user}"}
        ts = iso(float(rng.uniform(start, end)))
        kind = rng.random()
        if kind < 0.3:
            out.append(
                {
                    "type": "page",
                    **who,
                    "name": "p",
                    "timestamp": ts,
                    "context": {"device": {"type": str(rng.choice(["mobile", "desktop", "tablet"]))}},
                }
            )
        elif kind < 0.35:
            out.append({"type": "identify", **who, "traits": {"plan": "x"}, "timestamp": ts})
        else:
            props: dict[str, Any] = {"category": CATEGORIES[int(rng.integers(len(CATEGORIES)))]}
            if rng.random() < 0.7:
                props["price"] = PRICES[int(rng.integers(len(PRICES)))]
            if rng.random() < 0.2:
                props["revenue"] = float(rng.integers(1, 200))
            name = NAMES[int(rng.integers(len(NAMES)))] or "Other"
            out.append(
                {
                    "type": "track",
                    **who,
                    "event": name,
                    "properties": props,
                    "timestamp": ts,
                    "context": {"device": {"type": [None, "mobile", 3, ""][int(rng.integers(4))]}},
                }
            )
    return out


def ingest(services: Any, batch: list[dict[str, Any]]) -> None:
    for i in range(0, len(batch), 200):
        res = services.ingest.ingest(batch[i : i + 200], received_at=NOW)
        assert res.stored == len(batch[i : i + 200]), res


def test_aggregated_page_matches_the_reference_through_changes(services):
    rng = np.random.default_rng(7)
    dash = services.dashboard
    ingest(services, messages(rng, 700, NOW - 14 * DAY, NOW - 60, 60))
    views = [
        {
            "type": "track",
            "userId": f"u{u}",
            "event": "Experiment Viewed",
            "timestamp": iso(NOW - 3 * DAY + u),
            "properties": {"experiment_id": "layout", "variation_id": "ab"[u % 2]},
        }
        for u in range(20)
    ]
    ingest(services, views)
    with services.store.transaction() as tx:
        pids = sorted({r[0] for r in tx.iter_event_fields(NOW - 7 * DAY, NOW)})
        tx.apply_membership_changes([MembershipChange("vip", p, True, NOW - DAY) for p in pids[:15]])
        tx.insert_decisions(
            [
                DecisionRow(f"d{i}", pids[i], "hero", "xy"[i % 2], "experiment", NOW - 2 * DAY + i, experiment="hero")
                for i in range(20)
            ]
        )
        clicks = [
            OutcomeRow(f"d{i}", pids[i], "Slot Clicked", f"m{i}-{k}", NOW - DAY) for i in (0, 3, 4, 9) for k in (1, 2)
        ]
        tx.insert_outcomes([*clicks, OutcomeRow("d5", pids[5], "Order Completed", "m5", NOW - DAY, 9.0)])
    for window in ("24h", "7d", "30d"):
        assert_same(dash, window, NOW)
    variants = {r.group: r.result for r in dash.kpis("7d", now=NOW).rows if r.kind == "variant"}
    assert (variants["hero: x"].impressions, variants["hero: x"].clicks) == (10, 2)  # d0 and d4 (d3, d9: y)
    # new events (the kept values are extended), some older than the window, one profile new
    ingest(services, messages(rng, 120, NOW - 9 * DAY, NOW - 1, 70))
    assert_same(dash, "7d", NOW)
    # the window moves on (old values dropped), then an earlier window again (read anew)
    assert_same(dash, "7d", NOW + 2 * DAY)
    assert_same(dash, "7d", NOW)
    # identity merge: an anonymous visitor's events move to the known profile they turn out to be
    with services.store.transaction(write=False) as tx:
        before = tx.count_profiles()
    ingest(services, [{"type": "identify", "userId": "u3", "anonymousId": "anon-u5", "timestamp": iso(NOW - 30)}])
    with services.store.transaction(write=False) as tx:
        assert tx.count_profiles() < before, "the identify should have merged two profiles"
    assert_same(dash, "7d", NOW)
    # erasure deletes events the page had kept
    services.privacy.erase("u7")
    assert_same(dash, "7d", NOW)
    assert_same(dash, "24h", NOW)


def test_a_repeated_load_is_answered_from_the_cache_until_something_is_stored(sqlite_services, monkeypatch):
    dash = sqlite_services.dashboard
    ingest(sqlite_services, messages(np.random.default_rng(1), 200, NOW - 3 * DAY, NOW - 60, 20))
    computed = []
    real = dash._compute_kpis
    monkeypatch.setattr(dash, "_compute_kpis", lambda *a: computed.append(a) or real(*a))
    first = dash.kpis("7d", now=NOW)
    assert dash.kpis("7d", now=NOW) is first and len(computed) == 1
    assert dash.kpis("24h", now=NOW) is not first and len(computed) == 2  # other parameters, other page
    ingest(sqlite_services, messages(np.random.default_rng(2), 5, NOW - DAY, NOW - 60, 20))
    second = dash.kpis("7d", now=NOW)
    assert second is not first and len(computed) == 3
    with sqlite_services.store.transaction() as tx:  # membership changes are part of the data version
        tx.apply_membership_changes([MembershipChange("s", "nobody", True, NOW)])
    assert dash.kpis("7d", now=NOW) is not second and len(computed) == 4
    dash._kpi_pages.clock = lambda: math.inf  # past the time to live: computed again
    dash.kpis("7d", now=NOW)
    assert len(computed) == 5
    dash.clear_cache()
    assert dash._event_values == {}


# ------------------------------------------------------------------------------------------- empty and thin
def test_empty_database_gives_messages_not_errors(services):
    page = services.dashboard.kpis("7d", now=NOW)
    assert page.message == "No events in the window." and [r.group for r in page.rows] == ["all profiles"]
    assert page.rows[0].result.message == "no events in the window"
    assert all(r.statistic is None and r.message for row in page.drift for r in row.results.values())
    assert not page.alerts and not page.truncated and page.drift_thin


def test_empty_and_thin_pages_say_why(client, sqlite_services):
    assert dashboard_login(client).status_code == 303
    for window in ("1h", "24h", "7d", "30d"):
        html = client.get(f"/dashboard/kpis?window={window}").text
        assert "No events in the window." in html and 'data-testid="drift-thin"' in html
    ingest(sqlite_services, [{"type": "page", "userId": "solo", "name": "p", "timestamp": iso(NOW - 60)}])
    html = client.get("/dashboard/kpis?window=7d").text
    assert "No events in the window." not in html and "no page events" not in html
    assert "every session has one page, so no dwell time" in html and 'data-testid="drift-thin"' in html


@pytest.mark.parametrize("events", [1, 2, 29])
def test_thin_data_gives_dashes_and_reasons(sqlite_services, events):
    ingest(
        sqlite_services,
        [
            {"type": "track", "userId": "solo", "event": "Product Viewed", "timestamp": iso(NOW - 100 - i)}
            for i in range(events)
        ],
    )
    page = assert_same(sqlite_services.dashboard, "7d", NOW)
    result = page.rows[0].result
    assert result.profiles == 1 and result.sessions == 0 and result.click_through is None
    assert "no page events" in result.message and "no impression events" in result.message
    assert all(
        "needs at least 30 values" in r.message
        for row in page.drift
        for r in row.results.values()
        if r.detector != "ks" or row.kind == "numeric"
    )
