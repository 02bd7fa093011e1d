"""The background side of decisions: decision rows and exposure events written in batches, and outcomes
attributed from ingested events.

``/v1/decide`` only appends to in-memory queues; one daemon thread drains them every
``writer_interval_s`` in this order: decisions with their exposure events (one write transaction; the events
are stored as the profile's events, not applied to its behavioural features), then attribution of the events
the ingest listener queued. A click on a decision made a moment ago in this process therefore always finds
its decision; one made by another server process is retried for ``outcome_retry_s``.

Attribution rules:

* a track event with ``properties.decision_id`` (not the exposure event) becomes an outcome of that
  decision, kind = event name, value = ``properties.revenue`` / ``value`` when numeric — if the decision
  belongs to the same profile as the event;
* a conversion event (``DecideConfig.conversion_events``) becomes an outcome of the profile's latest decision
  of each slot within ``attribution_window_s`` before it (last touch per slot), valued by its configured
  property.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pertinent.decide.config import DecideConfig
from pertinent.storage.availability import is_unavailable
from pertinent.storage.base import DecisionRow, EventRow, IdentityRow, OutcomeRow, Store

if TYPE_CHECKING:
    from pertinent.events.service import Committed

log = logging.getLogger("pertinent.decide")
T = TypeVar("T")


@dataclass(slots=True)
class PendingDecision:
    """A decision waiting for the writer, with the identity it was made for and its exposure event, if any.

    >>> PendingDecision(DecisionRow("d1", "a_x", "home", "a", "rule", 0.0), "a_x", "anonymous").exposure is None
    True
    """

    row: DecisionRow
    identity_key: str  # the pseudonymised identity the decision was made for
    identity_kind: str  # user | anonymous
    exposure: EventRow | None = None  # its "Experiment Viewed" event, stored with it


@dataclass(slots=True)
class PendingEvent:
    """An ingested event that may be an outcome, with when it was first seen (for retries).

    >>> PendingEvent(EventRow("m", "track", "Slot Clicked", "p", 0.0, 0.0, True), 1.0).first_seen
    1.0
    """

    event: EventRow
    first_seen: float


@dataclass
class LogStats:
    """Counters of the background writer (served by ``DecideService.log.stats``).

    >>> LogStats(decisions_written=3).to_json()["decisions_written"]
    3
    """

    decisions_written: int = 0
    exposures_sent: int = 0
    outcomes_written: int = 0
    outcomes_dropped: int = 0  # decision unknown after the retry period, or of another profile
    errors: int = 0
    dropped_erased: int = 0
    dropped_overflow: int = 0  # decisions dropped because storage failed for too long (max_pending queued)
    unavailable: int = 0  # drain rounds that found storage away (the queue was kept for the next round)
    degraded_not_logged: int = 0  # defaults served while storage was away: not logged (consent unknown)

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value and abs(value) < 1e15:
        return float(value)
    return None


class DecisionLog:
    """Queues and the background thread (started on first use; ``flush()`` drains synchronously).

    >>> import tempfile
    >>> from pertinent.storage.sql import SqlStore
    >>> store = SqlStore(f"sqlite:///{tempfile.mkdtemp()}/doc.db"); store.migrate()
    >>> log = DecisionLog(store, DecideConfig())
    >>> log.add_decision(PendingDecision(DecisionRow("d1", "a_x", "home", "a", "rule", 1.0), "a_x", "anonymous"))
    >>> log.close()
    >>> with store.transaction() as tx:
    ...     tx.get_decisions(["d1"])["d1"].profile_id, tx.get_identities(["a_x"])["a_x"].kind
    ('a_x', 'anonymous')
    """

    def __init__(
        self, store: Store, config: DecideConfig, on_outcomes: Callable[[list[OutcomeRow]], None] | None = None
    ) -> None:
        self.store = store
        self.config = config
        self._on_outcomes = on_outcomes
        self._decisions: deque[PendingDecision] = deque()
        self._events: deque[PendingEvent] = deque()
        self._retry: list[PendingEvent] = []
        self._erased: dict[str, float] = {}  # profile_id -> erased at (decisions made before are never written)
        self._work = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.stats = LogStats()
        self.after_drain: list[Callable[[float], None]] = []  # periodic jobs (bandit refresh) on this thread
        self.after_write: list[Callable[[list[str]], None]] = []  # decision ids stored (or dropped) by a batch
        self._warned_at = float("-inf")  # last warning about storage being away (one a minute at most)

    # ---------------------------------------------------------------- producers
    def add_decision(self, item: PendingDecision) -> None:
        if len(self._decisions) >= self.config.max_pending:  # storage away for long: shed, counted and logged
            self.stats.dropped_overflow += 1
            self._written([item])
            self._warn("decision queue full (%d): decisions are dropped until storage is back", len(self._decisions))
            return
        self._decisions.append(item)
        self._ensure_thread()

    def not_logged(self) -> None:
        """A default served while storage was away (``Decider``): it is not logged, because the person's consent
        could not be read; counted, with a warning at most once a minute."""
        self.stats.degraded_not_logged += 1
        self._warn("storage unavailable: serving slot defaults, not logged (%d so far)", self.stats.degraded_not_logged)

    def _warn(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60.0:
            self._warned_at = now
            log.warning(message, *args)

    def add_events(self, events: list[EventRow]) -> None:
        if len(self._events) >= self.config.max_pending:  # attribution far behind ingestion: shed, counted
            self.stats.outcomes_dropped += len(events)
            return
        now = time.monotonic()
        self._events.extend(PendingEvent(e, now) for e in events)
        self._ensure_thread()
        self._wake.set()

    def add_committed(self, committed: Committed) -> None:
        """Queue the committed track events that may be outcomes (quick: runs on the ingest thread): those
        carrying a ``decision_id`` and recent conversion events (imported history has no decisions to credit)."""
        conv = self.config.conversion_events
        exposure = self.config.exposure_event
        oldest = committed.at - self.config.attribution_window_s
        keep = []
        for e in committed.events:
            if e.type != "track" or e.event == exposure:
                continue
            clicked = e.properties is not None and "decision_id" in e.properties
            if clicked or (e.event in conv and e.timestamp >= oldest):
                keep.append(e)
        if keep:
            self.add_events(keep)

    def pending_for(self, profile_id: str) -> list[dict[str, Any]]:
        """Decisions of a profile not written yet (data export)."""
        return [asdict(p.row) for p in list(self._decisions) if p.row.profile_id == profile_id]

    def forget(self, profile_id: str) -> int:
        """Erasure: the profile's queued decisions (and any queued later) are never written; returns how many
        were queued."""
        self._erased[profile_id] = time.time()
        return sum(1 for p in list(self._decisions) if p.row.profile_id == profile_id)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the queues from draining inside the block (tests; a maintenance pause)."""
        with self._work:
            yield

    # ---------------------------------------------------------------- the thread
    def _ensure_thread(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._loop, name="pertinent-decide-log", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.config.writer_interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # never let the thread die: log and keep draining
                if is_unavailable(exc):  # the batch stays queued (up to max_pending) for the next round
                    self.stats.unavailable += 1
                    queued = len(self._decisions)
                    self._warn("storage unavailable (%s): %d decisions queued", type(exc).__name__, queued)
                    continue
                self.stats.errors += 1
                log.exception("decision log drain failed")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            self.flush()
        except Exception:
            log.exception("final decision log drain failed")

    def flush(self, now: float | None = None) -> None:
        """Write queued decisions and exposures, then attribute queued events (and run periodic jobs)."""
        with self._work:
            self._write_decisions()
            self._attribute(final=self._stop.is_set())
            wall = time.time() if now is None else now
            for job in self.after_drain:
                try:
                    job(wall)
                except Exception:
                    self.stats.errors += 1
                    log.exception("periodic decide job failed")

    # ---------------------------------------------------------------- decisions and exposures
    def _take(self, queue: deque[T]) -> list[T]:
        out: list[T] = []
        while queue and len(out) < self.config.writer_max_batch:
            out.append(queue.popleft())
        return out

    def _write_decisions(self) -> None:
        while self._decisions:
            batch = self._take(self._decisions)
            try:
                self._write_batch(batch)
            except Exception:  # storage unavailable: keep the batch (bounded) and retry on the next round
                if len(self._decisions) < self.config.max_pending:
                    self._decisions.extendleft(reversed(batch))
                else:
                    self.stats.dropped_overflow += len(batch)
                    self._written(batch)
                raise
            self._written(batch)

    def _written(self, batch: list[PendingDecision]) -> None:
        if self.after_write:
            ids = [p.row.decision_id for p in batch]
            for hook in self.after_write:
                hook(ids)

    def _write_batch(self, batch: list[PendingDecision]) -> None:
        now = time.time()
        cutoff = now - 600
        self._erased = {p: t for p, t in self._erased.items() if t > cutoff}
        with self.store.transaction() as tx:
            known = tx.get_identities({p.identity_key for p in batch})
            # an erased person (suppression list): their decisions are not written, their identity not recreated
            listed = tx.suppressed({p.identity_key for p in batch} | {p.row.profile_id for p in batch})
            rows = []
            exposures = []
            fresh: dict[str, IdentityRow] = {}
            for p in batch:
                if p.identity_key in listed or p.row.profile_id in listed:
                    self.stats.dropped_erased += 1
                    continue
                ident = known.get(p.identity_key)
                if ident is not None:
                    p.row.profile_id = ident.profile_id  # merged meanwhile: follow the person
                erased_at = self._erased.get(p.row.profile_id) or self._erased.get(p.identity_key)
                if erased_at is not None and p.row.at <= erased_at:
                    self.stats.dropped_erased += 1
                    continue
                if ident is None:
                    fresh[p.identity_key] = IdentityRow(p.identity_key, p.identity_kind, p.identity_key, now)
                rows.append(p.row)
                if p.exposure is not None:
                    p.exposure.profile_id = p.row.profile_id
                    exposures.append(p.exposure)
            if fresh:  # a visitor seen first by /v1/decide: its identity, so that merges find its decisions (the
                tx.put_identities(list(fresh.values()))  # profile comes with its first event)
            tx.insert_decisions(rows)
            sent = len(tx.insert_events(exposures)) if exposures else 0  # a resent id is a duplicate, not stored
        self.stats.decisions_written += len(rows)
        self.stats.exposures_sent += sent

    # ---------------------------------------------------------------- attribution
    def _attribute(self, final: bool = False) -> None:
        events = self._retry + self._take(self._events)
        while self._events and len(events) < 10 * self.config.writer_max_batch:
            events += self._take(self._events)
        if len(events) > self.config.max_pending:  # storage away for long: the oldest are shed, counted
            self.stats.outcomes_dropped += len(events) - self.config.max_pending
            events = events[-self.config.max_pending :]
        self._retry = events  # until the transaction below succeeds: kept for the next round if storage fails
        if not events:
            return
        cfg = self.config
        clicks = [
            (p, decision_id[:64])
            for p in events
            if isinstance(decision_id := (p.event.properties or {}).get("decision_id"), str)
            and p.event.event != cfg.exposure_event
        ]
        conversions = [p for p in events if p.event.event in cfg.conversion_events]
        outcomes: list[OutcomeRow] = []
        retry: list[PendingEvent] = []
        # One write transaction: reads and writes see no identity merge in between (merges repoint decisions
        # and outcomes under the same write lock), so outcomes always follow the person.
        with self.store.transaction() as tx:
            decisions = tx.get_decisions({decision_id for _, decision_id in clicks})
            owners = {d.profile_id for d in decisions.values()}
            others = {p.event.profile_id for p, _ in clicks} - owners
            alive = set(tx.get_profiles(others)) if others else set()
            for p, decision_id in clicks:
                e = p.event
                props = e.properties or {}
                d = decisions.get(decision_id)
                if d is None:
                    if not final and time.monotonic() - p.first_seen < cfg.outcome_retry_s:
                        retry.append(p)
                    else:
                        self.stats.outcomes_dropped += 1
                    continue
                if d.profile_id != e.profile_id and e.profile_id in alive:
                    self.stats.outcomes_dropped += 1  # someone else's decision
                    continue
                value = _number(props.get("revenue"))
                value = value if value is not None else _number(props.get("value"))
                outcomes.append(
                    OutcomeRow(
                        d.decision_id, d.profile_id, (e.event or "")[:32], e.message_id[:200], e.timestamp, value
                    )
                )
            for p in conversions:
                e = p.event
                prop = cfg.conversion_events.get(e.event or "")
                value = _number((e.properties or {}).get(prop)) if prop else None
                last: dict[str, DecisionRow] = {}
                for d in tx.recent_decisions(e.profile_id, e.timestamp - cfg.attribution_window_s):
                    if d.at <= e.timestamp + 1.0 and d.slot not in last:  # newest first: last touch per slot
                        last[d.slot] = d
                for d in last.values():
                    outcomes.append(
                        OutcomeRow(
                            d.decision_id, d.profile_id, (e.event or "")[:32], e.message_id[:200], e.timestamp, value
                        )
                    )
            written = tx.insert_outcomes(outcomes) if outcomes else 0
        self._retry = retry
        self.stats.outcomes_written += written
        if outcomes and self._on_outcomes is not None:
            self._on_outcomes(outcomes)
