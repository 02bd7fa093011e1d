"""Sequential testing valid under continuous peeking: mixture SPRT / normal-mixture confidence sequences.

The always-valid p-value (Johari et al., "Always valid inference", as used by Optimizely) with a normal
mixture whose variance is tuned so the confidence sequence is tightest at ``tuning`` total units (the
parameterisation GrowthBook documents, default 5000). Looking after every batch and stopping the first
time ``p_value <= alpha`` keeps the false-positive rate at or below alpha.

>>> from pertinent.experiments.stats import ProportionStats
>>> r = sequential_test(ProportionStats(20000, 2000), ProportionStats(20000, 2300))
>>> r.p_value < 0.05 and r.ci_low > 0
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pertinent.experiments.effects import effect
from pertinent.experiments.stats import MetricStats


@dataclass(frozen=True)
class SequentialResult:
    """Always-valid p-value and confidence-sequence interval on the absolute difference.

    >>> SequentialResult(None, None, None, "control has no units").ok
    False
    """

    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the test could be computed."""
        return self.p_value is not None


def mixture_rho2(alpha: float, tuning: float) -> float:
    """Mixture variance (per unit of total sample size) that minimises the interval width at ``tuning``."""
    a = -2 * math.log(alpha)
    return (a + math.log(a + 1)) / tuning


def msprt_kernel(
    difference: Any, variance: Any, n_total: Any, alpha: float = 0.05, tuning: float = 5000
) -> tuple[Any, Any]:
    """Always-valid p-value and half-width; broadcasts over numpy arrays.

    With ``V`` the variance of the difference and ``r = n_total * rho2``, the likelihood ratio is
    ``(1 + r)^-1/2 * exp(z^2 r / (2 (1 + r)))`` with ``z = difference / sqrt(V)``; the p-value is its
    inverse (capped at 1) and the half-width solves ``p = alpha``.
    """
    diff = np.asarray(difference, dtype=float)
    var = np.asarray(variance, dtype=float)
    r = np.asarray(n_total, dtype=float) * mixture_rho2(alpha, tuning)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z2 = diff**2 / var
        log_lr = -0.5 * np.log1p(r) + z2 * r / (2 * (1 + r))
        p = np.minimum(1.0, np.exp(-log_lr))
        half = np.sqrt(var * (1 + r) / r * (2 * math.log(1 / alpha) + np.log1p(r)))
    return p, half


def sequential_test(
    control: MetricStats, treatment: MetricStats, alpha: float = 0.05, tuning: float = 5000
) -> SequentialResult:
    """Always-valid test of treatment vs control at the current look."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if tuning <= 0:
        raise ValueError(f"tuning must be a positive number of units, got {tuning}")
    e = effect(control, treatment)
    if e.difference is None or e.difference_variance is None:
        return SequentialResult(None, None, None, e.message)
    if e.difference_variance <= 0:
        return SequentialResult(None, None, None, "zero variance in both variants; the test is undefined")
    p, half = msprt_kernel(e.difference, e.difference_variance, e.n_control + e.n_treatment, alpha, tuning)
    return SequentialResult(float(p), e.difference - float(half), e.difference + float(half), e.message)
