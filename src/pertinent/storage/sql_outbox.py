"""Destinations' outbox and dead-letter list on SQL (``OutboxRepo``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from pertinent.storage import tables as t
from pertinent.storage.base import DeliveryRow
from pertinent.storage.sqlutil import SqlBase

_COLS = [c.name for c in t.destination_outbox.columns if c.name != "id"]
_o = t.destination_outbox


def _row(r: Any) -> DeliveryRow:
    return DeliveryRow(
        r.destination,
        r.kind,
        r.profile_id,
        r.payload,
        r.status,
        r.attempts,
        r.next_at,
        r.created_at,
        r.last_error,
        r.id,
    )


class OutboxMixin(SqlBase):
    """The outbox methods of :class:`pertinent.storage.sql_tx.SqlTx`."""

    def enqueue_deliveries(self, rows: Sequence[DeliveryRow]) -> int:
        if rows:
            self.conn.execute(insert(_o), [{c: getattr(r, c) for c in _COLS} for r in rows])
        return len(rows)

    def claim_deliveries(self, now: float, limit: int, lease_s: float) -> list[DeliveryRow]:
        q = (
            select(_o)
            .where(_o.c.status == "pending", _o.c.next_at <= now)
            .order_by(_o.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: another deliverer's rows are skipped (SQLite: ignored)
        )
        rows = [_row(r) for r in self.conn.execute(q)]
        if rows:
            self.conn.execute(update(_o).where(_o.c.id.in_([r.id for r in rows])).values(next_at=now + lease_s))
        return rows

    def finish_deliveries(self, delivered: Iterable[int], retry: Sequence[DeliveryRow]) -> None:
        done = list(delivered)
        if done:
            self.conn.execute(delete(_o).where(_o.c.id.in_(done)))
        if retry:
            stmt = (
                update(_o)
                .where(_o.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    attempts=bindparam("b_attempts"),
                    next_at=bindparam("b_next_at"),
                    last_error=bindparam("b_error"),
                )
            )
            self.conn.execute(
                stmt,
                [
                    {"b_id": r.id, "b_status": r.status, "b_attempts": r.attempts, "b_next_at": r.next_at}
                    | {"b_error": r.last_error}
                    for r in retry
                ],
            )

    def deliveries(
        self, status: str | None = None, destination: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[DeliveryRow]:
        q = select(_o).where(_o.c.id > after_id)
        if status is not None:
            q = q.where(_o.c.status == status)
        if destination is not None:
            q = q.where(_o.c.destination == destination)
        return [_row(r) for r in self.conn.execute(q.order_by(_o.c.id).limit(limit))]

    def requeue_deliveries(self, ids: Iterable[int] | None, destination: str | None, now: float) -> int:
        stmt = update(_o).where(_o.c.status == "dead")
        if ids is not None:
            stmt = stmt.where(_o.c.id.in_(list(ids)))
        if destination is not None:
            stmt = stmt.where(_o.c.destination == destination)
        res = self.conn.execute(stmt.values(status="pending", attempts=0, next_at=now, last_error=None))
        return res.rowcount or 0

    def repoint_deliveries(self, from_profile: str, to_profile: str) -> None:
        self._repoint(_o, from_profile, to_profile)

    def deliveries_of(self, profile_id: str) -> list[DeliveryRow]:
        q = select(_o).where(_o.c.profile_id == profile_id).order_by(_o.c.id)
        return [_row(r) for r in self.conn.execute(q)]

    def count_deliveries(self) -> dict[tuple[str, str], int]:
        q = select(_o.c.destination, _o.c.status, func.count()).group_by(_o.c.destination, _o.c.status)
        return {(d, s): n for d, s, n in self.conn.execute(q)}
