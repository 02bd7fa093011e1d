"""Bayesian summary: chance to win and expected loss of the relative lift (normal approximation, flat prior).

>>> from pertinent.experiments.stats import ProportionStats
>>> r = bayesian_compare(ProportionStats(5000, 500), ProportionStats(5000, 560))
>>> r.chance_to_win > 0.9
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as sps

from pertinent.experiments.effects import effect
from pertinent.experiments.stats import MetricStats


@dataclass(frozen=True)
class BayesianResult:
    """Posterior summary of the relative lift.

    ``chance_to_win``: P(treatment better than control). ``expected_loss``: expected relative shortfall
    if treatment is shipped and is in fact worse (E[max(-lift, 0)], "risk"). ``ci_*``: credible interval.

    >>> BayesianResult(None, None, None, None, "control has no units").ok
    False
    """

    chance_to_win: float | None
    expected_loss: float | None
    ci_low: float | None
    ci_high: float | None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the posterior could be computed."""
        return self.chance_to_win is not None


def bayesian_compare(
    control: MetricStats, treatment: MetricStats, higher_is_better: bool = True, interval: float = 0.95
) -> BayesianResult:
    """Gaussian posterior on relative lift (mean = estimate, variance = delta-method variance)."""
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")
    e = effect(control, treatment)
    if e.relative_lift is None or e.lift_variance is None:
        return BayesianResult(None, None, None, None, e.message or "relative lift is undefined")
    if e.lift_variance <= 0:
        return BayesianResult(None, None, None, None, "zero variance; the posterior is degenerate")
    sd = math.sqrt(e.lift_variance)
    mu = e.relative_lift if higher_is_better else -e.relative_lift
    ctw = float(sps.norm.cdf(mu / sd))
    # E[max(-X, 0)] for X ~ N(mu, sd^2)
    loss = float(sd * sps.norm.pdf(mu / sd) - mu * sps.norm.cdf(-mu / sd))
    z = sps.norm.ppf(0.5 + interval / 2)
    low, high = float(e.relative_lift - z * sd), float(e.relative_lift + z * sd)
    return BayesianResult(ctw, max(loss, 0.0), low, high, e.message)
