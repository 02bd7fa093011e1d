"""The identity directory of the hot store: a Bloom filter in Redis of every identity key SQL holds, so that the
first request of a new visitor learns "unknown" from Redis instead of a SQL read.

One Redis bitmap, ``pertinent:hot:known`` (``BITS`` bits, 16 MiB). An identity key sets ``K`` bits, taken from a
hash of the key (:func:`positions`); bit 0 says the filter is **complete**: it was built from a scan of the
``identities`` table, and every identity written since set its bits. A key with one of its bits clear is then
certainly not in SQL; a key with all its bits set may be (about 0.2% of unknown keys at 10M identities: those
are read from SQL, as before).

How it stays complete (``storage/hot.py`` does the writing):

* every transaction that writes identities sets their bits **before its commit** (and again after it); when Redis
  cannot be reached then, the transaction is refused (a 503 the client retries), so no identity can reach SQL
  without its bits — collection answers 503 while Redis is away, as issue 15 asks;
* the build (:meth:`Directory.build`, in a background thread of whichever node first finds the filter incomplete,
  one at a time across the cluster by a Redis lock) sets the bits of every identity in SQL, then bit 0, then the
  key's TTL (``hot_store_ttl_s``): identities committed meanwhile set their own bits, so the scan may miss them;
* when the key is lost (Redis restarted, evicted, expired), bit 0 goes with it and serving reads SQL again until the
  next build. The TTL also bounds what an identity written behind Redis's back (a process without
  ``PERTINENT_REDIS_URL`` writing to the same database) can hide, and drops the bits of erased identities.

Nothing personal is stored: bits shared by many pseudonymous keys, no key itself.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
import time
from typing import Any

from sqlalchemy import select

log = logging.getLogger("pertinent.storage.hot")

KEY = "pertinent:hot:known"
LOCK = "pertinent:hot:known:build"
BITS = 1 << 27  # 16 MiB: ~0.2% false positives at 10M identities, ~5% at 20M (with K = 7)
K = 7
PAGE = 5000
LOCK_S = 30  # the build's lock, renewed after every page: a builder that died frees it within this time

RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('EXPIRE', KEYS[1], ARGV[2])
"""

# Mark the filter complete only while this build still holds the lock: a Redis restart during the scan loses the
# lock with the bits set so far, and must not leave a partial filter marked complete.
FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SETBIT', KEYS[2], 0, 1)
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


def positions(key: str) -> list[int]:
    """The ``K`` bits of an identity key (never bit 0, the completeness flag): double hashing of a BLAKE2b digest.

    >>> p = positions("u_abc")
    >>> len(p), all(0 < b < BITS for b in p), p == positions("u_abc"), p != positions("u_abd")
    (7, True, True, True)
    """
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    h1, h2 = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1
    return [1 + (h1 + i * h2) % (BITS - 1) for i in range(K)]


# Set the bits packed in ARGV[1] (little-endian 32-bit positions) in KEYS[1]: one argument per page of keys, not
# four per bit (``BITFIELD ... SET u1 <bit> 1``), whose packing by redis-py cost more than the rest of an ingest
# transaction's Redis writes (docs/benchmarks.md). Sent with EVAL (the script's text), so that nothing depends on
# Redis's script cache.
SET_BITS = """
local s = ARGV[1]
for i = 1, #s, 4 do redis.call('SETBIT', KEYS[1], struct.unpack('<I4', s, i), 1) end
return #s / 4
"""


def packed(keys: Any) -> bytes:
    """The bit positions of ``keys``, as ``SET_BITS`` reads them.

    >>> import struct
    >>> list(struct.unpack("<7I", packed(["u_abc"]))) == positions("u_abc")
    True
    """
    bits = [bit for key in keys for bit in positions(key)]
    return struct.pack(f"<{len(bits)}I", *bits)


def add(pipe: Any, keys: Any, chunk: int = 500) -> None:
    """Queue the bits of ``keys`` on a Redis pipeline: one ``SET_BITS`` call per ``chunk`` keys."""
    keys = list(keys)
    for i in range(0, len(keys), chunk):
        pipe.eval(SET_BITS, 1, KEY, packed(keys[i : i + chunk]))


class Directory:
    """Builds the filter in the background when a reader finds it incomplete (at most one build per process at a
    time, one across the cluster by ``LOCK``, and at most one attempt per ``retry_s`` per process)."""

    def __init__(self, client: Any, engine: Any, ttl_s: int, retry_s: float = 10.0) -> None:
        self.client = client
        self.engine = engine  # the SQL store's engine: the identities scanned
        self.ttl = ttl_s
        self.retry_s = retry_s
        self._next_try = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def incomplete(self) -> None:
        """A reader saw bit 0 clear: start a build unless one runs here or was tried lately."""
        now = time.monotonic()
        if now < self._next_try or self.engine is None:
            return
        with self._lock:
            if now < self._next_try or (self._thread is not None and self._thread.is_alive()):
                return
            self._next_try = now + self.retry_s
            self._thread = threading.Thread(target=self._build_quietly, name="pertinent-hot-directory", daemon=True)
            self._thread.start()

    def _build_quietly(self) -> None:
        try:
            self.build()
        except Exception:
            log.exception("hot store: building the identity directory failed; serving reads SQL for unknown ids")

    def build(self) -> bool:
        """Scan every identity key into the filter and mark it complete; False when another process builds it."""
        token = f"{time.time()}-{threading.get_ident()}"
        if not self.client.set(LOCK, token, nx=True, ex=LOCK_S):
            return False
        try:
            from pertinent.storage.tables import identities

            started, after, n = time.monotonic(), "", 0
            while True:
                q = select(identities.c.key).where(identities.c.key > after).order_by(identities.c.key).limit(PAGE)
                with self.engine.connect() as conn:
                    keys = [r[0] for r in conn.execute(q)]
                if not keys:
                    break
                pipe = self.client.pipeline(transaction=False)
                add(pipe, keys)
                pipe.eval(RENEW, 1, LOCK, token, LOCK_S)
                if not pipe.execute()[-1]:
                    log.warning("hot store: the identity directory's build lost its lock; stopped")
                    return False
                n, after = n + len(keys), keys[-1]
            if not self.client.eval(FINISH, 2, LOCK, KEY, token, self.ttl):
                log.warning("hot store: the identity directory's build lost its lock (Redis restarted?); not marked")
                return False
            log.info("hot store: identity directory built (%d keys, %.1fs)", n, time.monotonic() - started)
            return True
        finally:
            if self.client.get(LOCK) == token.encode():
                self.client.delete(LOCK)
