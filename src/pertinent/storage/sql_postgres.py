"""PostgreSQL's transaction: :class:`SqlTx` with events stored by one ``INSERT .. SELECT FROM unnest(arrays)``.

SQLAlchemy's multi-row ``INSERT .. VALUES`` (insertmanyvalues) sends 13 parameters per event, and psycopg re-parsed
that statement text on every batch: most of an import's client CPU (docs/benchmarks.md). Thirteen arrays, one per
column, make a statement whose text never changes (psycopg prepares it once per connection) and whose values go
over in one piece each. Every array goes in psycopg's binary format (``%b``): in its text format psycopg escapes
every element in Python (every quote of every JSON document with a regular expression). A text array holding a NUL
character (which the binary format would send to the server, refused there with another error) is sent in the text
format instead, whose dumper refuses it with psycopg's own ``DataError`` as before (:class:`Statement`).

Stored exactly as SQLAlchemy's path stores them: JSON values encoded by the engine's serializer
(``sqlutil.json_dumps``), Python ``None`` as JSON ``null`` (SQLAlchemy's ``JSON`` default, ``none_as_null=False``),
rows inserted in the order given (``WITH ORDINALITY``) so that of two rows with one key in a call the first is the
one kept, and a NUL character in a text column refused by psycopg (``DataError``) as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table

from pertinent.storage import tables as t
from pertinent.storage.base import ConsentRow, DecisionRow, EventRow, IdentityRow, ProfileRow
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


class Statement:
    """A statement of arrays, in two versions: its text arrays (``%s::varchar[]``) in the binary format, or, when
    one of them holds a NUL character, in the text format (psycopg refuses it, as on the other paths)."""

    def __init__(self, sql: str) -> None:
        self.text = sql
        self.binary = sql.replace("%s::varchar[]", "%b::varchar[]")
        casts = re.findall(r"%[sb](::[a-z ]+\[\])?", sql)  # one per placeholder, in order
        self._texts = [i for i, cast in enumerate(casts) if cast == "::varchar[]"]

    def __str__(self) -> str:
        return self.binary

    def pick(self, params: Sequence[Any]) -> str:
        for i in self._texts:
            if "\x00" in "".join(v for v in params[i] if v is not None):
                return self.text
        return self.binary


_COLS = ", ".join(EVENT_COLS)
INSERT_EVENTS = Statement(
    f"INSERT INTO events ({_COLS}) SELECT {_COLS} FROM unnest("
    + ", ".join(f"%{'b' if c in _ARRAY_TYPES else 's'}::{_ARRAY_TYPES.get(c, 'varchar[]')}" for c in EVENT_COLS)
    + f") WITH ORDINALITY AS u({_COLS}, n) ORDER BY n "
    "ON CONFLICT (profile_id, message_id) DO NOTHING RETURNING profile_id, message_id"
)
# The other writes of an ingest transaction, one statement each whatever the number of rows (SQLAlchemy's
# executemany sent one statement per row in psycopg's pipeline mode: most of a transaction's client CPU after the
# events). Their texts never change either, so psycopg prepares them; ``= ANY(array)`` likewise for the reads.
UPSERT_IDENTITIES = Statement(
    "INSERT INTO identities (key, kind, profile_id, created_at) "
    "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %b::double precision[]) "
    "ON CONFLICT (key) DO UPDATE SET profile_id = excluded.profile_id"
)
UPSERT_PROFILES = Statement(
    "INSERT INTO profiles (profile_id, traits, state, consent, created_at, updated_at) "
    "SELECT * FROM unnest(%s::varchar[], %b::json[], %b::json[], %b::json[], %b::double precision[], "
    "%b::double precision[]) ON CONFLICT (profile_id) DO UPDATE SET traits = excluded.traits, "
    "state = excluded.state, consent = excluded.consent, updated_at = excluded.updated_at"
)
CREATE_PROFILES = Statement(  # what lock_profiles creates: ProfileRow(id, created_at=now, updated_at=now), in id order
    "INSERT INTO profiles (profile_id, traits, state, consent, created_at, updated_at) "
    "SELECT u.id, '{}', '{}', '{}', %s, %s FROM unnest(%s::varchar[]) WITH ORDINALITY AS u(id, n) ORDER BY n "
    "ON CONFLICT (profile_id) DO NOTHING"
)
LOCK_PROFILES = Statement(
    "SELECT profile_id, traits, state, consent, created_at, updated_at FROM profiles "
    "WHERE profile_id = ANY(%s::varchar[]) ORDER BY profile_id FOR UPDATE"
)
INSERT_CONSENT = Statement(
    "INSERT INTO consent_log (profile_id, purpose, granted, source, at) "
    "SELECT p, u, g, s, a FROM unnest(%s::varchar[], %s::varchar[], %b::boolean[], %s::varchar[], "
    "%b::double precision[]) WITH ORDINALITY AS x(p, u, g, s, a, n) ORDER BY n"
)
GET_IDENTITIES = Statement("SELECT key, kind, profile_id, created_at FROM identities WHERE key = ANY(%s::varchar[])")
SUPPRESSED = Statement("SELECT key FROM suppressions WHERE key = ANY(%s::varchar[])")
_DECISION_COLS = [c.name for c in t.decisions.columns]
_DECISION_TYPES = {"propensity": "double precision[]", "at": "double precision[]", "detail": "json[]"}
INSERT_DECISIONS = Statement(  # the decision writer's batches (decide/log.py)
    f"INSERT INTO decisions ({', '.join(_DECISION_COLS)}) SELECT * FROM unnest("
    + ", ".join(
        f"%{'b' if c in _DECISION_TYPES else 's'}::{_DECISION_TYPES.get(c, 'varchar[]')}" for c in _DECISION_COLS
    )
    + ")"
)
ROWS_PER_STATEMENT = 5000  # bounds one statement's arrays; a later chunk's duplicates meet ON CONFLICT as before


def _as(kind: type, values: list[Any]) -> list[Any]:
    """``values`` as ``kind`` (None kept): psycopg types an array by its first element, so an int among floats
    (or a float after an int) must not change the array's type. The column's cast did this on the old path."""
    return [v if v is None or type(v) is kind else kind(v) for v in values]


def column_arrays(rows: Sequence[Any], cols: Sequence[str], types: dict[str, str]) -> tuple[list[Any], ...]:
    """One list per column (``cols`` order) of ``rows``' attributes, for a statement casting column ``c`` to
    ``types[c]`` (``varchar[]`` when absent): JSON columns encoded by the engine's serializer (None too: JSON null,
    as SQLAlchemy's JSON type writes it), booleans and numbers made one Python type (:func:`_as`)."""
    out: list[list[Any]] = []
    for c in cols:
        values = [getattr(r, c) for r in rows]
        kind = types.get(c)
        if kind == "json[]":
            values = [json_dumps(v) for v in values]
        elif kind == "boolean[]":
            values = _as(bool, values)
        elif kind == "double precision[]":
            values = _as(float, values)
        out.append(values)
    return tuple(out)


