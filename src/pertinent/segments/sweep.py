"""The periodic work on memberships: the time sweep and size snapshots.

A sweep re-checks profiles against the definitions that change with time alone, so people leave "frequent
buyers" when they stop buying, without a new event. After a complete sweep over the same definitions (recorded in
the database as the job state ``segments.sweep``, shared by every process) only the profiles time can have moved
since are read; sizes are snapshotted for sizes over time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from pertinent.profiles.features import DAY
from pertinent.rules import TimeBounds
from pertinent.rules.facts import TIMESTAMP_PATHS
from pertinent.segments.active import Active, ActiveDefinitions
from pertinent.segments.context import SegmentContext
from pertinent.segments.definitions import owner_of
from pertinent.segments.membership import Membership, Since
from pertinent.segments.results import Totals

log = logging.getLogger("pertinent.segments")
SWEEP_STATE = "segments.sweep"  # the job state holding the last complete sweep's time and definitions
UPDATED_SLACK_S = 600.0  # a narrowed sweep also re-reads profiles updated this long before the last sweep


class Sweeper:
    def __init__(self, ctx: SegmentContext, definitions: ActiveDefinitions, membership: Membership) -> None:
        self.ctx = ctx
        self.definitions = definitions
        self.membership = membership

    def sweep(self, now: float | None = None) -> Totals:
        """Re-check profiles against the definitions that change with time alone (time-based exits and entries
        without a new event).

        After a complete sweep over the same definitions, only the profiles time can have moved since are read:
        those updated since, and those whose timestamps put a definition's threshold between the two sweeps
        (``compiled.TimeBounds``). Every profile is read when a definition changes with local time, decaying
        features or ML clusters, when a UTC midnight passed and a definition counts events in day windows, when the
        definitions changed, or with real-time evaluation off (then events are only seen here)."""
        self.definitions.invalidate()
        timed = [d for d in self.definitions.active() if d.timed]
        if not timed:
            return Totals(profiles=0, entered=0, exited=0)
        now = self.ctx.now(now)
        totals = self.membership.over_all_profiles(timed_only=True, now=now, since=self._since_last_sweep(timed, now))
        self._record_sweep(timed, now)
        log.info("segment sweep: %s", totals)
        return totals

    def _since_last_sweep(self, timed: Sequence[Active], now: float) -> Since | None:
        """What to re-read since the last complete sweep over ``timed``; None: every profile."""
        with self.ctx.store.transaction(write=False) as tx:
            last = tx.job_state(SWEEP_STATE) or {}
        try:
            at, definitions = float(last["at"]), [tuple(d) for d in last["definitions"]]
        except (ValueError, KeyError, TypeError):  # never recorded, or from another version
            return None
        if not self.ctx.config.realtime or definitions != sorted((d.id, d.version) for d in timed) or not at <= now:
            return None
        bounds = TimeBounds()
        for d in timed:
            bounds = bounds | d.bounds
        if bounds.always or (bounds.midnight and int(at // DAY) != int(now // DAY)):
            return None
        # a threshold ts + seconds crossed in [at, now] (a second's slack either side): ts in [at - s, now - s]
        ranges = [
            (TIMESTAMP_PATHS[name], at - seconds - 1.0, now - seconds + 1.0) for name, seconds in sorted(bounds.spans)
        ]
        # profiles updated since (and a while before: the real-time evaluator may have written a result computed
        # a moment before the last sweep over the sweep's own, for a profile updated just before it)
        return Since(ranges, at - UPDATED_SLACK_S)

    def _record_sweep(self, timed: Sequence[Active], now: float) -> None:
        record = {"at": now, "definitions": sorted([d.id, d.version] for d in timed)}
        with self.ctx.store.transaction() as tx:
            tx.put_job_state(SWEEP_STATE, record)

    def snapshot_sizes(self, now: float | None = None) -> dict[str, int]:
        """Record the current member counts (sizes over time). Snapshots are aligned on the configured interval,
        so two workers taking the same one store it once."""
        now = self.ctx.now(now)
        step = self.ctx.config.sizes_interval_s
        at = math.floor(now / step) * step if step > 0 else now
        active = self.definitions.active()
        owned = {a.id for a in active}
        names = {sid for a in active for sid in a.names}
        with self.ctx.store.transaction() as tx:
            sizes = {s: n for s, n in tx.count_segment_members().items() if owner_of(s) in owned}
            sizes.update({sid: 0 for sid in names if sid not in sizes})  # empty segments are sized 0
            tx.record_segment_sizes(sizes, at)
        return sizes
