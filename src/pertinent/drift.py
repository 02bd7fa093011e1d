"""Drift of a feature's distribution between a reference window and the current window.

One interface, :class:`DriftDetector`: ``compare(reference, current) -> DriftResult``. Values are numbers
(binned on the reference's quantiles) or labels (one bin per category; rare ones pooled as "other");
``None``/NaN are dropped. Every detector passes ``tests/dashboard/test_drift.py``'s contract suite.

* :class:`PSI` — population stability index, alert above 0.2 (the classic "significant shift");
* :class:`KLDivergence` — KL(current || reference) in nats on the same bins, alert above 0.1;
* :class:`KSTest` — two-sample Kolmogorov-Smirnov (scipy), numbers only: alert when p < alpha and D is
  at least ``min_statistic`` (large samples make tiny differences significant).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ref = rng.normal(0, 1, 2000)
>>> PSI().compare(ref, rng.normal(0, 1, 2000)).alert, PSI().compare(ref, rng.normal(1, 1, 2000)).alert
(False, True)
>>> PSI().compare([1.0, 2.0], [1.0]).message
'needs at least 30 values in each window (reference 2, current 1)'
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import special
from scipy import stats as sps


class DriftConfig(BaseModel):
    """Settings common to every detector: alert threshold, minimum sample, bins, smoothing.

    >>> DriftConfig(threshold=0.25).bins
    10
    """

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=0.2, gt=0)
    min_samples: int = Field(default=30, ge=1)
    bins: int = Field(default=10, ge=2, le=100)
    max_categories: int = Field(default=20, ge=2, le=1000)
    epsilon: float = Field(default=1e-4, gt=0, lt=0.01)  # floor on bin shares (an empty bin is not infinity)


class KLConfig(DriftConfig):
    """KL divergence: alert above 0.1 nats by default.

    >>> KLConfig().threshold
    0.1
    """

    threshold: float = Field(default=0.1, gt=0)


class KSConfig(DriftConfig):
    """KS test: ``threshold`` is the p-value below which a difference counts (alpha).

    >>> KSConfig().threshold, KSConfig().min_statistic
    (0.01, 0.1)
    """

    threshold: float = Field(default=0.01, gt=0, lt=1)
    min_statistic: float = Field(default=0.1, ge=0, le=1)


@dataclass(frozen=True)
class DriftResult:
    """One comparison. ``statistic`` is None (with a ``message``) when the data cannot say.

    >>> DriftResult("psi", None, 0.2, False, 3, 4, message="thin").alert
    False
    """

    detector: str
    statistic: float | None
    threshold: float
    alert: bool
    n_reference: int
    n_current: int
    p_value: float | None = None
    kind: str = ""  # "numeric" or "categorical"
    message: str = ""


_NUMBERS = (float, int, np.floating, np.integer)


def _clean(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    append = out.append
    for v in values:
        if v is None:
            continue
        if v is True or v is False or isinstance(v, bool | np.bool_):
            append(str(bool(v)).lower())
        elif isinstance(v, _NUMBERS):
            f = float(v)
            if math.isfinite(f):
                append(f)
        else:
            append(str(v))
    return out


def prepare(reference: Iterable[Any], current: Iterable[Any]) -> tuple[str, list[Any], list[Any]]:
    """Drop missing values; numeric when both sides hold only numbers, else labels.

    >>> prepare([1, None, float("nan"), 2], [3])
    ('numeric', [1.0, 2.0], [3.0])
    >>> prepare([1, "a"], ["b"])
    ('categorical', ['1.0', 'a'], ['b'])
    """
    ref, cur = _clean(reference), _clean(current)
    if all(isinstance(v, float) for v in ref) and all(isinstance(v, float) for v in cur):
        return "numeric", ref, cur
    return "categorical", [str(v) for v in ref], [str(v) for v in cur]


def binned_shares(
    kind: str, reference: list[Any], current: list[Any], bins: int, max_categories: int, epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Shares of both samples over the same bins, floored at ``epsilon`` and renormalised.

    >>> r, c = binned_shares("categorical", ["a", "a", "b"], ["b"], 10, 20, 1e-4)
    >>> np.round(r, 3).tolist(), np.round(c, 3).tolist()
    ([0.667, 0.333], [0.0, 1.0])
    """
    if kind == "numeric":
        ref = np.asarray(reference, dtype=float)
        # quantile edges from the reference's minimum, plus one just above its maximum: values outside the
        # reference's range get bins of their own (a constant reference still tells 5 from 9)
        quantiles = np.quantile(ref, np.linspace(0, 1, bins + 1)[:-1])
        inner = np.unique(np.append(quantiles, np.nextafter(ref.max(), np.inf)))
        edges = np.concatenate([[-np.inf], inner, [np.inf]])
        r = np.histogram(ref, edges)[0].astype(float)
        c = np.histogram(np.asarray(current, dtype=float), edges)[0].astype(float)
    else:
        top = [k for k, _ in Counter(reference).most_common(max_categories)]
        index = {k: i for i, k in enumerate(top)}
        other = len(top)
        r = np.bincount([index.get(v, other) for v in reference], minlength=other + 1).astype(float)
        c = np.bincount([index.get(v, other) for v in current], minlength=other + 1).astype(float)
        if r[other] == 0 and c[other] == 0:
            r, c = r[:other], c[:other]
    r, c = r / r.sum(), c / c.sum()
    r, c = np.maximum(r, epsilon), np.maximum(c, epsilon)
    return r / r.sum(), c / c.sum()


