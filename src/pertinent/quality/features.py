"""Numeric features of a profile's stored state, for the outlier scan and imputation.

>>> day = 86400.0
>>> state = {"events_total": 40, "sessions": 2, "first_seen": 0.0, "last_seen": day,
...          "counts": {"page": {"total": 30, "days": {"0": 10, "1": 20}}, "Order Completed": {"total": 10,
...          "days": {"1": 10}}}, "rfm": {"frequency": 1, "monetary": 20.0, "last_purchase": day}}
>>> f = rate_features(state)
>>> f["events_per_day"], f["events_per_session"], f["max_day_events"], f["top_event_share"], f["event_kinds"]
(20.0, 20.0, 30.0, 0.75, 2.0)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

DAY = 86400.0
RATE_FEATURES = (
    "events_total",
    "events_per_day",
    "events_per_session",
    "max_day_events",
    "top_event_share",
    "event_kinds",
    "active_days",
)


def rate_features(state: dict[str, Any]) -> dict[str, float]:
    """How much and how regularly a profile acts: what no person produces shows here (scripts, crawlers)."""
    total = float(state.get("events_total", 0) or 0)
    sessions = float(state.get("sessions", 0) or 0)
    first, last = state.get("first_seen"), state.get("last_seen")
    per_day: Counter[str] = Counter()
    per_event: dict[str, float] = {}
    for name, entry in (state.get("counts") or {}).items():
        if not isinstance(entry, dict):
            continue
        per_event[name] = float(entry.get("total", 0) or 0)
        for d, n in (entry.get("days") or {}).items():
            per_day[str(d)] += int(n)
    active = float(len(per_day)) or 1.0
    span_days = 1.0
    if isinstance(first, int | float) and isinstance(last, int | float):
        span_days = (last - first) / DAY + 1.0
    counted = sum(per_event.values())
    return {
        "events_total": total,
        "events_per_day": total / max(min(span_days, active), 1.0),
        "events_per_session": total / max(sessions, 1.0),
        "max_day_events": float(max(per_day.values(), default=0)),
        "top_event_share": max(per_event.values(), default=0.0) / counted if counted else 0.0,
        "event_kinds": float(len(per_event)),
        "active_days": active,
    }


def behaviour(state: dict[str, Any]) -> dict[str, float]:
    """What a profile does, for imputation: event counts by name, interest shares by category, RFM."""
    out: dict[str, float] = {}
    for name, entry in (state.get("counts") or {}).items():
        if isinstance(entry, dict):
            out[f"count:{name}"] = float(entry.get("total", 0) or 0)
    for kind, table in (state.get("affinities") or {}).items():
        if isinstance(table, dict):
            total = sum(v for v in table.values() if isinstance(v, int | float)) or 1.0
            for label, v in table.items():
                if isinstance(v, int | float):
                    out[f"{kind}:{label}"] = float(v) / total
    rfm = state.get("rfm") or {}
    out["rfm:frequency"] = float(rfm.get("frequency", 0) or 0)
    out["rfm:monetary"] = float(rfm.get("monetary", 0.0) or 0.0)
    return out
