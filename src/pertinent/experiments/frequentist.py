"""Fixed-horizon tests: two-proportion z, chi-square, Welch t (with CUPED), relative-lift intervals, the Wilson
interval of one proportion.

Results are typed and carry a ``message`` instead of raising on thin data. Thin data is handled, not just
reported: conversions with an expected count below 5 in any cell get Fisher's exact test and an
Agresti-Caffo interval instead of the normal approximations, and relative-lift intervals use a t quantile
with Welch-Satterthwaite degrees of freedom (as gbstats does), never reaching below -100% for conversions.

>>> from pertinent.experiments.stats import ProportionStats
>>> r = two_proportion_ztest(ProportionStats(1000, 100), ProportionStats(1000, 130))
>>> r.p_value < 0.05
True
>>> two_proportion_ztest(ProportionStats(0, 0), ProportionStats(10, 1)).message
'control has no units'
>>> r = two_proportion_ztest(ProportionStats(100, 0), ProportionStats(100, 5))
>>> r.test, round(r.p_value, 3)
('fisher_exact', 0.059)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from pertinent.experiments.effects import effect
from pertinent.experiments.stats import MetricStats, ProportionStats, RegressionAdjustedStats, SampleMeanStats


@dataclass(frozen=True)
class TestResult:
    """A two-sided hypothesis test of treatment vs control.

    >>> TestResult("welch_t", None, None, None, None, None, "no data").ok
    False
    """

    __test__ = False  # not a pytest class

    test: str
    statistic: float | None
    p_value: float | None
    difference: float | None
    difference_ci: tuple[float, float] | None
    df: float | None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when a p-value could be computed."""
        return self.p_value is not None


@dataclass(frozen=True)
class LiftResult:
    """Relative lift (treatment / control - 1) with a delta-method confidence interval.

    >>> LiftResult(0.1, 0.02, 0.18, 0.04).ci
    (0.02, 0.18)
    """

    relative_lift: float | None
    ci_low: float | None
    ci_high: float | None
    std_error: float | None
    message: str = ""

    @property
    def ci(self) -> tuple[float, float] | None:
        """(low, high) or None."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_low, self.ci_high)


@dataclass(frozen=True)
class ChiSquareResult:
    """Chi-square test of independence between variant and conversion (2 x k table, no continuity correction).

    >>> ChiSquareResult(None, None, None, "needs at least 2 variants").ok
    False
    """

    statistic: float | None
    p_value: float | None
    dof: int | None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when a p-value could be computed."""
        return self.p_value is not None


def z_two_proportion_kernel(nc: Any, xc: Any, nt: Any, xt: Any) -> tuple[Any, Any]:
    """Pooled two-proportion z statistic and two-sided p-value; broadcasts over numpy arrays.

    Matches statsmodels ``proportions_ztest`` (pooled variance). Undefined cells give NaN.
    """
    nc, xc, nt, xt = (np.asarray(a, dtype=float) for a in (nc, xc, nt, xt))
    pooled = (xc + xt) / (nc + nt)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
        z = (xt / nt - xc / nc) / se
    p = 2 * sps.norm.sf(np.abs(z))
    return z, p


MIN_EXPECTED_COUNT = 5.0  # below this expected count in a 2 x 2 cell, the z-test's p-value is not trusted
MIN_UNITS_FOR_NORMAL = 30  # below this many units in a variant, intervals are flagged as approximate


def _welch_df(var_c: float, n_c: int, var_t: float, n_t: int) -> float | None:
    """Welch-Satterthwaite degrees of freedom of a difference of means (None when undefined)."""
    a, b = var_c / n_c, var_t / n_t
    denominator = (a**2 / (n_c - 1) if n_c > 1 else 0.0) + (b**2 / (n_t - 1) if n_t > 1 else 0.0)
    if denominator <= 0 or n_c < 2 or n_t < 2:
        return None
    return float((a + b) ** 2 / denominator)


