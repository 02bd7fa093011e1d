"""The results of an experiment from its logged decisions and attributed outcomes (:func:`experiment_results`),
as an :class:`ExperimentResults` model.

Every profile exposed to the experiment is one unit, counted in the variant of its first exposure. A unit
converts on a metric when any of its decisions in the experiment got an outcome of the metric's events; a
continuous metric sums the outcomes' values per unit (1 per outcome without a value). Each outcome message
counts once per unit. The statistics are the library's (:func:`~pertinent.experiments.analysis.analyze`).

CUPED: a continuous metric is regression-adjusted by its own pre-period value, the unit's events of the metric
(valued as attribution values them) in the ``cuped_pre_period_days`` before its first exposure
(:func:`pre_period_events` reads them). Without pre-period variation the metric is analysed unadjusted, with a
message.

Some keys are present only where they apply (a metric's ``cuped``, a CUPED entry's ``theta``): the models
remember which fields their source set, and the API answers them with ``exclude_unset``.

>>> from pertinent.decide.experiments import ExperimentDefinition, OutcomeMetric
>>> from pertinent.storage.base import DecisionRow, OutcomeRow
>>> exp = ExperimentDefinition(key="hero", variants=["a", "b"],
...     metrics=[OutcomeMetric(name="clicked", kind="conversion", events=["Slot Clicked"])])
>>> ds = [DecisionRow(f"d{i}", f"p{i}", "home", "ab"[i % 2], "experiment", 1.0, "hero", 0.5) for i in range(6)]
>>> outs = {"d1": [OutcomeRow("d1", "p1", "Slot Clicked", "m1", 2.0)]}
>>> r = experiment_results(exp, ds, outs)
>>> r.units, r.metrics[0].variants["b"].mean, r.message
({'a': 3, 'b': 3}, 0.3333333333333333, 'thin data: 3 units in the smallest variant; results are unreliable below 100')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from pertinent.decide.experiments import ExperimentDefinition, OutcomeMetric
from pertinent.experiments.analysis import AnalysisConfig, MetricSpec, VariantSummary, analyze
from pertinent.experiments.bayesian import BayesianResult
from pertinent.experiments.frequentist import ChiSquareResult, LiftResult, TestResult, compare, relative_lift
from pertinent.experiments.sequential import SequentialResult
from pertinent.experiments.srm import SrmResult
from pertinent.experiments.stats import MetricStats, ProportionStats, RegressionAdjustedStats, SampleMeanStats
from pertinent.profiles.features import finite_number
from pertinent.storage.base import DecisionRow, OutcomeRow

if TYPE_CHECKING:
    from pertinent.storage.base import Tx

THIN_UNITS = 100
DAY = 86400.0
MAX_PRE_EVENTS = 2_000_000  # pre-period events read for one analysis; above that CUPED is skipped


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class UnadjustedComparison(_Result):
    """The unadjusted comparison kept next to a CUPED one: difference, its CI and p-value, relative lift."""

    difference: float | None
    difference_ci: tuple[float, float] | None
    p_value: float | None
    relative_lift: float | None
    lift_ci: tuple[float, float] | None
    message: str


class CupedInfo(_Result):
    """Whether CUPED adjusted a continuous metric and why not. ``units_with_pre_period`` and ``theta`` are there
    once pre-period data was read, ``unadjusted`` (per treatment) once it was applied."""

    applied: bool
    pre_period_days: float
    units_with_pre_period: int | None = None
    theta: float | None = None
    message: str = ""
    unadjusted: dict[str, UnadjustedComparison] | None = None


class ComparisonResult(_Result):
    """One treatment vs the control on one metric (the library's ``Comparison``; ``p_value``: the test's)."""

    treatment: str
    control: str
    test: TestResult
    lift: LiftResult
    bayesian: BayesianResult
    sequential: SequentialResult
    p_value_adjusted: float | None = None
    significant: bool = False
    guardrail_status: Literal["pass", "fail", "unknown"] | None = None
    variance_reduction: float | None = None
    p_value: float | None = None


class MetricResults(_Result):
    """One metric across variants; ``cuped`` only for continuous metrics."""

    name: str
    kind: str
    guardrail: bool
    higher_is_better: bool
    variants: dict[str, VariantSummary]
    comparisons: dict[str, ComparisonResult]
    chi_square: ChiSquareResult | None = None
    message: str = ""
    cuped: CupedInfo | None = None


class ExperimentResults(_Result):
    """The analysis of one experiment (every run): units per variant, SRM check, per metric and treatment the
    test, lift, chance to win and sequential p-value; ``message`` explains thin data and anything skipped."""

    control: str
    units: dict[str, int]
    srm: SrmResult
    metrics: list[MetricResults]
    config: AnalysisConfig
    message: str
    experiment: str
    status: str
    exposures: int
    units_total: int
    units_in_several_variants: int
    planned_weights: list[float]


def _kind(name: str) -> str:
    return name[:32]  # outcome kinds are stored truncated to 32 characters


class PreEvent(NamedTuple):
    """An event of an exposed unit that may fall in its pre-period; ``value`` None counts 1."""

    profile_id: str
    event: str
    timestamp: float
    value: float | None


class PrePeriod(NamedTuple):
    """The events read for CUPED, or (``message``) why none could be."""

    events: list[PreEvent]
    message: str = ""


def _number_text(text: Any) -> float | None:
    """A JSON number read back as text (``Tx.iter_event_fields``) as a float; None for anything else."""
    return finite_number(text, 1e15)


def pre_period_events(
    tx: Tx,
    exp: ExperimentDefinition,
    decisions: Sequence[DecisionRow],
    metrics: Sequence[OutcomeMetric],
    conversion_events: Mapping[str, str | None],
) -> PrePeriod | None:
    """The exposed units' events of the continuous metrics from ``cuped_pre_period_days`` before the first
    exposure to the last one, read in ``tx``; None when CUPED does not apply (off, no continuous metric, no
    exposure). Values as attribution takes them: a conversion event's configured property, else
    ``properties.revenue`` or ``properties.value``. Each unit's own window is cut in :func:`experiment_results`.
    """
    days = exp.cuped_pre_period_days
    continuous = [m for m in metrics if m.kind == "continuous"]
    exposed = [d for d in decisions if d.experiment == exp.key and d.variant is not None]
    if days <= 0 or not continuous or not exposed:
        return None
    units = {d.profile_id for d in exposed}
    names = sorted({e for m in continuous for e in m.events})
    props = sorted({p for p in conversion_events.values() if p})
    paths = [("properties", "revenue"), ("properties", "value"), *(("properties", p) for p in props)]
    column = {p: i for i, p in enumerate(props)}
    since, until = min(d.at for d in exposed) - days * DAY, max(d.at for d in exposed)
    out: list[PreEvent] = []
    for read, (profile_id, _, event, ts, revenue, value, *others) in enumerate(
        tx.iter_event_fields(since, until, paths, limit=MAX_PRE_EVENTS + 1, names=names), 1
    ):
        if read > MAX_PRE_EVENTS:
            return PrePeriod([], f"more than {MAX_PRE_EVENTS} events in the pre-period window; CUPED skipped")
        if profile_id not in units:
            continue
        if event in conversion_events:
            prop = conversion_events[event]
            v = _number_text(others[column[prop]]) if prop else None
        else:
            v = _number_text(revenue)
            v = v if v is not None else _number_text(value)
        out.append(PreEvent(profile_id, event, float(ts), v))
    return PrePeriod(out)


def _pre_values(
    events: Iterable[PreEvent], first: Mapping[str, tuple[float, str]], metrics: Sequence[OutcomeMetric], days: float
) -> dict[str, dict[str, float]]:
    """profile -> continuous metric -> sum of its events' values in [first exposure - days, first exposure)."""
    window = days * DAY
    by_event: dict[str, list[str]] = {}
    for m in metrics:
        if m.kind == "continuous":
            for name in dict.fromkeys(m.events):
                by_event.setdefault(name, []).append(m.name)
    out: dict[str, dict[str, float]] = {}
    for e in events:
        f = first.get(e.profile_id)
        if f is None or not f[0] - window <= e.timestamp < f[0]:
            continue
        for name in by_event.get(e.event, ()):
            sums = out.setdefault(e.profile_id, {})
            sums[name] = sums.get(name, 0.0) + (1.0 if e.value is None else e.value)
    return out


