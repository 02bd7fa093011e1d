"""Measuring what was decided, from the stored decisions and attributed outcomes: the results of an experiment
(``analysis.py``, CUPED-adjusted by the units' pre-period events) and the off-policy evaluation of a target
policy on a slot's logged decisions (IPS, SNIPS, doubly robust).

Both first write the decisions still queued (``DecisionLog.flush``), so that they see every decision made so far.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict

import numpy as np
from pydantic import BaseModel, ConfigDict

from pertinent.bandits.ope import LoggedData, OpeResult, arm_values, cross_fit_greedy, doubly_robust, ips, snips
from pertinent.decide.analysis import ExperimentResults, experiment_results, pre_period_events
from pertinent.decide.bandits import reward_of
from pertinent.decide.comparison import VersionComparison, version_stats
from pertinent.decide.config import DecideConfig
from pertinent.decide.experiments import ExperimentDefinition, default_metrics
from pertinent.decide.slots import CompareRecommenders, Slot
from pertinent.errors import Conflict, InvalidInput
from pertinent.storage.base import DecisionRow, OutcomeRow, Store

THIN_DECISIONS = 100


class OpeReport(BaseModel):
    """Off-policy estimates of a target policy on a slot's logged decisions. ``target_arm``: the variant an
    ``arm:`` target always shows, or the one ``greedy`` would show now (the best on all the logs);
    ``fold_arms``: for ``greedy``, the variant chosen on each half of the logs, each evaluated on the other
    half (cross-fitted: the estimate is not flattered by the choice; ``message`` says so). ``target_arm``,
    ``fold_arms`` and ``logged_mean_reward`` are there only when there were logged decisions (the API answers
    with ``exclude_unset``)."""

    model_config = ConfigDict(frozen=True)

    slot: str
    target: str
    arms: list[str]
    decisions: int
    target_arm: str | None = None
    fold_arms: list[str] | None = None
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
        return self._results(key)[0]

    def _results(self, key: str) -> tuple[ExperimentResults, list[DecisionRow], dict[str, list[OutcomeRow]]]:
        exp = self.experiment(key)
        self.flush()
        outcomes: dict[str, list[OutcomeRow]] = {}
        metrics = exp.metrics or default_metrics(self.config.click_events, self.config.conversion_events)
        with self.store.transaction(write=False) as tx:
            decisions = list(tx.iter_decisions(experiment=key))  # every run of the experiment
            for o in tx.outcomes_of([d.decision_id for d in decisions]):
                outcomes.setdefault(o.decision_id, []).append(o)
            pre = pre_period_events(tx, exp, decisions, metrics, self.config.conversion_events)
        return experiment_results(exp, decisions, outcomes, metrics, pre), decisions, outcomes

    def versions(self, key: str, slots: Mapping[str, Slot]) -> VersionComparison:
        """Impressions, CTR and conversions per model version of a recommender experiment (``comparison.py``),
        with the experiment's analysis. 409 naming ``key`` when no slot of ``slots`` runs it as one."""
        refs: dict[str, tuple[str, str]] = {}
        running = []
        for slot in slots.values():
            for _, action in slot.actions():
                if isinstance(action, CompareRecommenders) and action.experiment == key:
                    running.append(slot.id)
                    for variant, ref in action.versions.items():
                        refs.setdefault(variant, (ref.model, ref.version))
        exp = self.experiment(key)  # 404 for an unknown experiment first
        if not refs:
            message = "no slot runs this experiment as a recommender experiment (kind recommender_experiment)"
            raise Conflict([{"field": "key", "message": message}])
        analysis, decisions, outcomes = self._results(key)
        ordered = {v: refs[v] for v in exp.variants if v in refs} | refs
        rows = version_stats(
            decisions, outcomes, ordered, self.config.click_events, self.config.conversion_events.keys()
        )
        return VersionComparison(
            experiment=key,
            status=str(analysis.status),
            slots=sorted(set(running)),
            versions=rows,
            analysis=analysis,
            message=analysis.message,
        )

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
        variant with the best logged reward, cross-fitted: chosen on one half of the logs and evaluated on the
        other, then the halves swapped; ``bandits.ope.cross_fit_greedy``)."""
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
        logs = LoggedData(actions, rewards, props)
        chosen: dict[str, object] = {}
        messages = [f"thin data: fewer than {THIN_DECISIONS} logged decisions"] if len(logged) < THIN_DECISIONS else []
        if target == "uniform":
            t = np.full((len(logged), k), 1 / k)
        elif target == "greedy":
            fitted = cross_fit_greedy(logs, k)
            t = fitted.target
            fold_arms = [arms[a] for a in fitted.arms]
            chosen.update(target_arm=arms[int(np.nanargmax(arm_values(logs, k)))], fold_arms=fold_arms)
            messages.append(
                "greedy is cross-fitted: the best variant was chosen on one half of the logs and evaluated on the "
                f"other, then the halves swapped (chosen: {' / '.join(fold_arms)}), so the estimate is not "
                "flattered by choosing on the same data; target_arm is the best variant on all the logs"
            )
        else:
            t = np.zeros((len(logged), k))
            t[:, index[target[4:]]] = 1.0
            chosen["target_arm"] = target[4:]
        estimates = [ips(logs, t, alpha), snips(logs, t, alpha), doubly_robust(logs, t, alpha)]
        return OpeReport.model_validate(
            {
                **base,
                **chosen,
                "logged_mean_reward": float(rewards.mean()),
                "message": "; ".join(messages),
                "estimates": [asdict(e) for e in estimates],
            }
        )
