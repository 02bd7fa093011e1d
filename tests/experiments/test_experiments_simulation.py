"""A/A simulations: false-positive rates stay at alpha, also for the sequential test under peeking.

Bounds are computed, not eyeballed: with R replications the observed rejection rate of a test at
level alpha has standard deviation sqrt(alpha (1 - alpha) / R); we allow 3 of those.
"""

from __future__ import annotations

import numpy as np

from pertinent.experiments.effects import difference_kernel
from pertinent.experiments.frequentist import z_two_proportion_kernel
from pertinent.experiments.sequential import msprt_kernel
from pertinent.experiments.stats import ProportionStats

ALPHA = 0.05
REPS = 4000


def upper_bound(alpha: float, reps: int, k: float = 3.0) -> float:
    return alpha + k * np.sqrt(alpha * (1 - alpha) / reps)


def test_fixed_horizon_ztest_false_positive_rate():
    rng = np.random.default_rng(1)
    n, p = 2000, 0.1
    xc, xt = rng.binomial(n, p, REPS), rng.binomial(n, p, REPS)
    _, pv = z_two_proportion_kernel(n, xc, n, xt)
    rate = np.mean(pv < ALPHA)
    sd = np.sqrt(ALPHA * (1 - ALPHA) / REPS)
    assert abs(rate - ALPHA) < 3 * sd


def test_kernel_agrees_with_dataclass_path():
    from pertinent.experiments.frequentist import two_proportion_ztest
    from pertinent.experiments.sequential import sequential_test

    c, t = ProportionStats(900, 90), ProportionStats(1000, 125)
    _, p = z_two_proportion_kernel(900, 90, 1000, 125)
    assert float(p) == two_proportion_ztest(c, t).p_value
    d, v = difference_kernel(c.mean, c.variance, c.n, t.mean, t.variance, t.n)
    sp, _ = msprt_kernel(d, v, c.n + t.n, ALPHA)
    assert float(sp) == sequential_test(c, t, ALPHA).p_value


def _peeking_paths(rng, reps, batches, batch, p):
    """Cumulative conversions after each batch: shape (reps, batches) per arm."""
    xc = np.cumsum(rng.binomial(batch, p, (reps, batches)), axis=1)
    xt = np.cumsum(rng.binomial(batch, p, (reps, batches)), axis=1)
    n = batch * np.arange(1, batches + 1)
    return xc, xt, np.broadcast_to(n, (reps, batches))


def test_sequential_stays_valid_under_peeking_while_naive_peeking_does_not():
    rng = np.random.default_rng(2)
    batches, batch, p = 50, 200, 0.1
    xc, xt, n = _peeking_paths(rng, REPS, batches, batch, p)
    mc, mt = xc / n, xt / n
    d, v = difference_kernel(mc, mc * (1 - mc), n, mt, mt * (1 - mt), n)
    seq_p, _ = msprt_kernel(d, v, 2 * n, ALPHA)
    seq_rate = np.mean((seq_p <= ALPHA).any(axis=1))  # stop at the first look with p <= alpha
    _, naive_p = z_two_proportion_kernel(n, xc, n, xt)
    naive_rate = np.mean((naive_p < ALPHA).any(axis=1))
    bound = upper_bound(ALPHA, REPS)
    assert seq_rate <= bound
    assert naive_rate > bound  # peeking a fixed-horizon test inflates false positives
    assert naive_rate > 2 * ALPHA


def test_sequential_has_power_when_there_is_an_effect():
    rng = np.random.default_rng(3)
    reps, batches, batch = 1000, 50, 400
    xc = np.cumsum(rng.binomial(batch, 0.10, (reps, batches)), axis=1)
    xt = np.cumsum(rng.binomial(batch, 0.12, (reps, batches)), axis=1)
    n = batch * np.arange(1, batches + 1)
    mc, mt = xc / n, xt / n
    d, v = difference_kernel(mc, mc * (1 - mc), n, mt, mt * (1 - mt), n)
    seq_p, _ = msprt_kernel(d, v, 2 * n, ALPHA)
    assert np.mean((seq_p <= ALPHA).any(axis=1)) > 0.9


def test_welch_false_positive_rate_continuous():
    from scipy import stats as sps

    rng = np.random.default_rng(4)
    n = 300
    a = rng.lognormal(0, 1, (REPS, n))
    b = rng.lognormal(0, 1, (REPS, n))
    from pertinent.experiments.frequentist import welch_ttest
    from pertinent.experiments.stats import SampleMeanStats

    # vectorised sufficient statistics, then the library's test on a subset (it is scalar)
    sa = [SampleMeanStats(n, float(x.sum()), float((x * x).sum())) for x in a[:1000]]
    sb = [SampleMeanStats(n, float(x.sum()), float((x * x).sum())) for x in b[:1000]]
    rate = np.mean([welch_ttest(x, y).p_value < ALPHA for x, y in zip(sa, sb, strict=True)])
    assert rate <= upper_bound(ALPHA, 1000)
    # scipy reference on the full set as a sanity check of the simulation itself
    assert np.mean(sps.ttest_ind(a, b, axis=1, equal_var=False).pvalue < ALPHA) <= upper_bound(ALPHA, REPS)
