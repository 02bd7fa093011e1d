"""The hot store's write side (``storage/hot.py``): Redis as its writes reach it, and what a write transaction
tells Redis.

:class:`HotBase` holds the client, the Lua scripts of ``hot_keys.py`` (queued on pipelines by their SHA and loaded
again when Redis has lost them) and whether Redis answers: after a failure the serving reads go to SQL for
``retry_s`` seconds. :class:`HotTx` wraps a backend transaction and notes which decision inputs its writes touch,
whichever service makes them; :class:`HotWrites` tells Redis: before the commit the identity directory's bits of
the identities written are set and the touched keys deleted (the transaction is refused with a 503 when Redis cannot
be told), after it the committed profiles, identities and membership sets are written (write-through) and the
profile ids it minted are marked as having nothing in SQL yet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, cast

from pertinent.storage import hot_directory as hd
from pertinent.storage import hot_keys as hk
from pertinent.storage.availability import Unavailable
from pertinent.storage.base import DecisionRow, IdentityRow, MembershipChange, ProfileRow, Store, Tx

log = logging.getLogger("pertinent.storage.hot")
REFUSED = "the hot store (Redis) cannot be reached: decision inputs are not changed without it"


class HotBase:
    """Redis as the hot store's reads and writes reach it: the client, the scripts, whether it answers."""

    def __init__(self, inner: Store, client: Any, ttl_s: float = 3600.0, retry_s: float = 2.0) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.client = client
        self.ttl = max(1, int(ttl_s))
        self.retry_s = retry_s
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._read = client.register_script(hk.READ)
        self._fill = client.register_script(hk.FILL)
        self._drop = client.register_script(hk.DROP)
        self._expose = client.register_script(hk.EXPOSE)
        self.directory = hd.Directory(client, getattr(inner, "engine", None), self.ttl)

    # -- Redis availability ---------------------------------------------------------------------------------------
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, what: str) -> None:
        """Redis did not answer: serve from SQL alone for ``retry_s`` seconds."""
        with self._lock:
            if self.available():
                log.warning("hot store: Redis unreachable (%s); serving from SQL for %.0fs", what, self.retry_s)
            self._down_until = time.monotonic() + self.retry_s

    # -- scripts on pipelines -----------------------------------------------------------------------------------------
    def _queue(self, pipe: Any, script: Any, keys: list[Any], args: list[Any]) -> None:
        """Queue a script by its SHA only: a registered script called on a pipeline makes redis-py send ``SCRIPT
        EXISTS`` first, a round trip of its own on every pipeline (:meth:`_execute` loads them when Redis lost
        them)."""
        pipe.evalsha(script.sha, len(keys), *keys, *args)

    def _execute(self, queue: Any) -> list[Any]:
        """Run the commands ``queue`` puts on a new pipeline: one round trip. When Redis answers ``NOSCRIPT`` (it
        restarted, or its script cache was flushed) the scripts are loaded and the pipeline sent again: every
        command of the write side can run twice (deletes, SETs, bits, scripts that keep the earliest value)."""
        from redis.exceptions import NoScriptError

        for attempt in (1, 2):
            pipe = self.client.pipeline(transaction=False)
            queue(pipe)
            try:
                return cast(list[Any], pipe.execute())
            except NoScriptError:
                if attempt == 2:
                    raise
                for script in (self._drop, self._fill, self._expose):
                    script.sha = self.client.script_load(script.script)
        raise AssertionError("unreachable")


