"""PostgreSQL's transaction: :class:`SqlTx` with events stored by one ``INSERT .. SELECT FROM unnest(arrays)``.

SQLAlchemy's multi-row ``INSERT .. VALUES`` (insertmanyvalues) sends 13 parameters per event, and psycopg re-parsed
that statement text on every batch: most of an import's client CPU (docs/benchmarks.md). Thirteen arrays, one per
column, make a statement whose text never changes (psycopg prepares it once per connection) and whose values go
over in one piece each. The JSON, number and boolean arrays go in psycopg's binary format (``%b``): its text format
escapes every quote of every JSON document with a regular expression, in Python. The text columns stay in the text
format, whose dumper refuses a NUL character with the same error as before.

Stored exactly as SQLAlchemy's path stores them: JSON values encoded by the engine's serializer
(``sqlutil.json_dumps``), Python ``None`` as JSON ``null`` (SQLAlchemy's ``JSON`` default, ``none_as_null=False``),
rows inserted in the order given (``WITH ORDINALITY``) so that of two rows with one key in a call the first is the
one kept, and a NUL character in a text column refused by psycopg (``DataError``) as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pertinent.storage.base import EventRow
from pertinent.storage.sql_tx import SqlTx
from pertinent.storage.sqlutil import EVENT_COLS, json_dumps

# The SQL type of each column's array, in EVENT_COLS order.
_ARRAY_TYPES = {
    "timestamp": "double precision[]",
    "received_at": "double precision[]",
    "personalize": "boolean[]",
    "properties": "json[]",
    "traits": "json[]",
    "context": "json[]",
    "integrations": "json[]",
}
_JSON_COLS = frozenset(c for c, sql in _ARRAY_TYPES.items() if sql == "json[]")
_COLS = ", ".join(EVENT_COLS)
INSERT_EVENTS = (
    f"INSERT INTO events ({_COLS}) SELECT {_COLS} FROM unnest("
    + ", ".join(f"%{'b' if c in _ARRAY_TYPES else 's'}::{_ARRAY_TYPES.get(c, 'varchar[]')}" for c in EVENT_COLS)
    + f") WITH ORDINALITY AS u({_COLS}, n) ORDER BY n "
    "ON CONFLICT (profile_id, message_id) DO NOTHING RETURNING profile_id, message_id"
)
ROWS_PER_STATEMENT = 5000  # bounds one statement's arrays; a later chunk's duplicates meet ON CONFLICT as before


def _as(kind: type, values: list[Any]) -> list[Any]:
    """``values`` as ``kind`` (None kept): psycopg types an array by its first element, so an int among floats
    (or a float after an int) must not change the array's type. The column's cast did this on the old path."""
    return [v if v is None or type(v) is kind else kind(v) for v in values]


def event_arrays(rows: Sequence[EventRow]) -> tuple[list[Any], ...]:
    """One list per column of ``events`` (EVENT_COLS order): what :data:`INSERT_EVENTS` takes."""
    out: list[list[Any]] = []
    for c in EVENT_COLS:
        values = [getattr(r, c) for r in rows]
        if c in _JSON_COLS:
            values = [json_dumps(v) for v in values]  # None too: JSON null, as SQLAlchemy's JSON type writes it
        elif c == "personalize":
            values = _as(bool, values)
        elif _ARRAY_TYPES.get(c) == "double precision[]":
            values = _as(float, values)
        out.append(values)
    return tuple(out)


class PostgresTx(SqlTx):
    """A transaction on PostgreSQL (psycopg 3)."""

    def insert_events(self, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        # The hot path of ingestion and import: ON CONFLICT .. RETURNING tells which rows are new, as before.
        out: set[tuple[str, str]] = set()
        for i in range(0, len(rows), ROWS_PER_STATEMENT):
            params = event_arrays(rows[i : i + ROWS_PER_STATEMENT])
            out.update((p, m) for p, m in self.conn.exec_driver_sql(INSERT_EVENTS, params))
        return out
