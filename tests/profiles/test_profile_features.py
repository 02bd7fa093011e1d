"""Profile features: windowed counts, sessions, RFM, decayed affinities, stitching merges."""

from __future__ import annotations

import random

import pytest

from pertinent.profiles.features import DAY, ProfileConfig, ProfileEvent, apply_event, merge_states, summarize

CFG = ProfileConfig()
T0 = 20000 * DAY  # a day boundary


def view(ts, category="A", name="Product Viewed", **props):
    return ProfileEvent("track", name, ts, {"category": category, **props}, {})


def test_windowed_counts_match_a_direct_count():
    rng = random.Random(7)
    times = [T0 + rng.uniform(0, 60 * DAY) for _ in range(300)]
    state: dict = {}
    for ts in times:
        apply_event(state, view(ts), CFG)
    now = T0 + 60 * DAY + 0.5 * DAY
    f = summarize(state, now, CFG)
    today = int(now // DAY)
    for w in (1, 7, 30):
        expected = sum(1 for ts in times if today - int(ts // DAY) < w)
        assert f["counts"]["Product Viewed"][f"{w}d"] == expected
    assert f["counts"]["Product Viewed"]["total"] == 300 == f["events_total"]
    assert len(state["counts"]["Product Viewed"]["days"]) <= 31 + 1  # bounded state


def test_sessions_split_on_the_inactivity_timeout():
    state: dict = {}
    gaps = [0, 60, 600, 1799, 1801, 30, 4000, 10]  # > 1800 s starts a new session: 2 times
    ts = T0
    for g in gaps:
        ts += g
        apply_event(state, view(ts), CFG)
    assert state["sessions"] == 3
    assert state["first_seen"] == T0 and state["last_seen"] == ts


def test_rfm_counts_purchases_and_refunds():
    state: dict = {}
    apply_event(state, view(T0, name="Order Completed", revenue=100.0), CFG)
    apply_event(
        state, view(T0 + DAY, name="Order Completed", products=[{"price": 10, "quantity": 3}, {"price": "2.5"}]), CFG
    )
    apply_event(state, view(T0 + 2 * DAY, name="Order Refunded", revenue=20.0), CFG)
    f = summarize(state, T0 + 5 * DAY, CFG)
    assert f["rfm"]["frequency"] == 2
    assert f["rfm"]["monetary"] == pytest.approx(100 + 32.5 - 20)
    assert f["rfm"]["recency_days"] == pytest.approx(4.0)


def test_an_order_split_into_parts_counts_once():
    state: dict = {}
    for part in (1, 2, 3):
        apply_event(
            state, view(T0, name="Order Completed", order_id="o1", order_part=part, order_parts=3, revenue=10.0), CFG
        )
    rfm = summarize(state, T0, CFG)["rfm"]
    assert rfm["frequency"] == 1 and rfm["monetary"] == 30.0


def test_affinities_decay_with_the_half_life():
    state: dict = {}
    apply_event(state, view(T0, category="Old"), CFG)
    apply_event(state, view(T0 + 14 * DAY, category="New"), CFG)  # one half-life later
    f = summarize(state, T0 + 14 * DAY, CFG)["affinities"]["category"]
    assert f["New"] == pytest.approx(2 / 3, abs=1e-3) and f["Old"] == pytest.approx(1 / 3, abs=1e-3)


def test_heavier_events_weigh_more_and_ratings_threshold():
    state: dict = {}
    apply_event(state, view(T0, category="Viewed"), CFG)
    apply_event(
        state,
        ProfileEvent("track", "Order Completed", T0, {"products": [{"product_id": "p", "category": "Bought"}]}, {}),
        CFG,
    )
    apply_event(state, ProfileEvent("track", "Product Reviewed", T0, {"rating": 1.0, "category": "Hated"}, {}), CFG)
    aff = summarize(state, T0, CFG)["affinities"]["category"]
    assert aff["Bought"] == pytest.approx(5 / 6, abs=1e-3) and "Hated" not in aff


def test_out_of_order_events_give_the_same_state_as_in_order():
    rng = random.Random(3)
    events = [view(T0 + rng.uniform(0, 20 * DAY), category=rng.choice("ABC")) for _ in range(50)]
    in_order: dict = {}
    for e in sorted(events, key=lambda e: e.timestamp):
        apply_event(in_order, e, CFG)
    shuffled: dict = {}
    for e in events:
        apply_event(shuffled, e, CFG)
    now = T0 + 21 * DAY
    a, b = summarize(in_order, now, CFG), summarize(shuffled, now, CFG)
    assert a["counts"] == b["counts"] and a["events_total"] == b["events_total"]
    for k, v in a["affinities"]["category"].items():
        assert b["affinities"]["category"][k] == pytest.approx(v, abs=1e-9)


def test_merge_equals_applying_all_events_to_one_profile():
    rng = random.Random(11)
    events = [
        view(
            T0 + rng.uniform(0, 10 * DAY),
            category=rng.choice("XYZ"),
            name=rng.choice(["Product Viewed", "Order Completed"]),
            revenue=rng.randint(1, 50),
        )
        for _ in range(40)
    ]
    anon, known, together = {}, {}, {}
    for i, e in enumerate(sorted(events, key=lambda e: e.timestamp)):
        apply_event(anon if i % 2 else known, e, CFG)
        apply_event(together, e, CFG)
    merged = merge_states(known, anon, CFG)
    now = T0 + 11 * DAY
    a, b = summarize(merged, now, CFG), summarize(together, now, CFG)
    assert a["counts"] == b["counts"] and a["rfm"] == b["rfm"]
    assert (a["first_seen"], a["last_seen"]) == (b["first_seen"], b["last_seen"])
    for k, v in b["affinities"]["category"].items():
        assert a["affinities"]["category"][k] == pytest.approx(v, abs=1e-9)


def test_recent_items_keep_the_newest():
    cfg = ProfileConfig(recent_items=3)
    state: dict = {}
    for i in range(6):
        apply_event(state, view(T0 + i, product_id=f"p{i}"), cfg)
    assert summarize(state, T0 + 10, cfg)["recent_items"] == ["p5", "p4", "p3"]


def test_config_round_trips_json():
    cfg = ProfileConfig(affinity_half_life_days=3, event_weights={"x": 2.0})
    assert ProfileConfig.model_validate_json(cfg.model_dump_json()) == cfg
