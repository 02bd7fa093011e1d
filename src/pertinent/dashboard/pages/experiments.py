"""The slots and experiments page: each experiment's variants, comparisons, SRM check and difference charts,
and the arm shares of bandit slots.

An experiment is shown from the decide service's analysis (every run, its own metrics) when one is given;
otherwise from the window's decisions and their attributed clicks and conversions, analysed by
:func:`pertinent.experiments.analysis.analyze`. Its comparisons show one test's result — the sequential one
while the experiment runs, the fixed-horizon one from its planned end — with that test's p-value, interval
on the absolute difference and a verdict that agrees with both (:mod:`.experiment_rule`).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pertinent.dashboard import charts
from pertinent.dashboard.pages.common import Span, decisions_in, outcome_metric, window_span
from pertinent.dashboard.pages.experiment_rule import (
    DecisionRule,
    choose_rule,
    fmt_difference,
    planned_end_of,
    verdict,
)
from pertinent.experiments.analysis import MetricSpec, analyze
from pertinent.experiments.corrections import benjamini_hochberg, holm
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
    """One treatment vs the control on one metric, from the decision rule's test: the absolute difference with
    that test's interval and adjusted p-value, and the verdict they agree on; also the relative lift (point
    estimate) and the Bayesian chance to win."""

    metric: str
    treatment: str
    kind: str  # "conversion" (differences in percentage points) or "continuous"
    difference: float | None
    ci_low: float | None  # the decision rule's interval on the absolute difference
    ci_high: float | None
    p_value: float | None  # the decision rule's p-value, adjusted across the experiment's comparisons
    significant: bool
    outcome: str  # "better" or "worse" when significant, else ""
    verdict: str  # e.g. "significant harm", "not significant"
    lift: float | None
    chance_to_win: float | None
    message: str
    variance_reduction: float | None = None  # CUPED: share of the variance the pre-period covariate removed

    @property
    def difference_text(self) -> str:
        return fmt_difference(self.difference, self.kind)

    @property
    def interval_text(self) -> str:
        if self.ci_low is None or self.ci_high is None:
            return "–"
        return f"[{fmt_difference(self.ci_low, self.kind)}, {fmt_difference(self.ci_high, self.kind)}]"


@dataclass(frozen=True, kw_only=True)
class MetricChart:
    """The comparisons of one metric as intervals around zero, on the metric's own scale."""

    metric: str
    caption: str
    chart: charts.IntervalChart


