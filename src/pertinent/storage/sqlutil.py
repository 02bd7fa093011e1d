"""Small helpers shared by the SQL adapter modules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, Select

CHUNK = 500  # ids per IN (...) list: well under SQLite's parameter limit


def rows_where_in(conn: Connection, query: Select[Any], column: Any, ids: Iterable[str]) -> Iterator[Any]:
    """The rows of ``query`` whose ``column`` is one of ``ids``, asking ``CHUNK`` ids at a time."""
    ids = sorted(set(ids))
    for i in range(0, len(ids), CHUNK):
        yield from conn.execute(query.where(column.in_(ids[i : i + CHUNK])))
