"""Measuring what was decided, from the stored decisions and attributed outcomes: the results of an experiment
(``analysis.py``, CUPED-adjusted by the units' pre-period events) and the off-policy evaluation of a target
policy on a slot's logged decisions (IPS, SNIPS, doubly robust).

Both first write the decisions still queued (``DecisionLog.flush``), so that they see every decision made so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import numpy as np
from pydantic import BaseModel, ConfigDict

from pertinent.bandits.ope import LoggedData, OpeResult, doubly_robust, ips, snips
from pertinent.decide.analysis import ExperimentResults, experiment_results, pre_period_events
from pertinent.decide.bandits import reward_of
from pertinent.decide.config import DecideConfig
from pertinent.decide.experiments import ExperimentDefinition, default_metrics
from pertinent.errors import InvalidInput
from pertinent.storage.base import OutcomeRow, Store

THIN_DECISIONS = 100


class OpeReport(BaseModel):
    """Off-policy estimates of a target policy on a slot's logged decisions. ``target_arm``: the variant an
    ``arm:`` or ``greedy`` target always shows; ``target_arm`` and ``logged_mean_reward`` are there only when
    there were logged decisions (the API answers with ``exclude_unset``)."""

    model_config = ConfigDict(frozen=True)

    slot: str
    target: str
    arms: list[str]
    decisions: int
    target_arm: str | None = None
    logged_mean_reward: float | None = None
    message: str
    estimates: list[OpeResult]


class Results:
    """Experiment results and off-policy evaluation (``flush`` writes queued decisions first)."""

    def __init__(
        self,
        store: Store,
        config: DecideConfig,
        experiment: Callable[[str], ExperimentDefinition],
        flush: Callable[[], None],
    ) -> None:
        self.store = store
        self.config = config
        self.experiment = experiment
        self.flush = flush

    def results(self, key: str) -> ExperimentResults:
        """The analysis of an experiment from its stored decisions and outcomes, CUPED-adjusted by the units'
        pre-period events (see analysis.py)."""
        exp = self.experiment(key)
        self.flush()
        outcomes: dict[str, list[OutcomeRow]] = {}
        metrics = exp.metrics or default_metrics(self.config.click_events, self.config.conversion_events)
        with self.store.transaction(write=False) as tx:
            decisions = list(tx.iter_decisions(experiment=key))  # every run of the experiment
            for o in tx.outcomes_of([d.decision_id for d in decisions]):
                outcomes.setdefault(o.decision_id, []).append(o)
            pre = pre_period_events(tx, exp, decisions, metrics, self.config.conversion_events)
        return experiment_results(exp, decisions, outcomes, metrics, pre)

    def ope(
        self,
        slot: str,
        target: str = "uniform",
        since: float = 0.0,
        reward_events: list[str] | None = None,
        value: bool = False,
        alpha: float = 0.05,
    ) -> OpeReport:
        """Off-policy evaluation of a target policy on a slot's logged decisions (IPS, SNIPS, doubly robust).

        ``target``: ``uniform`` over the logged variants, ``arm:NAME`` (always that variant) or ``greedy`` (the
        variant with the best mean logged reward)."""
        self.flush()
        events = {e[:32] for e in (reward_events or self.config.click_events)}
        with self.store.transaction(write=False) as tx:
            logged = [
                (d, d.variant, d.propensity)
                for d in tx.iter_decisions(slot, since=since)
                if d.variant is not None and d.propensity is not None and d.propensity > 0
            ]
            outcomes: dict[str, list[OutcomeRow]] = {}
            for o in tx.outcomes_of([d.decision_id for d, _, _ in logged]):
                outcomes.setdefault(o.decision_id, []).append(o)
        arms = sorted({variant for _, variant, _ in logged})
        if target.startswith("arm:") and target[4:] not in arms:
            message = f"no logged decisions showed variant '{target[4:]}'; logged variants are {arms}"
            raise InvalidInput([{"field": "target", "message": message}])
        if target not in ("uniform", "greedy") and not target.startswith("arm:"):
            raise InvalidInput([{"field": "target", "message": "must be uniform, greedy or arm:NAME"}])
        base = {"slot": slot, "target": target, "arms": arms, "decisions": len(logged)}
        if not logged:
            message = "no logged decisions with propensities for this slot"
            return OpeReport.model_validate({**base, "message": message, "estimates": []})
        index = {a: i for i, a in enumerate(arms)}
        actions = np.array([index[variant] for _, variant, _ in logged])
        rewards = np.array(
            [reward_of(d, outcomes.get(d.decision_id, []), events, value, float("inf")) for d, _, _ in logged]
        )
        props = np.array([float(p) for _, _, p in logged])
        k = len(arms)
        target_arm = {}
        if target == "uniform":
            t = np.full((len(logged), k), 1 / k)
        else:
            if target == "greedy":
                means = [rewards[actions == i].mean() if (actions == i).any() else -np.inf for i in range(k)]
                best = int(np.argmax(means))
            else:
                best = index[target[4:]]
            t = np.zeros((len(logged), k))
            t[:, best] = 1.0
            target_arm["target_arm"] = arms[best]
        logs = LoggedData(actions, rewards, props)
        estimates = [ips(logs, t, alpha), snips(logs, t, alpha), doubly_robust(logs, t, alpha)]
        thin = f"thin data: fewer than {THIN_DECISIONS} logged decisions" if len(logged) < THIN_DECISIONS else ""
        return OpeReport.model_validate(
            {
                **base,
                **target_arm,
                "logged_mean_reward": float(rewards.mean()),
                "message": thin,
                "estimates": [asdict(e) for e in estimates],
            }
        )
