"""What every dashboard page shares: the time windows, the read limits, and small readers of the store.

Windows end *now* — or, when the store holds no event that recent (an imported history, the demo's
synthetic month), at the newest event, and the page says so.

>>> parse_window("7d")
(604800.0, 10800.0)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pertinent.profiles.features import finite_number
from pertinent.runtime.limits import MAX_FUTURE_S

if TYPE_CHECKING:
    from pertinent.kpis import KpiConfig
    from pertinent.storage.base import DecisionRow, Store, Tx

log = logging.getLogger("pertinent.dashboard")

Window = Literal["1h", "24h", "7d", "30d"]
# window -> (seconds, chart bucket seconds)
WINDOWS: dict[str, tuple[float, float]] = {
    "1h": (3600.0, 60.0),
    "24h": (86400.0, 900.0),
    "7d": (7 * 86400.0, 3 * 3600.0),
    "30d": (30 * 86400.0, 12 * 3600.0),
}
MAX_EVENTS = 300_000  # events read for KPIs and drift per request (the page says when it was cut)
MAX_DECISIONS = 300_000

# membership id -> (definition id, readable name), as the segment service gives them
SegmentNames = Callable[[], dict[str, tuple[str, str]]]


def when(ts: float | None) -> str:
    """A UTC time for people.

    >>> when(0.0), when(1e300)
    ('1970-01-01 00:00 UTC', 'out of range')
    """
    if ts is None:
        return "–"
    try:  # a time stored before ingestion bounded times (year 10000...) must not break the page
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"


@dataclass(frozen=True, kw_only=True)
class Period:
    """A stretch of time [since, until).

    >>> Period(since=0.0, until=60.0).until
    60.0
    """

    since: float
    until: float


@dataclass(frozen=True, kw_only=True)
class Span:
    """The window a page shows: [since, until), and whether it was moved back to the newest event.

    >>> Span(window="1h", since=0.0, until=3600.0, bucket_s=60.0, anchored_to_newest=True).note[:24]
    'No events in the last 1h'
    """

    window: str
    since: float
    until: float
    bucket_s: float
    anchored_to_newest: bool

    @property
    def note(self) -> str:
        if not self.anchored_to_newest:
            return ""
        return (
            f"No events in the last {self.window}: showing the {self.window} up to the newest event "
            f"({when(self.until)})."
        )


def parse_window(window: str) -> tuple[float, float]:
    """(seconds, chart bucket seconds) of a window name; ValueError for another name."""
    if window not in WINDOWS:
        raise ValueError(f"window: must be one of {', '.join(WINDOWS)}")
    return WINDOWS[window]


def window_span(store: Store, window: str, now: float | None = None, events: bool = True) -> Span:
    """The window ending now, or at the newest event when nothing that recent was stored (``events``)."""
    seconds, bucket = parse_window(window)
    now = time.time() if now is None else now
    until, anchored = now, False
    if events:
        with store.transaction(write=False) as tx:
            extent = tx.event_time_range()
        if extent is not None:
            newest = extent[1]
            if newest < now - seconds:
                until, anchored = newest + 1e-3, True
            elif now <= newest <= now + MAX_FUTURE_S:
                # (a time further ahead was stored before ingestion bounded times, e.g. in year 10000: it must not
                # move the window off the data)
                until = newest + 1e-3
    return Span(window=window, since=until - seconds, until=until, bucket_s=bucket, anchored_to_newest=anchored)


def label(value: Any) -> str | None:
    """A value shown as a label (at most 100 characters); None for a missing or empty one.

    >>> label("x" * 120)[-3:], label(""), label(0)
    ('xxx', None, '0')
    """
    return str(value)[:100] if value not in (None, "") else None


def number(value: Any) -> float | None:
    """A JSON field read as text (``iter_event_fields``) as a finite number, else None.

    >>> number("12.5"), number("abc"), number(None), number("nan")
    (12.5, None, None, None)
    """
    return finite_number(value)


def decisions_in(tx: Tx, period: Span) -> list[DecisionRow]:
    """The decisions served in the window (at most ``MAX_DECISIONS``)."""
    out = []
    for d in tx.iter_decisions(since=period.since, until=period.until):
        out.append(d)
        if len(out) >= MAX_DECISIONS:
            break
    return out


def outcome_metric(kind: str, config: KpiConfig) -> str | None:
    """An attributed outcome (its kind is the event name, e.g. "Slot Clicked") as "click" or "conversion".

    >>> from pertinent.kpis import KpiConfig
    >>> outcome_metric("Slot Clicked", KpiConfig()), outcome_metric("conversion", KpiConfig())
    ('click', 'conversion')
    """
    if kind == "click" or kind in config.click_events:
        return "click"
    if kind == "conversion" or kind in config.conversion_events:
        return "conversion"
    return None


def segment_labels(tx: Tx, names: SegmentNames | None) -> dict[str, tuple[str, str]]:
    """membership id -> (definition id, name): from the segment service when wired, else the documents."""
    if names is not None:
        try:
            return dict(names())
        except Exception:  # the documents still name every rule segment
            log.warning("segment names unavailable from the segment service", exc_info=True)
    return {d.doc_id: (d.doc_id, str((d.body or {}).get("name") or d.doc_id)) for d in tx.list_documents("segment")}
