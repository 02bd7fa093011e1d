"""The hot store: the decision inputs of ``/v1/decide`` and ``/v1/recommendations`` in Redis, in front of SQL.

:class:`HotStore` wraps a :class:`pertinent.storage.base.Store` (``PERTINENT_REDIS_URL`` with
``hot_store_ttl_s > 0``). Its ``reader()`` answers the four serving reads (identities, profiles, segment
memberships, first exposures) from Redis: the identities with their profiles and segments come back in one round
trip (a Lua script), a miss is read from SQL and filled in (read-through), and when Redis cannot be reached the
reads go to SQL for a couple of seconds before Redis is tried again: serving never fails because Redis is away.

Its ``transaction()`` hands out the backend's transaction wrapped so that every write of a decision input is
noticed, whichever service makes it (ingestion, identity merges, consent, segment evaluation, erasure): before
the commit the touched keys are deleted, after it the committed profiles and identities are written
(write-through) and memberships and exposures are left to the next read to fill. Every key expires after the
TTL, which bounds what a missed write can leave stale (a node dying between its commit and its Redis write, or
Redis unreachable at that moment). docs/architecture.md has the consistency model; ``hot_keys.py`` the layout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, cast

from pertinent.errors import DomainError
from pertinent.storage import hot_directory as hd
from pertinent.storage import hot_keys as hk
from pertinent.storage.availability import RETRY_AFTER_S, Unavailable
from pertinent.storage.base import DecisionRow, IdentityRow, MembershipChange, ProfileRow, Store, Tx
from pertinent.storage.protocols import ServingReader

log = logging.getLogger("pertinent.storage.hot")
REFUSED = "the hot store (Redis) cannot be reached: decision inputs are not changed without it"


class HotStore:
    """A :class:`Store` whose serving reads come from Redis (see the module docstring)."""

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

    # -- the Store protocol -------------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:  # engine, url, checkpoint...: the backend's own
        return getattr(self.inner, name)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        if not write:
            with self.inner.transaction(write=False) as tx:
                yield tx
            return
        with self.inner.transaction(write=True) as tx:
            hot = HotTx(tx)
            yield cast(Tx, hot)
            self._invalidate(hot)  # before the commit: no reader keeps the old values past it
        self._write_through(hot)

    @contextmanager
    def reader(self) -> Iterator[ServingReader]:
        with ExitStack() as stack:
            yield HotReader(self, stack)

    def migrate(self) -> None:
        self.inner.migrate()

    def purge_deleted(self) -> None:
        self.inner.purge_deleted()

    def close(self) -> None:
        self.inner.close()

    # -- Redis availability ---------------------------------------------------------------------------------------
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, what: str) -> None:
        """Redis did not answer: serve from SQL alone for ``retry_s`` seconds."""
        with self._lock:
            if self.available():
                log.warning("hot store: Redis unreachable (%s); serving from SQL for %.0fs", what, self.retry_s)
            self._down_until = time.monotonic() + self.retry_s

    # -- privacy (DerivedStore: export and erasure) ----------------------------------------------------------------
    def user_rows(self, profile_id: str) -> list[dict[str, Any]]:
        """What Redis holds about the profile: one row per key, decoded, with the seconds it has left."""
        c, pid = self.client, profile_id
        out: list[dict[str, Any]] = []

        def entry(key: str, name: str, value: Any) -> None:
            out.append({"key": key, "ttl_s": c.ttl(key), name: _plain(value)})

        id_keys = sorted(hk.text(k) for k in c.smembers(hk.k_ids(pid)))
        for key in id_keys:
            if raw := c.get(hk.k_id(key)):
                entry(hk.k_id(key), "identity", hk.dec_identity(key, raw))
        if id_keys:
            entry(hk.k_ids(pid), "identity_keys", id_keys)
        if raw := c.get(hk.k_profile(pid)):  # empty: "no profile row", nothing about the person
            entry(hk.k_profile(pid), "profile", hk.dec_profile(pid, raw))
        if (raw := c.get(hk.k_segments(pid))) is not None:
            entry(hk.k_segments(pid), "segments", hk.dec_segments(raw))
        if exposures := c.hgetall(hk.k_exposures(pid)):
            rows = {  # None: "no exposure yet", as last read from SQL
                hk.text(e): None if hk.no_exposure_until(v) is not None else hk.dec_exposure(pid, hk.text(e), v)
                for e, v in sorted(exposures.items())
            }
            entry(hk.k_exposures(pid), "first_exposures", rows)
        return out

    def forget_user(self, profile_id: str, identity_keys: Sequence[str] = ()) -> int:
        """Delete every key of the profile (and these identity keys) and refuse fills of it for a minute; return
        how many keys went. Raises a 503 (Retry-After) when Redis cannot be reached: the erasure that calls it
        rolls back and is retried, rather than leaving personal data in Redis unaccounted for."""
        try:
            return int(self._drop(args=[hk.PREFIX, profile_id, hk.TOMBSTONE_S, *identity_keys]))
        except Exception as exc:
            self.failed("erasure")
            raise DomainError(
                [{"field": "redis", "message": "the hot store (Redis) cannot be reached; retry"}],
                status=503,
                code="unavailable",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from exc

    def forget_erased(self, profile_id: str) -> None:
        """Bus handler (``profile.erased``): drop the profile's keys again, after the erasure committed."""
        if profile_id:
            try:
                self.forget_user(profile_id)
            except DomainError:
                pass  # logged by failed(); the keys expire with their TTL

    # -- the write side -----------------------------------------------------------------------------------------------
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

    # -- read-through fills ------------------------------------------------------------------------------------
    def fill_absent(self, identity_keys: Sequence[str]) -> None:
        """Remember identities SQL does not know (new visitors) for a few minutes; the write-through of their
        first event replaces the empty value (SET NX: never over a value written meanwhile)."""
        if not identity_keys or not self.available():
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for key in identity_keys:
                pipe.set(hk.k_id(key), b"", nx=True, ex=min(self.ttl, hk.NEGATIVE_S))
            pipe.execute()
        except Exception:
            self.failed("read-through fill")

    def fill(self, groups: dict[str, list[tuple[str, str, bytes | str, bytes | str]]]) -> None:
        """Fill keys absent from Redis: profile id -> [(key, op, a, b)], refused where the profile's tombstone is."""
        if not groups or not self.available():
            return

        def queue(pipe: Any) -> None:
            for pid, items in groups.items():
                args: list[Any] = [self.ttl]
                for _key, op, a, b in items:
                    args += [op, a, b]
                self._queue(pipe, self._fill, [hk.k_gone(pid), *(i[0] for i in items)], args)

        try:
            self._execute(queue)  # by SHA: no SCRIPT EXISTS round trip before the fill
        except Exception:
            self.failed("read-through fill")


