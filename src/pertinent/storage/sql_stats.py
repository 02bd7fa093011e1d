"""Aggregate reads for the dashboard on SQL: event rates, active profiles, consent counts, membership flows.

Every method is one grouped query (the database does the counting); times are event times (``timestamp``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, case, cast, func, select

from pertinent.storage import tables as t
from pertinent.storage.base import EventRow, IngestErrorRow


class StatsMixin:
    """The aggregate read methods of :class:`pertinent.storage.sql.SqlTx`."""

    conn: Connection
    dialect: str

    def _bucket(self, column: Any, bucket_s: float) -> Any:
        """``floor(column / bucket_s)`` as an integer (PostgreSQL rounds on a cast, SQLite truncates)."""
        if bucket_s <= 0:
            raise ValueError("bucket_s: must be positive")
        expr = column / float(bucket_s)
        if self.dialect == "postgresql":
            expr = func.floor(expr)
        return cast(expr, BigInteger)

    def event_counts(self, since: float, until: float, bucket_s: float = 60.0) -> list[tuple[float, int]]:
        e = t.events
        bucket = self._bucket(e.c.timestamp, bucket_s).label("b")
        q = (select(bucket, func.count()).where(e.c.timestamp >= since, e.c.timestamp < until)
             .group_by(bucket).order_by(bucket))
        return [(float(b) * bucket_s, int(n)) for b, n in self.conn.execute(q)]

    def active_profiles(self, since: float, until: float) -> int:
        e = t.events
        q = select(func.count(func.distinct(e.c.profile_id))).where(e.c.timestamp >= since, e.c.timestamp < until)
        return int(self.conn.execute(q).scalar_one())

    def event_time_range(self) -> tuple[float, float] | None:
        e = t.events
        low, high = self.conn.execute(select(func.min(e.c.timestamp), func.max(e.c.timestamp))).one()
        return None if low is None else (float(low), float(high))

    def iter_events_between(self, since: float, until: float, types: Sequence[str] | None = None,
                            limit: int | None = None, batch_size: int = 5000) -> Iterator[EventRow]:
        e = t.events
        cond = [e.c.timestamp >= since, e.c.timestamp < until]
        if types is not None:
            cond.append(e.c.type.in_(list(types)))
        return self._events_paged(cond, False, limit, batch_size)  # type: ignore[attr-defined]

    def iter_event_fields(self, since: float, until: float, paths: Sequence[Sequence[str]] = (),
                          limit: int | None = None, batch_size: int = 20_000,
                          names: Sequence[str] | None = None) -> Iterator[tuple[Any, ...]]:
        e = t.events
        values = []
        for path in paths:
            if len(path) < 2 or path[0] not in ("properties", "traits", "context"):
                raise ValueError(f"paths: {list(path)} must name properties, traits or context and a key")
            keys = tuple(path[1:])
            values.append(e.c[path[0]][keys if len(keys) > 1 else keys[0]].as_string())
        base = select(e.c.id, e.c.profile_id, e.c.type, e.c.event, e.c.timestamp, *values).where(
            e.c.timestamp >= since, e.c.timestamp < until)
        if names is not None:
            base = base.where(e.c.event.in_(list(names)))
        last, left = 0, limit
        while left is None or left > 0:
            n = batch_size if left is None else min(batch_size, left)
            rows = self.conn.execute(base.where(e.c.id > last).order_by(e.c.id).limit(n)).fetchall()
            if not rows:
                return
            for r in rows:
                yield tuple(r[1:])
            last = rows[-1][0]
            if left is not None:
                left -= len(rows)

    def consent_counts(self) -> dict[str, dict[str, int]]:
        c = t.consent_log
        latest = (select(func.max(c.c.id).label("id")).group_by(c.c.profile_id, c.c.purpose)).subquery()
        q = (select(c.c.purpose, c.c.granted, func.count()).join(latest, latest.c.id == c.c.id)
             .group_by(c.c.purpose, c.c.granted))
        out: dict[str, dict[str, int]] = {}
        for purpose, granted, n in self.conn.execute(q):
            out.setdefault(purpose, {"granted": 0, "denied": 0})["granted" if granted else "denied"] += int(n)
        return out

    def recent_ingest_errors(self, limit: int = 20) -> list[IngestErrorRow]:
        i = t.ingest_errors
        q = select(i).order_by(i.c.id.desc()).limit(limit)
        return [IngestErrorRow(r.at, r.endpoint, r.field, r.message) for r in self.conn.execute(q)]

    def membership_flows(self, since: float, until: float, bucket_s: float = 86400.0
                         ) -> list[tuple[str, float, int, int]]:
        h = t.segment_history
        bucket = self._bucket(h.c.at, bucket_s).label("b")
        entered = func.sum(case((h.c.entered, 1), else_=0))
        q = (select(h.c.segment_id, bucket, entered, func.count()).where(h.c.at >= since, h.c.at < until)
             .group_by(h.c.segment_id, bucket).order_by(h.c.segment_id, bucket))
        return [(seg, float(b) * bucket_s, int(n_in or 0), int(n) - int(n_in or 0))
                for seg, b, n_in, n in self.conn.execute(q)]
