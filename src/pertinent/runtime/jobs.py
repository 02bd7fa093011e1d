"""The package's one background-job runner: queued jobs and periodic tasks on one thread per runner.

A periodic task runs once across every process that shares its claims: it is *claimed* before it runs (see
:meth:`JobRunner.claim`). Where the claims live is a :class:`ClaimBackend`: the database for a server
(``storage/claims.py``: a row per job with a lease and a fencing token, so it holds across machines and a dead
holder is taken over), or, for a runner with nothing shared, :class:`FileClaims` (an ``flock`` on a claim file
per job in a local folder).
"""

from __future__ import annotations

import collections
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("pertinent.jobs")


def wait_until(cv: threading.Condition, done: Callable[[], bool], timeout: float) -> bool:
    """Wait on ``cv`` until ``done()`` (checked under its lock); False when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    with cv:
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            cv.wait(left)
    return True


@dataclass(frozen=True)
class Claim:
    """A job claimed by this process: ``fence`` grows at every claim, so a holder that lost its lease (it ran
    too long, or paused) is told so when it records its result, instead of overwriting its successor's."""

    name: str
    fence: int
    state: dict[str, Any] | None = None  # what the last holder recorded (e.g. when it last completed a sweep)


class ClaimBackend(Protocol):
    def claim(self, name: str, interval_s: float, now: float) -> Claim | None:
        """A claim when ``name`` is due (``interval_s`` passed since any process last claimed it) and no live
        holder has it; records the claim. None otherwise."""
        ...

    def release(self, claim: Claim, now: float, state: dict[str, Any] | None = None) -> bool:
        """End the claim's lease (keeping ``state`` for the next holder); False when the claim was lost."""
        ...

    def renew(self, claim: Claim, now: float) -> bool:
        """Extend the lease of a job still running (a heartbeat); False when the claim was lost."""
        ...

    @property
    def lease_s(self) -> float:
        """How long a claim holds without a renewal: a dead holder's job is taken over after this long."""
        ...

    def state(self, name: str) -> dict[str, Any] | None:
        """What the last holder of ``name`` recorded."""
        ...


def heartbeat(claims: ClaimBackend, claim: Claim, done: threading.Event, clock: Callable[[], float]) -> None:
    """Renew the claim's lease every third of it until ``done``, so only a dead holder loses it (run it in a
    thread beside the job: :class:`JobRunner` does, and so does scheduled retraining)."""
    every = claims.lease_s / 3
    if every == float("inf"):
        return
    while not done.wait(every):
        try:
            if not claims.renew(claim, clock()):
                log.warning("job %s lost its claim while running", claim.name)
                return
        except Exception:
            log.warning("cannot renew the claim of job %s", claim.name, exc_info=True)