def _cuped(
    m: OutcomeMetric,
    post: Mapping[str, list[float]],
    units: Mapping[str, list[str]],
    pre: Mapping[str, Mapping[str, float]],
    days: float,
) -> tuple[dict[str, RegressionAdjustedStats] | None, dict[str, Any]]:
    """CUPED statistics of one continuous metric per variant, or None (and why) when they cannot help."""
    with_pre = sum(1 for v in units for p in units[v] if m.name in pre.get(p, {}))
    info: dict[str, Any] = {
        "applied": False,
        "pre_period_days": days,
        "units_with_pre_period": with_pre,
        "theta": None,
        "message": "",
    }
    why = ""
    if any(len(values) < 2 for values in post.values()):
        why = "needs at least 2 units per variant"
    elif not with_pre:
        why = f"no pre-period data (no unit had {', '.join(m.events)} in the {days:g} days before its first exposure)"
    else:
        try:
            stats = {
                v: RegressionAdjustedStats.from_values(post[v], [pre.get(p, {}).get(m.name, 0.0) for p in units[v]])
                for v in post
            }
        except ValueError as exc:  # sums too large to be finite
            stats, why = {}, f"pre-period values unusable ({exc})"
        if stats:
            pooled = sum(stats.values(), start=RegressionAdjustedStats(0, 0.0, 0.0, 0.0, 0.0, 0.0))
            if pooled.pre.variance <= 0:
                why = "the pre-period values do not vary"
            else:
                info.update(applied=True, theta=pooled.covariance / pooled.pre.variance)
                return stats, info
    info["message"] = f"CUPED not applied to {m.name}: {why}"
    return None, info


