"""Summable sufficient statistics per variant (GrowthBook gbstats style).

Each is a small frozen dataclass; ``a + b`` merges two batches (e.g. two days of data).

>>> ProportionStats(100, 20) + ProportionStats(100, 30)
ProportionStats(n=200, successes=50)
>>> (ProportionStats(100, 20) + ProportionStats(100, 30)).mean
0.25
>>> SampleMeanStats.from_values([1.0, 2.0, 3.0]).variance
1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


def _check_n(name: str, n: float) -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{name}: n must be a non-negative integer, got {n!r}")


def _finite(name: str, field: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name}: {field} must be finite, got {value!r}")


@dataclass(frozen=True)
class ProportionStats:
    """Conversions: ``successes`` out of ``n`` units.

    >>> round(ProportionStats(n=50, successes=10).variance, 4)
    0.16
    """

    n: int
    successes: int

    def __post_init__(self) -> None:
        _check_n("ProportionStats", self.n)
        if not 0 <= self.successes <= self.n:
            raise ValueError(f"ProportionStats: successes must be between 0 and n={self.n}, got {self.successes}")

    def __add__(self, other: ProportionStats) -> ProportionStats:
        if not isinstance(other, ProportionStats):
            return NotImplemented
        return ProportionStats(self.n + other.n, self.successes + other.successes)

    @classmethod
    def from_values(cls, values: Iterable[bool | int]) -> ProportionStats:
        """Count units and successes from 0/1 or boolean values."""
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
        if arr.size and not np.isin(arr.astype(float), (0.0, 1.0)).all():
            raise ValueError("ProportionStats.from_values: values must be booleans or 0/1")
        return cls(int(arr.size), int(arr.astype(float).sum()))

    @property
    def mean(self) -> float:
        """Conversion rate (0 when there are no units)."""
        return self.successes / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Per-unit Bernoulli variance p(1-p)."""
        p = self.mean
        return p * (1 - p)


@dataclass(frozen=True)
class SampleMeanStats:
    """A continuous metric: count, sum and sum of squares of per-unit values.

    >>> s = SampleMeanStats(n=3, sum=6.0, sum_squares=14.0)
    >>> (s.mean, s.variance)
    (2.0, 1.0)
    """

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        _check_n("SampleMeanStats", self.n)
        _finite("SampleMeanStats", "sum", self.sum)
        _finite("SampleMeanStats", "sum_squares", self.sum_squares)
        if self.sum_squares < 0:
            raise ValueError(f"SampleMeanStats: sum_squares must be >= 0, got {self.sum_squares}")

    def __add__(self, other: SampleMeanStats) -> SampleMeanStats:
        if not isinstance(other, SampleMeanStats):
            return NotImplemented
        return SampleMeanStats(self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares)

    @classmethod
    def from_values(cls, values: Iterable[float]) -> SampleMeanStats:
        """Summarise raw per-unit values (must be finite)."""
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
        if not np.isfinite(arr).all():
            raise ValueError("SampleMeanStats.from_values: values must be finite numbers (no NaN/inf)")
        return cls(int(arr.size), float(arr.sum()), float(np.square(arr).sum()))

    @property
    def mean(self) -> float:
        """Mean value (0 when there are no units)."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); 0 with fewer than two units."""
        if self.n < 2:
            return 0.0
        return max((self.sum_squares - self.sum**2 / self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True)
class RegressionAdjustedStats:
    """A metric with its pre-period covariate for CUPED: post (y) and pre (x) sums plus the cross sum.

    >>> s = RegressionAdjustedStats.from_values([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    >>> round(s.covariance, 3)
    1.5
    """

    n: int
    sum: float
    sum_squares: float
    pre_sum: float
    pre_sum_squares: float
    sum_product: float

    def __post_init__(self) -> None:
        _check_n("RegressionAdjustedStats", self.n)
        for field in ("sum", "sum_squares", "pre_sum", "pre_sum_squares", "sum_product"):
            _finite("RegressionAdjustedStats", field, getattr(self, field))

    def __add__(self, other: RegressionAdjustedStats) -> RegressionAdjustedStats:
        if not isinstance(other, RegressionAdjustedStats):
            return NotImplemented
        return RegressionAdjustedStats(
            self.n + other.n,
            self.sum + other.sum,
            self.sum_squares + other.sum_squares,
            self.pre_sum + other.pre_sum,
            self.pre_sum_squares + other.pre_sum_squares,
            self.sum_product + other.sum_product,
        )

    @classmethod
    def from_values(cls, post: Iterable[float], pre: Iterable[float]) -> RegressionAdjustedStats:
        """Summarise paired per-unit (post, pre) values of equal length."""
        y = np.asarray(list(post) if not isinstance(post, np.ndarray) else post, dtype=float)
        x = np.asarray(list(pre) if not isinstance(pre, np.ndarray) else pre, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"RegressionAdjustedStats.from_values: post has {y.size} values, pre has {x.size}")
        if not (np.isfinite(y).all() and np.isfinite(x).all()):
            raise ValueError("RegressionAdjustedStats.from_values: values must be finite numbers (no NaN/inf)")
        return cls(
            int(y.size),
            float(y.sum()),
            float((y * y).sum()),
            float(x.sum()),
            float((x * x).sum()),
            float((x * y).sum()),
        )

    @property
    def post(self) -> SampleMeanStats:
        """The metric itself."""
        return SampleMeanStats(self.n, self.sum, max(self.sum_squares, 0.0))

    @property
    def pre(self) -> SampleMeanStats:
        """The pre-period covariate."""
        return SampleMeanStats(self.n, self.pre_sum, max(self.pre_sum_squares, 0.0))

    @property
    def mean(self) -> float:
        """Unadjusted mean of the metric."""
        return self.post.mean

    @property
    def variance(self) -> float:
        """Unadjusted sample variance of the metric."""
        return self.post.variance

    @property
    def covariance(self) -> float:
        """Sample covariance between metric and covariate (ddof=1)."""
        if self.n < 2:
            return 0.0
        return (self.sum_product - self.sum * self.pre_sum / self.n) / (self.n - 1)


MetricStats = ProportionStats | SampleMeanStats | RegressionAdjustedStats
