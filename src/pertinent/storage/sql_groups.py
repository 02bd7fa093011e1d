"""Groups (accounts) and their members on SQL: both dialects, no backend-specific fast path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select, update

from pertinent.storage import tables as t
from pertinent.storage.base import GroupMemberRow, GroupRow
from pertinent.storage.sqlutil import SqlBase, row_dict, rows_where_in


class GroupsMixin(SqlBase):
    """:class:`pertinent.storage.protocols.GroupRepo` for :class:`pertinent.storage.sql_tx.SqlTx`."""

    def get_groups(self, ids: Iterable[str]) -> dict[str, GroupRow]:
        g = t.groups
        rows = rows_where_in(self.conn, select(g), g.c.group_id, ids)
        return {r.group_id: GroupRow(r.group_id, r.traits or {}, r.created_at, r.updated_at) for r in rows}

    def put_groups(self, rows: Sequence[GroupRow]) -> None:
        if not rows:
            return
        ins = self._insert(t.groups)
        stmt = ins.on_conflict_do_update(
            index_elements=["group_id"], set_={c: ins.excluded[c] for c in ("traits", "updated_at")}
        )
        self.conn.execute(stmt, [row_dict(r) for r in rows])

    def add_group_members(self, rows: Sequence[GroupMemberRow]) -> None:
        if not rows:
            return
        unique = {(r.group_id, r.profile_id): r for r in reversed(rows)}  # the earliest of repeats
        stmt = self._insert(t.group_members).on_conflict_do_nothing(index_elements=["group_id", "profile_id"])
        self.conn.execute(stmt, [row_dict(r) for r in unique.values()])

    def group_members(self, group_id: str, limit: int | None = None) -> list[GroupMemberRow]:
        m = t.group_members
        q = select(m).where(m.c.group_id == group_id).order_by(m.c.joined_at, m.c.profile_id)
        if limit is not None:
            q = q.limit(limit)
        return [GroupMemberRow(r.group_id, r.profile_id, r.joined_at) for r in self.conn.execute(q)]

    def count_group_members(self, group_id: str) -> int:
        m = t.group_members
        q = select(func.count()).select_from(m).where(m.c.group_id == group_id)
        return int(self.conn.execute(q).scalar_one())

    def groups_of(self, profile_id: str) -> list[GroupMemberRow]:
        m = t.group_members
        q = select(m).where(m.c.profile_id == profile_id).order_by(m.c.joined_at, m.c.group_id)
        return [GroupMemberRow(r.group_id, r.profile_id, r.joined_at) for r in self.conn.execute(q)]

    def repoint_group_members(self, from_profile: str, to_profile: str) -> None:
        m = t.group_members
        mine = {r.group_id: r for r in self.groups_of(from_profile)}
        if not mine:
            return
        theirs = {r.group_id: r for r in self.groups_of(to_profile) if r.group_id in mine}
        self.conn.execute(delete(m).where(m.c.profile_id == from_profile))
        moved = [
            GroupMemberRow(g, to_profile, min(r.joined_at, theirs[g].joined_at) if g in theirs else r.joined_at)
            for g, r in mine.items()
        ]
        for row in moved:
            if row.group_id in theirs:  # already a member: keep the earlier of the two joins
                self.conn.execute(
                    update(m)
                    .where(m.c.group_id == row.group_id, m.c.profile_id == to_profile)
                    .values(joined_at=row.joined_at)
                )
        self.add_group_members([r for r in moved if r.group_id not in theirs])
