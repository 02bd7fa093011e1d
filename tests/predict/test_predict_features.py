"""Features at a cutoff: no leakage (hypothesis), hand-checked values, and bad input naming the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.predict.config import EventSpec, FeatureConfig
from pertinent.predict.events import EventLog
from pertinent.predict.features import build_features, describe_feature, orders_before

DAY = 86_400.0
CONFIG = FeatureConfig(windows_days=(3, 10, 30), trend_days=5)

event_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.floats(0, 60 * DAY, allow_nan=False),
        st.sampled_from(["view", "cart", "order"]),
        st.floats(0, 500, allow_nan=False),
        st.sampled_from(["x", "y", "z"]),
    ),
    max_size=40,
)


def frame(rows: list[tuple[str, float, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "timestamp", "event", "revenue", "item"]).astype(
        {"user": object, "timestamp": float, "event": object, "revenue": float, "item": object}
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_rows, event_rows, st.floats(1 * DAY, 59 * DAY), st.floats(0, 7200))
def test_features_ignore_events_at_or_after_the_cutoff(before, later, cutoff, gap):
    spec = EventSpec(order_gap_seconds=gap)
    past = [r for r in before if r[1] < cutoff]
    after = [(u, cutoff + t, e, r, i) for u, t, e, r, i in later]  # at or after the cutoff, new users and types too
    removed = [r for r in before if r[1] >= cutoff]  # the later events of the first list, dropped
    for config in (CONFIG, CONFIG.model_copy(update={"behaviour": True})):
        only_past = build_features(frame(past), cutoff, spec, config)
        with_later = build_features(frame(past + removed + after), cutoff, spec, config)
        pd.testing.assert_frame_equal(only_past, with_later)
    assert set(only_past.index) == {r[0] for r in past}


def test_hand_computed_features():
    ev = pd.DataFrame(
        {
            "user": ["a", "a", "a", "a", "b"],
            "timestamp": np.array([0.0, 10.0, 20.0, 26.0, 28.0]) * DAY,
            "event": ["order", "order", "view", "order", "cart"],
            "revenue": [10.0, 20.0, 0.0, 40.0, 0.0],
            "item": ["x", "y", "y", "z", "x"],
        }
    )
    f = build_features(ev, 30 * DAY, config=CONFIG)
    a, b = f.loc["a"], f.loc["b"]
    assert a["recency_days"] == 4 and a["tenure_days"] == 30 and a["purchase_recency_days"] == 4
    assert a["orders_total"] == 3 and a["revenue_total"] == 70 and a["avg_order_value"] == pytest.approx(70 / 3)
    assert (a["intervals_n"], a["interval_mean_days"], a["interval_last_days"], a["interval_min_days"]) == (
        2,
        13,
        16,
        10,
    )
    assert a["interval_std_days"] == pytest.approx(3.0) and a["overdue_ratio"] == pytest.approx(4 / 13)
    assert (a["orders_10d"], a["revenue_10d"], a["events_10d"], a["ev_view_10d"], a["items_10d"]) == (1, 40, 2, 1, 2)
    assert (a["orders_30d"], a["ev_cart_30d"], a["items_total"], a["active_days_total"]) == (3, 0, 3, 4)
    # trend over 5 days: last 5 days (ages <= 5) hold 1 order and 1 event; the 5 before (5 < age <= 10) hold 1 view
    assert (a["orders_trend"], a["events_trend"]) == (1, 0)
    assert a["events_trend_log_ratio"] == pytest.approx(np.log(2 / 2))
    assert np.isnan(b["purchase_recency_days"]) and b["orders_total"] == 0 and b["ev_cart_3d"] == 1
    assert np.isnan(b["interval_mean_days"]) and b["intervals_n"] == 0


def test_orders_merge_purchases_within_the_gap():
    ev = pd.DataFrame(
        {"user": ["a"] * 4, "timestamp": [0, 0, 600, 5000], "event": ["order"] * 4, "revenue": [1.0, 2.0, 3.0, 4.0]}
    )
    one_invoice = orders_before(EventLog.from_frame(ev), 10_000)
    assert one_invoice["revenue"].tolist() == [3.0, 3.0, 4.0]
    hour = orders_before(EventLog.from_frame(ev, EventSpec(order_gap_seconds=3600)), 10_000)
    assert hour["revenue"].tolist() == [6.0, 4.0] and hour["ts"].tolist() == [0.0, 5000.0]


def test_datetimes_and_seconds_give_the_same_features():
    ev = pd.DataFrame({"user": ["a", "a", "b"], "timestamp": [0.0, 3 * DAY, DAY], "event": ["order", "view", "order"]})
    as_dates = ev.assign(timestamp=pd.to_datetime(ev["timestamp"], unit="s"))
    as_aware = ev.assign(timestamp=pd.to_datetime(ev["timestamp"], unit="s", utc=True).dt.tz_convert("Europe/Paris"))
    ref = build_features(ev, 5 * DAY)
    pd.testing.assert_frame_equal(ref, build_features(as_dates, pd.Timestamp("1970-01-06")))
    pd.testing.assert_frame_equal(ref, build_features(as_aware, pd.Timestamp("1970-01-06", tz="UTC")))


def test_declared_activity_events_fix_the_columns():
    ev = pd.DataFrame({"user": ["a"], "timestamp": [0.0], "event": ["view"]})
    spec = EventSpec(activity_events=("view", "cart"))
    f = build_features(ev, DAY, spec, CONFIG)
    assert {"ev_view_3d", "ev_cart_3d"} <= set(f.columns)
    assert build_features(ev.iloc[:0], DAY, spec, CONFIG).empty


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda f: f.drop(columns=["user"]), "user"),
        (lambda f: f.drop(columns=["timestamp"]), "timestamp"),
        (lambda f: f.drop(columns=["event"]), "event"),
        (lambda f: f.assign(user=[1.5, 2.5]), "user"),
        (lambda f: f.assign(user=["a", None]), "user"),
        (lambda f: f.assign(timestamp=["2020-01-01", "2020-01-02"]), "timestamp"),
        (lambda f: f.assign(timestamp=[0.0, np.nan]), "timestamp"),
        (lambda f: f.assign(event=["view", None]), "event"),
        (lambda f: f.assign(event=[1.0, 2.0]), "event"),
        (lambda f: f.assign(revenue=["1", "2"]), "revenue"),
        (lambda f: f.assign(revenue=[1.0, np.inf]), "revenue"),
        (lambda f: f.assign(item=["x", None]), "item"),
    ],
)
def test_bad_input_names_the_column(change, column):
    good = pd.DataFrame(
        {"user": ["a", "b"], "timestamp": [0.0, 1.0], "event": ["view", "order"], "revenue": [0.0, 5.0]}
    )
    build_features(good, 10.0)
    with pytest.raises(ValueError, match=f"'{column}'"):
        build_features(change(good), 10.0)


def test_integer_ids_and_missing_revenue_are_accepted():
    ev = pd.DataFrame({"user": [17, 17, 42], "timestamp": [0, 10, 20], "event": ["order", "order", "view"]})
    f = build_features(ev, 30)
    assert list(f.index) == ["17", "42"] and f.loc["17", "revenue_total"] == 0.0


def test_bad_cutoff_and_frame_type():
    with pytest.raises(ValueError, match="cutoff"):
        build_features(pd.DataFrame({"user": ["a"], "timestamp": [0], "event": ["v"]}), "yesterday")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="DataFrame"):
        build_features([("a", 0, "v")], 10.0)  # type: ignore[arg-type]


def test_plain_words():
    assert describe_feature("purchase_recency_days") == "days since the last purchase"
    assert describe_feature("revenue_0.5d") == "revenue in the last 0.5 days"
    assert describe_feature("something_new") == "something_new"


def test_behaviour_features_by_hand():
    ev = pd.DataFrame(
        {
            "user": ["a"] * 5,
            "timestamp": np.array([0.0, 1.0, 2.0, 2.5, 6.0]) * DAY + 3 * 3600,  # 03:00 UTC (night) but one
            "event": ["view", "cart", "order", "cart", "view"],
            "revenue": [0.0, 0.0, 30.0, 0.0, 0.0],
            "item": ["x", "x", "x", "y", "z"],
            "category": ["c1", "c1", "c1", "c2", None],
        }
    )
    f = build_features(ev, 7 * DAY, config=FeatureConfig(windows_days=(3, 7), trend_days=3, behaviour=True)).loc["a"]
    assert f["ev_cart_since_purchase"] == 1 and f["ev_view_since_purchase"] == 1
    assert f["ev_cart_per_order"] == pytest.approx(2 / 2)  # two carts, one order (+1 smoothing)
    assert f["ev_cart_recency_days"] == pytest.approx(7 - 2.5 - 3 / 24)
    assert f["night_share"] == pytest.approx(0.8)  # the cart at day 2.5 is at 15:00
    assert f["active_gap_mean_days"] == pytest.approx(2.0)  # active days 0, 1, 2, 6
    assert f["item_repeat_ratio"] == pytest.approx(5 / 3)
    assert f["categories_total"] == 3  # c1, c2 and the missing one ("")
    assert f["revenue_trend"] == pytest.approx(-30.0)  # the order is 5 days back: the window before the last 3 days
    assert describe_feature("ev_cart_since_purchase") == "'cart' events since the last purchase"
