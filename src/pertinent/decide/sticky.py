"""First exposures not stored yet, so that assignment is sticky from a unit's very first decision.

Decisions are written by a background thread every ``writer_interval_s`` (``log.py``); until then storage
does not know a unit's first exposure. ``/v1/decide?anonymous_id=A``, then ``identify A -> U``, then
``/v1/decide?user_id=U`` within that time would hash the user id afresh and could show another variant.
:class:`PendingExposures` remembers each new assignment in memory, filed under the request's pseudonymised
identity keys and its profile id, until it has been written (and ``grace_s`` more); serving consults it when
storage has no first exposure. When ingestion links identities (an ``identify`` or ``alias``, or a merge of
profiles), ``link`` files the unwritten exposures of the linked identities under their profile as well, before
the ingesting request is answered.

Within one server process. With several processes, a decision made by one and an identify handled by another
within ``writer_interval_s`` can still miss each other (docs/experiments.md).

>>> p = PendingExposures()
>>> p.add(["a_anon", "a_anon"], "hero", "b", 0, "d1")
>>> p.get(["u_user"], "hero") is None, p.get(["a_anon"], "hero").variant
(True, 'b')
>>> p.link({"a_anon": "u_user"}); p.get(["u_user"], "hero").variant
'b'
>>> p.written(["d1"], now=0.0); p.sweep(now=10.0); p.get(["u_user"], "hero") is None
True
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class PendingExposure:
    """One unit's first assignment to an experiment, not yet stored (or stored less than ``grace_s`` ago)."""

    experiment: str
    variant: str
    bucket_version: int
    decision_id: str
    keys: set[str] = field(default_factory=set)  # identity keys and profile ids it is filed under
    written: bool = False


class PendingExposures:
    """First exposures by identity key or profile id (thread-safe; see the module docstring)."""

    def __init__(self, grace_s: float = 5.0, max_size: int = 400_000) -> None:
        self.grace_s = grace_s
        self.max_size = max_size
        self._lock = threading.Lock()
        self._by_key: dict[str, dict[str, PendingExposure]] = {}
        self._by_decision: dict[str, PendingExposure] = {}
        self._written: deque[tuple[float, PendingExposure]] = deque()

    def __len__(self) -> int:
        return len(self._by_decision)

    def get(self, keys: Iterable[str], experiment: str) -> PendingExposure | None:
        """The first pending exposure to ``experiment`` filed under any of ``keys``."""
        if not self._by_key:  # the common case when nothing is pending: no lock
            return None
        with self._lock:
            for key in keys:
                found = self._by_key.get(key, {}).get(experiment)
                if found is not None:
                    return found
        return None

    def add(self, keys: Iterable[str], experiment: str, variant: str, bucket_version: int, decision_id: str) -> None:
        """Remember a new assignment, filed under each key that has none for the experiment yet."""
        entry = PendingExposure(experiment, variant, bucket_version, decision_id)
        with self._lock:
            if len(self._by_decision) >= self.max_size:
                self._evict()
            self._by_decision[decision_id] = entry
            for key in keys:
                self._file(entry, key)

    def _file(self, entry: PendingExposure, key: str) -> None:
        filed = self._by_key.setdefault(key, {})
        if entry.experiment not in filed:
            filed[entry.experiment] = entry
            entry.keys.add(key)

    def _drop(self, entry: PendingExposure) -> None:
        self._by_decision.pop(entry.decision_id, None)
        for key in entry.keys:
            filed = self._by_key.get(key)
            if filed is not None and filed.get(entry.experiment) is entry:
                del filed[entry.experiment]
                if not filed:
                    del self._by_key[key]

    def _evict(self) -> None:
        """Full (storage down for long): drop the oldest tenth."""
        for entry in list(self._by_decision.values())[: max(1, self.max_size // 10)]:
            self._drop(entry)

    def written(self, decision_ids: Iterable[str], now: float | None = None) -> None:
        """The writer stored (or dropped) these decisions: their entries go ``grace_s`` later, once every read
        that began before the write has ended."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for decision_id in decision_ids:
                entry = self._by_decision.get(decision_id)
                if entry is not None and not entry.written:
                    entry.written = True
                    self._written.append((now, entry))
        self.sweep(now)

    def sweep(self, now: float | None = None) -> None:
        """Forget entries written more than ``grace_s`` ago."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._written and self._written[0][0] <= now - self.grace_s:
                self._drop(self._written.popleft()[1])

    def unwritten_keys(self) -> set[str]:
        """Identity keys and profile ids of the entries not stored yet."""
        with self._lock:
            return {key for entry in self._by_decision.values() if not entry.written for key in entry.keys}

    def link(self, profiles: Mapping[str, str]) -> None:
        """Identities now belong to these profiles (key -> profile id): file their unwritten entries under the
        profile as well."""
        with self._lock:
            for key, profile_id in profiles.items():
                for entry in list(self._by_key.get(key, {}).values()):
                    if not entry.written:
                        self._file(entry, profile_id)

    def forget(self, profile_id: str) -> None:
        """Erasure: every entry filed under the profile, under whichever key."""
        with self._lock:
            for entry in list(self._by_key.get(profile_id, {}).values()):
                self._drop(entry)
