"""KPIs: hand-computed small cases, an independent pandas computation, and properties under hypothesis."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.kpis import KpiConfig, KpiEvents, compute_kpis, kpis_by_group

MIN = 60.0


def rec(profile, ts, type_="page", name=None):
    return (profile, type_, name, ts)


def test_hand_computed_case():
    # alice: pages at 0, 1, 3 min (session 1), then 2 h later one page (session 2, a bounce)
    # bob:   one page (a bounce), an impression, a click, an order
    # carol: only a track event (no session)
    records = [
        rec("alice", 0.0),
        rec("alice", 1 * MIN),
        rec("alice", 3 * MIN),
        rec("alice", 120 * MIN),
        rec("bob", 10.0),
        rec("bob", 11.0, "track", "Slot Viewed"),
        rec("bob", 12.0, "track", "Slot Clicked"),
        rec("bob", 13.0, "track", "Order Completed"),
        rec("carol", 50.0, "track", "Product Viewed"),
        rec("carol", 51.0, "track", "Slot Viewed"),
    ]
    k = compute_kpis(KpiEvents.from_records(records))
    assert (k.profiles, k.sessions, k.page_views) == (3, 3, 5)
    assert k.dwell_s == pytest.approx((60.0 + 120.0) / 2)  # gaps 1 min and 2 min inside alice's first session
    assert k.bounce_rate == pytest.approx(2 / 3)
    assert k.repeat_visit_rate == pytest.approx(1 / 2)  # alice has two sessions, bob one (carol none)
    assert (k.clicks, k.impressions, k.click_through) == (1, 2, 0.5)
    assert (k.converters, k.conversion_rate) == (1, pytest.approx(1 / 3))
    assert k.message == ""


def test_session_timeout_boundary_and_config():
    records = [rec("u", 0.0), rec("u", 1800.0), rec("u", 3600.001)]
    k = compute_kpis(KpiEvents.from_records(records))
    assert k.sessions == 2  # a gap of exactly the timeout stays in the session
    short = compute_kpis(KpiEvents.from_records(records), KpiConfig(session_timeout_s=10))
    assert short.sessions == 3 and short.bounce_rate == 1.0 and short.dwell_s is None
    assert "no dwell" in short.message


def test_thin_data_gives_messages_not_exceptions():
    empty = compute_kpis(KpiEvents.from_records([]))
    assert empty.sessions == 0 and empty.click_through is None and empty.message == "no events in the window"
    only_track = compute_kpis(KpiEvents.from_records([rec("u", 1.0, "track", "Order Completed")]))
    assert only_track.sessions == 0 and only_track.bounce_rate is None and only_track.conversion_rate == 1.0
    assert "no page events" in only_track.message and "no impression" in only_track.message
    nan = compute_kpis(KpiEvents.from_records([rec("u", float("nan")), rec("u", 5.0)]))
    assert nan.page_views == 1


def test_groups_count_events_from_each_members_start():
    records = [rec("a", 0.0), rec("a", 100.0), rec("b", 0.0), rec("b", 50.0), rec("b", 60.0, "track", "Slot Viewed")]
    events = KpiEvents.from_records(records)
    by = kpis_by_group(events, {"all": {"a": 0.0, "b": 0.0}, "late": {"b": 50.0}, "nobody": {}})
    assert by["all"].page_views == 4 and by["all"].profiles == 2
    assert by["late"].page_views == 1 and by["late"].impressions == 1
    assert by["nobody"].sessions == 0 and by["nobody"].message


# ------------------------------------------------------------------------------------------ independent pandas
def pandas_kpis(records, timeout=1800.0):
    """The same definitions written independently with pandas groupby/shift."""
    cfg = KpiConfig(session_timeout_s=timeout)
    df = pd.DataFrame(records, columns=["profile", "type", "name", "ts"])
    pages = df[df["type"].isin(cfg.page_types)].sort_values(["profile", "ts"])
    gap = pages.groupby("profile")["ts"].diff()
    pages = pages.assign(new=gap.isna() | (gap > timeout))
    pages = pages.assign(session=pages.groupby("profile")["new"].cumsum())
    size = pages.groupby(["profile", "session"]).size()
    within = gap[~pages["new"]]
    per_profile = pages.groupby("profile")["session"].max()
    names = df["name"].fillna("")
    clicks, impressions = names.isin(cfg.click_events).sum(), names.isin(cfg.impression_events).sum()
    converters = df.loc[names.isin(cfg.conversion_events), "profile"].nunique()
    return {
        "profiles": df["profile"].nunique(),
        "sessions": int(pages["new"].sum()),
        "page_views": len(pages),
        "dwell_s": float(within.mean()) if len(within) else None,
        "bounce_rate": float((size == 1).mean()) if len(size) else None,
        "repeat_visit_rate": float((per_profile > 1).mean()) if len(per_profile) else None,
        "click_through": clicks / impressions if impressions else None,
        "conversion_rate": converters / df["profile"].nunique(),
    }


def assert_same(k, expected):
    for name, value in expected.items():
        got = getattr(k, name)
        if value is None:
            assert got is None, name
        else:
            assert got == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_matches_independent_pandas_on_random_traffic():
    rng = np.random.default_rng(5)
    names = [None, "Slot Viewed", "Slot Clicked", "Order Completed", "Product Viewed"]
    records = []
    for u in range(60):
        t = float(rng.uniform(0, 1e5))
        for _ in range(int(rng.integers(1, 30))):
            t += float(rng.exponential(900))
            kind = "page" if rng.random() < 0.6 else "track"
            records.append(rec(f"u{u}", t, kind, None if kind == "page" else names[rng.integers(1, 5)]))
    random.Random(1).shuffle(records)
    assert_same(compute_kpis(KpiEvents.from_records(records)), pandas_kpis(records))


events_st = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.sampled_from(["page", "screen", "track"]),
        st.sampled_from([None, "Slot Viewed", "Slot Clicked", "Order Completed", "Other"]),
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
    ),
    max_size=60,
).map(lambda rows: [(p, t, None if t != "track" else n, ts) for p, t, n, ts in rows])


@settings(max_examples=150, deadline=None)
@given(events_st, st.floats(min_value=1, max_value=1e5))
def test_property_agrees_with_pandas_and_stays_in_range(records, timeout):
    k = compute_kpis(KpiEvents.from_records(records), KpiConfig(session_timeout_s=timeout))
    if records:
        assert_same(k, pandas_kpis(records, timeout))
    for rate in (k.bounce_rate, k.repeat_visit_rate, k.conversion_rate):
        assert rate is None or 0.0 <= rate <= 1.0
    assert k.sessions <= k.page_views
    if k.page_views:
        assert k.sessions >= 1
    assert k.dwell_s is None or k.dwell_s >= 0
    shuffled = list(records)
    random.Random(0).shuffle(shuffled)
    assert compute_kpis(KpiEvents.from_records(shuffled), KpiConfig(session_timeout_s=timeout)) == k
