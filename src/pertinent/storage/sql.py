"""SQL backend on SQLAlchemy Core: SQLite (embedded default, WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, create_engine, delete, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url

from pertinent.storage import tables as t
from pertinent.storage.base import AuditRow, ConsentRow, EventRow, IdentityRow, ItemRow, ProfileRow
from pertinent.storage.sql_decisions import DecisionsMixin
from pertinent.storage.sql_documents import DocumentsMixin
from pertinent.storage.sql_segments import SegmentsMixin
from pertinent.storage.sql_stats import StatsMixin
from pertinent.storage.sqlutil import rows_where_in

log = logging.getLogger("pertinent.storage")
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes: the WAL is rewound past this, and trimmed back to it
_EVENT_COLS = [c.name for c in t.events.columns if c.name != "id"]


def _row(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, shallow (``dataclasses.asdict`` deep-copies every JSON value)."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def _json_or_none(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_SQLITE_KNOWN_EVENTS = "SELECT profile_id, message_id FROM events WHERE "
_SQLITE_INSERT_EVENTS = f"INSERT INTO events ({', '.join(_EVENT_COLS)}) VALUES ({', '.join('?' * len(_EVENT_COLS))})"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, autocheckpoint: bool = True, **pool: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            **pool,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA secure_delete=ON")  # erased rows are overwritten, not left in free pages
            if not autocheckpoint:  # SqlStore checkpoints in the background, outside the write lock
                cur.execute("PRAGMA wal_autocheckpoint=0")
                cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # the WAL shrinks back when rewound
            cur.close()

        return engine
    return create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


class SqlTx(DocumentsMixin, SegmentsMixin, DecisionsMixin, StatsMixin):
    """A transaction on one connection. Implements :class:`pertinent.storage.base.Tx`.

    Documents, segment membership and decisions live in their own modules (``sql_documents`` ...).
    """

    def __init__(self, conn: Connection, dialect: str, raw: sqlite3.Connection | None = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self._raw = raw
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection under this transaction: the SQLite fast paths run plain DB-API statements on it."""
        if self._raw is None:
            self._raw = self.conn.connection.driver_connection  # type: ignore[assignment]
        return self._raw  # type: ignore[return-value]

    # identities -------------------------------------------------------------
    # The SQLite branches below run on every ingest transaction, inside the write lock: they use plain DB-API
    # statements and orjson, which cost a fraction of SQLAlchemy's per-statement and per-row processing.
    def _sqlite_in(self, sql: str, values: list[str]) -> list[Any]:
        # the sqlite3 connection itself, in the same transaction: exec_driver_sql still cost ~50 us per
        # statement (result metadata), more than the indexed lookup (/v1/decide reads three of these per request)
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
        if self.dialect == "sqlite":
            rows = self._sqlite_in(
                "SELECT key, kind, profile_id, created_at FROM identities WHERE key IN ({marks})", keys
            )
            return {r[0]: IdentityRow(*r) for r in rows}
        rows = self.conn.execute(select(t.identities).where(t.identities.c.key.in_(keys)))
        return {r.key: IdentityRow(r.key, r.kind, r.profile_id, r.created_at) for r in rows}

    def put_identities(self, rows: Sequence[IdentityRow]) -> None:
        if not rows:
            return
        if self.dialect == "sqlite":
            self.conn.exec_driver_sql(
                "INSERT INTO identities (key, kind, profile_id, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET profile_id = excluded.profile_id",
                [(r.key, r.kind, r.profile_id, r.created_at) for r in rows],
            )
            return
        stmt = self._insert(t.identities).on_conflict_do_update(
            index_elements=["key"], set_={"profile_id": self._insert(t.identities).excluded.profile_id}
        )
        self.conn.execute(stmt, [_row(r) for r in rows])

    def _repoint(self, table: Any, from_profile: str, to_profile: str) -> int:
        """Move a table's rows from one profile to another (identity merges: on the ingest path)."""
        if self.dialect == "sqlite":
            cur = self.conn.exec_driver_sql(
                f"UPDATE {table.name} SET profile_id = ? WHERE profile_id = ?", (to_profile, from_profile)
            )
        else:
            cur = self.conn.execute(
                update(table).where(table.c.profile_id == from_profile).values(profile_id=to_profile)
            )
        return cur.rowcount or 0

    def repoint_identities(self, from_profile: str, to_profile: str) -> None:
        self._repoint(t.identities, from_profile, to_profile)

    def identities_of(self, profile_id: str) -> list[IdentityRow]:
        rows = self.conn.execute(
            select(t.identities).where(t.identities.c.profile_id == profile_id).order_by(t.identities.c.created_at)
        )
        return [IdentityRow(r.key, r.kind, r.profile_id, r.created_at) for r in rows]

    def rename_identity(self, old_key: str, new_key: str) -> None:
        self.conn.execute(update(t.identities).where(t.identities.c.key == old_key).values(key=new_key))

    # events -----------------------------------------------------------------
    def insert_events(self, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        if not rows:
            return set()
        if self.dialect == "sqlite":
            return self._insert_events_sqlite(rows)
        stmt = (
            self._insert(t.events)
            .on_conflict_do_nothing(index_elements=["profile_id", "message_id"])
            .returning(t.events.c.profile_id, t.events.c.message_id)
        )
        params = [{c: getattr(r, c) for c in _EVENT_COLS} for r in rows]
        return {(p, m) for p, m in self.conn.execute(stmt, params)}

    def _insert_events_sqlite(self, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        # The hot path of ingestion. Writers are serialised (SqlStore's locks), so "select the known ids, insert
        # the rest" is exact; plain DB-API executemany with orjson-encoded JSON is several times cheaper than
        # INSERT .. RETURNING through SQLAlchemy's per-row type processing.
        pairs = list({(r.profile_id, r.message_id) for r in rows})
        raw = self.raw
        known: set[tuple[str, str]] = set()
        for i in range(0, len(pairs), 200):  # one index probe per pair (an OR of equalities; 200 keeps it shallow)
            chunk = pairs[i : i + 200]
            sql = _SQLITE_KNOWN_EVENTS + " OR ".join(["(profile_id = ? AND message_id = ?)"] * len(chunk))
            known.update(raw.execute(sql, [v for pair in chunk for v in pair]).fetchall())
        fresh: dict[tuple[str, str], tuple[Any, ...]] = {}
        for r in rows:
            key = (r.profile_id, r.message_id)
            if key not in known and key not in fresh:
                encoded = r.encoded or (_json_or_none(r.properties), _json_or_none(r.traits), _json_or_none(r.context))
                fresh[key] = (
                    r.message_id,
                    r.type,
                    r.event,
                    r.profile_id,
                    r.timestamp,
                    r.received_at,
                    r.personalize,
                    *encoded,
                )
        if fresh:
            self.conn.exec_driver_sql(_SQLITE_INSERT_EVENTS, list(fresh.values()))
        return set(fresh)

    def repoint_events(self, from_profile: str, to_profile: str) -> int:
        # A message both people already have (the same messageId sent under both identities) is kept once.
        if self.dialect == "sqlite":
            self.conn.exec_driver_sql(
                "DELETE FROM events WHERE profile_id = ? AND message_id IN "
                "(SELECT message_id FROM events WHERE profile_id = ?)",
                (from_profile, to_profile),
            )
        else:
            ev = t.events
            dup = select(ev.c.message_id).where(ev.c.profile_id == to_profile).scalar_subquery()
            self.conn.execute(ev.delete().where(ev.c.profile_id == from_profile, ev.c.message_id.in_(dup)))
        return self._repoint(t.events, from_profile, to_profile)

    def events_of(self, profile_id: str, limit: int | None = None) -> list[EventRow]:
        q = select(t.events).where(t.events.c.profile_id == profile_id).order_by(t.events.c.timestamp, t.events.c.id)
        if limit:
            q = q.limit(limit)
        return [EventRow(**{c: getattr(r, c) for c in _EVENT_COLS}) for r in self.conn.execute(q)]

    def count_events(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    # profiles ---------------------------------------------------------------
    @staticmethod
    def _profile(r: Any) -> ProfileRow:
        return ProfileRow(r.profile_id, r.traits or {}, r.state or {}, r.consent or {}, r.created_at, r.updated_at)

    def get_profiles(self, ids: Iterable[str], for_update: bool = False) -> dict[str, ProfileRow]:
        ids = sorted(set(ids))
        if not ids:
            return {}
        if self.dialect == "sqlite":
            loads = orjson.loads
            rows = self._sqlite_in(
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
        q = select(t.profiles).where(t.profiles.c.profile_id.in_(ids)).order_by(t.profiles.c.profile_id)
        if for_update and self.dialect == "postgresql":
            q = q.with_for_update()
        return {r.profile_id: self._profile(r) for r in self.conn.execute(q)}

    def lock_profiles(self, ids: Iterable[str], now: float) -> dict[str, ProfileRow]:
        """Return the profiles, creating empty ones for unknown ids, locked until commit."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        if self.dialect == "postgresql":
            # Create missing rows first so that every id has a row to lock (no lost updates).
            stmt = self._insert(t.profiles).on_conflict_do_nothing(index_elements=["profile_id"])
            self.conn.execute(stmt, [self._empty(i, now) for i in ids])
            return self.get_profiles(ids, for_update=True)
        found = self.get_profiles(ids)
        for i in ids:
            if i not in found:
                found[i] = ProfileRow(**self._empty(i, now))
        return found

    @staticmethod
    def _empty(profile_id: str, now: float) -> dict[str, Any]:
        return {
            "profile_id": profile_id,
            "traits": {},
            "state": {},
            "consent": {},
            "created_at": now,
            "updated_at": now,
        }

    def put_profiles(self, rows: Sequence[ProfileRow]) -> None:
        if not rows:
            return
        if self.dialect == "sqlite":
            dumps = _json_or_none
            self.conn.exec_driver_sql(
                "INSERT INTO profiles (profile_id, traits, state, consent, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile_id) DO UPDATE SET traits = excluded.traits, "
                "state = excluded.state, consent = excluded.consent, updated_at = excluded.updated_at",
                [
                    (r.profile_id, dumps(r.traits), dumps(r.state), dumps(r.consent), r.created_at, r.updated_at)
                    for r in rows
                ],
            )
            return
        ins = self._insert(t.profiles)
        stmt = ins.on_conflict_do_update(
            index_elements=["profile_id"],
            set_={c: ins.excluded[c] for c in ("traits", "state", "consent", "updated_at")},
        )
        self.conn.execute(stmt, [_row(r) for r in rows])

    def delete_profile(self, profile_id: str) -> None:
        if self.dialect == "sqlite":
            self.conn.exec_driver_sql("DELETE FROM profiles WHERE profile_id = ?", (profile_id,))
        else:
            self.conn.execute(delete(t.profiles).where(t.profiles.c.profile_id == profile_id))

    def count_profiles(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.profiles)).scalar_one())

    def iter_profiles(self, batch_size: int = 1000) -> Iterator[ProfileRow]:
        return (self._profile(r) for r in self._keyset(t.profiles, t.profiles.c.profile_id, batch_size))

    def _keyset(self, table: Any, key: Any, batch_size: int) -> Iterator[Any]:
        """Every row of ``table`` in ``key`` order, fetched ``batch_size`` at a time (keyset pagination)."""
        last = ""
        while True:
            rows = list(self.conn.execute(select(table).where(key > last).order_by(key).limit(batch_size)))
            if not rows:
                return
            yield from rows
            last = getattr(rows[-1], key.name)

    # consent, audit, errors -------------------------------------------------
    def append_consent(self, rows: Sequence[ConsentRow]) -> None:
        if not rows:
            return
        if self.dialect == "sqlite":  # on the ingest path: a new visitor's first event states their choice
            self.conn.exec_driver_sql(
                "INSERT INTO consent_log (profile_id, purpose, granted, source, at) VALUES (?, ?, ?, ?, ?)",
                [(r.profile_id, r.purpose, r.granted, r.source, r.at) for r in rows],
            )
            return
        self.conn.execute(insert(t.consent_log), [_row(r) for r in rows])

    def consent_of(self, profile_id: str) -> list[ConsentRow]:
        rows = self.conn.execute(
            select(t.consent_log)
            .where(t.consent_log.c.profile_id == profile_id)
            .order_by(t.consent_log.c.at, t.consent_log.c.id)
        )
        return [ConsentRow(r.profile_id, r.purpose, r.granted, r.source, r.at) for r in rows]

    def repoint_consent(self, from_profile: str, to_profile: str) -> None:
        self._repoint(t.consent_log, from_profile, to_profile)

    def append_audit(self, row: AuditRow) -> None:
        self.conn.execute(insert(t.audit_log), [_row(row)])

    def audit_entries(self, subject: str | None = None, limit: int = 100) -> list[AuditRow]:
        q = select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(limit)
        if subject is not None:
            q = q.where(t.audit_log.c.subject == subject)
        return [AuditRow(r.at, r.actor, r.action, r.subject, r.detail) for r in self.conn.execute(q)]

    def record_ingest_errors(self, endpoint: str, errors: Sequence[Mapping[str, str]]) -> None:
        if errors:
            self.conn.execute(
                insert(t.ingest_errors),
                [
                    {"at": e["at"], "endpoint": endpoint, "field": e.get("field"), "message": e["message"][:1000]}
                    for e in errors
                ],
            )

    def count_ingest_errors(self, since: float = 0.0) -> int:
        q = select(func.count()).select_from(t.ingest_errors).where(t.ingest_errors.c.at >= since)
        return int(self.conn.execute(q).scalar_one())

    # training reads and the item catalogue ---------------------------------
    def iter_events(
        self,
        event_type: str = "track",
        limit: int | None = None,
        batch_size: int = 5000,
        names: Sequence[str] | None = None,
    ) -> Iterator[EventRow]:
        """Events of one type (and, given ``names``, only those event names), newest first (by insertion), at
        most ``limit``; paged by id."""
        cond = [t.events.c.type == event_type]
        if names is not None:
            cond.append(t.events.c.event.in_(list(names)))
        return self._events_paged(cond, True, limit, batch_size)

    def iter_event_properties(
        self, names: Sequence[str], limit: int | None = None, batch_size: int = 5000
    ) -> Iterator[tuple[str, str, float, dict[str, Any] | None]]:
        e = t.events
        names = list(names)
        if not names:
            return
        last: int | None = None
        left = limit
        loads = orjson.loads
        while left is None or left > 0:
            n = batch_size if left is None else min(batch_size, left)
            if self.dialect == "sqlite":  # plain DB-API: SQLAlchemy's row and JSON processing cost ~3x the read
                sql = (
                    f"SELECT id, profile_id, event, timestamp, properties FROM events WHERE type = 'track' "
                    f"AND event IN ({','.join('?' * len(names))}) {'' if last is None else 'AND id < ?'} "
                    "ORDER BY id DESC LIMIT ?"
                )
                rows = self.raw.execute(sql, (*names, *(() if last is None else (last,)), n)).fetchall()
                for r in rows:
                    yield r[1], r[2], r[3], loads(r[4]) if r[4] else None
            else:
                q = (
                    select(e.c.id, e.c.profile_id, e.c.event, e.c.timestamp, e.c.properties)
                    .where(e.c.type == "track", e.c.event.in_(names))
                    .order_by(e.c.id.desc())
                    .limit(n)
                )
                if last is not None:
                    q = q.where(e.c.id < last)
                rows = list(self.conn.execute(q))
                for r in rows:
                    yield r[1], r[2], r[3], r[4]
            if not rows:
                return
            last = rows[-1][0]
            if left is not None:
                left -= len(rows)

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
            for r in rows:  # by position (the columns after id are EventRow's fields in order): ~12x cheaper than
                yield EventRow(*r[1:])  # getattr per column, which cost ~2 s per popularity refresh of 200k events
            last = rows[-1].id
            if left is not None:
                left -= len(rows)

    @staticmethod
    def _item(r: Any) -> ItemRow:
        return ItemRow(
            r.item_id,
            r.title,
            r.text,
            list(r.categories or []),
            list(r.tags or []),
            dict(r.attributes or {}),
            r.available_from,
            r.available_until,
            r.updated_at,
        )

    def upsert_items(self, rows: Sequence[ItemRow]) -> None:
        if not rows:
            return
        latest = {r.item_id: r for r in rows}  # one statement may not touch a row twice (PostgreSQL)
        ins = self._insert(t.items)
        cols = [c.name for c in t.items.columns if c.name != "item_id"]
        stmt = ins.on_conflict_do_update(index_elements=["item_id"], set_={c: ins.excluded[c] for c in cols})
        values = [_row(r) for r in latest.values()]
        for i in range(0, len(values), 1000):
            self.conn.execute(stmt, values[i : i + 1000])

    def get_items(self, ids: Iterable[str]) -> dict[str, ItemRow]:
        return {r.item_id: self._item(r) for r in rows_where_in(self.conn, select(t.items), t.items.c.item_id, ids)}

    def iter_items(self, batch_size: int = 1000) -> Iterator[ItemRow]:
        return (self._item(r) for r in self._keyset(t.items, t.items.c.item_id, batch_size))

    def delete_items(self, ids: Iterable[str]) -> int:
        ids = sorted(set(ids))
        deleted = 0
        for i in range(0, len(ids), 500):
            res = self.conn.execute(delete(t.items).where(t.items.c.item_id.in_(ids[i : i + 500])))
            deleted += res.rowcount or 0
        return deleted

    def count_items(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.items)).scalar_one())

    # erasure ----------------------------------------------------------------
    def erase_profile(self, profile_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, table in (
            ("events", t.events),
            ("identities", t.identities),
            ("consent_log", t.consent_log),
            ("profiles", t.profiles),
            ("segment_members", t.segment_members),
            ("segment_history", t.segment_history),
            ("decisions", t.decisions),
            ("decision_outcomes", t.decision_outcomes),
        ):
            res = self.conn.execute(delete(table).where(table.c.profile_id == profile_id))
            counts[name] = res.rowcount or 0
        return counts


class _NoConnection:
    """The SQLAlchemy connection of a ``SqlStore.reader()`` transaction on SQLite: there is none."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "Store.reader() serves the fast SQLite reads only (identities, profiles, segments_of, "
            "first_exposures); use transaction(write=False) for anything else"
        )


class SqlStore:
    """Implements :class:`pertinent.storage.base.Store` on any SQLAlchemy URL we support.

    >>> store = SqlStore("sqlite://")
    >>> store.migrate()
    >>> with store.transaction() as tx:
    ...     tx.count_events()
    0
    """

    def __init__(self, url: str, checkpoint_interval_s: float = 0.5) -> None:
        self.url = url
        file_db = url.startswith("sqlite") and make_url(url).database not in (None, "", ":memory:")
        # A file database checkpoints its WAL from a background thread (PASSIVE: writers are never blocked), so
        # that copying the WAL into the database and the fsync happen outside the write lock. Measured on the
        # ingest path: commit cost fell from ~50 to ~14 us per event (docs/benchmarks.md).
        self.engine = make_engine(url, autocheckpoint=not file_db)
        self.backend = self.engine.dialect.name
        # Write transactions on a SQLite file all use one connection (they are serialised anyway): its page cache
        # stays warm between them. Taking any pooled connection, the writer got one whose cache the last write
        # on another connection had invalidated; a stored decision cost ~110 instead of ~35 us (docs/benchmarks.md).
        self._write_engine = (
            make_engine(url, autocheckpoint=False, pool_size=1, max_overflow=0) if file_db else self.engine
        )
        # SQLite has one writer at a time. Serialise our writers instead of letting them spin on SQLITE_BUSY
        # (its busy handler sleeps in growing steps): a thread lock inside the process, plus an flock on a
        # lock file beside the database across processes (server workers, a CLI import).
        self._write_lock = threading.Lock() if self.backend == "sqlite" else None
        self._lock_path = f"{self.engine.url.database}.writelock" if file_db else None
        self._lock_fd: int | None = None
        self._checkpoint_interval = checkpoint_interval_s if file_db else None
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        self.wal_rewind_frames = WAL_SIZE_LIMIT // 4096  # 64 MiB of 4 KiB pages
        self._reader_path = self.engine.url.database if file_db else None
        self._readers = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def _start_checkpointer(self) -> None:
        if self._checkpoint_interval is None or self._checkpointer is not None:
            return
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="pertinent-wal-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        assert self._checkpoint_interval is not None
        while not self._stop.wait(self._checkpoint_interval):
            frames, copied = self.checkpoint()
            if frames >= self.wal_rewind_frames:
                self._rewind()

    def _rewind(self) -> None:
        """Send writers back to the start of the WAL (it never rewinds itself under continuous writes).

        The copying and the fsync happen in PASSIVE checkpoints outside the write lock until only a short tail
        is left; under the lock, RESTART then copies that tail and marks the WAL for reuse, and the next writer
        trims the file to ``journal_size_limit``. (TRUNCATE here held the lock for 100-230 ms per rewind, which
        cost ingestion about a tenth of its throughput; RESTART takes a few ms.)
        """
        before, _ = self.checkpoint()
        for _ in range(8):  # each pass copies what writers added during the previous one: a shrinking tail
            frames, _ = self.checkpoint()
            if frames - before <= 128:
                break
            before = frames
        with self._writer():
            self.checkpoint("RESTART")

    def purge_deleted(self) -> None:
        """Make deleted rows unrecoverable from the files (after an erasure): empty the SQLite WAL.

        Deleted rows are overwritten in the database file (``secure_delete``); older copies of their pages may
        still sit in the WAL until it is truncated. Other backends: nothing to do here.
        """
        if self._lock_path is None:
            return
        self.checkpoint()  # the bulk of the copy outside the write lock
        with self._writer():
            self.checkpoint("TRUNCATE")

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int]:
        """Copy committed WAL frames into the database file; return (frames in the WAL, frames copied).

        PASSIVE never blocks readers or writers. Under continuous writes it never rewinds the WAL either,
        so the background loop truncates it (briefly holding the write lock) once it is large and copied.
        """
        if self.backend != "sqlite" or mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            return (0, 0)
        try:
            with self.engine.connect() as conn:
                _busy, frames, copied = conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
                return (frames, copied)
        except Exception:  # a busy or closing database: the next round catches up
            log.debug("WAL checkpoint skipped", exc_info=True)
            return (0, 0)

    def _lock_file(self) -> int | None:
        if self._lock_path is None:
            return None
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._lock_fd

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """Hold the SQLite write lock (thread lock, then the cross-process flock); no-op on other backends."""
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            fd = self._lock_file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[SqlTx]:
        if not write:
            with self.engine.begin() as conn:
                yield SqlTx(conn, self.backend)
            return
        self._start_checkpointer()
        with self._writer(), self._write_engine.begin() as conn:
            yield SqlTx(conn, self.backend)

    @contextmanager
    def reader(self) -> Iterator[SqlTx]:
        """A read transaction for the serving path (``/v1/decide``, ``/v1/recommendations``): identities,
        profiles, segment memberships and first exposures.

        On a SQLite file it runs on a plain sqlite3 connection of this thread (read-only), not through
        SQLAlchemy: a pool checkout, begin, commit and reset cost ~100 us there, several times the indexed reads
        themselves (docs/benchmarks.md). Other methods raise; elsewhere (PostgreSQL, in-memory SQLite) it is
        ``transaction(write=False)``."""
        if self._reader_path is None:
            with self.transaction(write=False) as tx:
                yield tx
            return
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = self._readers.conn = sqlite3.connect(
                self._reader_path, timeout=30, isolation_level=None, check_same_thread=False
            )  # closed by close()
            conn.execute("PRAGMA query_only=ON")
            with self._readers_lock:
                self._reader_conns.append(conn)
        if conn.in_transaction:  # a reader inside a reader on this thread: the outer one's snapshot
            yield SqlTx(_NoConnection(), self.backend, conn)  # type: ignore[arg-type]
            return
        conn.execute("BEGIN")
        try:
            yield SqlTx(_NoConnection(), self.backend, conn)  # type: ignore[arg-type]
        finally:
            conn.execute("COMMIT")

    def migrate(self) -> None:
        from pertinent.storage.migrate import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._stop.set()
            self._checkpointer.join(10)
            self._checkpointer = None
            self.purge_deleted()
        with self._readers_lock:
            readers, self._reader_conns = self._reader_conns, []
        for conn in readers:
            conn.close()
        self._readers = threading.local()
        self.engine.dispose()
        self._write_engine.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
