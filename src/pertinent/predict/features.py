"""Per-user features at a cutoff, computed from the events strictly before it (no leakage).

Rows: every user with at least one event before the cutoff (index ``user``, sorted). Columns (days are
fractional; ``{w}`` is each window of :class:`~pertinent.predict.config.FeatureConfig`, e.g. ``90d``):

- recency / tenure: ``recency_days`` (last activity), ``tenure_days`` (first event), ``purchase_recency_days``,
  ``purchase_tenure_days`` (NaN without a purchase);
- frequency / monetary: ``orders_total``, ``revenue_total``, ``avg_order_value``, ``orders_{w}``,
  ``revenue_{w}``; activity: ``events_total``, ``events_{w}``, ``active_days_total``, ``active_days_{w}``
  and per event type ``ev_{type}_{w}`` (types from ``EventSpec.activity_events``, else those seen before
  the cutoff);
- inter-purchase intervals between orders: ``intervals_n``, ``intervals_sum_days``, ``interval_mean_days``,
  ``interval_median_days``, ``interval_std_days``, ``interval_min_days``, ``interval_last_days``,
  ``overdue_ratio`` (days since last purchase / mean interval);
- trend over the trend window t: ``orders_trend`` and ``events_trend`` (last t minus the t before),
  ``events_trend_log_ratio`` (log of (last + 1) / (previous + 1));
- with an ``item`` column: ``items_total`` and ``items_{w}`` (distinct items in activity events).

>>> import pandas as pd
>>> ev = pd.DataFrame({"user": ["a", "a", "a", "b"], "timestamp": [0, 86400, 5 * 86400, 2 * 86400],
...                    "event": ["order", "view", "order", "view"], "revenue": [10.0, 0.0, 30.0, 0.0]})
>>> f = build_features(ev, cutoff=10 * 86400)
>>> f.loc["a", ["purchase_recency_days", "orders_total", "revenue_total", "interval_mean_days"]].tolist()
[5.0, 2.0, 40.0, 5.0]
>>> describe_feature("orders_90d"), describe_feature("ev_cart_7d")
('orders in the last 90 days', "'cart' events in the last 7 days")
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pertinent.predict.behaviour import behaviour_features
from pertinent.predict.config import DAY, EventSpec, FeatureConfig
from pertinent.predict.events import EventLog, to_seconds


def window_name(days: float) -> str:
    """Column suffix of a window: ``30d``, ``0.5d``."""
    return f"{days:g}d"


def _slug(event: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_") or "event"


def orders_before(log: EventLog, cutoff: float) -> pd.DataFrame:
    """The orders (columns user, ts, revenue) built from purchases before ``cutoff``; see ``EventSpec``."""
    p = log.before(cutoff)
    p = p[p["purchase"].to_numpy(dtype=bool)]
    if p.empty:
        return pd.DataFrame({"user": pd.Series([], dtype=object), "ts": [], "revenue": []})
    p = p.sort_values(["user", "ts"], kind="stable")
    user = p["user"].to_numpy()
    ts = p["ts"].to_numpy(dtype=float)
    new = np.ones(len(p), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (ts[1:] - ts[:-1] > log.spec.order_gap_seconds)
    order = np.cumsum(new)
    grouped = pd.DataFrame({"order": order, "user": user, "ts": ts, "revenue": p["revenue"].to_numpy()}).groupby(
        "order", sort=True
    )
    return pd.DataFrame(
        {
            "user": grouped["user"].first().to_numpy(),
            "ts": grouped["ts"].min().to_numpy(),
            "revenue": grouped["revenue"].sum().to_numpy(),
        }
    )


INTERVAL_COLUMNS = (
    "intervals_n",
    "intervals_sum_days",
    "interval_mean_days",
    "interval_median_days",
    "interval_std_days",
    "interval_min_days",
    "interval_last_days",
)


def _interval_stats(orders: pd.DataFrame) -> pd.DataFrame:
    if orders.empty:
        return pd.DataFrame(columns=list(INTERVAL_COLUMNS), index=pd.Index([], dtype=object, name="user"), dtype=float)
    o = orders.sort_values(["user", "ts"], kind="stable")
    gaps = o.groupby("user", sort=True)["ts"].diff() / DAY
    g = pd.DataFrame({"user": o["user"].to_numpy(), "gap": gaps.to_numpy()}).dropna().groupby("user", sort=True)["gap"]
    out = pd.DataFrame(
        {
            "intervals_n": g.size(),
            "intervals_sum_days": g.sum(),
            "interval_mean_days": g.mean(),
            "interval_median_days": g.median(),
            "interval_std_days": g.std(ddof=0),
            "interval_min_days": g.min(),
            "interval_last_days": g.last(),
        }
    )
    out.index.name = "user"
    return out


def _counts(frame: pd.DataFrame, users: pd.Index) -> pd.Series:
    return frame.groupby("user", sort=False).size().reindex(users, fill_value=0).astype(float)


def _sums(frame: pd.DataFrame, column: str, users: pd.Index) -> pd.Series:
    return frame.groupby("user", sort=False)[column].sum().reindex(users, fill_value=0.0).astype(float)


def _distinct(frame: pd.DataFrame, column: str, users: pd.Index) -> pd.Series:
    return frame.groupby("user", sort=False)[column].nunique().reindex(users, fill_value=0).astype(float)


def build_features(
    events: pd.DataFrame | EventLog,
    cutoff: float | pd.Timestamp,
    spec: EventSpec | None = None,
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """The feature frame at ``cutoff`` (UTC seconds or a datetime): one row per user seen before it.

    Only events with ``timestamp < cutoff`` are read, so adding or removing later events changes nothing.
    """
    log = EventLog.from_frame(events, spec)
    config = config or FeatureConfig()
    at = to_seconds(cutoff)
    past = log.before(at)
    users = pd.Index(np.sort(past["user"].unique()), dtype=object, name="user")
    cols: dict[str, pd.Series] = {}
    age = (at - past["ts"]) / DAY
    past = past.assign(age=age.to_numpy(), day=np.floor(past["ts"].to_numpy() / DAY))
    act = log.activity(past)

    cols["recency_days"] = act.groupby("user")["age"].min().reindex(users).astype(float)
    cols["tenure_days"] = past.groupby("user")["age"].max().reindex(users).astype(float)
    cols["events_total"] = _counts(act, users)
    cols["active_days_total"] = _distinct(act, "day", users)

    orders = orders_before(log, at)
    orders = orders.assign(age=(at - orders["ts"].to_numpy(dtype=float)) / DAY)
    by_user = orders.groupby("user")
    cols["purchase_recency_days"] = by_user["age"].min().reindex(users).astype(float)
    cols["purchase_tenure_days"] = by_user["age"].max().reindex(users).astype(float)
    cols["orders_total"] = _counts(orders, users)
    cols["revenue_total"] = _sums(orders, "revenue", users)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["avg_order_value"] = (cols["revenue_total"] / cols["orders_total"]).where(cols["orders_total"] > 0)

    intervals = _interval_stats(orders).reindex(users)
    for name in intervals.columns:
        cols[name] = intervals[name].astype(float)
    cols["intervals_n"] = cols["intervals_n"].fillna(0.0)
    cols["intervals_sum_days"] = cols["intervals_sum_days"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["overdue_ratio"] = cols["purchase_recency_days"] / cols["interval_mean_days"].where(
            cols["interval_mean_days"] > 0
        )

    if log.spec.activity_events is not None:
        types = [e for e in log.spec.activity_events if e not in log.spec.purchase_events]
    else:
        types = sorted(set(act["event"].unique()) - set(log.spec.purchase_events))
    for w in config.windows_days:
        wn = window_name(w)
        o_w = orders[orders["age"].to_numpy() <= w]
        a_w = act[act["age"].to_numpy() <= w]
        cols[f"orders_{wn}"] = _counts(o_w, users)
        cols[f"revenue_{wn}"] = _sums(o_w, "revenue", users)
        cols[f"events_{wn}"] = _counts(a_w, users)
        cols[f"active_days_{wn}"] = _distinct(a_w, "day", users)
        if types:
            per_type = a_w.groupby(["user", "event"]).size().unstack("event")
            for t in types:
                col = per_type[t] if t in per_type.columns else pd.Series(dtype=float)
                cols[f"ev_{_slug(t)}_{wn}"] = col.reindex(users).fillna(0.0).astype(float)
        if log.has_items:
            cols[f"items_{wn}"] = _distinct(a_w, "item", users)
    if log.has_items:
        cols["items_total"] = _distinct(act, "item", users)

    trend = config.trend_window
    o_age = orders["age"].to_numpy()
    a_age = act["age"].to_numpy()
    last_o = _counts(orders[o_age <= trend], users)
    prev_o = _counts(orders[(o_age > trend) & (o_age <= 2 * trend)], users)
    last_a = _counts(act[a_age <= trend], users)
    prev_a = _counts(act[(a_age > trend) & (a_age <= 2 * trend)], users)
    cols["orders_trend"] = last_o - prev_o
    cols["events_trend"] = last_a - prev_a
    cols["events_trend_log_ratio"] = pd.Series(np.log((last_a + 1.0) / (prev_a + 1.0)), index=users)

    out = pd.DataFrame(cols, index=users)
    if config.behaviour:
        extra = behaviour_features(log, at, config.windows_days, trend, types)
        out = out.join(extra.drop(columns=[c for c in extra.columns if c in out.columns]))
    return out.astype(float)


_PLAIN = {
    "recency_days": "days since the last activity",
    "tenure_days": "days since the first event",
    "events_total": "events in all history",
    "active_days_total": "active days in all history",
    "purchase_recency_days": "days since the last purchase",
    "purchase_tenure_days": "days since the first purchase",
    "orders_total": "orders in all history",
    "revenue_total": "revenue in all history",
    "avg_order_value": "average order value",
    "intervals_n": "number of gaps between orders",
    "intervals_sum_days": "days between the first and last order",
    "interval_mean_days": "the mean gap between orders",
    "interval_median_days": "the median gap between orders",
    "interval_std_days": "the spread of gaps between orders",
    "interval_min_days": "the shortest gap between orders",
    "interval_last_days": "the last gap between orders",
    "overdue_ratio": "how overdue the next order is (days since last purchase / mean gap)",
    "orders_trend": "the change in orders (last window vs the one before)",
    "events_trend": "the change in activity (last window vs the one before)",
    "events_trend_log_ratio": "the relative change in activity (last window vs the one before)",
    "items_total": "distinct items in all history",
    "eb_median_days": "the empirical-Bayes forecast of days to the next order",
    "active_gap_mean_days": "the mean gap between active days",
    "active_gap_last_days": "the last gap between active days",
    "hour_sin": "the time of day of activity (sine)",
    "hour_cos": "the time of day of activity (cosine)",
    "night_share": "the share of activity at night (0-6 h UTC)",
    "weekend_share": "the share of activity at weekends",
    "item_repeat_ratio": "events per distinct item (repeat interest)",
    "categories_total": "distinct categories",
    "category_entropy": "how spread activity is over categories",
    "revenue_trend": "the change in revenue (last window vs the one before)",
}

_WINDOWED = {
    "orders": "orders",
    "revenue": "revenue",
    "events": "events",
    "active_days": "active days",
    "items": "distinct items",
}


def describe_feature(name: str) -> str:
    """A feature name in plain words (the name itself when unknown)."""
    if name in _PLAIN:
        return _PLAIN[name]
    m = re.fullmatch(r"ev_(.+)_(recency_days|since_purchase|per_order)", name)
    if m:
        what = {
            "recency_days": "days since the last '{}' event",
            "since_purchase": "'{}' events since the last purchase",
            "per_order": "'{}' events per order",
        }[m.group(2)]
        return what.format(m.group(1))
    m = re.fullmatch(r"rate_trend_([0-9.]+)d_([0-9.]+)d", name)
    if m:
        return f"active days a day in the last {m.group(1)} days minus in the last {m.group(2)}"
    m = re.fullmatch(r"ev_(.+)_([0-9.]+)d", name)
    if m:
        return f"'{m.group(1)}' events in the last {m.group(2)} days"
    m = re.fullmatch(r"(orders|revenue|events|active_days|items)_([0-9.]+)d", name)
    if m:
        return f"{_WINDOWED[m.group(1)]} in the last {m.group(2)} days"
    return name
