"""SQLite's transaction: the hot paths as plain DB-API statements on the sqlite3 connection.

These run on every ingest transaction (inside the write lock) and on every ``/v1/decide``: plain DB-API
statements and orjson cost a fraction of SQLAlchemy's per-statement and per-row processing. SQLite has one
writer at a time (``SqlStore`` serialises them), so "read what is there, then write the rest" is exact here
where PostgreSQL needs ON CONFLICT .. RETURNING and row locks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn, cast

import orjson
from sqlalchemy import Connection, Table
from sqlalchemy.dialects import sqlite

from pertinent.storage import tables as t
from pertinent.storage.base import (
    ConsentRow,
    DecisionRow,
    EventRow,
    IdentityRow,
    MembershipChange,
    ProfileRow,
)
from pertinent.storage.sql_tx import SqlTx
from pertinent.storage.sqlutil import EVENT_COLS, Upsert, json_or_none

_KNOWN_EVENTS = "SELECT profile_id, message_id FROM events WHERE "
_INSERT_EVENTS = f"INSERT INTO events ({', '.join(EVENT_COLS)}) VALUES ({', '.join('?' * len(EVENT_COLS))})"
_INSERT_DECISIONS = (
    "INSERT INTO decisions (decision_id, profile_id, slot, variant, reason, experiment, "
    "propensity, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqliteReads:
    """The serving reads (:class:`pertinent.storage.protocols.ServingReader`) on a sqlite3 connection."""

    raw: sqlite3.Connection

    def _in(self, sql: str, values: list[str]) -> list[Any]:
        # the sqlite3 connection itself, in the same transaction: exec_driver_sql costs more per statement
        # (result metadata) than the indexed lookup itself (/v1/decide reads three of these per request)
        raw = self.raw
        out: list[Any] = []
        for i in range(0, len(values), 500):
            chunk = values[i : i + 500]
            out += raw.execute(sql.format(marks=",".join("?" * len(chunk))), tuple(chunk)).fetchall()
        return out

    def get_identities(self, keys: Iterable[str]) -> dict[str, IdentityRow]:
        keys = list(set(keys))
        if not keys:
            return {}
        rows = self._in("SELECT key, kind, profile_id, created_at FROM identities WHERE key IN ({marks})", keys)
        return {r[0]: IdentityRow(*r) for r in rows}

    def get_profiles(self, ids: Iterable[str], for_update: bool = False) -> dict[str, ProfileRow]:
        """The profiles (``for_update`` has nothing to lock: writers are serialised)."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        loads = orjson.loads
        rows = self._in(
            "SELECT profile_id, traits, state, consent, created_at, updated_at FROM profiles "
            "WHERE profile_id IN ({marks}) ORDER BY profile_id",
            ids,
        )
        return {
            r[0]: ProfileRow(
                r[0],
                loads(r[1]) if r[1] else {},
                loads(r[2]) if r[2] else {},
                loads(r[3]) if r[3] else {},
                r[4],
                r[5],
            )
            for r in rows
        }

    def segments_of(self, profile_ids: Iterable[str]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}  # read on every /v1/decide of a slot with segment rules
        for pid, seg, at in self._in(
            "SELECT profile_id, segment_id, entered_at FROM segment_members WHERE profile_id IN ({marks})",
            sorted(set(profile_ids)),
        ):
            out.setdefault(pid, {})[seg] = at
        return out

    def first_exposures(self, profile_id: str, experiments: Iterable[str]) -> dict[str, DecisionRow]:
        wanted = set(experiments)
        if not wanted:
            return {}
        out: dict[str, DecisionRow] = {}  # on every /v1/decide of an experiment slot: no statement building
        exps = sorted(wanted)[:500]
        cur = self.raw.execute(
            "SELECT decision_id, profile_id, slot, variant, reason, at, experiment, propensity, detail "
            f"FROM decisions WHERE profile_id = ? AND experiment IN ({','.join('?' * len(exps))}) "
            "ORDER BY at, decision_id",
            (profile_id, *exps),
        )
        for r in cur:
            if r[6] not in out:
                out[r[6]] = DecisionRow(
                    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], orjson.loads(r[8]) if r[8] else None
                )
                if len(out) == len(exps):
                    break
        cur.close()
        return out


