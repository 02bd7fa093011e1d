"""Keeping memberships current in the background: the real-time evaluator.

* :class:`Evaluator` -- the ingest listener only records the changed profiles (a dict update under a lock); a
  thread takes them in batches (coalesced per profile: the newest row wins), evaluates every active definition
  and writes the membership changes of the whole batch in one transaction.
* the service's :class:`pertinent.runtime.jobs.JobRunner` runs long work that must not delay real-time evaluation:
  back-fills of saved definitions, the periodic time sweep, size snapshots and scheduled retraining.

Both hand the actual evaluation and writing to ``Membership.evaluate_and_write`` (``membership.py``), which is
safe with any number of threads and worker processes (see there); the evaluator needs only what
:class:`MembershipWriter` describes.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

from pertinent.rules import ALL, event_changes
from pertinent.runtime.jobs import wait_until

if TYPE_CHECKING:  # pragma: no cover
    from pertinent.events.service import Committed
    from pertinent.profiles.features import ProfileConfig
    from pertinent.storage.base import EventRow, ProfileRow

log = logging.getLogger("pertinent.segments")
# what a commit handed over: (commit time, changed rows, new events, merged pairs, everything changed)
Item: TypeAlias = "tuple[float, Mapping[str, ProfileRow], Sequence[EventRow], Sequence[tuple[str, str]], bool]"


class MembershipWriter(Protocol):
    """What the evaluator hands its batches to (``membership.Membership``)."""

    @property
    def profile_config(self) -> ProfileConfig: ...

    def has_active(self) -> bool:
        """Whether any definition is active (a cached answer: it is asked on the ingest thread)."""
        ...

    def evaluate_and_write(
        self, rows: Mapping[str, ProfileRow], *, reason: str, changes: Mapping[str, set[str]] | None
    ) -> object:
        """Evaluate ``rows`` (``changes``: what changed in each) and write their membership changes."""
        ...


class Evaluator:
    """Real-time evaluation of profiles changed by ingestion (see the module docstring).

    >>> from pertinent.storage.base import ProfileRow
    >>> from pertinent.profiles.features import ProfileConfig
    >>> class Writer:
    ...     profile_config = ProfileConfig()
    ...     def has_active(self):
    ...         return True
    ...     def evaluate_and_write(self, rows, reason, changes):
    ...         print(sorted(rows), sorted(changes["p1"]))
    >>> ev = Evaluator(Writer(), batch_max=100)
    >>> ev.enqueue({"p1": ProfileRow("p1"), "p2": ProfileRow("p2")}, at=0.0)
    >>> ev.wait_idle(5)
    ['p1', 'p2'] ['*']
    True
    >>> ev.close()
    """

    def __init__(self, writer: MembershipWriter, batch_max: int) -> None:
        self.writer = writer
        self.batch_max = batch_max
        self._cv = threading.Condition()
        self._queue: collections.deque[Item] = collections.deque()
        self._queued = 0  # profiles in the queue
        self._busy = False
        self._thread: threading.Thread | None = None
        self._stop = False
        self.processed = 0
        self.lags: collections.deque[float] = collections.deque(maxlen=20_000)  # commit -> written, seconds

    # -- the listener (runs on the committing thread: keep it short) -------------------------------------------
    def on_commit(self, committed: Committed) -> None:
        # With no segment defined there is nothing to evaluate: skip here, on the ingest thread, rather than wake
        # the evaluator for every commit (has_active reads its cached copy, refreshed every reload_interval_s).
        if committed.profiles and self.writer.has_active():
            self._put((committed.at, committed.profiles, committed.events, committed.merged, False))

    def enqueue(self, rows: Mapping[str, ProfileRow], at: float) -> None:
        """Queue profiles changed at ``at`` outside ingestion (every definition is evaluated for them)."""
        self._put((at, rows, (), (), True))

    def _put(self, item: Item) -> None:
        with self._cv:
            if self._stop:  # closed: nothing evaluates any more (`segments reconcile` catches up)
                return
            self._queue.append(item)
            self._queued += len(item[1])
            if self._thread is None and not self._stop:
                self._thread = threading.Thread(target=self._run, name="pertinent-segments-realtime", daemon=True)
                self._thread.start()
            self._cv.notify()

    # -- the thread ------------------------------------------------------------------------------------------
    def _take(self) -> list[Item] | None:
        with self._cv:
            while not self._queue and not self._stop:
                self._cv.wait()
            if not self._queue:
                return None
            items: list[Item] = []
            n = 0
            while self._queue and (not items or n + len(self._queue[0][1]) <= self.batch_max):
                item = self._queue.popleft()
                items.append(item)
                n += len(item[1])
            self._queued -= n
            self._busy = True
            return items

    def _coalesce(self, items: Sequence[Item]) -> tuple[dict[str, ProfileRow], dict[str, float], dict[str, set[str]]]:
        """The newest row of each profile, the oldest commit time, and what the commits changed in it."""
        cfg = self.writer.profile_config
        rows: dict[str, ProfileRow] = {}
        since: dict[str, float] = {}
        changes: dict[str, set[str]] = {}
        for at, profiles, events, merged, everything in items:
            for pid, row in profiles.items():
                old = rows.get(pid)
                if old is None or row.updated_at >= old.updated_at:
                    rows[pid] = row
                since.setdefault(pid, at)
            touched: dict[str, set[str]] = {}
            for e in events:
                found = touched.setdefault(e.profile_id, set())
                found |= event_changes(e.type, e.event, e.context, e.traits, cfg) if e.personalize else {ALL}
            for _, survivor in merged:
                touched[survivor] = {ALL}
            for pid, row in profiles.items():
                # everything for a profile new in this commit (never evaluated) or changed without an applied event
                # (consent, merge)
                new = row.created_at >= at
                changes.setdefault(pid, set()).update({ALL} if everything or new else touched.get(pid, {ALL}))
        return rows, since, changes

    def _run(self) -> None:
        while True:
            items = self._take()
            if items is None:
                return
            rows: dict[str, ProfileRow] = {}
            try:
                if not self.writer.has_active():  # no segment anywhere: nothing to evaluate or write
                    continue
                rows, since, changes = self._coalesce(items)
                self.writer.evaluate_and_write(rows, reason="realtime", changes=changes)
                done = time.time()
                self.lags.extend(done - at for at in since.values())
                self.processed += len(rows)
            except Exception:
                log.exception("real-time segment evaluation of %d profiles failed", len(rows))
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def pending(self) -> int:
        """Profiles queued or being evaluated."""
        with self._cv:
            return self._queued + (1 if self._busy else 0)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued profile has been evaluated and written; False on timeout."""
        return wait_until(self._cv, lambda: not (self._queue or self._busy), timeout)

    def close(self, timeout: float = 120.0) -> None:
        """Finish what is queued (up to ``timeout``), then stop the thread."""
        if not self.wait_idle(timeout):
            log.warning(
                "segments: %d changed profiles were not evaluated before shutdown; "
                "`pertinent segments reconcile` brings their memberships up to date",
                self.pending(),
            )
        with self._cv:
            self._stop = True
            self._queue.clear()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
