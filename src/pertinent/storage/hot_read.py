"""The hot store's read side (``storage/hot.py``): the serving reads of one request, from Redis first, and the
read-through fills of what they had to read from SQL.

:class:`HotReader` asks Redis for the identities with their profiles, segments and exposures in one round trip (the
READ script of ``hot_keys.py``) and reads each miss from SQL (one reader, opened on the first miss);
:class:`HotReads` fills in what was read there (the FILL script: refused by the profile's tombstone, never over a
value written meanwhile) and remembers for a few minutes what SQL does not have ("none" values), so that the next
read of it stays in Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from typing import Any

from pertinent.storage import hot_directory as hd
from pertinent.storage import hot_keys as hk
from pertinent.storage.base import DecisionRow, IdentityRow, ProfileRow
from pertinent.storage.hot_write import HotBase
from pertinent.storage.protocols import ServingReader


class HotReads(HotBase):
    """The read-through fills of the serving reads."""

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


class HotReader:
    """The serving reads of one request: Redis first (the identities with their profiles, segments and exposures in
    one round trip), SQL (one reader, opened on the first miss) for the rest."""

    def __init__(self, hot: HotReads, stack: ExitStack) -> None:
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