class SqliteReader(SqliteReads):
    """``SqlStore.reader()`` on a SQLite file: the serving reads on a plain read-only sqlite3 connection."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):  # protocol lookups (copy, pickle...) see a plain object
            raise AttributeError(name)
        raise RuntimeError(
            "Store.reader() serves the fast SQLite reads only (identities, profiles, segments_of, "
            f"first_exposures), not {name}; use transaction(write=False) for anything else"
        )


class SqliteTx(SqliteReads, SqlTx):
    """A transaction on SQLite: :class:`SqlTx` with the hot paths on the sqlite3 connection under it."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        # the same DB-API connection, in the same transaction
        self.raw = cast(sqlite3.Connection, conn.connection.driver_connection)

    @staticmethod
    def _insert(table: Table) -> Upsert:
        return sqlite.insert(table)

    def _repoint(self, table: Table, from_profile: str, to_profile: str) -> int:
        cur = self.conn.exec_driver_sql(
            f"UPDATE {table.name} SET profile_id = ? WHERE profile_id = ?", (to_profile, from_profile)
        )
        return cur.rowcount or 0

    # identities, events -----------------------------------------------------
    def put_identities(self, rows: Sequence[IdentityRow]) -> None:
        if rows:
            self.conn.exec_driver_sql(
                "INSERT INTO identities (key, kind, profile_id, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET profile_id = excluded.profile_id",
                [(r.key, r.kind, r.profile_id, r.created_at) for r in rows],
            )

    def insert_events(self, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        # The hot path of ingestion. Writers are serialised (SqlStore's locks), so "select the known ids, insert
        # the rest" is exact; plain DB-API executemany with orjson-encoded JSON is several times cheaper than
        # INSERT .. RETURNING through SQLAlchemy's per-row type processing.
        if not rows:
            return set()
        pairs = list({(r.profile_id, r.message_id) for r in rows})
        raw = self.raw
        known: set[tuple[str, str]] = set()
        for i in range(0, len(pairs), 200):  # one index probe per pair (an OR of equalities; 200 keeps it shallow)
            chunk = pairs[i : i + 200]
            sql = _KNOWN_EVENTS + " OR ".join(["(profile_id = ? AND message_id = ?)"] * len(chunk))
            known.update(raw.execute(sql, [v for pair in chunk for v in pair]).fetchall())
        fresh: dict[tuple[str, str], tuple[Any, ...]] = {}
        for r in rows:
            key = (r.profile_id, r.message_id)
            if key not in known and key not in fresh:
                encoded = r.encoded or (json_or_none(r.properties), json_or_none(r.traits), json_or_none(r.context))
                fresh[key] = (
                    r.message_id,
                    r.type,
                    r.event,
                    r.profile_id,
                    r.timestamp,
                    r.received_at,
                    r.personalize,
                    *encoded,
                    json_or_none(r.integrations),
                    r.group_id,
                    r.previous_id,
                )
        if fresh:
            self.conn.exec_driver_sql(_INSERT_EVENTS, list(fresh.values()))
        return set(fresh)

    def repoint_events(self, from_profile: str, to_profile: str) -> int:
        # A message both people already have (the same messageId sent under both identities) is kept once.
        self.conn.exec_driver_sql(
            "DELETE FROM events WHERE profile_id = ? AND message_id IN "
            "(SELECT message_id FROM events WHERE profile_id = ?)",
            (from_profile, to_profile),
        )
        return self._repoint(t.events, from_profile, to_profile)

    def _event_properties_page(
        self, names: list[str], before: int | None, n: int
    ) -> tuple[list[tuple[str, str, float, dict[str, Any] | None]], int | None]:
        # plain DB-API: SQLAlchemy's row and JSON processing cost ~3x the read
        sql = (
            f"SELECT id, profile_id, event, timestamp, properties FROM events WHERE type = 'track' "
            f"AND event IN ({','.join('?' * len(names))}) {'' if before is None else 'AND id < ?'} "
            "ORDER BY id DESC LIMIT ?"
        )
        rows = self.raw.execute(sql, (*names, *(() if before is None else (before,)), n)).fetchall()
        loads = orjson.loads
        return [(r[1], r[2], r[3], loads(r[4]) if r[4] else None) for r in rows], rows[-1][0] if rows else before

    # profiles, consent ------------------------------------------------------
    def lock_profiles(self, ids: Iterable[str], now: float) -> dict[str, ProfileRow]:
        """The profiles, empty ones for unknown ids (created when put): the write lock is the lock."""
        ids = sorted(set(ids))
        found = self.get_profiles(ids)
        for i in ids:
            if i not in found:
                found[i] = ProfileRow(i, created_at=now, updated_at=now)
        return found

    def put_profiles(self, rows: Sequence[ProfileRow]) -> None:
        if not rows:
            return
        dumps = json_or_none
        self.conn.exec_driver_sql(
            "INSERT INTO profiles (profile_id, traits, state, consent, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile_id) DO UPDATE SET traits = excluded.traits, "
            "state = excluded.state, consent = excluded.consent, updated_at = excluded.updated_at",
            [
                (r.profile_id, dumps(r.traits), dumps(r.state), dumps(r.consent), r.created_at, r.updated_at)
                for r in rows
            ],
        )

    def delete_profile(self, profile_id: str) -> None:
        self.conn.exec_driver_sql("DELETE FROM profiles WHERE profile_id = ?", (profile_id,))

    def profile_versions(self, profile_ids: Iterable[str], lock: bool = False) -> dict[str, float]:
        sql = "SELECT profile_id, updated_at FROM profiles WHERE profile_id IN ({marks})"
        return dict(self._in(sql, sorted(set(profile_ids))))  # one writer at a time: nothing to lock

    def append_consent(self, rows: Sequence[ConsentRow]) -> None:
        if rows:  # on the ingest path: a new visitor's first event states their choice
            self.conn.exec_driver_sql(
                "INSERT INTO consent_log (profile_id, purpose, granted, source, at) VALUES (?, ?, ?, ?, ?)",
                [(r.profile_id, r.purpose, r.granted, r.source, r.at) for r in rows],
            )

    @staticmethod
    def _number_at(element: Any) -> Any:
        return element.as_float()  # SQLite's cast of a non-number does not fail

    @staticmethod
    def _floor(expr: Any) -> Any:
        return expr  # the integer cast truncates: the floor of a positive time

    # segment membership, decisions ------------------------------------------
    def _memberships_of(self, profile_ids: set[str]) -> Iterable[Any]:
        sql = "SELECT segment_id, profile_id FROM segment_members WHERE profile_id IN ({marks})"
        return self._in(sql, sorted(profile_ids))

    def _write_membership(
        self, effective: list[MembershipChange], entered: list[MembershipChange], exited: list[tuple[str, str]]
    ) -> list[MembershipChange]:
        # What was read is exact (one writer at a time): plain executemany, no RETURNING needed (this runs inside
        # the write lock that ingestion also needs).
        raw = self.raw
        raw.executemany("DELETE FROM segment_members WHERE segment_id = ? AND profile_id = ?", exited)
        raw.executemany(
            "INSERT INTO segment_members (segment_id, profile_id, entered_at) VALUES (?, ?, ?) "
            "ON CONFLICT (segment_id, profile_id) DO NOTHING",
            [(c.segment_id, c.profile_id, c.at) for c in entered],
        )
        raw.executemany(
            "INSERT INTO segment_history (segment_id, profile_id, entered, at) VALUES (?, ?, ?, ?)",
            [(c.segment_id, c.profile_id, c.entered, c.at) for c in effective],
        )
        return effective

    def _entries_of(self, profile_id: str) -> dict[str, float]:
        sql = "SELECT segment_id, entered_at FROM segment_members WHERE profile_id = ?"
        return dict(self.raw.execute(sql, (profile_id,)).fetchall())  # on the ingest path (every identity merge)

    def insert_decisions(self, rows: Sequence[DecisionRow]) -> None:
        if not rows:
            return
        dumps = orjson.dumps  # every decision served is one row: plain DB-API, orjson
        self.raw.executemany(
            _INSERT_DECISIONS,
            [
                (
                    r.decision_id,
                    r.profile_id,
                    r.slot,
                    r.variant,
                    r.reason,
                    r.experiment,
                    r.propensity,
                    None if r.detail is None else dumps(r.detail, option=orjson.OPT_NON_STR_KEYS).decode(),
                    r.at,
                )
                for r in rows
            ],
        )
