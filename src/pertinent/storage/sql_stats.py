"""Aggregate reads for the dashboard on SQL: event rates, active profiles, consent counts, membership flows.

Every method is one grouped query (the database does the counting); times are event times (``timestamp``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, func, or_, select

from pertinent.storage import tables as t
from pertinent.storage.base import EventRow, IngestErrorRow
from pertinent.storage.sqlutil import SqlBase


def _json_values(paths: Sequence[Sequence[str]]) -> list[Any]:
    """One text expression per path (a JSON column and keys, ``("context", "device", "type")``)."""
    e = t.events
    values = []
    for path in paths:
        if len(path) < 2 or path[0] not in ("properties", "traits", "context"):
            raise ValueError(f"paths: {list(path)} must name properties, traits or context and a key")
        keys = tuple(path[1:])
        values.append(e.c[path[0]][keys if len(keys) > 1 else keys[0]].as_string())
    return values


class StatsMixin(SqlBase):
    """The aggregate read methods of :class:`pertinent.storage.sql_tx.SqlTx`."""

    def _bucket(self, column: Any, bucket_s: float) -> Any:
        """``floor(column / bucket_s)`` as an integer."""
        if bucket_s <= 0:
            raise ValueError("bucket_s: must be positive")
        return cast(self._floor(column / float(bucket_s)), BigInteger)

    @staticmethod
    def _floor(expr: Any) -> Any:
        """``expr`` rounded down before the integer cast (a cast rounds to nearest on PostgreSQL)."""
        return func.floor(expr)

    def event_counts(self, since: float, until: float, bucket_s: float = 60.0) -> list[tuple[float, int]]:
        e = t.events
        bucket = self._bucket(e.c.timestamp, bucket_s).label("b")
        q = (
            select(bucket, func.count())
            .where(e.c.timestamp >= since, e.c.timestamp < until)
            .group_by(bucket)
            .order_by(bucket)
        )
        return [(float(b) * bucket_s, int(n)) for b, n in self.conn.execute(q)]

    def active_profiles(self, since: float, until: float) -> int:
        e = t.events
        q = select(func.count(func.distinct(e.c.profile_id))).where(e.c.timestamp >= since, e.c.timestamp < until)
        return int(self.conn.execute(q).scalar_one())

    def event_time_range(self) -> tuple[float, float] | None:
        e = t.events
        low, high = self.conn.execute(select(func.min(e.c.timestamp), func.max(e.c.timestamp))).one()
        return None if low is None else (float(low), float(high))

    def iter_events_between(
        self,
        since: float,
        until: float,
        types: Sequence[str] | None = None,
        limit: int | None = None,
        batch_size: int = 5000,
    ) -> Iterator[EventRow]:
        e = t.events
        cond = [e.c.timestamp >= since, e.c.timestamp < until]
        if types is not None:
            cond.append(e.c.type.in_(list(types)))
        return self._events_paged(cond, False, limit, batch_size)

    def iter_event_fields(
        self,
        since: float,
        until: float,
        paths: Sequence[Sequence[str]] = (),
        limit: int | None = None,
        batch_size: int = 20_000,
        names: Sequence[str] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        e = t.events
        base = select(e.c.id, e.c.profile_id, e.c.type, e.c.event, e.c.timestamp, *_json_values(paths)).where(
            e.c.timestamp >= since, e.c.timestamp < until
        )
        if names is not None:
            base = base.where(e.c.event.in_(list(names)))
        return self._paged(base, limit, batch_size)

    def iter_event_fields_after(
        self, after_id: int, paths: Sequence[Sequence[str]] = (), batch_size: int = 20_000
    ) -> Iterator[tuple[Any, ...]]:
        e = t.events
        base = select(e.c.id, e.c.profile_id, e.c.type, e.c.event, e.c.timestamp, *_json_values(paths))
        return self._paged(base, None, batch_size, after_id=after_id, keep_id=True)

    def _paged(
        self, base: Any, limit: int | None, batch_size: int, after_id: int = 0, keep_id: bool = False
    ) -> Iterator[Any]:
        """The rows of ``base`` (a select whose first column is ``events.id``) by id, paged, at most ``limit``."""
        e = t.events
        last, left = after_id, limit
        while left is None or left > 0:
            n = batch_size if left is None else min(batch_size, left)
            rows = self.conn.execute(base.where(e.c.id > last).order_by(e.c.id).limit(n)).fetchall()
            if not rows:
                return
            if keep_id:
                yield from rows
            else:
                for r in rows:
                    yield tuple(r[1:])
            last = rows[-1][0]
            if left is not None:
                left -= len(rows)

    # the KPI and drift page: what depends on profile ids is grouped here on every read; what does not (fields
    # inside the JSON, immutable once stored) is read once by id and kept by the dashboard (``after_id``)
    def dashboard_version(self) -> tuple[int, ...]:
        """Numbers that change whenever what the KPI page reads does: events (count, newest id), documents,
        membership history (newest id), decisions (count). A cheap cache check (no table scan on events)."""
        e, d = t.events, t.decisions
        q = select(
            func.count(e.c.id),
            func.coalesce(func.max(e.c.id), 0),
            select(func.coalesce(func.max(t.document_history.c.id), 0)).scalar_subquery(),
            select(func.coalesce(func.max(t.segment_history.c.id), 0)).scalar_subquery(),
            select(func.count()).select_from(d).scalar_subquery(),
        )
        return tuple(int(v) for v in self.conn.execute(q).one())

    def count_events_through(self, last_id: int) -> int:
        """How many events have an id up to ``last_id`` (fewer than before means some were deleted)."""
        e = t.events
        return int(self.conn.execute(select(func.count(e.c.id)).where(e.c.id <= last_id)).scalar_one())

    def iter_event_values(
        self,
        since: float,
        after_id: int = 0,
        paths: Sequence[Sequence[str]] = (),
        limit: int | None = None,
        batch_size: int = 20_000,
    ) -> Iterator[Any]:
        """(id, type, event, timestamp, *one value per path) of events with an id above ``after_id`` and a time
        at or after ``since``, by id: the profile-free part of events (values as in ``iter_event_fields``)."""
        e = t.events
        base = select(e.c.id, e.c.type, e.c.event, e.c.timestamp, *_json_values(paths)).where(e.c.timestamp >= since)
        return self._paged(base, limit, batch_size, after_id=after_id, keep_id=True)

    def profile_event_counts(self, since: float, split: float, until: float) -> list[tuple[bool, str, int, float]]:
        """(current, profile_id, events, newest event time) per profile and side of ``split``: events in
        [since, split) are the reference, [split, until) the current window (read from the profile/time index)."""
        e = t.events
        current = case((e.c.timestamp >= split, 1), else_=0).label("cur")
        q = (
            select(current, e.c.profile_id, func.count(), func.max(e.c.timestamp))
            .where(e.c.timestamp >= since, e.c.timestamp < until)
            .group_by(e.c.profile_id, current)
        )
        return [(bool(c), p, int(n), float(newest)) for c, p, n, newest in self.conn.execute(q)]

    def iter_named_events(
        self,
        since: float,
        split: float,
        until: float,
        types: Sequence[str],
        names: Sequence[str],
        detail_name: str | None = None,
        paths: Sequence[Sequence[str]] = (),
        limit: int | None = None,
        batch_size: int = 20_000,
    ) -> Iterator[tuple[Any, ...]]:
        """(profile_id, type, event, timestamp, *one value per path), by id, of the events of these ``types`` in
        [since, until) and the events named in ``names`` in [split, until); the path values are read only for
        events named ``detail_name`` (None for the others)."""
        e = t.events
        values = [case((e.c.event == detail_name, v), else_=None) for v in _json_values(paths)]
        base = select(e.c.id, e.c.profile_id, e.c.type, e.c.event, e.c.timestamp, *values).where(
            e.c.timestamp >= since,
            e.c.timestamp < until,
            or_(e.c.type.in_(list(types)), and_(e.c.timestamp >= split, e.c.event.in_(list(names)))),
        )
        return self._paged(base, limit, batch_size)

    def consent_counts(self) -> dict[str, dict[str, int]]:
        c = t.consent_log
        latest = (select(func.max(c.c.id).label("id")).group_by(c.c.profile_id, c.c.purpose)).subquery()
        q = (
            select(c.c.purpose, c.c.granted, func.count())
            .join(latest, latest.c.id == c.c.id)
            .group_by(c.c.purpose, c.c.granted)
        )
        out: dict[str, dict[str, int]] = {}
        for purpose, granted, n in self.conn.execute(q):
            out.setdefault(purpose, {"granted": 0, "denied": 0})["granted" if granted else "denied"] += int(n)
        return out

    def count_ingest_errors(self, since: float = 0.0) -> int:
        q = select(func.count()).select_from(t.ingest_errors).where(t.ingest_errors.c.at >= since)
        return int(self.conn.execute(q).scalar_one())

    def recent_ingest_errors(self, limit: int = 20) -> list[IngestErrorRow]:
        i = t.ingest_errors
        q = select(i).order_by(i.c.id.desc()).limit(limit)
        return [IngestErrorRow(r.at, r.endpoint, r.field, r.message) for r in self.conn.execute(q)]

    def membership_flows(
        self, since: float, until: float, bucket_s: float = 86400.0
    ) -> list[tuple[str, float, int, int]]:
        h = t.segment_history
        bucket = self._bucket(h.c.at, bucket_s).label("b")
        entered = func.sum(case((h.c.entered, 1), else_=0))
        q = (
            select(h.c.segment_id, bucket, entered, func.count())
            .where(h.c.at >= since, h.c.at < until)
            .group_by(h.c.segment_id, bucket)
            .order_by(h.c.segment_id, bucket)
        )
        return [
            (seg, float(b) * bucket_s, int(n_in or 0), int(n) - int(n_in or 0))
            for seg, b, n_in, n in self.conn.execute(q)
        ]
