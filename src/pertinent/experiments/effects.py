"""Treatment-vs-control effect estimates (difference and relative lift) from summable statistics.

Everything downstream (frequentist, Bayesian, sequential) works on an :class:`Effect`, so CUPED
adjustment happens once here. The ``*_kernel`` functions broadcast over numpy arrays, which keeps
simulations vectorised.

>>> from pertinent.experiments.stats import ProportionStats
>>> e = effect(ProportionStats(1000, 100), ProportionStats(1000, 120))
>>> round(e.relative_lift, 3)
0.2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pertinent.experiments.stats import MetricStats, ProportionStats, RegressionAdjustedStats


@dataclass(frozen=True)
class Effect:
    """Means, per-unit variances and the effect of treatment over control.

    ``difference_variance`` and ``lift_variance`` are variances of the estimates (delta method for the
    lift). ``message`` is non-empty when something could not be estimated (fields are then None).

    >>> from pertinent.experiments.stats import SampleMeanStats
    >>> effect(SampleMeanStats(0, 0.0, 0.0), SampleMeanStats(5, 5.0, 5.0)).message
    'control has no units'
    """

    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    var_control: float
    var_treatment: float
    difference: float | None
    difference_variance: float | None
    relative_lift: float | None
    lift_variance: float | None
    variance_reduction: float | None = None
    message: str = ""


def difference_kernel(mc: Any, vc: Any, nc: Any, mt: Any, vt: Any, nt: Any) -> tuple[Any, Any]:
    """Difference of means and its (unpooled) variance; works on scalars or numpy arrays."""
    return mt - mc, vc / nc + vt / nt


def lift_kernel(mc: Any, vc: Any, nc: Any, mt: Any, vt: Any, nt: Any) -> tuple[Any, Any]:
    """Relative lift mt/mc - 1 and its delta-method variance; scalars or numpy arrays."""
    lift = mt / mc - 1
    var = vt / (nt * mc**2) + (mt**2) * vc / (nc * mc**4)
    return lift, var


def _summary(stats: MetricStats) -> tuple[int, float, float]:
    return stats.n, stats.mean, stats.variance


def _cuped(
    control: RegressionAdjustedStats, treatment: RegressionAdjustedStats
) -> tuple[float, float, float, float, float]:
    """Pooled theta, adjusted means and per-unit variances (GrowthBook-style CUPED)."""
    pooled = control + treatment
    var_x = pooled.pre.variance
    theta = pooled.covariance / var_x if var_x > 0 else 0.0
    mean_x = pooled.pre.mean
    adj_c = control.mean - theta * (control.pre.mean - mean_x)
    adj_t = treatment.mean - theta * (treatment.pre.mean - mean_x)

    def adjusted_var(s: RegressionAdjustedStats) -> float:
        return max(s.variance + theta**2 * s.pre.variance - 2 * theta * s.covariance, 0.0)

    return theta, adj_c, adj_t, adjusted_var(control), adjusted_var(treatment)


def effect(control: MetricStats, treatment: MetricStats) -> Effect:
    """Estimate difference and relative lift of ``treatment`` over ``control``; never raises on thin data.

    Both arguments must be the same statistics type. With :class:`RegressionAdjustedStats` the means
    and variances are CUPED-adjusted and ``variance_reduction`` reports the share of variance removed.
    """
    if type(control) is not type(treatment):
        raise TypeError(
            f"control and treatment must be the same statistics type, got "
            f"{type(control).__name__} and {type(treatment).__name__}"
        )
    nc, mc, vc = _summary(control)
    nt, mt, vt = _summary(treatment)
    reduction: float | None = None
    if isinstance(control, RegressionAdjustedStats) and isinstance(treatment, RegressionAdjustedStats):
        if nc and nt:
            _, mc, mt, adj_vc, adj_vt = _cuped(control, treatment)
            raw = vc / nc + vt / nt
            adjusted = adj_vc / nc + adj_vt / nt
            reduction = 1 - adjusted / raw if raw > 0 else None
            vc, vt = adj_vc, adj_vt

    def without_effect(message: str) -> Effect:
        return Effect(nc, nt, mc, mt, vc, vt, None, None, None, None, None, message)

    if nc == 0:
        return without_effect("control has no units")
    if nt == 0:
        return without_effect("treatment has no units")
    min_n = 1 if isinstance(control, ProportionStats) else 2
    if nc < min_n or nt < min_n:
        return without_effect("need at least 2 units per variant to estimate a variance")
    diff, diff_var = difference_kernel(mc, vc, nc, mt, vt, nt)
    messages = []
    if diff_var <= 0:
        messages.append("zero variance in both variants; the effect has no uncertainty estimate")
    if mc == 0:
        lift = lift_var = None
        messages.append("control mean is 0; relative lift is undefined")
    else:
        lift, lift_var = lift_kernel(mc, vc, nc, mt, vt, nt)
    return Effect(
        n_control=nc,
        n_treatment=nt,
        mean_control=mc,
        mean_treatment=mt,
        var_control=vc,
        var_treatment=vt,
        difference=float(diff),
        difference_variance=float(diff_var),
        relative_lift=None if lift is None else float(lift),
        lift_variance=None if lift_var is None else float(lift_var),
        variance_reduction=reduction,
        message="; ".join(messages),
    )