def experiment_results(
    exp: ExperimentDefinition,
    decisions: Iterable[DecisionRow],
    outcomes: Mapping[str, Sequence[OutcomeRow]],
    metrics: Sequence[OutcomeMetric] | None = None,
    pre_period: PrePeriod | None = None,
) -> ExperimentResults:
    """Per-variant statistics and the full analysis of one experiment; thin or missing data gives numbers of
    ``None`` and a ``message``, never an exception.

    ``pre_period`` (:func:`pre_period_events`) CUPED-adjusts the continuous metrics: their comparisons are then
    the adjusted ones (test ``cuped_t``, ``variance_reduction``) and the metric's ``cuped`` entry holds the
    unadjusted comparisons next to ``theta`` and the units with pre-period data."""
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
    units_of: dict[str, list[str]] = {v: [] for v in exp.variants}  # in the order of per_variant's values
    for profile, (_, variant) in first.items():
        if variant not in per_variant:
            continue
        units_of[variant].append(profile)
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
    days = exp.cuped_pre_period_days
    pre = _pre_values(pre_period.events, first, metrics, days) if pre_period and days > 0 else {}
    data: dict[str, dict[str, MetricStats]] = {v: {} for v in per_variant}
    cuped: dict[str, dict[str, Any]] = {}
    for m in metrics:
        if m.kind == "conversion":
            for v, by_metric in per_variant.items():
                data[v][m.name] = ProportionStats(len(by_metric[m.name]), int(sum(by_metric[m.name])))
            continue
        for v, by_metric in per_variant.items():
            values = by_metric[m.name]
            data[v][m.name] = SampleMeanStats(len(values), float(sum(values)), float(sum(x * x for x in values)))
        if days <= 0:
            cuped[m.name] = {"applied": False, "pre_period_days": 0, "message": "CUPED is off (pre-period 0 days)"}
        elif pre_period is None or pre_period.message:
            reason = pre_period.message if pre_period else "no pre-period data was read"
            cuped[m.name] = {
                "applied": False,
                "pre_period_days": days,
                "message": f"CUPED not applied to {m.name}: {reason}",
            }
        else:
            adjusted, cuped[m.name] = _cuped(m, {v: per_variant[v][m.name] for v in per_variant}, units_of, pre, days)
            if adjusted is not None:
                unadjusted = {v: data[v][m.name] for v in data}
                treatments = [v for v in data if v != exp.control]
                cuped[m.name]["unadjusted"] = {
                    t: _summary(unadjusted[exp.control], unadjusted[t], exp.analysis.alpha) for t in treatments
                }
                for v in data:
                    data[v][m.name] = adjusted[v]
    specs = [
        MetricSpec(name=m.name, kind=m.kind, guardrail=m.guardrail, higher_is_better=m.higher_is_better)
        for m in metrics
    ]
    report = analyze(data, exp.control, specs, exp.analysis, weights=exp.planned_weights()).to_dict()
    for metric in report["metrics"]:
        if metric["name"] in cuped:
            metric["cuped"] = cuped[metric["name"]]
    smallest = min((report["units"][v] for v in exp.variants), default=0)
    messages = []
    if exposures == 0:
        messages.append("no exposures yet")
    elif smallest < THIN_UNITS:
        messages.append(
            f"thin data: {smallest} units in the smallest variant; results are unreliable below {THIN_UNITS}"
        )
    if report.get("message"):
        messages.append(report["message"])
    if exposures and pre_period is not None:
        messages += [c["message"] for c in cuped.values() if c["message"] and not c["applied"]]
    if unknown:
        messages.append(f"exposures to variants no longer in the experiment were left out: {unknown}")
    if several:
        messages.append(
            f"{several} units saw more than one variant (e.g. profiles merged after separate exposures); "
            "each is counted once, in the variant of its first exposure"
        )
    if report["srm"].get("flagged"):
        messages.append(
            "sample ratio mismatch: the split differs from the planned weights (p < "
            f"{exp.analysis.srm_threshold}); check assignment before trusting the results"
        )
    report.update(
        experiment=exp.key,
        status=str(exp.status),
        exposures=exposures,
        units_total=len(first),
        units_in_several_variants=several,
        planned_weights=exp.planned_weights(),
        message="; ".join(messages),
    )
    return ExperimentResults.model_validate(report)


def _summary(control: MetricStats, treatment: MetricStats, alpha: float) -> dict[str, Any]:
    """The unadjusted comparison kept next to a CUPED one: difference, its CI and p-value, relative lift."""
    test, lift = compare(control, treatment, alpha), relative_lift(control, treatment, alpha)
    return {
        "difference": test.difference,
        "difference_ci": test.difference_ci,
        "p_value": test.p_value,
        "relative_lift": lift.relative_lift,
        "lift_ci": lift.ci,
        "message": test.message or lift.message,
    }
