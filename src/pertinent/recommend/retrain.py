"""Scheduled retraining: ``RecommendConfig.retrain_interval_s`` > 0 starts a daemon thread (in ``pertinent
serve`` on the embedded default, in ``pertinent worker`` in a cluster) that retrains the served model from stored
events and saves a new registry version, which the serving side picks up without a restart
(``RecommendService.model`` polls ``has_newer``).

A round trains only when new events arrived since the newest version (its ``events_seen``) and that version
is at least one interval old. It is claimed in the database first (``job_claims``, ``storage/claims.py``: a
lease renewed while it trains and a fencing token), so that every process and machine sharing the database
trains once per interval, not once each, and a holder that dies mid-round is taken over when its lease ends; no
local file is involved. Users erased (in this process) while a round trains are erased from the version it saves
as well.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pertinent.privacy.audit import Actor
from pertinent.recommend.training import TrainResult, train_from_store
from pertinent.runtime.jobs import Claim, ClaimBackend, heartbeat
from pertinent.storage.claims import StoreClaims

if TYPE_CHECKING:
    from pertinent.recommend.service import RecommendService

log = logging.getLogger("pertinent.recommend")


class Retrainer:
    """Retrains ``service.config.model`` every ``retrain_interval_s`` seconds when there are new events.

    ``start()`` runs rounds in a daemon thread until ``stop()``; ``run_once()`` is one round (also for tests).

    >>> from pertinent.settings import Settings
    >>> from pertinent.services import Services
    >>> import tempfile
    >>> s = Settings(database_url="sqlite://", data_dir=tempfile.mkdtemp(), write_key="w", admin_key="a",
    ...              pseudonym_keys=["k"], recommend={"model": "popularity", "retrain_interval_s": 3600})
    >>> svc = Services.build(s); svc.store.migrate()
    >>> Retrainer(svc.recommend).run_once() is None   # no events yet: nothing to learn
    True
    >>> svc.close()
    """

    def __init__(
        self, service: RecommendService, claims: ClaimBackend | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.service = service
        self.claims = claims or StoreClaims(service.store)
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.last_result: TrainResult | None = None
        self.last_error: str | None = None

    @property
    def interval_s(self) -> float:
        return self.service.config.retrain_interval_s

    @property
    def job(self) -> str:
        """The claim's name: one per served model."""
        return f"recommend.retrain.{self.service.config.model}"

    def _due(self, events: int) -> bool:
        """New events since the newest version, and that version is at least one interval old (the newest saved,
        not the one served: a version an operator rolled back to must not make every round retrain)."""
        registry, name = self.service.registry, self.service.config.model
        version = registry.newest_version(name)
        if version is None:
            return events > 0
        try:
            meta = registry.meta(name, version)
        except (OSError, ValueError):
            return True
        if meta.get("events_seen") == events:
            return False
        return time.time() - float(meta.get("created_at", 0.0)) >= self.interval_s

    def run_once(self) -> TrainResult | None:
        """One round: the new version's result, or None when nothing was due (or another process holds the round:
        it trains, or trained within the interval)."""
        service = self.service
        self.rounds += 1
        with service.store.transaction(write=False) as tx:
            events = tx.count_events()
        if not self._due(events):
            return None
        claim = self.claims.claim(self.job, self.interval_s, self.clock())
        if claim is None:  # another process trains this interval (or its holder's lease has not ended)
            return None
        done = threading.Event()
        beat = threading.Thread(
            target=heartbeat, args=(self.claims, claim, done, self.clock), name="pertinent-retrain-lease", daemon=True
        )
        beat.start()
        try:
            result = self._train(events) if self._due(events) else None  # someone may have trained just before
        finally:
            done.set()
            beat.join()
            self._release(claim)
        if result is None:
            return None
        service.refresh_model()
        self.last_result = result
        return result

    def _release(self, claim: Claim) -> None:
        try:
            if not self.claims.release(claim, self.clock(), claim.state):
                log.warning("retraining outlived its claim: another process may have trained meanwhile")
        except Exception:  # the database is away: the lease ends on its own
            log.warning("cannot release the retraining claim", exc_info=True)

    def _train(self, events: int) -> TrainResult | None:
        service = self.service
        started = time.monotonic()
        erased_before = len(service.erased)
        result = train_from_store(
            service.store,
            service.settings.data_dir,
            service.config.model,
            max_events=service.config.retrain_max_events,
            events_seen=events,
            config=service.config.train_config or None,
            actor=Actor.system("retrain"),
        )
        for user in service.erased[erased_before:]:  # erased while training read their events
            service.registry.forget_user(user)
        if result.version is None:
            log.info("scheduled retraining: nothing trained (%s)", result.message)
            return None
        log.info(
            "scheduled retraining: saved %s %s in %.1f s (%d users x %d items)",
            result.model,
            result.version,
            time.monotonic() - started,
            result.n_users,
            result.n_items,
        )
        return result

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
                self.last_error = None
            except Exception as exc:  # keep serving; try again next interval
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduled retraining of %s failed", self.service.config.model)

    def start(self) -> Retrainer:
        if self.interval_s <= 0:
            raise ValueError("retrain_interval_s: must be > 0 to schedule retraining")
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="pertinent-retrain", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop; a round in progress finishes first (waits up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
