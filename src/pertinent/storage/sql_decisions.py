"""Decisions served to slots and the outcomes (clicks, conversions) attributed to them, on SQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import and_, insert, select

from pertinent.storage import tables as t
from pertinent.storage.base import DecisionRow, OutcomeRow
from pertinent.storage.sqlutil import SqlBase, rows_where_in

_DECISION_COLS = [c.name for c in t.decisions.columns]


class DecisionsMixin(SqlBase):
    """The decision methods of :class:`pertinent.storage.sql_tx.SqlTx`."""

    @staticmethod
    def _decision(r: Any) -> DecisionRow:
        return DecisionRow(
            r.decision_id, r.profile_id, r.slot, r.variant, r.reason, r.at, r.experiment, r.propensity, r.detail
        )

    def insert_decisions(self, rows: Sequence[DecisionRow]) -> None:
        if not rows:
            return
        self.conn.execute(insert(t.decisions), [{c: getattr(r, c) for c in _DECISION_COLS} for r in rows])

    def get_decisions(self, ids: Iterable[str]) -> dict[str, DecisionRow]:
        rows = rows_where_in(self.conn, select(t.decisions), t.decisions.c.decision_id, ids)
        return {r.decision_id: self._decision(r) for r in rows}

    def recent_decisions(self, profile_id: str, since: float) -> list[DecisionRow]:
        d = t.decisions
        q = select(d).where(d.c.profile_id == profile_id, d.c.at >= since).order_by(d.c.at.desc())
        return [self._decision(r) for r in self.conn.execute(q)]

    def iter_decisions(
        self,
        slot: str | None = None,
        since: float = 0.0,
        until: float | None = None,
        batch_size: int = 5000,
        experiment: str | None = None,
    ) -> Iterator[DecisionRow]:
        d = t.decisions
        cond = [d.c.at >= since]
        if slot is not None:
            cond.append(d.c.slot == slot)
        if experiment is not None:
            cond.append(d.c.experiment == experiment)
        if until is not None:
            cond.append(d.c.at < until)
        last: tuple[float, str] | None = None
        while True:
            q = select(d).where(and_(*cond))
            if last is not None:  # keyset pagination on (at, decision_id)
                q = q.where((d.c.at > last[0]) | ((d.c.at == last[0]) & (d.c.decision_id > last[1])))
            rows = list(self.conn.execute(q.order_by(d.c.at, d.c.decision_id).limit(batch_size)))
            if not rows:
                return
            for r in rows:
                yield self._decision(r)
            last = (rows[-1].at, rows[-1].decision_id)

    def first_exposures(self, profile_id: str, experiments: Iterable[str]) -> dict[str, DecisionRow]:
        wanted = set(experiments)
        if not wanted:
            return {}
        d = t.decisions
        out: dict[str, DecisionRow] = {}
        q = (
            select(d)
            .where(d.c.profile_id == profile_id, d.c.experiment.in_(sorted(wanted)))
            .order_by(d.c.at, d.c.decision_id)
        )
        for r in self.conn.execute(q):
            if r.experiment not in out:
                out[r.experiment] = self._decision(r)
                if len(out) == len(wanted):
                    break
        return out

    def insert_outcomes(self, rows: Sequence[OutcomeRow]) -> int:
        if not rows:
            return 0
        fresh = list({(r.message_id, r.decision_id): r for r in rows}.values())
        stmt = (
            self._insert(t.decision_outcomes)
            .on_conflict_do_nothing(index_elements=["message_id", "decision_id"])
            .returning(t.decision_outcomes.c.id)
        )
        res = self.conn.execute(
            stmt,
            [
                {
                    "decision_id": r.decision_id,
                    "profile_id": r.profile_id,
                    "kind": r.kind,
                    "value": r.value,
                    "message_id": r.message_id,
                    "at": r.at,
                }
                for r in fresh
            ],
        )
        return len(res.all())

    def outcomes_of(self, decision_ids: Iterable[str]) -> list[OutcomeRow]:
        o = t.decision_outcomes
        rows = sorted(rows_where_in(self.conn, select(o), o.c.decision_id, decision_ids), key=lambda r: (r.at, r.id))
        return [OutcomeRow(r.decision_id, r.profile_id, r.kind, r.message_id, r.at, r.value) for r in rows]

    def repoint_decisions(self, from_profile: str, to_profile: str) -> None:
        for table in (t.decisions, t.decision_outcomes):
            self._repoint(table, from_profile, to_profile)