@dataclass(frozen=True, kw_only=True)
class ExperimentResult:
    """One experiment on the page: variants, comparisons, SRM check and the lift chart (see
    :func:`result_from_report`).

    >>> r = ExperimentResult(key="e", status="running", control="a", variants=[], comparisons=[],
    ...                      srm_flagged=False, srm_p=None, srm_message="", charts=[],
    ...                      rule=choose_rule(status="running", planned_end=None, planned_units=None, units=0,
    ...                                       now=0.0, alpha=0.05), kinds={"revenue": "continuous"})
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
    charts: list[MetricChart]
    rule: DecisionRule
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
    now = time.time() if now is None else now
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
            shown.append(result_from_report(key, status, report, doc=docs[key], now=now))
        else:
            shown.append(window_result(key, docs.get(key, {}), by_exp.get(key, []), kinds, now=now))
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
    key: str, doc: dict[str, Any], decisions: list[DecisionRow], kinds: dict[str, set[str]], *, now: float
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
            charts=[],
            rule=_rule(status, {}, doc, sum(len(u) for u in units.values()), now),
            message="no decisions in the window yet" if not decisions else "only one variant seen",
        )
    weights = doc.get("weights") if len(doc.get("weights") or []) == len(variants) else None
    if weights is not None and any(not isinstance(w, int | float) or w <= 0 for w in weights):
        weights = None
    report = analyze(data, control, [MetricSpec(name=m, kind="conversion") for m in FALLBACK_METRICS], weights=weights)
    return result_from_report(key, status, report.to_dict(), doc=doc, now=now)


def _rule(status: str, report: dict[str, Any], doc: dict[str, Any], units: int, now: float) -> DecisionRule:
    alpha = (report.get("config") or {}).get("alpha")
    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        alpha = 0.05
    planned_end, planned_units = planned_end_of(doc, report)
    return choose_rule(
        status=status, planned_end=planned_end, planned_units=planned_units, units=units, now=now, alpha=float(alpha)
    )


def _adjusted(p_values: list[float | None], correction: str) -> list[float | None]:
    """``p_values`` adjusted as the experiment's analysis adjusts its fixed-horizon ones."""
    valid = [p if p is None or 0 <= p <= 1 else None for p in p_values]
    if correction == "bh":
        return benjamini_hochberg(valid)
    return list(valid) if correction == "none" else holm(valid)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def result_from_report(
    key: str, status: str, report: dict[str, Any], *, doc: dict[str, Any] | None = None, now: float = 0.0
) -> ExperimentResult:
    """An experiment's page section from an analysis report (``ExperimentReport.to_dict()`` shape, as the
    decide service's ``results`` returns it) and its stored document (the planned end, if any): the
    comparisons of the decision rule's test (:mod:`.experiment_rule`).

    >>> data = {"a": {"buy": ProportionStats(1000, 100)}, "b": {"buy": ProportionStats(1000, 150)}}
    >>> report = analyze(data, "a", [MetricSpec(name="buy", kind="conversion")]).to_dict()
    >>> r = result_from_report("e", "running", report)
    >>> [(v.variant, v.units, v.rates["buy"]) for v in r.variants], r.rule.kind
    ([('a', 1000, 0.1), ('b', 1000, 0.15)], 'sequential')
    >>> c = r.comparisons[0]
    >>> c.difference_text, c.verdict, c.ci_low > 0
    ('+5 pp', 'significant improvement', True)
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
    total = report.get("units_total")
    rule = _rule(status, report, doc or {}, int(total) if isinstance(total, int) else sum(units.values()), now)
    entries = [(m, treatment, c or {}) for m in metrics for treatment, c in (m.get("comparisons") or {}).items()]
    if rule.kind == "sequential":
        raw = [_number((c.get("sequential") or {}).get("p_value")) for _, _, c in entries]
        correction = str((report.get("config") or {}).get("correction") or "holm")
        adjusted = _adjusted(raw, correction)
        intervals = [
            ((c.get("sequential") or {}).get("ci_low"), (c.get("sequential") or {}).get("ci_high"))
            for _, _, c in entries
        ]
    else:
        raw = [_number(c.get("p_value", (c.get("test") or {}).get("p_value"))) for _, _, c in entries]
        adjusted = [_number(c.get("p_value_adjusted", p)) for (_, _, c), p in zip(entries, raw, strict=True)]
        intervals = [tuple((c.get("test") or {}).get("difference_ci") or (None, None)) for _, _, c in entries]
    comparisons = []
    for (m, treatment, c), p_raw, p_adj, (low, high) in zip(entries, raw, adjusted, intervals, strict=True):
        test, lift, bayes = c.get("test") or {}, c.get("lift") or {}, c.get("bayesian") or {}
        sequential = c.get("sequential") or {}
        low, high = _number(low), _number(high)
        if m.get("kind", "conversion") == "conversion":  # a difference of two rates lies in [-1, 1]: a
            low = None if low is None else max(low, -1.0)  # confidence set cut to it keeps its coverage and
            high = None if high is None else min(high, 1.0)  # whether it holds 0
        v = verdict(
            p_adj,
            low,
            high,
            alpha=rule.alpha,
            higher_is_better=bool(m.get("higher_is_better", True)),
            corrected=p_adj is not None and p_raw is not None and p_adj > p_raw,
        )
        messages = [test.get("message"), sequential.get("message") if rule.kind == "sequential" else None]
        comparisons.append(
            ComparisonRow(
                metric=m["name"],
                treatment=treatment,
                kind=str(m.get("kind", "conversion")),
                difference=_number(test.get("difference")),
                ci_low=low,
                ci_high=high,
                p_value=p_adj,
                significant=v.significant,
                outcome=v.outcome,
                verdict=v.label,
                lift=_number(lift.get("relative_lift")),
                chance_to_win=_number(bayes.get("chance_to_win")),
                message="; ".join(dict.fromkeys(str(x) for x in messages if x)),
                variance_reduction=_number(c.get("variance_reduction")),
            )
        )
    srm = report.get("srm") or {}
    return ExperimentResult(
        key=key,
        status=status,
        control=str(report.get("control", "")),
        variants=rows,
        comparisons=comparisons,
        srm_flagged=bool(srm.get("flagged")),
        srm_p=srm.get("p_value"),
        srm_message=srm.get("message") or "",
        charts=metric_charts(comparisons, rule),
        rule=rule,
        message=str(report.get("message") or ""),
        kinds={m["name"]: str(m.get("kind", "conversion")) for m in metrics},
    )


def _difference_of_kind(value: float, *, kind: str) -> str:
    return fmt_difference(value, kind)


def metric_charts(comparisons: list[ComparisonRow], rule: DecisionRule) -> list[MetricChart]:
    """One interval chart per metric (its own scale), coloured by each comparison's verdict."""
    out = []
    for metric in dict.fromkeys(c.metric for c in comparisons):
        rows = [c for c in comparisons if c.metric == metric]
        kind = rows[0].kind
        chart = charts.interval_chart(
            [(c.treatment, c.ci_low, c.difference, c.ci_high) for c in rows],
            value_format=functools.partial(_difference_of_kind, kind=kind),
            css=[c.outcome or "flat" for c in rows],
        )
        scale = "percentage points" if kind == "conversion" else "the metric's unit"
        caption = (
            f"{metric}: difference vs control (absolute, in {scale}) with {rule.interval_label}s of the {rule.name}"
        )
        if not chart.empty:  # a metric without any interval yet says so in its table rows
            out.append(MetricChart(metric=metric, caption=caption, chart=chart))
    return out


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
