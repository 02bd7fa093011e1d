"""What the interpreted path reads: one profile *view* prepared for evaluation at ``now``.

A view is what segmentation sees of one profile::

    {"traits": {...}, "features": <summary of the state at now>, "consent": {"analytics": bool,
     "personalization": bool}, "state": <raw profile state>}

Every part is optional. Event counts use ``state["counts"][name]["days"]`` when the raw state is in the view;
without it they fall back to the summarised ``features.counts[name]["<N>d"]`` (only correct for the ``now`` it
was made at).

>>> v = ConditionView({"state": {"counts": {"buy": {"days": {"10": 2, "3": 1}}}}}, now=10 * 86400.0)
>>> v.count(["buy"], 7), v.count(["buy"], 30)
(2, 3)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pertinent.rules.values import DAY, is_number, lookup


class ConditionView:
    """One profile view prepared for evaluation at ``now`` (what :meth:`ConditionBase.check` reads).

    Other condition languages (slot targeting) subclass it to add what their own conditions read."""

    __slots__ = ("traits", "features", "consent", "state", "now", "today")

    def __init__(self, view: dict[str, Any], now: float) -> None:
        def part(key: str) -> dict[str, Any]:
            v = view.get(key) if isinstance(view, dict) else None
            return v if isinstance(v, dict) else {}

        self.traits, self.features, self.consent, self.state = (
            part("traits"),
            part("features"),
            part("consent"),
            part("state"),
        )
        self.now = float(now)
        if not math.isfinite(self.now):
            raise ValueError(f"now must be a finite epoch time in seconds, got {now!r}")
        self.today = int(self.now // DAY)

    def count(self, names: Iterable[str], window_days: int) -> int:
        """How many times the events happened in the last ``window_days`` days (today is day 1)."""
        total = 0
        counts = self.state.get("counts")
        if isinstance(counts, dict):
            for name in names:
                days = lookup(counts, [name, "days"])
                if not isinstance(days, dict):
                    continue
                for day, n in days.items():
                    try:
                        age = self.today - int(day)
                    except (TypeError, ValueError):
                        continue
                    if 0 <= age < window_days and isinstance(n, int) and not isinstance(n, bool):
                        total += n
            return total
        summary = self.features.get("counts")
        for name in names:
            n = lookup(summary, [name, f"{window_days}d"])
            if isinstance(n, int) and not isinstance(n, bool):
                total += n
        return total

    def timestamp(self, name: str) -> float | None:
        """A profile timestamp (``first_seen``, ``last_seen``, ``last_purchase``) or None."""
        if name == "last_purchase":
            ts = lookup(self.features, ["rfm", "last_purchase"])
            if ts is None:
                ts = lookup(self.state, ["rfm", "last_purchase"])
        else:
            ts = self.features.get(name)
            if ts is None:
                ts = self.state.get(name)
        return float(ts) if is_number(ts) and math.isfinite(ts) else None

    def context(self) -> dict[str, Any]:
        """The context facts (device, country, time zone, campaign...) of the profile's latest event."""
        ctx = self.features.get("context")
        if not isinstance(ctx, dict):
            ctx = self.state.get("context")
        return ctx if isinstance(ctx, dict) else {}
