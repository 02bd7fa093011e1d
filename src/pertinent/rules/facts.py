"""What the compiled path reads: one stored profile at one moment, each fact computed on first use.

``ConditionBase.check`` reads a full view (the whole summary of a profile, costly to build). The real-time
evaluator checks every changed profile against every active segment, so compiled rules
(:meth:`ConditionBase.compile`) read :class:`Facts` instead: event counts per window, one part of the summary, the
context, the local time, each computed when a rule first asks and at most once per profile.

The summary itself is the profile layer's (``profiles.features.summarize``): a subclass binds it
(:meth:`Facts.summary`; ``segments.compiled.Facts``). This library only knows which raw state keys each
top-level summary value is made from (``SUMMARY_SOURCES``).

>>> f = Facts({"counts": {"buy": {"total": 3, "days": {"9": 2, "2": 1}}}}, {}, {}, now=10 * 86400.0)
>>> f.count(("buy",), 7), f.count(("buy",), 30)
(2, 3)
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pertinent.rules.values import DAY, is_number, lookup, time_zone

# Where each timestamp a ``since`` condition counts days from lives in a profile's state.
TIMESTAMP_PATHS = {
    "first_seen": ("first_seen",),
    "last_seen": ("last_seen",),
    "last_purchase": ("rfm", "last_purchase"),
}

# Which raw state keys each top-level summary feature is computed from (see ``profiles.features.summarize``):
# summarising just those keys gives exactly that part of the full summary.
SUMMARY_SOURCES: dict[str, tuple[str, ...]] = {
    "events_total": ("events_total",),
    "sessions": ("sessions",),
    "first_seen": ("first_seen",),
    "last_seen": ("last_seen",),
    "days_since_last_seen": ("last_seen",),
    "counts": ("counts",),
    "rfm": ("rfm",),
    "affinities": ("affinities", "affinity_ref"),
    "recent_items": ("recent_items",),
    "context": ("context",),
    "engagement": ("engagement", "paths", "last_seen"),
}


class Moment:
    """``now`` shared by every profile of one evaluation pass, with its local times cached per time zone.

    >>> Moment(86400.0 * 3 + 3600 * 9).local("Europe/Paris")  # 10:00 in Paris on a Sunday
    (10, 6)
    """

    __slots__ = ("now", "today", "_local")

    def __init__(self, now: float) -> None:
        self.now = float(now)
        if not math.isfinite(self.now):
            raise ValueError(f"now must be a finite epoch time in seconds, got {now!r}")
        self.today = int(self.now // DAY)
        self._local: dict[str, tuple[int, int] | None] = {}

    def local(self, zone: str) -> tuple[int, int] | None:
        """(hour, weekday) at ``now`` in a known time zone; None when out of range."""
        try:
            return self._local[zone]
        except KeyError:
            pass
        hit: tuple[int, int] | None
        try:
            dt = datetime.fromtimestamp(self.now, time_zone(zone))
            hit = (dt.hour, dt.weekday())
        except (OverflowError, OSError, ValueError):
            hit = None
        self._local[zone] = hit
        return hit


class Facts:
    """One profile as compiled rules see it at one moment; each fact is computed on first use.

    ``cfg`` is handed to :meth:`summary` (the profile layer's configuration of the summary)."""

    __slots__ = ("state", "traits", "consent", "moment", "cfg", "_parts", "_ages", "_counts")

    def __init__(
        self,
        state: dict[str, Any],
        traits: dict[str, Any],
        consent: dict[str, Any],
        now: float | Moment,
        cfg: Any = None,
    ) -> None:
        self.state = state if isinstance(state, dict) else {}
        self.traits = traits if isinstance(traits, dict) else {}
        self.consent = consent if isinstance(consent, dict) else {}
        self.moment = now if isinstance(now, Moment) else Moment(now)
        self.cfg = cfg
        self._parts: dict[str, Any] = {}
        self._ages: dict[str, list[tuple[int, int]]] = {}
        self._counts: dict[tuple[tuple[str, ...], int], int] = {}

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        """The summary of (part of) a raw state at ``moment.now``: the profile layer's, bound by a subclass."""
        raise NotImplementedError("a Facts subclass binds the profile summary")

    def feature(self, head: str) -> Any:
        """One top-level value of the summary (``summary(state)[head]``), computed alone."""
        try:
            return self._parts[head]
        except KeyError:
            pass
        sources = SUMMARY_SOURCES.get(head)
        if sources is None:
            value = self.summary(self.state).get(head)
        else:
            value = self.summary({k: self.state[k] for k in sources if k in self.state})[head]
        self._parts[head] = value
        return value

    def _days(self, name: str, counts: dict[str, Any]) -> list[tuple[int, int]]:
        ages = self._ages.get(name)
        if ages is None:
            ages = []
            days = lookup(counts, [name, "days"])
            if isinstance(days, dict):
                today = self.moment.today
                for day, n in days.items():
                    try:
                        age = today - int(day)
                    except (TypeError, ValueError):
                        continue
                    if age >= 0 and isinstance(n, int) and not isinstance(n, bool):
                        ages.append((age, n))
            self._ages[name] = ages
        return ages

    def count(self, names: tuple[str, ...], window_days: int) -> int:
        """How many times the events happened in the last ``window_days`` days (today is day 1)."""
        key = (names, window_days)
        n = self._counts.get(key)
        if n is None:
            counts = self.state.get("counts")
            n = 0
            if isinstance(counts, dict):
                for name in names:
                    n += sum(c for age, c in self._days(name, counts) if age < window_days)
            self._counts[key] = n
        return n

    def context(self) -> dict[str, Any]:
        """The context facts of the profile's latest event."""
        ctx = self.state.get("context")
        return ctx if isinstance(ctx, dict) else {}

    def timestamp(self, name: str) -> float | None:
        """A profile timestamp (``first_seen``, ``last_seen``, ``last_purchase``) or None."""
        ts = lookup(self.state, list(TIMESTAMP_PATHS[name]))
        return float(ts) if is_number(ts) and math.isfinite(ts) else None
