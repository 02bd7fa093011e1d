"""Experiments as stored data, and their results from logged decisions and attributed outcomes.

An :class:`ExperimentDefinition` is the library's :class:`~pertinent.experiments.config.Experiment` (variants,
weights, coverage, namespace, holdout, status, bucket version: GrowthBook hashing) plus a name, the metrics
to analyse and the analysis settings. Its variant names are variants of the slot that runs it.

Results: every profile exposed to the experiment is one unit, counted in the variant of its first exposure.
A unit converts on a metric when any of its decisions in the experiment got an outcome of the metric's
events; a continuous metric sums the outcomes' values per unit (1 per outcome without a value). Each outcome
message counts once per unit. The statistics are the library's (:func:`~pertinent.experiments.analysis.analyze`).

>>> from pertinent.storage.base import DecisionRow, OutcomeRow
>>> exp = ExperimentDefinition(key="hero", variants=["a", "b"],
...     metrics=[OutcomeMetric(name="clicked", kind="conversion", events=["Slot Clicked"])])
>>> ds = [DecisionRow(f"d{i}", f"p{i}", "home", "ab"[i % 2], "experiment", 1.0, "hero", 0.5) for i in range(6)]
>>> outs = {"d1": [OutcomeRow("d1", "p1", "Slot Clicked", "m1", 2.0)]}
>>> r = experiment_results(exp, ds, outs)
>>> r["units"], r["metrics"][0]["variants"]["b"]["mean"], r["message"]
({'a': 3, 'b': 3}, 0.3333333333333333, 'thin data: 3 units in the smallest variant; results are unreliable below 100')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pertinent.decide.blocks import DOC_ID
from pertinent.experiments.analysis import AnalysisConfig, MetricSpec, analyze
from pertinent.experiments.config import Experiment
from pertinent.experiments.stats import MetricStats, ProportionStats, SampleMeanStats
from pertinent.storage.base import DecisionRow, OutcomeRow

THIN_UNITS = 100


class OutcomeMetric(BaseModel):
    """A metric measured from outcomes: ``events`` are outcome kinds (event names, e.g. ``Slot Clicked`` or a
    conversion event). ``conversion``: share of units with one; ``continuous``: sum of values per unit.

    >>> OutcomeMetric(name="revenue", kind="continuous", events=["Order Completed"]).higher_is_better
    True
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: Literal["conversion", "continuous"]
    events: list[str] = Field(min_length=1, max_length=50)
    guardrail: bool = False
    higher_is_better: bool = True


class ExperimentDefinition(Experiment):
    """An experiment stored as a document (kind ``experiment``, id = ``key``).

    ``hash_attribute`` picks the id hashed: ``id`` (the user id when the request has one, else the
    anonymous id), ``user_id`` (only known users are enrolled) or ``anonymous_id`` (the device, falling back
    to the user id). ``metrics`` empty = the defaults (clicked, converted, revenue).

    >>> e = ExperimentDefinition(key="hero", variants=["a", "b"])
    >>> ExperimentDefinition.model_validate_json(e.model_dump_json()) == e
    True
    """

    key: str = Field(min_length=1, max_length=200, pattern=DOC_ID)
    hash_attribute: Literal["id", "user_id", "anonymous_id"] = "id"  # type: ignore[assignment]
    name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    metrics: list[OutcomeMetric] = Field(default_factory=list, max_length=20)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)

    @model_validator(mode="after")
    def _unique_metrics(self) -> ExperimentDefinition:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must be unique, got {names}")
        return self

    def planned_weights(self) -> list[float]:
        return list(self.weights) if self.weights else [1 / len(self.variants)] * len(self.variants)


def default_metrics(click_events: Sequence[str], conversion_events: Iterable[str]) -> list[OutcomeMetric]:
    """clicked (conversion on click events), converted and revenue (on conversion events)."""
    conv = list(conversion_events)
    out = [OutcomeMetric(name="clicked", kind="conversion", events=list(click_events) or ["Slot Clicked"])]
    if conv:
        out += [OutcomeMetric(name="converted", kind="conversion", events=conv),
                OutcomeMetric(name="revenue", kind="continuous", events=conv)]
    return out


