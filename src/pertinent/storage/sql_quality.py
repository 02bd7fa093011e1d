"""Data quality on SQL: tracking plans, quality counters, failed events, outlier flags and duplicate candidates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, desc, func, or_, select, update

from pertinent.storage import tables as t
from pertinent.storage.base import (
    DedupCandidateRow,
    FailedEventRow,
    QualityCountRow,
    QualityFlagRow,
    TrackingPlanRow,
)
from pertinent.storage.sqlutil import CHUNK, SqlBase, rows_where_in


def _failed(r: Any) -> FailedEventRow:
    return FailedEventRow(
        at=r.at,
        event=r.event,
        user_key=r.user_key,
        anonymous_key=r.anonymous_key,
        errors=list(r.errors or []),
        payload=dict(r.payload or {}),
        replayed_at=r.replayed_at,
        id=int(r.id),
    )


def _candidate(r: Any) -> DedupCandidateRow:
    return DedupCandidateRow(
        profile_a=r.profile_a,
        profile_b=r.profile_b,
        score=float(r.score),
        reasons=dict(r.reasons or {}),
        status=r.status,
        at=r.at,
        decided_at=r.decided_at,
        id=int(r.id),
    )


class QualityMixin(SqlBase):
    """The data-quality methods of :class:`pertinent.storage.sql_tx.SqlTx`."""

    # tracking plans ------------------------------------------------------------
    def put_tracking_plan(self, row: TrackingPlanRow) -> None:
        values = {"event": row.event, "schema": row.schema, "mode": row.mode, "updated_at": row.updated_at}
        stmt = self._insert(t.tracking_plans).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["event"],
            set_={"schema": stmt.excluded.schema, "mode": stmt.excluded.mode, "updated_at": stmt.excluded.updated_at},
        )
        self.conn.execute(stmt)

    def delete_tracking_plan(self, event: str) -> bool:
        res = self.conn.execute(delete(t.tracking_plans).where(t.tracking_plans.c.event == event))
        return bool(res.rowcount)

    def tracking_plans(self) -> list[TrackingPlanRow]:
        rows = self.conn.execute(select(t.tracking_plans).order_by(t.tracking_plans.c.event))
        return [TrackingPlanRow(r.event, dict(r.schema), r.mode, r.updated_at) for r in rows]

    # counters -------------------------------------------------------------------
    def bump_quality_counts(self, counts: Mapping[tuple[str, str, str], int], at: float) -> None:
        if not counts:
            return
        stmt = self._insert(t.quality_counts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "event", "field"],
            set_={"n": t.quality_counts.c.n + stmt.excluded.n, "updated_at": stmt.excluded.updated_at},
        )
        rows = [
            {"kind": k[:16], "event": e[:200], "field": f[:200], "n": n, "updated_at": at}
            for (k, e, f), n in sorted(counts.items())
        ]
        self.conn.execute(stmt, rows)

    def quality_counts(self) -> list[QualityCountRow]:
        c = t.quality_counts.c
        rows = self.conn.execute(select(t.quality_counts).order_by(c.kind, desc(c.n), c.event, c.field))
        return [QualityCountRow(r.kind, r.event, r.field, int(r.n), r.updated_at) for r in rows]

    # failed events -----------------------------------------------------------------
    def add_failed_events(self, rows: Sequence[FailedEventRow]) -> None:
        if not rows:
            return
        values = [
            {
                "at": r.at,
                "event": (r.event or None) and r.event[:200],
                "user_key": r.user_key,
                "anonymous_key": r.anonymous_key,
                "errors": r.errors,
                "payload": r.payload,
                "replayed_at": r.replayed_at,
            }
            for r in rows
        ]
        self.conn.execute(t.failed_events.insert(), values)

    def failed_events(
        self, limit: int = 100, ids: Sequence[int] | None = None, replayed: bool | None = False
    ) -> list[FailedEventRow]:
        f = t.failed_events.c
        q = select(t.failed_events).order_by(desc(f.id)).limit(limit)
        if replayed is not None:
            q = q.where(f.replayed_at.is_not(None) if replayed else f.replayed_at.is_(None))
        if ids is not None:
            q = q.where(f.id.in_(list(ids)))
        return [_failed(r) for r in self.conn.execute(q)]

    def count_failed_events(self) -> int:
        f = t.failed_events.c
        q = select(func.count()).select_from(t.failed_events).where(f.replayed_at.is_(None))
        return int(self.conn.execute(q).scalar_one())

    def mark_failed_replayed(self, ids: Sequence[int], at: float) -> None:
        f = t.failed_events.c
        for i in range(0, len(ids), CHUNK):
            chunk = list(ids[i : i + CHUNK])
            self.conn.execute(update(t.failed_events).where(f.id.in_(chunk)).values(replayed_at=at))

    def purge_failed_events(self, before: float) -> int:
        res = self.conn.execute(delete(t.failed_events).where(t.failed_events.c.at < before))
        return res.rowcount or 0

    def failed_events_of(self, keys: Iterable[str]) -> list[FailedEventRow]:
        keys = sorted(set(keys))
        if not keys:
            return []
        f = t.failed_events.c
        out: dict[int, FailedEventRow] = {}
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i : i + CHUNK]
            q = select(t.failed_events).where(or_(f.user_key.in_(chunk), f.anonymous_key.in_(chunk)))
            out.update({int(r.id): _failed(r) for r in self.conn.execute(q)})
        return [out[k] for k in sorted(out)]

    # outlier flags --------------------------------------------------------------------
    def replace_quality_flags(self, rows: Sequence[QualityFlagRow]) -> None:
        self.conn.execute(delete(t.quality_flags))
        if rows:
            values = [{"profile_id": r.profile_id, "score": r.score, "reasons": r.reasons, "at": r.at} for r in rows]
            self.conn.execute(t.quality_flags.insert(), values)

    def quality_flags(self, profile_ids: Iterable[str] | None = None) -> list[QualityFlagRow]:
        c = t.quality_flags.c
        q = select(t.quality_flags).order_by(desc(c.score), c.profile_id)
        found: Iterable[Any] = (
            self.conn.execute(q) if profile_ids is None else rows_where_in(self.conn, q, c.profile_id, profile_ids)
        )
        return [QualityFlagRow(r.profile_id, float(r.score), list(r.reasons or []), r.at) for r in found]

    # duplicate candidates ----------------------------------------------------------------
    def add_dedup_candidates(self, rows: Sequence[DedupCandidateRow]) -> int:
        if not rows:
            return 0
        values = [
            {
                "profile_a": r.profile_a,
                "profile_b": r.profile_b,
                "score": r.score,
                "reasons": r.reasons,
                "status": r.status,
                "at": r.at,
                "decided_at": r.decided_at,
            }
            for r in rows
        ]
        insert = self._insert(t.dedup_candidates).on_conflict_do_nothing(index_elements=["profile_a", "profile_b"])
        stmt = insert.returning(t.dedup_candidates.c.id)
        added = 0
        for value in values:  # one at a time: RETURNING says whether the pair was new, on both backends
            added += len(self.conn.execute(stmt, value).fetchall())
        return added

    def dedup_candidates(self, status: str | None = "pending", limit: int = 500) -> list[DedupCandidateRow]:
        c = t.dedup_candidates.c
        q = select(t.dedup_candidates).order_by(desc(c.score), c.id).limit(limit)
        if status is not None:
            q = q.where(c.status == status)
        return [_candidate(r) for r in self.conn.execute(q)]

    def get_dedup_candidate(self, candidate_id: int) -> DedupCandidateRow | None:
        q = select(t.dedup_candidates).where(t.dedup_candidates.c.id == candidate_id)
        row = self.conn.execute(q).first()
        return None if row is None else _candidate(row)

    def set_dedup_status(self, candidate_id: int, status: str, at: float, only_pending: bool = False) -> bool:
        c = t.dedup_candidates.c
        q = update(t.dedup_candidates).where(c.id == candidate_id)
        if only_pending:  # a claim: a concurrent reviewer's update waits for this one, then matches nothing
            q = q.where(c.status == "pending")
        return bool(self.conn.execute(q.values(status=status, decided_at=at)).rowcount)

    def dedup_candidates_of(self, profile_id: str) -> list[DedupCandidateRow]:
        c = t.dedup_candidates.c
        q = select(t.dedup_candidates).where(or_(c.profile_a == profile_id, c.profile_b == profile_id))
        return [_candidate(r) for r in self.conn.execute(q.order_by(c.id))]

    def erase_quality(self, profile_id: str, keys: Iterable[str]) -> dict[str, int]:
        keys = sorted(set(keys))
        f, c = t.failed_events.c, t.dedup_candidates.c
        failed = 0
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i : i + CHUNK]
            where = or_(f.user_key.in_(chunk), f.anonymous_key.in_(chunk))
            failed += self.conn.execute(delete(t.failed_events).where(where)).rowcount or 0
        flags = self.conn.execute(delete(t.quality_flags).where(t.quality_flags.c.profile_id == profile_id))
        pairs = self.conn.execute(
            delete(t.dedup_candidates).where(or_(c.profile_a == profile_id, c.profile_b == profile_id))
        )
        return {"failed_events": failed, "quality_flags": flags.rowcount or 0, "dedup_candidates": pairs.rowcount or 0}
