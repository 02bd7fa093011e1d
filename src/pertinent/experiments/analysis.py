"""Analyse a whole experiment: every metric, every treatment vs control, SRM, corrections, guardrails.

>>> from pertinent.experiments.stats import ProportionStats
>>> data = {"a": {"buy": ProportionStats(4000, 400)}, "b": {"buy": ProportionStats(4000, 480)}}
>>> report = analyze(data, control="a", metrics=[MetricSpec(name="buy", kind="conversion")])
>>> c = report.metrics[0].comparisons["b"]
>>> (c.test.test, c.significant)
('two_proportion_z', True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pertinent.experiments.bayesian import BayesianResult, bayesian_compare
from pertinent.experiments.corrections import benjamini_hochberg, holm
from pertinent.experiments.frequentist import (
    ChiSquareResult,
    LiftResult,
    TestResult,
    chi_square_test,
    compare,
    relative_lift,
)
from pertinent.experiments.sequential import SequentialResult, sequential_test
from pertinent.experiments.srm import SrmResult, srm_check
from pertinent.experiments.stats import MetricStats, ProportionStats, RegressionAdjustedStats


class MetricSpec(BaseModel):
    """How to analyse one metric. A guardrail must not get significantly worse (one-sided test at alpha).

    >>> MetricSpec(name="revenue", kind="continuous", guardrail=True).higher_is_better
    True
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal["conversion", "continuous"]
    guardrail: bool = False
    higher_is_better: bool = True
    covariate: str | None = None


class AnalysisConfig(BaseModel):
    """Settings shared by every metric of an analysis.

    >>> AnalysisConfig().correction
    'holm'
    """

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["holm", "bh", "none"] = "holm"
    sequential_tuning: float = Field(default=5000, gt=0)
    srm_threshold: float = Field(default=0.001, gt=0, lt=1)


@dataclass(frozen=True)
class VariantSummary:
    """Units and mean of one metric in one variant."""

    units: int
    mean: float
    variance: float


@dataclass(frozen=True)
class Comparison:
    """Everything known about one treatment vs the control for one metric."""

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


@dataclass(frozen=True)
class MetricReport:
    """Results for one metric across variants."""

    name: str
    kind: str
    guardrail: bool
    higher_is_better: bool
    variants: dict[str, VariantSummary]
    comparisons: dict[str, Comparison]
    chi_square: ChiSquareResult | None = None
    message: str = ""


@dataclass(frozen=True)
class ExperimentReport:
    """The full analysis. ``message`` explains anything that could not be computed."""

    control: str
    units: dict[str, int]
    srm: SrmResult
    metrics: list[MetricReport] = field(default_factory=list)
    config: AnalysisConfig = field(default_factory=AnalysisConfig)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (see docs/experiments.md for the shape)."""
        out = asdict(self)
        out["config"] = self.config.model_dump()
        for metric, source in zip(out["metrics"], self.metrics, strict=True):
            for name, comp in metric["comparisons"].items():
                comp["p_value"] = source.comparisons[name].test.p_value
        return out


def _guardrail(test: TestResult, higher_is_better: bool, alpha: float) -> Literal["pass", "fail", "unknown"]:
    if test.p_value is None or test.difference is None:
        return "unknown"
    worse = test.difference < 0 if higher_is_better else test.difference > 0
    one_sided = test.p_value / 2 if worse else 1 - test.p_value / 2
    return "fail" if one_sided < alpha else "pass"


def analyze(
    data: Mapping[str, Mapping[str, MetricStats]],
    control: str,
    metrics: Sequence[MetricSpec],
    config: AnalysisConfig | None = None,
    weights: Sequence[float] | None = None,
) -> ExperimentReport:
    """Analyse ``data`` (variant -> metric name -> statistics). ``weights``: planned split, for the SRM check.

    Adjusted p-values (``config.correction``) are computed across all metric x treatment comparisons;
    ``significant`` uses the adjusted p-value. Thin data yields messages, not exceptions.
    """
    config = config or AnalysisConfig()
    variants = list(data)
    if control not in data:
        raise ValueError(f"control variant {control!r} not found; variants are {variants}")
    units = {v: max((s.n for s in data[v].values()), default=0) for v in variants}
    if weights is not None and len(weights) != len(variants):
        raise ValueError(f"weights has {len(weights)} entries but there are {len(variants)} variants")
    srm = srm_check([units[v] for v in variants], weights, config.srm_threshold)
    treatments = [v for v in variants if v != control]
    message = "" if treatments else "only one variant; nothing to compare"
    reports: list[dict[str, Any]] = []
    for spec in metrics:
        missing = [v for v in variants if spec.name not in data[v]]
        if missing:
            raise ValueError(f"metric {spec.name!r} has no statistics for variants {missing}")
        arms = {v: data[v][spec.name] for v in variants}
        summaries = {v: VariantSummary(s.n, s.mean, s.variance) for v, s in arms.items()}
        comps = {}
        for t in treatments:
            c, s = arms[control], arms[t]
            test = compare(c, s, config.alpha)
            vr = None
            if isinstance(c, RegressionAdjustedStats):
                from pertinent.experiments.effects import effect

                vr = effect(c, s).variance_reduction
            comps[t] = dict(
                treatment=t,
                control=control,
                test=test,
                lift=relative_lift(c, s, config.alpha),
                bayesian=bayesian_compare(c, s, spec.higher_is_better),
                sequential=sequential_test(c, s, config.alpha, config.sequential_tuning),
                guardrail_status=_guardrail(test, spec.higher_is_better, config.alpha) if spec.guardrail else None,
                variance_reduction=vr,
            )
        chi = None
        proportions = [a for a in arms.values() if isinstance(a, ProportionStats)]
        if spec.kind == "conversion" and len(proportions) == len(arms):
            chi = chi_square_test(proportions)
        reports.append(dict(spec=spec, variants=summaries, comps=comps, chi=chi))

    flat = [(i, t) for i, r in enumerate(reports) for t in r["comps"]]
    raw = [reports[i]["comps"][t]["test"].p_value for i, t in flat]
    if config.correction == "holm":
        adjusted = holm(raw)
    elif config.correction == "bh":
        adjusted = benjamini_hochberg(raw)
    else:
        adjusted = list(raw)
    for (i, t), adj in zip(flat, adjusted, strict=True):
        reports[i]["comps"][t]["p_value_adjusted"] = adj
        reports[i]["comps"][t]["significant"] = adj is not None and adj < config.alpha

    metric_reports = [
        MetricReport(
            name=r["spec"].name,
            kind=r["spec"].kind,
            guardrail=r["spec"].guardrail,
            higher_is_better=r["spec"].higher_is_better,
            variants=r["variants"],
            comparisons={t: Comparison(**c) for t, c in r["comps"].items()},
            chi_square=r["chi"],
            message=message,
        )
        for r in reports
    ]
    return ExperimentReport(control, units, srm, metric_reports, config, message)
