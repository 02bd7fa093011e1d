"""The slots and experiments page: each experiment's variants, comparisons, SRM check and lift chart, and the
arm shares of bandit slots.

An experiment is shown from the decide service's analysis (every run, its own metrics) when one is given;
otherwise from the window's decisions and their attributed clicks and conversions, analysed by
:func:`pertinent.experiments.analysis.analyze`.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pertinent.dashboard import charts
from pertinent.dashboard.pages.common import Span, decisions_in, outcome_metric, window_span
from pertinent.experiments.analysis import MetricSpec, analyze
from pertinent.experiments.stats import ProportionStats

if TYPE_CHECKING:
    from pertinent.kpis import KpiConfig
    from pertinent.storage.base import DecisionRow, Store

log = logging.getLogger("pertinent.dashboard")

# An experiment's analysis report by key (``ExperimentReport.to_dict()`` shape and its ``status``)
ExperimentResults = Callable[[str], dict[str, Any]]
FALLBACK_METRICS = ("click", "conversion")  # what the window's decisions are analysed on without a report


@dataclass(frozen=True, kw_only=True)
class VariantRow:
    """Units of one variant and each metric's mean per unit (a rate for conversion metrics).

    >>> VariantRow(variant="b", units=250, rates={"click": 0.2}).rates["click"]
    0.2
    """

    variant: str
    units: int
    rates: dict[str, float | None]


@dataclass(frozen=True, kw_only=True)
class ComparisonRow:
    """One treatment vs the control on one metric: lift with its CI, adjusted p-value, chance to win."""

    metric: str
    treatment: str
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    chance_to_win: float | None
    significant: bool
    message: str
    variance_reduction: float | None = None  # CUPED: share of the variance the pre-period covariate removed


@dataclass(frozen=True, kw_only=True)
class ExperimentResult:
    """One experiment on the page: variants, comparisons, SRM check and the lift chart (see
    :func:`result_from_report`).

    >>> r = ExperimentResult(key="e", status="running", control="a", variants=[], comparisons=[],
    ...                      srm_flagged=False, srm_p=None, srm_message="", lift_chart=charts.interval_chart([]),
    ...                      kinds={"revenue": "continuous"})
    >>> r.is_rate("click"), r.is_rate("revenue")
    (True, False)
    """

    key: str
    status: str
    control: str
    variants: list[VariantRow]
    comparisons: list[ComparisonRow]
    srm_flagged: bool
    srm_p: float | None
    srm_message: str
    lift_chart: charts.IntervalChart
    message: str = ""
    kinds: dict[str, str] | None = None  # metric -> "conversion" (rates) or "continuous" (means)

    def is_rate(self, metric: str) -> bool:
        return (self.kinds or {}).get(metric, "conversion") == "conversion"

    @property
    def cuped(self) -> bool:
        """Whether any comparison is CUPED-adjusted."""
        return any(c.variance_reduction is not None for c in self.comparisons)


@dataclass(frozen=True, kw_only=True)
class BanditShares:
    """A bandit slot: decisions, arm shares over time (chart) and in the latest period.

    >>> BanditShares(slot="pdp.recs", decisions=10, chart=charts.line_chart({}), latest={"b": 0.7}).latest["b"]
    0.7
    """

    slot: str
    decisions: int
    chart: charts.LineChart
    latest: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class ExperimentsPage:
    """The slots and experiments page (see :func:`build`)."""

    span: Span
    experiments: list[ExperimentResult]
    bandits: list[BanditShares]
    message: str = ""


def build(
    store: Store,
    window: str = "30d",
    *,
    now: float | None = None,
    config: KpiConfig,
    results: ExperimentResults | None = None,
) -> ExperimentsPage:
    """Every experiment (stored or seen in the window's decisions) and bandit slot of ``window``; ``results``
    (the decide service's analysis) is asked first for each stored experiment."""
    span = window_span(store, window, now, events=False)
    with store.transaction(write=False) as tx:
        docs = {d.doc_id: d.body or {} for d in tx.list_documents("experiment")}
        decisions = decisions_in(tx, span)
        in_experiments = [d for d in decisions if d.experiment]
        outcomes = tx.outcomes_of([d.decision_id for d in in_experiments]) if in_experiments else []
    by_exp: dict[str, list[DecisionRow]] = defaultdict(list)
    for d in in_experiments:
        by_exp[d.experiment or ""].append(d)
    kinds: dict[str, set[str]] = defaultdict(set)
    for o in outcomes:
        metric = outcome_metric(o.kind, config)
        if metric is not None:
            kinds[o.decision_id].add(metric)
    shown = []
    for key in sorted(set(docs) | set(by_exp)):
        report = _analysis(results, key) if key in docs else None
        if report is not None:
            status = str(report.get("status") or docs[key].get("status") or "")
            shown.append(result_from_report(key, status, report))
        else:
            shown.append(window_result(key, docs.get(key, {}), by_exp.get(key, []), kinds))
    bandits = bandit_shares([d for d in decisions if d.reason == "bandit"])
    message = (
        ""
        if shown or bandits
        else "No experiments yet: experiments and bandit slots appear here once /v1/decide has served them."
    )
    return ExperimentsPage(span=span, experiments=shown, bandits=bandits, message=message)


def _analysis(results: ExperimentResults | None, key: str) -> dict[str, Any] | None:
    if results is None:
        return None
    try:
        return results(key)
    except Exception:  # an experiment the decide service cannot analyse: fall back to the window's decisions
        log.warning("no analysis of experiment %s from the decide service", key, exc_info=True)
        return None


def window_result(
    key: str, doc: dict[str, Any], decisions: list[DecisionRow], kinds: dict[str, set[str]]
) -> ExperimentResult:
    """An experiment from the window's decisions alone: per variant, the profiles decided for (units) and
    those with an attributed click or conversion (``kinds``: decision id -> metrics)."""
    planned = [v for v in doc.get("variants", []) if isinstance(v, str)]
    units: dict[str, set[str]] = defaultdict(set)
    hits: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for d in decisions:
        variant = d.variant or "(none)"
        units[variant].add(d.profile_id)
        for kind in kinds.get(d.decision_id, ()):
            hits[variant][kind].add(d.profile_id)
    variants = planned + sorted(v for v in units if v not in planned)
    control = planned[0] if planned else (variants[0] if variants else "")
    data = {v: {m: ProportionStats(len(units[v]), len(hits[v][m])) for m in FALLBACK_METRICS} for v in variants}
    status = str(doc.get("status", "running" if decisions else "draft"))
    if len(variants) < 2 or not decisions:
        return ExperimentResult(
            key=key,
            status=status,
            control=control,
            variants=[
                VariantRow(
                    variant=v, units=len(units[v]), rates={m: s.mean if s.n else None for m, s in data[v].items()}
                )
                for v in variants
            ],
            comparisons=[],
            srm_flagged=False,
            srm_p=None,
            srm_message="",
            lift_chart=charts.interval_chart([]),
            message="no decisions in the window yet" if not decisions else "only one variant seen",
        )
    weights = doc.get("weights") if len(doc.get("weights") or []) == len(variants) else None
    if weights is not None and any(not isinstance(w, int | float) or w <= 0 for w in weights):
        weights = None
    report = analyze(data, control, [MetricSpec(name=m, kind="conversion") for m in FALLBACK_METRICS], weights=weights)
    return result_from_report(key, status, report.to_dict())


def result_from_report(key: str, status: str, report: dict[str, Any]) -> ExperimentResult:
    """An experiment's page section from an analysis report (``ExperimentReport.to_dict()`` shape, as the
    decide service's ``results`` returns it).

    >>> data = {"a": {"buy": ProportionStats(1000, 100)}, "b": {"buy": ProportionStats(1000, 150)}}
    >>> report = analyze(data, "a", [MetricSpec(name="buy", kind="conversion")]).to_dict()
    >>> r = result_from_report("e", "running", report)
    >>> [(v.variant, v.units, v.rates["buy"]) for v in r.variants], r.comparisons[0].significant
    ([('a', 1000, 0.1), ('b', 1000, 0.15)], True)
    """
    units = report.get("units") or {}
    metrics = report.get("metrics") or []
    rows = [
        VariantRow(
            variant=v,
            units=int(n),
            rates={m["name"]: (m.get("variants", {}).get(v) or {}).get("mean") for m in metrics},
        )
        for v, n in units.items()
    ]
    comparisons = []
    for m in metrics:
        for treatment, c in (m.get("comparisons") or {}).items():
            lift, test, bayes = c.get("lift") or {}, c.get("test") or {}, c.get("bayesian") or {}
            comparisons.append(
                ComparisonRow(
                    metric=m["name"],
                    treatment=treatment,
                    lift=lift.get("relative_lift"),
                    ci_low=lift.get("ci_low"),
                    ci_high=lift.get("ci_high"),
                    p_value=c.get("p_value_adjusted", test.get("p_value")),
                    chance_to_win=bayes.get("chance_to_win"),
                    significant=bool(c.get("significant")),
                    message=lift.get("message") or test.get("message") or "",
                    variance_reduction=c.get("variance_reduction"),
                )
            )
    srm = report.get("srm") or {}
    chart = charts.interval_chart([(f"{r.metric}: {r.treatment}", r.ci_low, r.lift, r.ci_high) for r in comparisons])
    return ExperimentResult(
        key=key,
        status=status,
        control=str(report.get("control", "")),
        variants=rows,
        comparisons=comparisons,
        srm_flagged=bool(srm.get("flagged")),
        srm_p=srm.get("p_value"),
        srm_message=srm.get("message") or "",
        lift_chart=chart,
        message=str(report.get("message") or ""),
        kinds={m["name"]: str(m.get("kind", "conversion")) for m in metrics},
    )


def bandit_shares(decisions: list[DecisionRow]) -> list[BanditShares]:
    """Per bandit slot, the share of each arm over time (buckets fitted to the slot's decisions) and last."""
    by_slot: dict[str, list[DecisionRow]] = defaultdict(list)
    for d in decisions:
        by_slot[d.slot].append(d)
    out = []
    for slot, rows in sorted(by_slot.items()):
        # buckets fitted to the decisions' own span: a bandit may have run for minutes or for months
        bucket = charts.time_bucket(min(d.at for d in rows), max(d.at for d in rows))
        counts: dict[float, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for d in rows:
            counts[math.floor(d.at / bucket) * bucket][d.variant or "(none)"] += 1
        arms = sorted({d.variant or "(none)" for d in rows})
        series = {arm: [(at, c[arm] / sum(c.values())) for at, c in sorted(counts.items())] for arm in arms}
        last = counts[max(counts)]
        out.append(
            BanditShares(
                slot=slot,
                decisions=len(rows),
                chart=charts.line_chart(series, y_format=charts.fmt_percent, y_max=1.0, title=f"Arm shares in {slot}"),
                latest={a: last[a] / sum(last.values()) for a in arms},
            )
        )
    return out