class DriftDetector(ABC):
    """Base class: subclasses set ``name`` (and ``config_class``) and implement ``statistic``.

    >>> class MeanShift(DriftDetector):
    ...     name = "mean_shift"
    ...     numeric_only = True
    ...     def statistic(self, kind, reference, current):
    ...         d = abs(float(np.mean(current)) - float(np.mean(reference)))
    ...         return d, None, d > self.config.threshold
    >>> MeanShift(min_samples=2).compare([1.0, 2.0], [3.0, 4.0]).alert
    True
    """

    name: ClassVar[str] = "drift"
    config_class: ClassVar[type[DriftConfig]] = DriftConfig
    numeric_only: ClassVar[bool] = False

    def __init__(self, config: DriftConfig | None = None, **overrides: Any) -> None:
        base = config.model_dump() if config is not None else {}
        self.config = self.config_class.model_validate({**base, **overrides})

    def compare(self, reference: Iterable[Any], current: Iterable[Any]) -> DriftResult:
        """Compare the current window with the reference; never raises on thin or odd data."""
        return self.compare_prepared(*prepare(reference, current))

    def compare_prepared(self, kind: str, ref: list[Any], cur: list[Any]) -> DriftResult:
        """:meth:`compare` on samples already cleaned by :func:`prepare` (several detectors, one preparation)."""
        cfg = self.config
        if len(ref) < cfg.min_samples or len(cur) < cfg.min_samples:
            return DriftResult(
                self.name,
                None,
                cfg.threshold,
                False,
                len(ref),
                len(cur),
                kind=kind,
                message=f"needs at least {cfg.min_samples} values in each window "
                f"(reference {len(ref)}, current {len(cur)})",
            )
        if self.numeric_only and kind != "numeric":
            return DriftResult(
                self.name,
                None,
                cfg.threshold,
                False,
                len(ref),
                len(cur),
                kind=kind,
                message=f"{self.name} compares numbers only; this feature holds labels",
            )
        statistic, p_value, alert = self.statistic(kind, ref, cur)
        return DriftResult(self.name, statistic, cfg.threshold, alert, len(ref), len(cur), p_value, kind)

    @abstractmethod
    def statistic(self, kind: str, reference: list[Any], current: list[Any]) -> tuple[float, float | None, bool]:
        """(statistic, p-value or None, alert) on cleaned, large-enough samples."""

    def _shares(self, kind: str, reference: list[Any], current: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        return binned_shares(kind, reference, current, c.bins, c.max_categories, c.epsilon)


class PSI(DriftDetector):
    """Population stability index: sum((cur - ref) * ln(cur / ref)) over bins; > 0.2 is a significant shift.

    >>> PSI().compare(["a"] * 50 + ["b"] * 50, ["a"] * 50 + ["b"] * 50).statistic
    0.0
    """

    name = "psi"

    def statistic(self, kind: str, reference: list[Any], current: list[Any]) -> tuple[float, float | None, bool]:
        r, c = self._shares(kind, reference, current)
        value = float(np.sum(special.rel_entr(c, r) + special.rel_entr(r, c)))  # = sum((c - r) ln(c / r))
        value = max(value, 0.0)
        return value, None, value > self.config.threshold


class KLDivergence(DriftDetector):
    """KL(current || reference) in nats on the reference's bins; alert above 0.1.

    >>> round(KLDivergence().compare(["a"] * 90 + ["b"] * 10, ["a"] * 50 + ["b"] * 50).statistic, 3)
    0.511
    """

    name = "kl"
    config_class = KLConfig

    def statistic(self, kind: str, reference: list[Any], current: list[Any]) -> tuple[float, float | None, bool]:
        r, c = self._shares(kind, reference, current)
        value = max(float(sps.entropy(c, r)), 0.0)
        return value, None, value > self.config.threshold


class KSTest(DriftDetector):
    """Two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp) on numbers.

    >>> KSTest().compare(["a"] * 40, ["b"] * 40).message
    'ks compares numbers only; this feature holds labels'
    """

    name = "ks"
    config_class = KSConfig
    numeric_only = True

    def statistic(self, kind: str, reference: list[Any], current: list[Any]) -> tuple[float, float | None, bool]:
        res = sps.ks_2samp(np.asarray(reference, dtype=float), np.asarray(current, dtype=float))
        d, p = float(res.statistic), float(res.pvalue)
        cfg = self.config
        assert isinstance(cfg, KSConfig)
        return d, p, p < cfg.threshold and d >= cfg.min_statistic


DETECTORS: dict[str, type[DriftDetector]] = {"psi": PSI, "kl": KLDivergence, "ks": KSTest}


def make_detector(name: str, **config: Any) -> DriftDetector:
    """A detector by name (``psi``, ``kl``, ``ks``) with config overrides.

    >>> make_detector("psi", threshold=0.1).config.threshold
    0.1
    """
    if name not in DETECTORS:
        raise ValueError(f"detector: must be one of {', '.join(DETECTORS)}, got {name!r}")
    return DETECTORS[name](**config)
