"""BG/NBD ("buy till you die", Fader, Hardie & Lee 2005) fitted by maximum likelihood, in days.

Per customer: ``x`` repeat orders (orders - 1), ``t_x`` days from the first to the last order, ``T`` days
from the first order to the cutoff. While alive a customer buys at rate lambda ~ Gamma(r, alpha); after
each order they drop out with probability p ~ Beta(a, b). Everything needed comes in closed form:

- ``p_alive`` = 1 / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x));
- the chance of no order in the next t days = (1 - p_alive) + p_alive * ((alpha + T) / (alpha + T + t)) ** (r + x)
  (an alive customer's rate has posterior Gamma(r + x, alpha + T));
- its quantiles: the q-quantile of the days to the next order is infinite when p_alive <= q, else
  (alpha + T) * (((p_alive - q) / p_alive) ** (-1 / (r + x)) - 1).

Fitting reads only the customers' histories before the cutoff (no labels), so its outputs are features.

>>> import numpy as np
>>> x, t_x, T = np.array([0, 2, 5, 1]), np.array([0.0, 20, 60, 5]), np.array([30.0, 40, 70, 90])
>>> fit = fit_bgnbd(np.tile(x, 30), np.tile(t_x, 30), np.tile(T, 30))
>>> bool(fit.converged), fit.p_alive(x, t_x, T).round(2).tolist()[0]
(True, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln


def _arrays(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    xs = np.asarray(x, dtype=float)
    txs = np.asarray(t_x, dtype=float)
    Ts = np.asarray(T, dtype=float)
    if not (xs.shape == txs.shape == Ts.shape):
        raise ValueError("x, t_x and T must have the same shape")
    return xs, txs, np.maximum(Ts, txs)


def _neg_log_likelihood(
    params: NDArray[np.float64], x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64]
) -> float:
    r, alpha, a, b = np.exp(params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    first = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(
            x > 0,
            betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    ll = common + np.logaddexp(first, second)
    value = -float(np.sum(ll))
    return value if np.isfinite(value) else 1e300


@dataclass(frozen=True)
class BGNBD:
    """Fitted BG/NBD parameters (time unit: days)."""

    r: float
    alpha: float
    a: float
    b: float
    n_customers: int
    converged: bool

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> NDArray[np.float64]:
        """Probability that each customer is still active at the cutoff."""
        xs, txs, Ts = _arrays(x, t_x, T)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.exp((self.r + xs) * (np.log(self.alpha + Ts) - np.log(self.alpha + txs)))
            odds = np.where(xs > 0, self.a / (self.b + np.maximum(xs, 1) - 1) * ratio, 0.0)
        return np.asarray(1.0 / (1.0 + odds), dtype=float)

    def p_no_order(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, days: float) -> NDArray[np.float64]:
        """Probability of no order within ``days`` after the cutoff."""
        xs, txs, Ts = _arrays(x, t_x, T)
        alive = self.p_alive(xs, txs, Ts)
        quiet = ((self.alpha + Ts) / (self.alpha + Ts + days)) ** (self.r + xs)
        return np.asarray((1.0 - alive) + alive * quiet, dtype=float)

    def quantile_days(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, q: float) -> NDArray[np.float64]:
        """The q-quantile of the days to the next order (``inf`` where the chance of ever ordering is < q)."""
        xs, txs, Ts = _arrays(x, t_x, T)
        alive = self.p_alive(xs, txs, Ts)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            share = np.where(alive > q, (alive - q) / alive, np.nan)
            days = (self.alpha + Ts) * (share ** (-1.0 / (self.r + xs)) - 1.0)
        return np.asarray(np.where(alive > q, days, np.inf), dtype=float)


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BGNBD:
    """Maximum-likelihood BG/NBD on customers' (x, t_x, T); ``converged`` False when the optimiser failed
    (the parameters are then its last point, still usable as a rough prior)."""
    xs, txs, Ts = _arrays(x, t_x, T)
    if xs.size == 0:
        return BGNBD(1.0, 1.0, 1.0, 1.0, 0, False)
    scale = max(float(np.mean(Ts)), 1e-6)
    start = np.log(np.array([1.0, scale, 1.0, 3.0]))
    bounds = [(-9.0, 9.0)] * 4  # the dropout pair (a, b) is weakly identified on short histories: keep it finite
    res = minimize(_neg_log_likelihood, start, args=(xs, txs, Ts), method="L-BFGS-B", bounds=bounds)
    r, alpha, a, b = (float(v) for v in np.exp(res.x))
    return BGNBD(r, alpha, a, b, int(xs.size), bool(res.success))