def event_arrays(rows: Sequence[EventRow]) -> tuple[list[Any], ...]:
    """One list per column of ``events`` (EVENT_COLS order): what :data:`INSERT_EVENTS` takes."""
    return column_arrays(rows, EVENT_COLS, _ARRAY_TYPES)


class PostgresTx(SqlTx):
    """A transaction on PostgreSQL (psycopg 3)."""

    def _run(self, statement: Statement, params: tuple[Any, ...]) -> Any:
        return self.conn.exec_driver_sql(statement.pick(params), params)

    def insert_events(self, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        # The hot path of ingestion and import: ON CONFLICT .. RETURNING tells which rows are new, as before.
        out: set[tuple[str, str]] = set()
        for i in range(0, len(rows), ROWS_PER_STATEMENT):
            params = event_arrays(rows[i : i + ROWS_PER_STATEMENT])
            out.update((p, m) for p, m in self._run(INSERT_EVENTS, params))
        return out

    def insert_decisions(self, rows: Sequence[DecisionRow]) -> None:
        for i in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[i : i + ROWS_PER_STATEMENT]
            self._run(INSERT_DECISIONS, column_arrays(chunk, _DECISION_COLS, _DECISION_TYPES))

    # identities, profiles, consent: the rest of an ingest transaction ------------------------------------------
    def get_identities(self, keys: Iterable[str]) -> dict[str, IdentityRow]:
        keys = list(set(keys))
        if not keys:
            return {}
        rows = self._run(GET_IDENTITIES, (keys,))
        return {r[0]: IdentityRow(r[0], r[1], r[2], r[3]) for r in rows}

    def put_identities(self, rows: Sequence[IdentityRow]) -> None:
        # One row per key, as the statements one per row left it: the first row's kind and time (a key already
        # stored keeps its own), the last row's profile. (One INSERT may not touch a row twice.) In key order.
        by_key: dict[str, IdentityRow] = {}
        for r in rows:
            first = by_key.get(r.key)
            by_key[r.key] = r if first is None else IdentityRow(r.key, first.kind, r.profile_id, first.created_at)
        if by_key:
            ordered = [by_key[k] for k in sorted(by_key)]
            self._run(
                UPSERT_IDENTITIES,
                (
                    [r.key for r in ordered],
                    [r.kind for r in ordered],
                    [r.profile_id for r in ordered],
                    _as(float, [r.created_at for r in ordered]),
                ),
            )

    def lock_profiles(self, ids: Iterable[str], now: float) -> dict[str, ProfileRow]:
        ids = sorted(set(ids))
        if not ids:
            return {}
        self._run(CREATE_PROFILES, (float(now), float(now), ids))
        return {r.profile_id: self._profile(r) for r in self._run(LOCK_PROFILES, (ids,))}

    def put_profiles(self, rows: Sequence[ProfileRow]) -> None:
        # One row per profile (the last one given; a new row's creation time from the first), in id order.
        by_id: dict[str, ProfileRow] = {}
        for r in rows:
            first = by_id.get(r.profile_id)
            by_id[r.profile_id] = (
                r
                if first is None
                else ProfileRow(r.profile_id, r.traits, r.state, r.consent, first.created_at, r.updated_at)
            )
        if by_id:
            ordered = [by_id[k] for k in sorted(by_id)]
            self._run(
                UPSERT_PROFILES,
                (
                    [r.profile_id for r in ordered],
                    [json_dumps(r.traits) for r in ordered],
                    [json_dumps(r.state) for r in ordered],
                    [json_dumps(r.consent) for r in ordered],
                    _as(float, [r.created_at for r in ordered]),
                    _as(float, [r.updated_at for r in ordered]),
                ),
            )

    def append_consent(self, rows: Sequence[ConsentRow]) -> None:
        if rows:
            self._run(
                INSERT_CONSENT,
                (
                    [r.profile_id for r in rows],
                    [r.purpose for r in rows],
                    _as(bool, [r.granted for r in rows]),
                    [r.source for r in rows],
                    _as(float, [r.at for r in rows]),
                ),
            )

    def suppressed(self, keys: Iterable[str]) -> set[str]:
        keys = list(set(keys))
        return {r[0] for r in self._run(SUPPRESSED, (keys,))} if keys else set()

    def _repoint(self, table: Table, from_profile: str, to_profile: str) -> int:
        # identity merges, on the ingest path: a text that never changes (prepared), no statement to build
        cur = self.conn.exec_driver_sql(
            f"UPDATE {table.name} SET profile_id = %s WHERE profile_id = %s", (to_profile, from_profile)
        )
        return cur.rowcount or 0

    def repoint_events(self, from_profile: str, to_profile: str) -> int:
        # A message both people already have (the same messageId sent under both identities) is kept once.
        self.conn.exec_driver_sql(
            "DELETE FROM events WHERE profile_id = %s AND message_id IN "
            "(SELECT message_id FROM events WHERE profile_id = %s)",
            (from_profile, to_profile),
        )
        return self._repoint(t.events, from_profile, to_profile)