class HotWrites(HotBase):
    """What a write transaction (:class:`HotTx`) tells Redis, before and after its commit."""

    def _invalidate(self, hot: HotTx) -> None:
        """Before the commit: the identity directory's bits of the identities written, then the touched keys
        deleted. When Redis cannot be told, the transaction is refused (503, the client retries): committed, it
        would leave Redis serving what it replaced once Redis is back (a withdrawn consent, an erased person's
        profile, an identity in SQL without its directory bits served as unknown) until the keys expire. Redis is
        tried even during the readers' back-off: a read that timed out under load must not refuse writes for 2 s."""
        if hot.empty():
            return
        ids = hot.identity_keys()

        def queue(pipe: Any) -> None:
            hd.add(pipe, ids)  # before the deletes: a reader never finds an identity's key gone and its bits clear
            for pid in hot.gone:
                self._queue(pipe, self._drop, [], [hk.PREFIX, pid, hk.TOMBSTONE_S, *hot.gone[pid]])
            for pid in hot.dropped:
                self._queue(pipe, self._drop, [], [hk.PREFIX, pid, 0])
            keys = [hk.k_profile(p) for p in hot.profiles] + [hk.k_id(k) for k in hot.identities]
            keys += [hk.k_id(k) for k in hot.renamed]
            keys += [hk.k_segments(p) for p in hot.segments] + [hk.k_exposures(p) for p in hot.exposures]
            keys += [hk.k_segments(p) for p in hot.segment_sets]  # set again after the commit; if this node dies
            if keys:  # first, the next read fills them from SQL
                pipe.delete(*keys)

        try:
            self._execute(queue)
        except Exception as exc:
            self.failed("invalidation before a commit")
            raise Unavailable(REFUSED) from exc

    def _write_through(self, hot: HotTx) -> None:
        if hot.empty() or not self.available():
            return

        def queue(pipe: Any) -> None:
            for pid in hot.gone:  # again after the commit: a read that began before it may have filled them
                self._queue(pipe, self._drop, [], [hk.PREFIX, pid, hk.TOMBSTONE_S, *hot.gone[pid]])
            for pid in hot.dropped:
                self._queue(pipe, self._drop, [], [hk.PREFIX, pid, 0])
            for pid, row in hot.profiles.items():
                if pid not in hot.gone:
                    pipe.set(hk.k_profile(pid), hk.enc_profile(row), ex=self.ttl)
            hd.add(pipe, hot.identity_keys())  # again: a directory rebuilt during the commit may lack them
            for ident in hot.identities.values():
                if ident.profile_id not in hot.gone and ident.profile_id not in hot.dropped:
                    pipe.set(hk.k_id(ident.key), hk.enc_identity(ident), ex=self.ttl)
                    pipe.sadd(hk.k_ids(ident.profile_id), ident.key)
                    pipe.expire(hk.k_ids(ident.profile_id), self.ttl)
            for pid, segments in hot.segment_sets.items():  # the whole set, read in the transaction
                if pid not in hot.gone and pid not in hot.dropped and pid not in hot.segments:
                    pipe.set(hk.k_segments(pid), hk.enc_segments(segments), ex=self.ttl)
            keys = [hk.k_segments(p) for p in hot.segments] + [hk.k_exposures(p) for p in hot.exposures]
            if keys:
                pipe.delete(*keys)
            self._minted(pipe, hot)
            for pid, first in hot.exposed.items():  # replaces the readers' "no exposure yet" values
                if pid not in hot.gone and pid not in hot.dropped and pid not in hot.exposures:
                    args: list[Any] = [self.ttl]
                    for experiment, exposure in first.items():
                        args += [experiment, hk.enc_exposure(exposure), repr(exposure.at)]
                    self._queue(pipe, self._expose, [hk.k_gone(pid), hk.k_exposures(pid)], args)

        try:
            self._execute(queue)
        except Exception:
            self.failed("write-through after a commit")

    def _minted(self, pipe: Any, hot: HotTx) -> None:
        """Profile ids minted by this transaction have nothing in SQL but what it wrote: no memberships, no
        exposures, maybe no profile row (an identity the decision writer created): say so in Redis, so that the
        person's first decision reads nothing from SQL. Set only where absent (a write-through of a change made
        meanwhile wins), refused by a tombstone; believed for ``NEGATIVE_S`` where they say "none"."""
        until = hk.enc_no_exposure(time.time() + hk.NEGATIVE_S)
        for pid in hot.minted():
            if pid in hot.gone or pid in hot.dropped:
                continue
            items: list[Any] = [self.ttl, "s", hk.enc_segments({}), "", "x", hk.ALL, until]
            keys = [hk.k_gone(pid), hk.k_segments(pid), hk.k_exposures(pid)]
            if pid not in hot.profiles:
                items += ["n", b"", min(self.ttl, hk.NEGATIVE_S)]
                keys.append(hk.k_profile(pid))
            self._queue(pipe, self._fill, keys, items)


