"""Job claims on SQL: one row per scheduled job, claimed by an atomic conditional UPDATE.

The UPDATE's WHERE (due, and no live lease) is evaluated under the row's write lock on both backends
(PostgreSQL's row lock, SQLite's database write lock), so of two processes claiming at once exactly one gets a
row count of 1. Every claim bumps ``fence``; a release only counts when the fence is still its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from pertinent.storage import tables as t
from pertinent.storage.sqlutil import SqlBase


class JobsMixin(SqlBase):
    """The job-claim methods of :class:`pertinent.storage.sql_tx.SqlTx`."""

    def claim_job(
        self, name: str, interval_s: float, now: float, holder: str, lease_s: float
    ) -> tuple[int, dict[str, Any] | None] | None:
        j = t.job_claims
        self.conn.execute(
            self._insert(j)
            .values(name=name, last_run=float("-1e18"), holder="", lease_until=0.0, fence=0, state=None)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        due = (j.c.last_run <= now - interval_s * 0.95) | (j.c.last_run > now)  # a clock set back: run again
        claimed = self.conn.execute(
            update(j)
            .where(j.c.name == name, due, j.c.lease_until <= now)
            .values(last_run=now, holder=holder, lease_until=now + lease_s, fence=j.c.fence + 1)
        )
        if claimed.rowcount != 1:
            return None
        row = self.conn.execute(select(j.c.fence, j.c.state).where(j.c.name == name)).one()
        return int(row.fence), row.state

    def release_job(self, name: str, fence: int, now: float, state: dict[str, Any] | None) -> bool:
        j = t.job_claims
        done = self.conn.execute(
            update(j).where(j.c.name == name, j.c.fence == fence).values(lease_until=0.0, state=state)
        )
        return done.rowcount == 1

    def renew_job(self, name: str, fence: int, lease_until: float) -> bool:
        j = t.job_claims
        renewed = self.conn.execute(
            update(j).where(j.c.name == name, j.c.fence == fence).values(lease_until=lease_until)
        )
        return renewed.rowcount == 1

    def job_state(self, name: str) -> dict[str, Any] | None:
        j = t.job_claims
        return self.conn.execute(select(j.c.state).where(j.c.name == name)).scalar_one_or_none()

    def put_job_state(self, name: str, state: dict[str, Any] | None) -> None:
        j = t.job_claims
        self.conn.execute(
            self._insert(j)
            .values(name=name, last_run=float("-1e18"), holder="", lease_until=0.0, fence=0, state=state)
            .on_conflict_do_update(index_elements=["name"], set_={"state": state})
        )