class FileClaims:
    """Claims as files under an ``flock`` in a local folder: processes of one machine only, no lease (a job that
    is still running when its interval comes round again may be claimed twice). For runners without a store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def claim(self, name: str, interval_s: float, now: float) -> Claim | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / name, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            log.warning("cannot write claim files under %s; running %s anyway", self.folder, name)
            return Claim(name, 0)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None  # another process is claiming it right now
            raw = os.pread(fd, 64, 0).decode(errors="ignore").strip()
            try:
                last = float(raw)
            except ValueError:
                last = float("-inf")
            if now - last < interval_s * 0.95 and now >= last:
                return None
            os.ftruncate(fd, 0)
            os.pwrite(fd, repr(now).encode(), 0)
            return Claim(name, 0)
        finally:
            os.close(fd)

    def release(self, claim: Claim, now: float, state: dict[str, Any] | None = None) -> bool:
        return True

    def renew(self, claim: Claim, now: float) -> bool:
        return True

    @property
    def lease_s(self) -> float:
        return float("inf")

    def state(self, name: str) -> dict[str, Any] | None:
        return None


class JobRunner:
    """One background thread running queued jobs and periodic tasks.

    A job is a callable; a periodic task is (name, interval in seconds, callable) and runs when its interval has
    passed since it last ran in *any* process sharing the claims (:class:`ClaimBackend`), so two API nodes or
    uvicorn workers do not both sweep.

    >>> import tempfile
    >>> jobs = JobRunner(Path(tempfile.mkdtemp()), clock=lambda: 1000.0)
    >>> jobs.claim("sweep", 60.0), jobs.claim("sweep", 60.0)
    (True, False)
    >>> jobs.submit("hello", lambda: print("ran"))
    >>> jobs.wait_idle(5)
    ran
    True
    >>> jobs.close()
    """

    def __init__(
        self, claims: ClaimBackend | Path, clock: Callable[[], float], thread_name: str = "pertinent-jobs"
    ) -> None:
        self.claims: ClaimBackend = FileClaims(claims) if isinstance(claims, Path) else claims
        self.thread_name = thread_name
        self.clock = clock
        self._cv = threading.Condition()
        self._jobs: collections.deque[tuple[str, Callable[[], Any]]] = collections.deque()
        self._busy = False
        self._periodic: list[tuple[str, float, Callable[[], Any]]] = []
        self._thread: threading.Thread | None = None
        self._stop = False
        self._check_at: dict[str, float] = {}

    def submit(self, name: str, job: Callable[[], Any]) -> None:
        with self._cv:
            self._jobs.append((name, job))
            self._ensure_thread()
            self._cv.notify()

    def every(self, name: str, interval_s: float, task: Callable[[], Any]) -> None:
        """Run ``task`` every ``interval_s`` seconds (0 = never)."""
        if interval_s > 0:
            with self._cv:
                self._periodic.append((name, interval_s, task))
                self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stop:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def claim(self, name: str, interval_s: float) -> bool:
        """True when ``name`` is due (its interval passed since any process last claimed it); records the claim
        and ends it at once (a caller that runs the job itself)."""
        claim = self.claims.claim(name, interval_s, self.clock())
        if claim is None:
            return False
        self.claims.release(claim, self.clock(), claim.state)
        return True

    def _next(self) -> tuple[str, Callable[[], Any]] | None:
        with self._cv:
            while not self._stop:
                if self._jobs:
                    self._busy = True
                    return self._jobs.popleft()
                now = time.monotonic()
                for name, interval, task in self._periodic:
                    if self._check_at.get(name, 0.0) <= now:
                        # look again after a tenth of the interval: another process may have run it meanwhile
                        self._check_at[name] = now + min(max(interval * 0.1, 1.0), 60.0)
                        self._busy = True
                        return name, self._claimed(name, interval, task)
                wake = min((self._check_at[n] for n, _, _ in self._periodic), default=now + 60.0)
                self._cv.wait(min(max(wake - now, 0.05), 60.0))
            return None

    def _claimed(self, name: str, interval: float, task: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            claim = self.claims.claim(name, interval, self.clock())
            if claim is None:
                return None
            done = threading.Event()
            heartbeat = threading.Thread(target=self._heartbeat, args=(claim, done), name=f"{name}-lease", daemon=True)
            heartbeat.start()
            try:
                return task()
            finally:
                done.set()
                heartbeat.join()
                if not self.claims.release(claim, self.clock(), claim.state):
                    log.warning("job %s outlived its claim: another process may have run it meanwhile", name)

        return run

    def _heartbeat(self, claim: Claim, done: threading.Event) -> None:
        heartbeat(self.claims, claim, done, self.clock)

    def _run_one(self, name: str, job: Callable[[], Any]) -> None:
        try:
            job()
        except Exception:
            log.exception("background job %s failed", name)

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            self._run_one(*item)
            with self._cv:
                self._busy = False
                self._cv.notify_all()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until no job is queued or running; False on timeout."""
        return wait_until(self._cv, lambda: not (self._jobs or self._busy), timeout)

    def close(self, timeout: float = 30.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
