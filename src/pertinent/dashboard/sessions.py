"""Dashboard sessions kept in the database, so that logging out ends a session for every server process
sharing the database, and a copied cookie stops working with it.

A session is a random id (256 bits) held by the browser in the signed cookie (:mod:`.auth`). The database
keeps only its SHA-256 (never the id itself) as a document of kind ``dashboard_session`` with its expiry:
a stolen database copy opens no session. A session is open while its document exists and has not expired;
logging out deletes it; an expired one met on a request is deleted then, and each login sweeps up to
``SWEEP`` other expired ones (sessions whose cookie was simply thrown away).

>>> from pertinent.storage.sql import SqlStore
>>> store = SqlStore("sqlite://"); store.migrate()
>>> now = [1000.0]
>>> sessions = Sessions(store, ttl_s=60.0, clock=lambda: now[0])
>>> sid = sessions.open("10.0.0.1")
>>> sessions.is_open(sid), sessions.is_open("another id")
(True, False)
>>> sessions.close(sid), sessions.is_open(sid)
(True, False)
>>> sid = sessions.open("10.0.0.1"); now[0] += 61.0
>>> sessions.is_open(sid)
False
>>> store.close()
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pertinent.storage.base import Store

KIND = "dashboard_session"
SWEEP = 100  # expired sessions deleted at each login, at most


def session_key(sid: str) -> str:
    """The id a session is stored under: the SHA-256 of its id (the id itself is never stored).

    >>> session_key("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(sid.encode()).hexdigest()


class Sessions:
    """Open, check and close dashboard sessions (see the module docstring)."""

    def __init__(self, store: Store, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock

    def open(self, client: str) -> str:
        """A new session for ``client`` (its address, kept for the record); returns its id."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        body = {"created_at": now, "expires_at": now + self.ttl_s, "client": client[:100]}
        with self.store.transaction() as tx:
            swept = 0
            for doc in tx.list_documents(KIND):
                if swept >= SWEEP:
                    break
                if _expired(doc.body, now):
                    tx.delete_document(KIND, doc.doc_id, now)
                    swept += 1
            tx.put_document(KIND, session_key(sid), body, now)
        return sid

    def is_open(self, sid: str) -> bool:
        """Whether the session exists and has not expired; an expired one is deleted."""
        key, now = session_key(sid), self.clock()
        with self.store.transaction(write=False) as tx:
            doc = tx.get_document(KIND, key)
        if doc is None:
            return False
        if not _expired(doc.body, now):
            return True
        with self.store.transaction() as tx:
            tx.delete_document(KIND, key, now)
        return False

    def close(self, sid: str) -> bool:
        """End the session (logout); False when it was not open."""
        with self.store.transaction() as tx:
            return tx.delete_document(KIND, session_key(sid), self.clock())


def _expired(body: dict[str, object] | None, now: float) -> bool:
    expires = (body or {}).get("expires_at")
    return not isinstance(expires, int | float) or expires <= now
