"""SQL backend on SQLAlchemy Core: SQLite (embedded default, WAL) and PostgreSQL (psycopg 3).

:class:`SqlStore` owns the engines, SQLite's write lock and WAL checkpoints, and hands out transactions:
:class:`pertinent.storage.sql_postgres.PostgresTx` (a :class:`pertinent.storage.sql_tx.SqlTx`) on PostgreSQL,
:class:`pertinent.storage.sql_sqlite.SqliteTx` on SQLite.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from pertinent.runtime.files import private_file
from pertinent.storage.protocols import ServingReader
from pertinent.storage.sql_postgres import PostgresTx
from pertinent.storage.sql_sqlite import SqliteReader, SqliteTx
from pertinent.storage.sql_tx import SqlTx
from pertinent.storage.sqlutil import json_dumps

log = logging.getLogger("pertinent.storage")
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes: the WAL is rewound past this, and trimmed back to it


def make_engine(url: str, autocheckpoint: bool = True, **pool: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_dumps,
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
        json_serializer=json_dumps,
        json_deserializer=orjson.loads,
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
        # that copying the WAL into the database and the fsync happen outside the write lock. It cut the
        # commit cost per event on the ingest path (docs/benchmarks.md).
        if file_db:
            private_file(Path(str(make_url(url).database)))  # 0600 when this call creates it
        self.engine = make_engine(url, autocheckpoint=not file_db)
        self.backend = self.engine.dialect.name
        self._tx: type[SqlTx] = SqliteTx if self.backend == "sqlite" else SqlTx
        if self.engine.dialect.driver == "psycopg":  # PostgresTx's binary placeholders (%b) are psycopg 3's
            self._tx = PostgresTx
        # Write transactions on a SQLite file all use one connection (they are serialised anyway): its page cache
        # stays warm between them. Taking any pooled connection, the writer got one whose cache the last write
        # on another connection had invalidated; a stored decision cost about three times as much (docs/benchmarks.md).
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
        trims the file to ``journal_size_limit``. (TRUNCATE here held the lock far longer per rewind, which cost
        ingestion a visible share of its throughput: docs/benchmarks.md.)
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
                yield self._tx(conn)
            return
        self._start_checkpointer()
        with self._writer(), self._write_engine.begin() as conn:
            yield self._tx(conn)

    @contextmanager
    def reader(self) -> Iterator[ServingReader]:
        """A read transaction for the serving path (``/v1/decide``, ``/v1/recommendations``): identities,
        profiles, segment memberships and first exposures.

        On a SQLite file it runs on a plain sqlite3 connection of this thread (read-only), not through
        SQLAlchemy: a pool checkout, begin, commit and reset cost several times the indexed reads themselves
        (docs/benchmarks.md). Elsewhere (PostgreSQL, in-memory SQLite) it is
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
            yield SqliteReader(conn)
            return
        conn.execute("BEGIN")
        try:
            yield SqliteReader(conn)
        finally:
            conn.execute("COMMIT")

    def migrate(self) -> None:
        from pertinent.storage.migrate import upgrade  # here: alembic is slow to import

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