def _plain(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


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


class HotReader:
    """The serving reads of one request: Redis first (the identities with their profiles, segments and exposures in
    one round trip), SQL (one reader, opened on the first miss) for the rest."""

    def __init__(self, hot: HotStore, stack: ExitStack) -> None:
        self.hot = hot
        self._stack = stack
        self._sql_reader: ServingReader | None = None
        # prefetched with the identities (None: not in Redis; b"": known to have no profile row)
        self._profiles: dict[str, bytes | None] = {}
        self._segments: dict[str, bytes | None] = {}
        self._exposures: dict[str, dict[str, bytes]] = {}  # the profile's whole x: hash ({}: none in Redis)

    def _sql(self) -> ServingReader:
        if self._sql_reader is None:
            self._sql_reader = self._stack.enter_context(self.hot.inner.reader())
        return self._sql_reader

    def get_identities(self, keys: Iterable[str]) -> dict[str, IdentityRow]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        if not self.hot.available():
            return self._sql().get_identities(wanted)
        args: list[Any] = [hk.PREFIX, hd.KEY, hd.K]
        for key in wanted:
            args += hd.positions(key)
        try:
            reply = self.hot._read(keys=[hk.k_id(k) for k in wanted], args=args)
        except Exception:
            self.hot.failed("read")
            return self._sql().get_identities(wanted)
        if not reply[0]:
            self.hot.directory.incomplete()
        n = len(wanted)
        values = reply[1 : n + 1]
        found = {key: hk.dec_identity(key, raw) for key, raw in zip(wanted, values, strict=True) if raw}
        absent = {key for key, raw in zip(wanted, values, strict=True) if raw == b""}
        rest = reply[n + 1 :]
        for i in range(0, len(rest), 4):
            pid = hk.text(rest[i])
            self._profiles[pid], self._segments[pid] = rest[i + 1], rest[i + 2]
            flat = rest[i + 3] or []
            self._exposures[pid] = {hk.text(flat[j]): flat[j + 1] for j in range(0, len(flat), 2)}
        missing = [k for k in wanted if k not in found and k not in absent]
        if missing:
            rows = self._sql().get_identities(missing)
            found.update(rows)
            self.hot.fill_absent([k for k in missing if k not in rows])
            groups: dict[str, list[tuple[str, str, bytes | str, bytes | str]]] = {}
            for row in rows.values():
                groups.setdefault(row.profile_id, []).extend(
                    [
                        (hk.k_id(row.key), "s", hk.enc_identity(row), ""),
                        (hk.k_ids(row.profile_id), "a", row.key, ""),
                    ]
                )
            self.hot.fill(groups)
        return found

    def _cached(self, ids: list[str], prefetched: dict[str, bytes | None], key: Any) -> dict[str, bytes | None]:
        """pid -> value in Redis (None: not there), from the prefetch or one MGET."""
        out = {pid: prefetched[pid] for pid in ids if pid in prefetched}
        rest = [pid for pid in ids if pid not in out]
        if rest and self.hot.available():
            try:
                out.update(zip(rest, self.hot.client.mget([key(p) for p in rest]), strict=True))
            except Exception:
                self.hot.failed("read")
        return out

    def get_profiles(self, ids: Iterable[str]) -> dict[str, ProfileRow]:
        wanted = list(dict.fromkeys(ids))
        cached = self._cached(wanted, self._profiles, hk.k_profile)
        found = {pid: hk.dec_profile(pid, raw) for pid, raw in cached.items() if raw}
        missing = [pid for pid in wanted if pid not in found and cached.get(pid) != b""]
        if missing:
            rows = self._sql().get_profiles(missing)
            found.update(rows)
            negative = min(self.hot.ttl, hk.NEGATIVE_S)  # no row: remembered until its first write-through
            self.hot.fill(
                {
                    pid: [(hk.k_profile(pid), "s", hk.enc_profile(rows[pid]), "")]
                    if pid in rows
                    else [(hk.k_profile(pid), "n", b"", str(negative))]
                    for pid in missing
                }
            )
        return found

    def segments_of(self, profile_ids: Iterable[str]) -> dict[str, dict[str, float]]:
        wanted = list(dict.fromkeys(profile_ids))
        cached = self._cached(wanted, self._segments, hk.k_segments)
        found = {pid: hk.dec_segments(raw) for pid, raw in cached.items() if raw is not None}
        missing = [pid for pid in wanted if pid not in found]
        if missing:
            rows = self._sql().segments_of(missing)
            for pid in missing:
                found[pid] = rows.get(pid, {})
            self.hot.fill({pid: [(hk.k_segments(pid), "s", hk.enc_segments(found[pid]), "")] for pid in missing})
        return {pid: segs for pid, segs in found.items() if segs}

    def first_exposures(self, profile_id: str, experiments: Iterable[str]) -> dict[str, DecisionRow]:
        wanted = sorted(set(experiments))
        if not wanted:
            return {}
        found: dict[str, DecisionRow] = {}
        none_yet: set[str] = set()  # "no exposure" values still believed: no SQL read for them
        now = time.time()
        held = self._exposures.get(profile_id)
        if held is None and self.hot.available():
            try:
                raws = self.hot.client.hmget(hk.k_exposures(profile_id), [*wanted, hk.ALL])
                held = {e: raw for e, raw in zip([*wanted, hk.ALL], raws, strict=True) if raw}
            except Exception:
                self.hot.failed("read")
        if held:
            everything = held.get(hk.ALL)  # "none besides those listed", while believed
            all_until = hk.no_exposure_until(everything) if everything else None
            for e in wanted:
                raw = held.get(e)
                if not raw:
                    if all_until is not None and all_until > now:
                        none_yet.add(e)
                    continue
                until = hk.no_exposure_until(raw)
                if until is None:
                    found[e] = hk.dec_exposure(profile_id, e, raw)
                elif until > now:
                    none_yet.add(e)
        missing = [e for e in wanted if e not in found and e not in none_yet]
        if missing:  # the decision writer's write-through replaces a "no exposure" value with the first exposure
            rows = self._sql().first_exposures(profile_id, missing)
            found.update(rows)
            key = hk.k_exposures(profile_id)
            absent = hk.enc_no_exposure(now + hk.NEGATIVE_S)
            items: list[tuple[str, str, bytes | str, bytes | str]] = [
                (key, "x", e, hk.enc_exposure(rows[e]) if e in rows else absent) for e in missing
            ]
            self.hot.fill({profile_id: items})
        return found
