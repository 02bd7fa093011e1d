"""Which storage errors mean "the database is away for now" (a 503 the client retries) rather than a bug."""

from __future__ import annotations

import sqlite3

import sqlalchemy.exc as sa_exc

RETRY_AFTER_S = 5  # what a 503 asks clients to wait: a database restart or failover takes seconds


class Unavailable(Exception):
    """A store the write needs besides the database cannot be reached (the hot store's Redis, before a commit that
    writes identities: ``storage/hot.py``); nothing was stored."""


# sqlite3.OperationalError: the serving reader's own SQLite connection (not wrapped by SQLAlchemy): a file that
# cannot be opened or read, a lock held too long, a disk I/O error
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    sqlite3.OperationalError,
    Unavailable,
)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is the database being unreachable, restarting, out of connections
    or locked: the request may succeed if retried, and nothing of it was stored.

    >>> import sqlalchemy.exc as e
    >>> is_unavailable(e.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused")))
    True
    >>> is_unavailable(sqlite3.OperationalError("unable to open database file"))
    True
    >>> is_unavailable(ValueError("a bug")), is_unavailable(e.IntegrityError("INSERT", {}, Exception("dup")))
    (False, False)
    """
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, _UNAVAILABLE):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False
