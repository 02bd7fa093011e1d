"""Keeping memberships current: evaluating profiles against the active definitions and writing the differences.

* Ingestion calls :meth:`Membership.on_commit` after each commit; the :class:`~.realtime.Evaluator` thread
  re-evaluates the changed profiles against every active definition and hands them back to
  :meth:`Membership.evaluate_and_write` in batches.
* Back-fills (after a save), :meth:`~Membership.reconcile` and the time sweep (``sweep.py``) evaluate pages of
  stored profiles the same way.
* Profiles without personalisation consent are in no segment.

Writes are safe with several threads and worker processes: each batch is evaluated outside any lock, then in one
write transaction the profiles' versions (``updated_at``, rows locked on PostgreSQL) and the definitions' versions
are compared with what was evaluated -- profiles or definitions that moved meanwhile are evaluated again from the
fresh rows -- and the difference with the current memberships is applied with
``Tx.apply_membership_changes``, which records only changes that take effect (idempotent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from pertinent.privacy.consent import effective
from pertinent.profiles.features import ProfileConfig
from pertinent.rules import ALL, Moment
from pertinent.segments.active import Active, ActiveDefinitions
from pertinent.segments.compiled import Facts
from pertinent.segments.context import SegmentContext
from pertinent.segments.definitions import owner_of
from pertinent.segments.documents import KIND
from pertinent.segments.realtime import Evaluator
from pertinent.segments.results import EvaluatorStats, Totals
from pertinent.storage.base import MembershipChange, ProfileRow, Tx

log = logging.getLogger("pertinent.segments")
T = TypeVar("T")


def pages(fetch: Callable[[str | None, int], list[T]], key: Callable[[T], str], size: int) -> Iterator[list[T]]:
    """Keyset pages: ``fetch(after, size)`` until a short page.

    >>> data = [str(i) for i in range(5)]
    >>> list(pages(lambda after, n: [d for d in data if after is None or d > after][:n], str, 2))
    [['0', '1'], ['2', '3'], ['4']]
    """
    after = None
    while True:
        page = fetch(after, size)
        if page:
            yield page
        if len(page) < size:
            return
        after = key(page[-1])


@dataclass(frozen=True)
class Since:
    """The profiles a sweep re-reads after an earlier complete one (``Tx.profiles_in_ranges``)."""

    ranges: list[tuple[tuple[str, ...], float, float]]
    updated_since: float


class _Plan:
    """The membership changes of a batch of profiles, computed against the definitions and memberships visible in
    a transaction: definitions whose version moved, or profiles changed since they were read, are evaluated again
    from the transaction's view (``lock``: the profile rows stay locked until it ends, on PostgreSQL).

    With ``touched`` (profile id -> what its update changed, see ``compiled.event_changes``) a profile is evaluated
    only against the definitions that read something that changed; its other memberships are left as they are."""

    def __init__(
        self,
        membership: Membership,
        rows: dict[str, ProfileRow],
        moment: Moment,
        only: Sequence[str] | None,
        timed_only: bool,
        touched: Mapping[str, set[str]] | None,
    ) -> None:
        self.membership, self.rows, self.moment, self.only, self.timed_only = membership, rows, moment, only, timed_only
        self.touched = touched
        self._subsets: dict[frozenset[str], list[Active]] = {}
        self.definitions = self._pick(membership.definitions.active())
        self.versions = {d.id: d.version for d in self.definitions}
        self.desired = {pid: self._want(pid, row) for pid, row in rows.items()}

    def _pick(self, defs: list[Active]) -> list[Active]:
        self._subsets = {}
        return [d for d in defs if (self.only is None or d.id in self.only) and (not self.timed_only or d.timed)]

    def definitions_for(self, pid: str) -> list[Active]:
        changed = None if self.touched is None else self.touched.get(pid)
        if changed is None or ALL in changed:
            return self.definitions
        key = frozenset(changed)
        subset = self._subsets.get(key)
        if subset is None:
            subset = self._subsets[key] = [d for d in self.definitions if ALL in d.triggers or d.triggers & key]
        return subset

    def _want(self, pid: str, row: ProfileRow) -> set[str]:
        return self.membership.memberships(row, self.definitions_for(pid), self.moment)

    def changes(self, tx: Tx, rows: Mapping[str, ProfileRow], lock: bool) -> list[MembershipChange]:
        seen = tx.profile_versions(rows, lock=lock)
        fresh = self._pick(self.membership.definitions.active(tx.list_documents(KIND)))
        if {d.id: d.version for d in fresh} != self.versions:  # a definition changed meanwhile
            self.definitions, self.versions = fresh, {d.id: d.version for d in fresh}
            self.desired = {pid: self._want(pid, row) for pid, row in self.rows.items()}
        moved = [pid for pid, at in seen.items() if at != self.rows[pid].updated_at]
        for pid, row in tx.get_profiles(moved).items():  # changed since read: evaluate the stored row
            self.rows[pid] = row
            self.desired[pid] = self._want(pid, row)
        current = tx.segments_of(seen)
        now = self.moment.now
        out: list[MembershipChange] = []
        for pid in seen:  # profiles gone (erased, merged away) are skipped
            owned = {d.id for d in self.definitions_for(pid)}
            have = {s for s in current.get(pid, ()) if owner_of(s) in owned}
            want = self.desired[pid]
            out += [MembershipChange(s, pid, False, now) for s in sorted(have - want)]
            out += [MembershipChange(s, pid, True, now) for s in sorted(want - have)]
        return out


class Membership:
    """Evaluates profiles against the active definitions and applies the membership changes; owns the real-time
    evaluator that ingestion feeds (see the module docstring)."""

    def __init__(self, ctx: SegmentContext, definitions: ActiveDefinitions) -> None:
        self.ctx = ctx
        self.definitions = definitions
        self.evaluator = Evaluator(self, ctx.config.batch_max_profiles)
        # called in the transaction that applies membership changes, with the changes that took effect
        # (destinations queue segment entries and exits durably: destinations/service.py)
        self.change_hooks: list[Callable[[Any, list[MembershipChange]], None]] = []

    @property
    def profile_config(self) -> ProfileConfig:
        return self.ctx.profile_config

    # ------------------------------------------------------------------------------ real time
    def on_commit(self, committed: Any) -> None:
        """Ingest listener: queue the changed profiles for the real-time evaluator (quick)."""
        self.evaluator.on_commit(committed)

    def profiles_changed(self, rows: Sequence[ProfileRow]) -> None:
        """Queue profiles changed outside ingestion (a consent call) for real-time re-evaluation."""
        if self.ctx.config.realtime and rows:
            self.evaluator.enqueue({r.profile_id: r for r in rows}, time.time())

    def has_active(self) -> bool:
        return self.definitions.has_active()

    def stats(self) -> EvaluatorStats:
        """Real-time evaluator counters: profiles processed, queue length, lag from commit to written (s)."""
        lags = sorted(self.evaluator.lags)

        def q(p: float) -> float | None:
            return lags[min(int(p * len(lags)), len(lags) - 1)] if lags else None

        return EvaluatorStats(
            processed=self.evaluator.processed, pending=self.evaluator.pending(), lag_p50_s=q(0.5), lag_p99_s=q(0.99)
        )

    # ------------------------------------------------------------------------------ evaluation
    def consent_allows(self, row: ProfileRow) -> dict[str, bool] | None:
        consent = effective(row.consent, self.ctx.settings.default_consent)
        return consent if consent["personalization"] else None

    def memberships(self, row: ProfileRow, definitions: Sequence[Active], moment: Moment) -> set[str]:
        """The membership ids ``row`` belongs to among ``definitions`` at ``moment``."""
        consent = self.consent_allows(row)
        if consent is None:
            return set()
        facts = Facts(row.state, row.traits, consent, moment, self.ctx.profile_config)
        out: set[str] = set()
        try:
            for d in definitions:
                if d.check is not None:
                    if d.check(facts):
                        out.add(d.id)
                else:
                    out.update(d.members(row, facts))
            return out
        except Exception:  # one broken definition must not stop the others: find it, skip it
            out = set()
            for d in definitions:
                try:
                    out.update(d.members(row, facts))
                except Exception:
                    log.exception("segment %s failed on profile %s", d.id, row.profile_id)
            return out

    def evaluate_and_write(
        self,
        rows: Mapping[str, ProfileRow],
        reason: str = "realtime",
        only: Sequence[str] | None = None,
        timed_only: bool = False,
        now: float | None = None,
        changes: Mapping[str, set[str]] | None = None,
    ) -> list[MembershipChange]:
        """Evaluate ``rows`` against the active definitions (``only`` these ids; ``timed_only``: those that
        change with time; ``changes``: per profile what changed, to evaluate only the definitions reading it) and
        apply the membership differences. Returns the changes that took effect.

        The difference is first computed in a read transaction (no write lock): most batches change nothing and
        stop there. The profiles with changes are then checked again and written in one write transaction."""
        if not rows:
            return []
        store = self.ctx.store
        plan = _Plan(self, dict(rows), Moment(self.ctx.now(now)), only, timed_only, changes)
        if not plan.definitions and only is None and not timed_only:
            self.definitions.invalidate()  # no segment known here: make sure with a fresh read before skipping
            if not self.definitions.active():
                return []
            plan = _Plan(self, dict(rows), plan.moment, only, timed_only, changes)
        with store.transaction(write=False) as tx:
            found = plan.changes(tx, plan.rows, lock=False)
        if not found:
            return []
        todo = {c.profile_id: plan.rows[c.profile_id] for c in found}
        for attempt in range(5):
            try:
                with store.transaction() as tx:
                    applied = tx.apply_membership_changes(plan.changes(tx, todo, lock=True))
                    for hook in self.change_hooks:
                        hook(tx, applied)
                    return applied
            except OperationalError as e:  # deadlock / serialisation failure / busy database: try again
                if attempt == 4:
                    raise
                log.info("segment write (%s) retried after: %s", reason, e)
                time.sleep(0.05 * (attempt + 1))
        return []  # pragma: no cover

    # ------------------------------------------------------------------------------ over stored profiles
    def rows(self) -> Iterable[ProfileRow]:
        """Every stored profile with personalisation consent, a page at a time."""

        def fetch(after: str | None, n: int) -> list[ProfileRow]:
            with self.ctx.store.transaction(write=False) as tx:
                return tx.profiles_after(after, n)

        for page in pages(fetch, lambda r: r.profile_id, self.ctx.config.page_size):
            yield from (r for r in page if self.consent_allows(r) is not None)

    def over_all_profiles(
        self,
        only: Sequence[str] | None = None,
        timed_only: bool = False,
        now: float | None = None,
        since: Since | None = None,
    ) -> Totals:
        """Evaluate the definitions over every stored profile, or only over those ``since`` selects."""
        totals = Totals(profiles=0, entered=0, exited=0)

        def fetch(after: str | None, n: int) -> list[ProfileRow]:
            with self.ctx.store.transaction(write=False) as tx:
                if since is not None:
                    return tx.profiles_in_ranges(since.ranges, since.updated_since, after, n)
                return tx.profiles_after(after, n)

        for page in pages(fetch, lambda r: r.profile_id, self.ctx.config.page_size):
            applied = self.evaluate_and_write(
                {r.profile_id: r for r in page}, reason="sweep", only=only, timed_only=timed_only, now=now
            )
            totals["profiles"] += len(page)
            totals["entered"] += sum(c.entered for c in applied)
            totals["exited"] += sum(not c.entered for c in applied)
        return totals

    def backfill(self, definition_id: str, now: float | None = None) -> Totals:
        """Evaluate one definition over every stored profile (after it was saved)."""
        self.definitions.invalidate()
        totals = self.over_all_profiles(only=[definition_id], now=now)
        log.info("segment %s back-filled: %s", definition_id, totals)
        return totals

    def reconcile(self, now: float | None = None, updated_since: float | None = None) -> Totals:
        """Evaluate every active definition over every stored profile, or over those updated at or after
        ``updated_since`` (repairs anything missed, e.g. profiles queued in a process that was killed)."""
        self.definitions.invalidate()
        since = None if updated_since is None else Since([], updated_since)
        totals = self.over_all_profiles(now=now, since=since)
        log.info("segments reconciled: %s", totals)
        return totals
