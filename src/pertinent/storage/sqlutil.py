"""What the SQL adapter modules share: chunked ``IN`` reads, JSON encoding and the base of every ``SqlTx`` part."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias

import orjson
from sqlalchemy import Connection, Select, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pertinent.storage import tables as t
from pertinent.storage.base import EventRow, ProfileRow

CHUNK = 500  # ids per IN (...) list: well under SQLite's parameter limit
EVENT_COLS = [c.name for c in t.events.columns if c.name != "id"]  # EventRow's leading fields, in order

# An INSERT with ON CONFLICT clauses: both dialects spell them alike (``on_conflict_do_nothing``, ``excluded``).
Upsert: TypeAlias = postgresql.Insert | sqlite.Insert


def rows_where_in(conn: Connection, query: Select[Any], column: Any, ids: Iterable[str]) -> Iterator[Any]:
    """The rows of ``query`` whose ``column`` is one of ``ids``, asking ``CHUNK`` ids at a time."""
    ids = sorted(set(ids))
    for i in range(0, len(ids), CHUNK):
        yield from conn.execute(query.where(column.in_(ids[i : i + CHUNK])))


def row_dict(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, shallow (``dataclasses.asdict`` deep-copies every JSON value)."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_or_none(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class SqlBase:
    """A transaction's connection and the statement helpers that the parts of ``SqlTx`` share.

    The SQL here is portable, with PostgreSQL's locking; :class:`pertinent.storage.sql_sqlite.SqliteTx` overrides
    what SQLite does differently or faster.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @staticmethod
    def _insert(table: Table) -> Upsert:
        """An INSERT that takes ON CONFLICT clauses, in this backend's dialect."""
        return postgresql.insert(table)

    def _repoint(self, table: Table, from_profile: str, to_profile: str) -> int:
        """Move a table's rows from one profile to another (identity merges: on the ingest path)."""
        cur = self.conn.execute(update(table).where(table.c.profile_id == from_profile).values(profile_id=to_profile))
        return cur.rowcount or 0

    @staticmethod
    def _profile(r: Any) -> ProfileRow:
        return ProfileRow(r.profile_id, r.traits or {}, r.state or {}, r.consent or {}, r.created_at, r.updated_at)

    def _events_paged(
        self, cond: list[Any], newest_first: bool, limit: int | None, batch_size: int
    ) -> Iterator[EventRow]:
        """Events matching ``cond`` in insertion order (or reversed), at most ``limit``, paged by id."""
        e = t.events
        last: int | None = None
        left = limit
        while left is None or left > 0:
            n = batch_size if left is None else min(batch_size, left)
            q = select(e).where(*cond).order_by(e.c.id.desc() if newest_first else e.c.id).limit(n)
            if last is not None:
                q = q.where(e.c.id < last if newest_first else e.c.id > last)
            rows = list(self.conn.execute(q))
            if not rows:
                return
            for r in rows:  # by position (the columns after id are EventRow's fields in order): far cheaper than
                yield EventRow(*r[1:])  # getattr per column, which dominated a popularity refresh
            last = rows[-1].id
            if left is not None:
                left -= len(rows)
