"""Stored events as the events frame of :mod:`pertinent.predict` (one slim read, no JSON decoding but three
fields).

``user`` = profile id, ``event`` = the track event's name (``page`` / ``screen`` for those calls), ``revenue`` =
``properties.revenue``, else ``properties.total``, else ``properties.value`` (text that is not a number counts
as 0), ``item`` = ``properties.product_id`` (empty when absent). Identify, group and alias calls are not
behaviour and are left out. ``exclude`` drops profiles (the hook for bot / outlier flags: profiles that a data
quality pass marks as not-a-person stay out of training and scoring).

:class:`KeptEvents` keeps that frame between reads for the monitoring (the models and fairness pages): each read
asks the store only for the events stored since the last one.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any, Protocol

import pandas as pd

from pertinent.storage.protocols import AnalyticsQueries, AuditRepo

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


def _frame(rows: Iterable[tuple[Any, ...]], skip: set[str]) -> pd.DataFrame:
    """(profile_id, type, event, timestamp, revenue, total, value, product_id) rows -> the events frame.

    The database driver returns a new string per row; equal profile ids, event names and items are stored as one
    string object each (``one``), so that the frame's object columns cost a pointer per event rather than a
    string: the same values, a fraction of the memory (docs/benchmarks.md)."""
    one: dict[str, str] = {}
    users: list[str] = []
    stamps: list[float] = []
    names: list[str] = []
    revenue: list[float] = []
    items: list[str] = []
    for pid, kind, name, ts, rev, total, value, product in rows:
        if kind not in BEHAVIOUR or pid in skip:
            continue
        users.append(one.setdefault(pid, pid))
        stamps.append(float(ts))
        label = name if kind == "track" and name else kind
        names.append(one.setdefault(label, label))
        revenue.append(_number(rev if rev is not None else total if total is not None else value))
        item = "" if product is None else str(product)
        items.append(one.setdefault(item, item))
    return pd.DataFrame(
        {
            "user": pd.Series(users, dtype=object),
            "timestamp": pd.Series(stamps, dtype=float),
            "event": pd.Series(names, dtype=object),
            "revenue": pd.Series(revenue, dtype=float),
            "item": pd.Series(items, dtype=object),
        }
    )


def load_events(tx: AnalyticsQueries, until: float, exclude: Iterable[str] = ()) -> pd.DataFrame:
    """Every behaviour event before ``until`` as an events frame (columns user, timestamp, event, revenue, item)."""
    return _frame(tx.iter_event_fields(0.0, until, PATHS), set(exclude))


class MonitorReads(AnalyticsQueries, AuditRepo, Protocol):
    """What :class:`KeptEvents` reads: the events, and the audit log's identity merges."""


class KeptEvents:
    """Every behaviour event, read once by id and kept: :meth:`frame` gives what :func:`load_events` would, reading
    only the events stored since its last call.

    Stored events change in two ways only, and either makes the next read start again from the first event: an
    erasure deletes some (fewer events up to the last id read than were read) and an identity merge moves some to
    another profile (a newer ``identity.merge`` row in the audit log). The kept rows hold profile ids: the
    service drops them on erasure (:meth:`forget`). Beyond ``max_rows`` stored events nothing is kept (memory).
    """

    def __init__(self, max_rows: int = 5_000_000) -> None:
        self.max_rows = max_rows  # beyond this many stored events nothing is kept: each read is a full one
        self._lock = threading.Lock()
        self._kept = _frame((), set())
        self.last_id = 0  # the newest event id read
        self.seen = 0  # events with an id up to last_id when they were read
        self.merge_mark: int | None = None  # id of the newest identity merge in the audit log when read
        self.reads = 0  # how many reads started from the first event (for tests and benchmarks)

    def forget(self) -> None:
        """Drop everything kept (the next read starts from the first event)."""
        with self._lock:
            self._reset(None)

    def _reset(self, mark: int | None) -> None:
        self._kept, self.last_id, self.seen, self.merge_mark = _frame((), set()), 0, 0, mark

    def frame(self, tx: MonitorReads, until: float, exclude: Iterable[str] = ()) -> pd.DataFrame:
        """The behaviour events before ``until``, without the profiles in ``exclude`` (as :func:`load_events`)."""
        with self._lock:
            newest = tx.audit_entries(limit=1, action="identity.merge")
            mark = newest[0].id if newest else None
            if mark != self.merge_mark or (self.last_id and tx.count_events_through(self.last_id) != self.seen):
                self._reset(mark)
            if self.last_id == 0:
                self.reads += 1
            rows = list(tx.iter_event_fields_after(self.last_id, PATHS))
            if rows:
                self.last_id, self.seen = int(rows[-1][0]), self.seen + len(rows)
                self._kept = pd.concat([self._kept, _frame((r[1:] for r in rows), set())], ignore_index=True)
            kept = self._kept
            if self.seen > self.max_rows:  # too many to hold in memory: this read is used once, not kept
                self._reset(self.merge_mark)
        ts = kept["timestamp"].to_numpy()
        keep = (ts >= 0.0) & (ts < until)
        skip = set(exclude)
        if skip:
            keep &= ~kept["user"].isin(skip).to_numpy()
        return kept[keep].reset_index(drop=True)
