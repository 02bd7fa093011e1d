"""Scheduled-job claims in the database (:class:`pertinent.runtime.jobs.ClaimBackend`): each job runs once across
every process and machine sharing the database.

Why the database and not Redis: every deployment has one (the embedded default and the cluster alike), a claim
commits with the same durability as the data the job writes, and the conditional UPDATE is a compare-and-set
that both SQLite and PostgreSQL make atomic. A claim carries a lease (``lease_s``), renewed every third of it
while the job runs (``JobRunner``'s heartbeat): a holder that crashes keeps the job only until the lease ends,
then the next process due takes it over; the fencing token stops a holder that lost its lease from recording
its result over its successor's.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from pertinent.runtime.jobs import Claim
from pertinent.storage.base import Store


class StoreClaims:
    def __init__(self, store: Store, lease_s: float = 30.0, holder: str | None = None) -> None:
        self.store = store
        self._lease_s = lease_s
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def claim(self, name: str, interval_s: float, now: float) -> Claim | None:
        with self.store.transaction() as tx:
            got = tx.claim_job(name, interval_s, now, self.holder, self._lease_s)
        return None if got is None else Claim(name, got[0], got[1])

    def release(self, claim: Claim, now: float, state: dict[str, Any] | None = None) -> bool:
        with self.store.transaction() as tx:
            return tx.release_job(claim.name, claim.fence, now, state)

    def renew(self, claim: Claim, now: float) -> bool:
        with self.store.transaction() as tx:
            return tx.renew_job(claim.name, claim.fence, now + self._lease_s)

    @property
    def lease_s(self) -> float:
        return self._lease_s

    def state(self, name: str) -> dict[str, Any] | None:
        with self.store.transaction(write=False) as tx:
            return tx.job_state(name)