def _kind(name: str) -> str:
    return name[:32]  # outcome kinds are stored truncated to 32 characters


def experiment_results(exp: ExperimentDefinition, decisions: Iterable[DecisionRow],
                       outcomes: Mapping[str, Sequence[OutcomeRow]],
                       metrics: Sequence[OutcomeMetric] | None = None) -> dict[str, Any]:
    """Per-variant statistics and the full analysis of one experiment (JSON-ready); thin or missing data
    gives numbers of ``None`` and a ``message``, never an exception."""
    metrics = list(metrics or exp.metrics)
    first: dict[str, tuple[float, str]] = {}  # profile -> (first exposure time, variant)
    units_decisions: dict[str, list[str]] = {}
    exposures = 0
    variants_seen: dict[str, set[str]] = {}
    for d in decisions:
        if d.experiment != exp.key or d.variant is None:
            continue
        exposures += 1
        units_decisions.setdefault(d.profile_id, []).append(d.decision_id)
        variants_seen.setdefault(d.profile_id, set()).add(d.variant)
        if d.profile_id not in first or d.at < first[d.profile_id][0]:
            first[d.profile_id] = (d.at, d.variant)
    unknown = sorted({v for _, v in first.values()} - set(exp.variants))
    several = sum(1 for s in variants_seen.values() if len(s) > 1)
    per_variant: dict[str, dict[str, list[float]]] = {v: {m.name: [] for m in metrics} for v in exp.variants}
    for profile, (_, variant) in first.items():
        if variant not in per_variant:
            continue
        seen: dict[str, set[str]] = {m.name: set() for m in metrics}
        totals = {m.name: 0.0 for m in metrics}
        for decision_id in units_decisions[profile]:
            for o in outcomes.get(decision_id, ()):
                for m in metrics:
                    if o.kind in {_kind(e) for e in m.events} and o.message_id not in seen[m.name]:
                        seen[m.name].add(o.message_id)
                        totals[m.name] += 1.0 if o.value is None else float(o.value)
        for m in metrics:
            value = (1.0 if seen[m.name] else 0.0) if m.kind == "conversion" else totals[m.name]
            per_variant[variant][m.name].append(value)
    data: dict[str, dict[str, MetricStats]] = {}
    for v, by_metric in per_variant.items():
        data[v] = {}
        for m in metrics:
            values = by_metric[m.name]
            if m.kind == "conversion":
                data[v][m.name] = ProportionStats(len(values), int(sum(values)))
            else:
                data[v][m.name] = SampleMeanStats(len(values), float(sum(values)), float(sum(x * x for x in values)))
    specs = [MetricSpec(name=m.name, kind=m.kind, guardrail=m.guardrail, higher_is_better=m.higher_is_better)
             for m in metrics]
    report = analyze(data, exp.control, specs, exp.analysis, weights=exp.planned_weights()).to_dict()
    smallest = min((report["units"][v] for v in exp.variants), default=0)
    messages = []
    if exposures == 0:
        messages.append("no exposures yet")
    elif smallest < THIN_UNITS:
        messages.append(f"thin data: {smallest} units in the smallest variant; results are unreliable below "
                        f"{THIN_UNITS}")
    if report.get("message"):
        messages.append(report["message"])
    if unknown:
        messages.append(f"exposures to variants no longer in the experiment were left out: {unknown}")
    if report["srm"].get("flagged"):
        messages.append("sample ratio mismatch: the split differs from the planned weights (p < "
                        f"{exp.analysis.srm_threshold}); check assignment before trusting the results")
    report.update(experiment=exp.key, status=str(exp.status), exposures=exposures, units_total=len(first),
                  units_in_several_variants=several, planned_weights=exp.planned_weights(),
                  message="; ".join(messages))
    return report
