"""Scheduled retraining inside the server: ``RecommendConfig.retrain_interval_s`` > 0 starts a daemon thread
that retrains the served model from stored events and saves a new registry version, which the serving side
picks up without a restart (``RecommendService.model`` polls ``has_newer``).

A round trains only when new events arrived since the newest version (its ``events_seen``) and that version
is at least one interval old; an exclusive file lock beside the model's versions makes several server
workers train once, not once each. Users erased (in this process) while a round trains are erased from the
version it saves as well.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pertinent.privacy.audit import Actor
from pertinent.recommend.training import TrainResult, train_from_store

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pertinent.recommend.service import RecommendService

log = logging.getLogger("pertinent.recommend")


@contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """A non-blocking exclusive ``flock`` on ``path``: yields False when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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

    def __init__(self, service: RecommendService) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.last_result: TrainResult | None = None
        self.last_error: str | None = None

    @property
    def interval_s(self) -> float:
        return self.service.config.retrain_interval_s

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
        """One round: the new version's result, or None when nothing was due (or another process trains)."""
        service = self.service
        self.rounds += 1
        with service.store.transaction(write=False) as tx:
            events = tx.count_events()
        if not self._due(events):
            return None
        lock = service.registry.root / f".{service.config.model}.train.lock"
        with _exclusive(lock) as mine:
            if not mine or not self._due(events):  # someone else is training, or just did
                return None
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
        service.refresh_model()
        self.last_result = result
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
