"""Group commit: concurrent callers' work runs together in shared transactions.

Whoever submits while no group is running becomes the leader: it takes every pending job (up to
``max_items`` items), runs them in one call, wakes their submitters, and repeats while work is
waiting — but once its own job is done it hands leadership to the next waiting submitter, so no
caller waits for more than its own group and the one running when it arrived.

One caller's failure never fails another's: when a group of several jobs raises, each of its jobs is run again
alone (``run`` must leave nothing behind when it raises: a rolled-back transaction), and only the submitters whose
own job raises get the exception.

>>> seen = []
>>> gc = GroupCommit(lambda jobs: seen.append(list(jobs)), max_items=100)
>>> gc.submit("a", size=1); gc.submit("b", size=1)
>>> seen
[['a'], ['b']]
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("pertinent.ingest")


@dataclass(eq=False)
class _Slot(Generic[T]):
    job: T
    size: int
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    lead: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(self, run: Callable[[list[T]], None], max_items: int = 2000) -> None:
        self._run = run
        self._max_items = max_items
        self._mutex = threading.Lock()
        self._pending: list[_Slot[T]] = []
        self._leading = False

    def submit(self, job: T, size: int = 1) -> None:
        """Run ``job`` (alone or with others); return when it has run, raise what its group raised."""
        slot: _Slot[T] = _Slot(job, size)
        with self._mutex:
            self._pending.append(slot)
            if not self._leading:
                self._leading = slot.lead = True
        if not slot.lead:
            slot.wake.wait()
        if not slot.done:  # woken to lead (or leading from the start)
            self._lead(slot)
        if slot.error is not None:
            raise slot.error

    def _take(self) -> list[_Slot[T]]:
        group: list[_Slot[T]] = []
        total = 0
        while self._pending and (not group or total + self._pending[0].size <= self._max_items):
            slot = self._pending.pop(0)
            group.append(slot)
            total += slot.size
        return group

    def _lead(self, me: _Slot[T]) -> None:
        while True:
            with self._mutex:
                if me.done and self._pending:  # hand over: the next waiter leads
                    nxt = self._pending[0]
                    nxt.lead = True
                    nxt.wake.set()
                    return
                group = self._take()
                if not group:
                    self._leading = False
                    return
            try:
                self._run([s.job for s in group])
            except BaseException as exc:
                if len(group) == 1 or not isinstance(exc, Exception):  # (an interrupt is no one job's fault)
                    for s in group:
                        s.error = exc
                else:  # find whose job failed: each one again, alone
                    log.warning("group commit of %d jobs failed (%r): retrying each alone", len(group), exc)
                    for s in group:
                        try:
                            self._run([s.job])
                        except BaseException as alone:  # handed to this submitter only
                            s.error = alone
            for s in group:
                s.done = True
                if s is not me:
                    s.wake.set()
