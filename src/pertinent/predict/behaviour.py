"""Behaviour features beyond recency / frequency / monetary, from the events before the cutoff (no leakage).

Computed by :func:`behaviour_features` and joined by :func:`~pertinent.predict.features.build_features`:

- rhythm of activity: ``active_gap_mean_days``, ``active_gap_last_days`` (between distinct active days),
  ``hour_sin`` / ``hour_cos`` (mean hour of day on the circle, UTC), ``night_share`` (events 0-6 h UTC),
  ``weekend_share``;
- type recency and intent: ``ev_{type}_recency_days`` (days since the last event of each non-purchase type),
  ``ev_{type}_since_purchase`` (such events after the last purchase; all of them when none),
  ``ev_{type}_per_order`` (all-history events of the type per order, +1 smoothed: how much browsing a purchase
  takes, e.g. cart-to-buy);
- diversity: ``item_repeat_ratio`` (activity events per distinct item) and, with a ``category`` column,
  ``categories_total`` and ``category_entropy``;
- trends across windows: ``rate_trend_{a}_{b}`` (active days a day in the shorter window minus in the longer one,
  for consecutive windows), ``revenue_trend`` (revenue in the trend window minus the one before).

>>> import pandas as pd
>>> from pertinent.predict.events import EventLog
>>> ev = pd.DataFrame({"user": ["a", "a", "a"], "timestamp": [0.0, 86400.0, 3 * 86400.0],
...                    "event": ["view", "cart", "order"], "revenue": [0.0, 0.0, 5.0]})
>>> f = behaviour_features(EventLog.from_frame(ev), 4 * 86400.0, (1.0, 7.0), 1.0)
>>> f.loc["a", ["active_gap_mean_days", "ev_cart_recency_days", "ev_view_per_order"]].tolist()
[1.5, 3.0, 0.5]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pertinent.predict.config import DAY
from pertinent.predict.events import EventLog


def _slug(event: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_") or "event"


def behaviour_features(
    log: EventLog,
    cutoff: float,
    windows: Sequence[float],
    trend_days: float,
    types: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The features above, one row per user with an event before ``cutoff`` (index ``user``, sorted)."""
    past = log.before(cutoff)
    users = pd.Index(np.sort(past["user"].unique()), dtype=object, name="user")
    act = log.activity(past)
    cols: dict[str, pd.Series] = {}
    ts = act["ts"].to_numpy(dtype=float)
    day = np.floor(ts / DAY)

    days = pd.DataFrame({"user": act["user"].to_numpy(), "day": day}).drop_duplicates().sort_values(["user", "day"])
    gaps = days.groupby("user")["day"].diff()
    g = pd.DataFrame({"user": days["user"].to_numpy(), "gap": gaps.to_numpy()}).dropna().groupby("user")["gap"]
    cols["active_gap_mean_days"] = g.mean().reindex(users).astype(float)
    cols["active_gap_last_days"] = g.last().reindex(users).astype(float)

    hour = (ts % DAY) / 3600.0
    angle = 2 * np.pi * hour / 24.0
    weekday = (np.floor(ts / DAY).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3 with Monday = 0)
    clock = pd.DataFrame(
        {
            "user": act["user"].to_numpy(),
            "sin": np.sin(angle),
            "cos": np.cos(angle),
            "night": (hour < 6).astype(float),
            "weekend": (weekday >= 5).astype(float),
        }
    ).groupby("user")
    means = clock[["sin", "cos", "night", "weekend"]].mean().reindex(users)
    cols["hour_sin"], cols["hour_cos"] = means["sin"].astype(float), means["cos"].astype(float)
    cols["night_share"], cols["weekend_share"] = means["night"].astype(float), means["weekend"].astype(float)

    purchases = past[past["purchase"].to_numpy(dtype=bool)]
    last_buy = purchases.groupby("user")["ts"].max()
    orders = purchases.groupby("user")["ts"].nunique().reindex(users, fill_value=0).astype(float)
    if types is None:
        types = sorted(set(act["event"].unique()) - set(log.spec.purchase_events))
    after_buy = act["ts"].to_numpy() > last_buy.reindex(act["user"]).fillna(-np.inf).to_numpy()
    for t in types:
        mask = act["event"].to_numpy() == t
        of_type = act[mask]
        name = _slug(t)
        cols[f"ev_{name}_recency_days"] = ((cutoff - of_type.groupby("user")["ts"].max()) / DAY).reindex(users)
        since = of_type[after_buy[mask]].groupby("user").size()
        cols[f"ev_{name}_since_purchase"] = since.reindex(users, fill_value=0).astype(float)
        total = of_type.groupby("user").size().reindex(users, fill_value=0).astype(float)
        cols[f"ev_{name}_per_order"] = total / (orders + 1.0)

    if log.has_items:
        n_items = act.groupby("user")["item"].nunique().reindex(users)
        cols["item_repeat_ratio"] = (act.groupby("user").size().reindex(users) / n_items).astype(float)
    if "category" in log.frame.columns:
        counts = act.groupby(["user", "category"]).size()
        shares = counts / counts.groupby(level=0).transform("sum")
        entropy = (-(shares * np.log(shares))).groupby(level=0).sum()
        cols["categories_total"] = counts.groupby(level=0).size().reindex(users, fill_value=0).astype(float)
        cols["category_entropy"] = entropy.reindex(users).astype(float)

    ws = sorted(windows)
    for a, b in zip(ws[:-1], ws[1:], strict=True):
        in_a = days[(cutoff / DAY - days["day"].to_numpy()) <= a].groupby("user").size()
        in_b = days[(cutoff / DAY - days["day"].to_numpy()) <= b].groupby("user").size()
        rate = in_a.reindex(users, fill_value=0) / max(a, 1.0) - in_b.reindex(users, fill_value=0) / max(b, 1.0)
        cols[f"rate_trend_{a:g}d_{b:g}d"] = rate.astype(float)
    p_age = (cutoff - purchases["ts"].to_numpy()) / DAY
    last = purchases[p_age <= trend_days].groupby("user")["revenue"].sum()
    prev = purchases[(p_age > trend_days) & (p_age <= 2 * trend_days)].groupby("user")["revenue"].sum()
    cols["revenue_trend"] = (last.reindex(users, fill_value=0.0) - prev.reindex(users, fill_value=0.0)).astype(float)
    return pd.DataFrame(cols, index=users).astype(float)
