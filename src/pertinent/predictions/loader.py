"""Stored events as the events frame of :mod:`pertinent.predict` (one slim read, no JSON decoding but three
fields).

``user`` = profile id, ``event`` = the track event's name (``page`` / ``screen`` for those calls), ``revenue`` =
``properties.revenue``, else ``properties.total``, else ``properties.value`` (text that is not a number counts
as 0), ``item`` = ``properties.product_id`` (empty when absent). Identify, group and alias calls are not
behaviour and are left out. ``exclude`` drops profiles (the hook for bot / outlier flags: profiles that a data
quality pass marks as not-a-person stay out of training and scoring).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from pertinent.storage.protocols import AnalyticsQueries

BEHAVIOUR = ("track", "page", "screen")
PATHS = (("properties", "revenue"), ("properties", "total"), ("properties", "value"), ("properties", "product_id"))


def _number(raw: Any) -> float:
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def load_events(tx: AnalyticsQueries, until: float, exclude: Iterable[str] = ()) -> pd.DataFrame:
    """Every behaviour event before ``until`` as an events frame (columns user, timestamp, event, revenue, item)."""
    skip = set(exclude)
    users: list[str] = []
    stamps: list[float] = []
    names: list[str] = []
    revenue: list[float] = []
    items: list[str] = []
    for pid, kind, name, ts, rev, total, value, product in tx.iter_event_fields(0.0, until, PATHS):
        if kind not in BEHAVIOUR or pid in skip:
            continue
        users.append(pid)
        stamps.append(float(ts))
        names.append(name if kind == "track" and name else kind)
        revenue.append(_number(rev if rev is not None else total if total is not None else value))
        items.append("" if product is None else str(product))
    return pd.DataFrame(
        {
            "user": pd.Series(users, dtype=object),
            "timestamp": pd.Series(stamps, dtype=float),
            "event": pd.Series(names, dtype=object),
            "revenue": pd.Series(revenue, dtype=float),
            "item": pd.Series(items, dtype=object),
        }
    )
