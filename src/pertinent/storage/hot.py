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

This module puts the two sides together behind the Store protocol, with export and erasure of what Redis holds:
``hot_write.py`` is the write side (the scripts on pipelines, :class:`HotTx`, invalidation and write-through),
``hot_read.py`` the read side (:class:`HotReader` and the read-through fills).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, cast

from pertinent.errors import DomainError
from pertinent.storage import hot_keys as hk
from pertinent.storage.availability import RETRY_AFTER_S
from pertinent.storage.base import Tx
from pertinent.storage.hot_read import HotReader, HotReads
from pertinent.storage.hot_write import REFUSED, HotTx, HotWrites
from pertinent.storage.protocols import ServingReader

__all__ = ["REFUSED", "HotReader", "HotStore", "HotTx"]


class HotStore(HotWrites, HotReads):
    """A :class:`Store` whose serving reads come from Redis (see the module docstring)."""

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


def _plain(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