def agresti_caffo_ci(control: ProportionStats, treatment: ProportionStats, alpha: float = 0.05) -> tuple[float, float]:
    """Agresti-Caffo interval for ``treatment.mean - control.mean``: the Wald interval after adding one success
    and one failure to each variant. It keeps close to its nominal coverage with few units or conversions,
    where the plain Wald interval undercovers; clipped to [-1, 1].

    >>> low, high = agresti_caffo_ci(ProportionStats(100, 0), ProportionStats(100, 5))
    >>> round(low, 4), round(high, 4)
    (-0.0005, 0.0985)
    """
    nc, nt = control.n + 2, treatment.n + 2
    pc, pt = (control.successes + 1) / nc, (treatment.successes + 1) / nt
    half = float(sps.norm.ppf(1 - alpha / 2)) * math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    return (max(pt - pc - half, -1.0), min(pt - pc + half, 1.0))


def _thin_table(control: ProportionStats, treatment: ProportionStats) -> bool:
    """True when a cell of the 2 x 2 table has an expected count below ``MIN_EXPECTED_COUNT``."""
    total = control.n + treatment.n
    successes = control.successes + treatment.successes
    failures = total - successes
    return min(control.n, treatment.n) * min(successes, failures) / total < MIN_EXPECTED_COUNT


def _normal_ci(center: float, variance: float, alpha: float) -> tuple[float, float]:
    half = sps.norm.ppf(1 - alpha / 2) * math.sqrt(variance)
    return (center - half, center + half)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")


def two_proportion_ztest(control: ProportionStats, treatment: ProportionStats, alpha: float = 0.05) -> TestResult:
    """Pooled two-proportion z-test (two-sided); the CI on the difference uses the unpooled variance.

    With an expected count below 5 in any cell of the 2 x 2 table (few units or few conversions) the z-test's
    p-value is not to be trusted: Fisher's exact test (two-sided) and the Agresti-Caffo interval are returned
    instead (``test == "fisher_exact"``), with a message saying so."""
    _check_alpha(alpha)
    e = effect(control, treatment)
    if e.difference is None or e.difference_variance is None:
        return TestResult("two_proportion_z", None, None, None, None, None, e.message)
    pooled = (control.successes + treatment.successes) / (control.n + treatment.n)
    if pooled in (0.0, 1.0):
        msg = "no variation: every unit converted" if pooled == 1 else "no variation: no unit converted"
        return TestResult("two_proportion_z", None, None, e.difference, None, None, msg)
    if _thin_table(control, treatment):
        table = [
            [treatment.successes, treatment.n - treatment.successes],
            [control.successes, control.n - control.successes],
        ]
        _, p_exact = sps.fisher_exact(table, alternative="two-sided")
        msg = (
            f"few units or conversions (an expected count below {MIN_EXPECTED_COUNT:g}): "
            "Fisher's exact test and an Agresti-Caffo interval instead of the z-test"
        )
        ci_exact = agresti_caffo_ci(control, treatment, alpha)
        return TestResult("fisher_exact", None, float(p_exact), e.difference, ci_exact, None, msg)
    z, p = z_two_proportion_kernel(control.n, control.successes, treatment.n, treatment.successes)
    ci = _normal_ci(e.difference, e.difference_variance, alpha) if e.difference_variance > 0 else None
    return TestResult("two_proportion_z", float(z), float(p), e.difference, ci, None, "")


def chi_square_test(arms: Sequence[ProportionStats]) -> ChiSquareResult:
    """Chi-square test over all variants at once (2 x k contingency table, no Yates correction)."""
    present = [a for a in arms if a.n > 0]
    if len(present) < 2:
        return ChiSquareResult(None, None, None, "needs at least 2 variants with units")
    table = np.array([[a.successes, a.n - a.successes] for a in present], dtype=float)
    if (table.sum(axis=0) == 0).any():
        return ChiSquareResult(None, None, None, "no variation: all units share the same outcome")
    chi2, p, dof, _ = sps.chi2_contingency(table, correction=False)
    message = "" if len(present) == len(arms) else "variants without units were left out"
    return ChiSquareResult(float(chi2), float(p), int(dof), message)