class HotTx:
    """A backend transaction that notes which decision inputs its writes touch (everything else passes through)."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.profiles: dict[str, ProfileRow] = {}
        self.identities: dict[str, IdentityRow] = {}
        self.renamed: set[str] = set()
        self.segments: set[str] = set()
        self.exposures: set[str] = set()
        self.exposed: dict[str, dict[str, DecisionRow]] = {}  # profile -> experiment -> earliest decision written
        self.dropped: set[str] = set()  # profiles whose identities moved away: every key dropped, no tombstone
        self.gone: dict[str, list[str]] = {}  # erased/deleted profiles -> their identity keys
        self.segment_sets: dict[str, dict[str, float]] = {}  # profiles whose memberships changed -> all of them
        self._looked_up: set[str] = set()  # identity keys this transaction asked SQL for (found or not)
        self._found: set[str] = set()  # ... and those SQL had
        self._merged_into: set[str] = set()  # profiles that received another's identities (and all else)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    def empty(self) -> bool:
        return (
            not (self.profiles or self.identities or self.renamed or self.segments or self.exposures or self.dropped)
            and not self.gone
            and not self.exposed
            and not self.segment_sets
        )

    def identity_keys(self) -> list[str]:
        """The identity keys this transaction writes (their directory bits are set before its commit)."""
        return [*self.identities, *self.renamed]

    def minted(self) -> list[str]:
        """Profile ids created by this transaction: an identity written with its own key as profile id (how
        ``IdentityResolver`` and the decision writer mint one) after this transaction found the key absent."""
        return [
            key
            for key, row in self.identities.items()
            if row.profile_id == key
            and key in self._looked_up
            and key not in self._found
            and key not in self._merged_into  # a new user who brought an anonymous history with them
        ]

    def get_identities(self, keys: Iterable[str]) -> dict[str, IdentityRow]:
        keys = list(keys)
        found = self._tx.get_identities(keys)
        self._looked_up.update(keys)
        self._found.update(found)
        return found

    def put_profiles(self, rows: Sequence[ProfileRow]) -> None:
        self._tx.put_profiles(rows)
        for row in rows:
            self.profiles[row.profile_id] = row

    def delete_profile(self, profile_id: str) -> None:
        self._tx.delete_profile(profile_id)
        self.profiles.pop(profile_id, None)
        self.gone.setdefault(profile_id, [])

    def erase_profile(self, profile_id: str) -> dict[str, int]:
        keys = [i.key for i in self._tx.identities_of(profile_id)]
        counts = self._tx.erase_profile(profile_id)
        self.profiles.pop(profile_id, None)
        for key in keys:
            self.identities.pop(key, None)
        self.gone[profile_id] = keys
        return counts

    def put_identities(self, rows: Sequence[IdentityRow]) -> None:
        self._tx.put_identities(rows)
        for row in rows:
            self.identities[row.key] = row

    def repoint_identities(self, from_profile: str, to_profile: str) -> None:
        self._tx.repoint_identities(from_profile, to_profile)
        self.dropped.add(from_profile)
        self._merged_into.add(to_profile)
        for key, row in list(self.identities.items()):
            if row.profile_id == from_profile:
                self.identities[key] = IdentityRow(key, row.kind, to_profile, row.created_at)

    def rename_identity(self, old_key: str, new_key: str) -> None:
        self._tx.rename_identity(old_key, new_key)
        self.renamed.update((old_key, new_key))
        self.identities.pop(old_key, None)

    def apply_membership_changes(self, changes: Sequence[MembershipChange]) -> list[MembershipChange]:
        """Apply, then read the changed profiles' whole membership sets in this transaction (its own changes
        included) for the write-through: the next decision finds them in Redis."""
        applied = self._tx.apply_membership_changes(changes)
        pids = list(dict.fromkeys(c.profile_id for c in applied))
        if pids:
            current = self._tx.segments_of(pids)
            for pid in pids:
                self.segment_sets[pid] = current.get(pid, {})
        return applied

    def merge_segment_members(self, source: str, target: str, at: float) -> None:
        self._tx.merge_segment_members(source, target, at)
        self.segments.update((source, target))

    def clear_segment(self, segment_id: str) -> int:
        after: str | None = None
        while page := self._tx.segment_members(segment_id, after=after, limit=1000):
            self.segments.update(pid for pid, _ in page)
            after = page[-1][0]
        return self._tx.clear_segment(segment_id)

    def insert_decisions(self, rows: Sequence[DecisionRow]) -> None:
        self._tx.insert_decisions(rows)
        for row in rows:
            if row.experiment is not None:
                first = self.exposed.setdefault(row.profile_id, {})
                seen = first.get(row.experiment)
                if seen is None or (row.at, row.decision_id) < (seen.at, seen.decision_id):
                    first[row.experiment] = row

    def repoint_decisions(self, from_profile: str, to_profile: str) -> None:
        self._tx.repoint_decisions(from_profile, to_profile)
        self.exposures.update((from_profile, to_profile))
