"""The package's one cache with expiry: :class:`TTLCache` (keyed values) and :class:`Refreshing` (one value
that is reloaded when it expires, in the background once a first value exists).

Serving code reads a value that is at most ``ttl_s`` old, or the previous value while a background reload runs:
no request waits for a reload except the very first one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("pertinent.cache")

T = TypeVar("T")


class TTLCache(Generic[T]):
    """Values by key for ``ttl_s`` seconds (at most ``size`` entries; the oldest go first).

    >>> cache: TTLCache[str] = TTLCache(ttl_s=30.0, clock=lambda: 100.0)
    >>> cache.get("k") is None, cache.put("k", "page"), cache.get("k")
    (True, None, 'page')
    >>> cache.get_or_compute("n", lambda: "computed"), cache.get_or_compute("n", lambda: "again")
    ('computed', 'computed')
    """

    def __init__(self, ttl_s: float, size: int = 16, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() - entry[0] > self.ttl_s:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self.clock(), value)
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value, or ``compute()`` stored under ``key`` (two callers may both compute: last wins)."""
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Refreshing(Generic[T]):
    """One value from ``load()``, reloaded when older than ``ttl_s`` seconds.

    The first :meth:`get` loads it in the caller (concurrent first callers wait for that one load); later an
    expired value is still returned while a daemon thread reloads it (one reload at a time; a failed reload
    is logged and the old value kept, and the next one is not tried before ``retry_s`` seconds: while the
    database is away, requests keep the old value without starting a reload each). :meth:`invalidate` makes the
    next :meth:`get` reload in the caller.

    >>> calls = []
    >>> r = Refreshing(lambda: calls.append(1) or len(calls), ttl_s=60.0, name="demo")
    >>> r.get(), r.get(), r.peek()
    (1, 1, 1)
    >>> r.invalidate(); r.get()
    2
    """

    def __init__(
        self, load: Callable[[], T], ttl_s: float, name: str = "value", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.load = load
        self.ttl_s = ttl_s
        self.name = name
        self.clock = clock
        self._entry: tuple[float, T] | None = None
        self._load_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self.retry_s = 5.0
        self._failed_at = float("-inf")

    def get(self) -> T:
        entry = self._entry
        if entry is None:
            with self._load_lock:
                entry = self._entry
                if entry is None:
                    return self._reload()
                return entry[1]
        now = self.clock()
        if now - entry[0] >= self.ttl_s and now - self._failed_at >= self.retry_s:
            self.refresh_in_background()
        return entry[1]

    def peek(self) -> T | None:
        """The current value without loading or refreshing (None before the first load)."""
        entry = self._entry
        return None if entry is None else entry[1]

    def set(self, value: T) -> None:
        """Store a value computed elsewhere (it counts as fresh)."""
        self._entry = (self.clock(), value)

    def touch(self) -> None:
        """Mark the current value fresh again (a reload found nothing new)."""
        entry = self._entry
        if entry is not None:
            self._entry = (self.clock(), entry[1])

    def invalidate(self) -> None:
        self._entry = None

    def _reload(self) -> T:
        value = self.load()
        self._entry = (self.clock(), value)
        return value

    def refresh_in_background(self) -> None:
        """Reload in a daemon thread unless a reload is already running."""
        with self._thread_lock:
            if self._thread is not None and self._thread.is_alive():
                return

            def guarded() -> None:
                try:
                    with self._load_lock:
                        self._reload()
                except Exception as exc:  # keep serving the old value; try again after ``retry_s``
                    self._failed_at = self.clock()
                    log.exception("background refresh of the %s failed: %s", self.name, exc.__class__.__name__)

            self._thread = threading.Thread(target=guarded, name=f"pertinent-{self.name}", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running background reload (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