def welch_ttest(
    control: SampleMeanStats | RegressionAdjustedStats,
    treatment: SampleMeanStats | RegressionAdjustedStats,
    alpha: float = 0.05,
) -> TestResult:
    """Welch unequal-variance t-test on means; CUPED-adjusted with :class:`RegressionAdjustedStats`."""
    _check_alpha(alpha)
    name = "cuped_t" if isinstance(control, RegressionAdjustedStats) else "welch_t"
    e = effect(control, treatment)
    if e.difference is None or e.difference_variance is None:
        return TestResult(name, None, None, None, None, None, e.message)
    if e.difference_variance <= 0:
        return TestResult(
            name,
            None,
            None,
            e.difference,
            None,
            None,
            "zero variance in both variants; the t-test is undefined",
        )
    a, b = e.var_control / e.n_control, e.var_treatment / e.n_treatment
    df = (a + b) ** 2 / (a**2 / (e.n_control - 1) + b**2 / (e.n_treatment - 1))
    t = e.difference / math.sqrt(e.difference_variance)
    p = 2 * sps.t.sf(abs(t), df)
    half = sps.t.ppf(1 - alpha / 2, df) * math.sqrt(e.difference_variance)
    return TestResult(name, float(t), float(p), e.difference, (e.difference - half, e.difference + half), float(df))


def relative_lift(control: MetricStats, treatment: MetricStats, alpha: float = 0.05) -> LiftResult:
    """Relative lift with a delta-method confidence interval.

    The interval uses a t quantile with Welch-Satterthwaite degrees of freedom (gbstats does the same; it is
    wider than the normal one on small samples, where the normal one undercovers). For conversions the lift
    cannot fall below -100%, so neither does the interval. Below ``MIN_UNITS_FOR_NORMAL`` units in a variant
    the message says the interval is approximate.

    >>> r = relative_lift(ProportionStats(12, 3), ProportionStats(12, 1))
    >>> r.ci_low, r.message.startswith("fewer than 30 units")
    (-1.0, True)
    """
    _check_alpha(alpha)
    e = effect(control, treatment)
    if e.relative_lift is None or e.lift_variance is None:
        return LiftResult(None, None, None, None, e.message or "relative lift is undefined")
    if e.lift_variance <= 0:
        return LiftResult(e.relative_lift, None, None, 0.0, "zero variance; no interval")
    df = _welch_df(e.var_control, e.n_control, e.var_treatment, e.n_treatment)
    quantile = sps.t.ppf(1 - alpha / 2, df) if df is not None else sps.norm.ppf(1 - alpha / 2)
    half = float(quantile) * math.sqrt(e.lift_variance)
    low, high = e.relative_lift - half, e.relative_lift + half
    messages = [e.message] if e.message else []
    if min(e.n_control, e.n_treatment) < MIN_UNITS_FOR_NORMAL:
        messages.append(f"fewer than {MIN_UNITS_FOR_NORMAL} units in a variant: the interval is approximate")
    if isinstance(control, ProportionStats) and low < -1.0:
        low = -1.0  # a conversion rate cannot fall by more than all of it
    return LiftResult(e.relative_lift, low, high, math.sqrt(e.lift_variance), "; ".join(messages))


def wilson_interval(stats: ProportionStats, alpha: float = 0.05) -> tuple[float, float] | None:
    """The Wilson score interval of one proportion (``successes`` of ``n``, e.g. a click-through rate) at
    confidence ``1 - alpha``, as scipy's ``binomtest`` gives it; None without units.

    >>> [round(v, 4) for v in wilson_interval(ProportionStats(100, 10))], wilson_interval(ProportionStats(0, 0))
    ([0.0552, 0.1744], None)
    """
    _check_alpha(alpha)
    if stats.n == 0:
        return None
    ci = sps.binomtest(stats.successes, stats.n).proportion_ci(confidence_level=1 - alpha, method="wilson")
    return float(ci.low), float(ci.high)


def compare(control: MetricStats, treatment: MetricStats, alpha: float = 0.05) -> TestResult:
    """The default test for a statistics type: z-test for proportions, Welch t (CUPED) for means."""
    if isinstance(control, ProportionStats) and isinstance(treatment, ProportionStats):
        return two_proportion_ztest(control, treatment, alpha)
    if isinstance(control, ProportionStats) or isinstance(treatment, ProportionStats):
        raise TypeError("control and treatment must be the same statistics type")
    return welch_ttest(control, treatment, alpha)
