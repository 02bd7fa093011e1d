"""Segment membership on SQL: current members, entry/exit history and sizes over time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, tuple_

from pertinent.storage import tables as t
from pertinent.storage.base import MembershipChange
from pertinent.storage.sqlutil import CHUNK, rows_where_in


class SegmentsMixin:
    """The segment-membership methods of :class:`pertinent.storage.sql.SqlTx`."""

    conn: Connection
    _insert: Any

    def apply_membership_changes(self, changes: Sequence[MembershipChange]) -> None:
        if not changes:
            return
        m = t.segment_members
        # The last change per (segment, profile) decides the current state; every change goes to the history.
        final: dict[tuple[str, str], MembershipChange] = {}
        for c in changes:
            final[(c.segment_id, c.profile_id)] = c
        entered = [c for c in final.values() if c.entered]
        exited = [(c.segment_id, c.profile_id) for c in final.values() if not c.entered]
        for i in range(0, len(exited), CHUNK):
            self.conn.execute(delete(m).where(tuple_(m.c.segment_id, m.c.profile_id).in_(exited[i:i + CHUNK])))
        if entered:
            stmt = self._insert(m).on_conflict_do_nothing(index_elements=["segment_id", "profile_id"])
            self.conn.execute(stmt, [{"segment_id": c.segment_id, "profile_id": c.profile_id, "entered_at": c.at}
                                     for c in entered])
        self.conn.execute(insert(t.segment_history), [
            {"segment_id": c.segment_id, "profile_id": c.profile_id, "entered": c.entered, "at": c.at}
            for c in changes
        ])

    def segments_of(self, profile_ids: Iterable[str]) -> dict[str, dict[str, float]]:
        m = t.segment_members
        out: dict[str, dict[str, float]] = {}
        q = select(m.c.profile_id, m.c.segment_id, m.c.entered_at)
        for pid, seg, at in rows_where_in(self.conn, q, m.c.profile_id, profile_ids):
            out.setdefault(pid, {})[seg] = at
        return out

    def segment_members(self, segment_id: str, after: str | None = None, limit: int = 100) -> list[tuple[str, float]]:
        m = t.segment_members
        q = select(m.c.profile_id, m.c.entered_at).where(m.c.segment_id == segment_id)
        if after is not None:
            q = q.where(m.c.profile_id > after)
        return [(r[0], r[1]) for r in self.conn.execute(q.order_by(m.c.profile_id).limit(limit))]

    def count_segment_members(self) -> dict[str, int]:
        m = t.segment_members
        rows = self.conn.execute(select(m.c.segment_id, func.count()).group_by(m.c.segment_id))
        return {seg: int(n) for seg, n in rows}

    def membership_history(self, segment_id: str | None = None, profile_id: str | None = None,
                           since: float = 0.0, limit: int = 1000) -> list[MembershipChange]:
        h = t.segment_history
        cond = [h.c.at >= since]
        if segment_id is not None:
            cond.append(h.c.segment_id == segment_id)
        if profile_id is not None:
            cond.append(h.c.profile_id == profile_id)
        q = select(h).where(and_(*cond)).order_by(h.c.at, h.c.id).limit(limit)
        return [MembershipChange(r.segment_id, r.profile_id, r.entered, r.at) for r in self.conn.execute(q)]

    def record_segment_sizes(self, sizes: Mapping[str, int], at: float) -> None:
        if sizes:
            stmt = self._insert(t.segment_sizes).on_conflict_do_nothing(index_elements=["segment_id", "at"])
            self.conn.execute(stmt, [{"segment_id": s, "at": at, "size": n} for s, n in sizes.items()])

    def segment_sizes(self, segment_id: str, since: float = 0.0) -> list[tuple[float, int]]:
        z = t.segment_sizes
        q = select(z.c.at, z.c.size).where(z.c.segment_id == segment_id, z.c.at >= since).order_by(z.c.at)
        return [(r[0], r[1]) for r in self.conn.execute(q)]

    def clear_segment(self, segment_id: str) -> int:
        removed = self.conn.execute(delete(t.segment_members).where(t.segment_members.c.segment_id == segment_id))
        for table in (t.segment_history, t.segment_sizes):
            self.conn.execute(delete(table).where(table.c.segment_id == segment_id))
        return removed.rowcount or 0
