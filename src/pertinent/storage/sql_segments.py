"""Segment membership on SQL: current members, entry/exit history and sizes over time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, tuple_, update

from pertinent.storage import tables as t
from pertinent.storage.base import MembershipChange, ProfileRow
from pertinent.storage.sqlutil import CHUNK, SqlBase, rows_where_in


class SegmentsMixin(SqlBase):
    """The segment-membership methods of :class:`pertinent.storage.sql_tx.SqlTx`."""

    def apply_membership_changes(self, changes: Sequence[MembershipChange]) -> list[MembershipChange]:
        if not changes:
            return []
        keys = list(dict.fromkeys((c.segment_id, c.profile_id) for c in changes))
        wanted = set(keys)
        pids = {k[1] for k in keys}
        found = self._memberships_of(pids)
        current = {(r[0], r[1]) for r in found if (r[0], r[1]) in wanted}  # by profile (indexed), then the pairs
        # Changes apply in order; one that changes nothing (entry of a member, exit of a non-member) is not recorded.
        member = {k: k in current for k in keys}
        effective: list[MembershipChange] = []
        last_entry: dict[tuple[str, str], MembershipChange] = {}
        for c in changes:
            k = (c.segment_id, c.profile_id)
            if c.entered != member[k]:
                member[k] = c.entered
                effective.append(c)
                if c.entered:
                    last_entry[k] = c
        entered = [last_entry[k] for k in keys if member[k] and k not in current]
        exited = [k for k in keys if not member[k] and k in current]
        return self._write_membership(effective, entered, exited)

    def _memberships_of(self, profile_ids: set[str]) -> Iterable[Any]:
        """(segment_id, profile_id) of the current memberships of these profiles."""
        m = t.segment_members
        return rows_where_in(self.conn, select(m.c.segment_id, m.c.profile_id), m.c.profile_id, profile_ids)

    def _write_membership(
        self, effective: list[MembershipChange], entered: list[MembershipChange], exited: list[tuple[str, str]]
    ) -> list[MembershipChange]:
        """Make the net change (``entered`` in, ``exited`` out) and record the ``effective`` changes; return those
        recorded."""
        m = t.segment_members
        # The net change is made with INSERT .. ON CONFLICT DO NOTHING / DELETE .. RETURNING: when a concurrent
        # transaction (another worker) made the same change first, nothing is returned and its record is kept alone.
        done: set[tuple[str, str]] = set()
        for i in range(0, len(exited), CHUNK):
            part = exited[i : i + CHUNK]
            # the profile_id list lets the planner use its index (a pair IN list alone scans the table on SQLite)
            gone = delete(m).where(
                m.c.profile_id.in_(sorted({k[1] for k in part})), tuple_(m.c.segment_id, m.c.profile_id).in_(part)
            )
            done.update((r[0], r[1]) for r in self.conn.execute(gone.returning(m.c.segment_id, m.c.profile_id)))
        if entered:  # executemany with RETURNING: SQLAlchemy batches it into multi-row INSERTs (one cached statement)
            stmt = (
                self._insert(m)
                .on_conflict_do_nothing(index_elements=["segment_id", "profile_id"])
                .returning(m.c.segment_id, m.c.profile_id)
            )
            rows = [{"segment_id": c.segment_id, "profile_id": c.profile_id, "entered_at": c.at} for c in entered]
            done.update((r[0], r[1]) for r in self.conn.execute(stmt, rows))
        lost = ({(c.segment_id, c.profile_id) for c in entered} | set(exited)) - done
        applied = [c for c in effective if (c.segment_id, c.profile_id) not in lost]
        if applied:
            self.conn.execute(
                insert(t.segment_history),
                [
                    {"segment_id": c.segment_id, "profile_id": c.profile_id, "entered": c.entered, "at": c.at}
                    for c in applied
                ],
            )
        return applied

    def merge_segment_members(self, source: str, target: str, at: float) -> None:
        m, h = t.segment_members, t.segment_history
        mine = self._entries_of(source)
        if mine:
            theirs = set(
                self.conn.execute(
                    select(m.c.segment_id).where(m.c.profile_id == target, m.c.segment_id.in_(list(mine)))
                ).scalars()
            )
            moved = [s for s in mine if s not in theirs]
            if moved:  # the survivor inherits the membership and its entry time
                self.conn.execute(
                    update(m).where(m.c.profile_id == source, m.c.segment_id.in_(moved)).values(profile_id=target)
                )
            if theirs:  # already a member: the merged-away profile leaves (recorded, so entries - exits = size)
                self.conn.execute(delete(m).where(m.c.profile_id == source, m.c.segment_id.in_(list(theirs))))
                self.conn.execute(
                    insert(h),
                    [{"segment_id": s, "profile_id": source, "entered": False, "at": at} for s in sorted(theirs)],
                )
        self._repoint(h, source, target)

    def _entries_of(self, profile_id: str) -> dict[str, float]:
        """segment_id -> entered_at of one profile's current memberships."""
        m = t.segment_members
        q = select(m.c.segment_id, m.c.entered_at).where(m.c.profile_id == profile_id)
        return {seg: at for seg, at in self.conn.execute(q)}

    def profile_versions(self, profile_ids: Iterable[str], lock: bool = False) -> dict[str, float]:
        p = t.profiles
        q = select(p.c.profile_id, p.c.updated_at)
        if lock:
            q = q.order_by(p.c.profile_id).with_for_update()
        return {pid: at for pid, at in rows_where_in(self.conn, q, p.c.profile_id, profile_ids)}

    def profiles_after(self, after: str | None, limit: int) -> list[ProfileRow]:
        return self._profile_page(None, after, limit)

    def profiles_in_ranges(
        self, ranges: Sequence[tuple[Sequence[str], float, float]], updated_since: float, after: str | None, limit: int
    ) -> list[ProfileRow]:
        p = t.profiles
        wanted = [p.c.updated_at >= updated_since]
        for path, low, high in ranges:
            value = self._number_at(p.c.state[tuple(path) if len(path) > 1 else path[0]])
            wanted.append(and_(value >= low, value <= high))
        return self._profile_page(or_(*wanted), after, limit)

    @staticmethod
    def _number_at(element: Any) -> Any:
        """The number at a JSON element, NULL when it holds something else (a cast of a non-number fails)."""
        return case((func.json_typeof(element) == "number", element.as_float()))

    def _profile_page(self, condition: Any, after: str | None, limit: int) -> list[ProfileRow]:
        """Up to ``limit`` profiles matching ``condition`` (None: all) after ``after``, by profile id."""
        p = t.profiles
        q = select(p).order_by(p.c.profile_id).limit(limit)
        if condition is not None:
            q = q.where(condition)
        if after is not None:
            q = q.where(p.c.profile_id > after)
        return [self._profile(r) for r in self.conn.execute(q)]

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

    def membership_history(
        self, segment_id: str | None = None, profile_id: str | None = None, since: float = 0.0, limit: int | None = 1000
    ) -> list[MembershipChange]:
        h = t.segment_history
        cond = [h.c.at >= since]
        if segment_id is not None:
            cond.append(h.c.segment_id == segment_id)
        if profile_id is not None:
            cond.append(h.c.profile_id == profile_id)
        q = select(h).where(and_(*cond)).order_by(h.c.at, h.c.id)
        if limit is not None:
            q = q.limit(limit)
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
