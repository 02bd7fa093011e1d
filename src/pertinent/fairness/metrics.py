"""Fairness statistics: rates with Wilson intervals, the largest difference between groups with Newcombe's
interval, the four-fifths ratio, exposure shares, and a verdict in plain words. Thin data gives a typed result
with a ``message`` (never an exception), as gbstats does.

- Demographic parity difference: the largest gap in the positive rate between two compared groups
  (``max_g P(yhat=1 | g) - min_g P(yhat=1 | g)``); equal opportunity difference: the same among the
  positives only (``P(yhat=1 | y=1, g)``, the true-positive rate).
- The interval of a difference of two proportions is Newcombe's hybrid score interval (method 10), built from the
  two Wilson intervals: it keeps its coverage for small groups and rates near 0 or 1 where the Wald one fails.

>>> r = parity("conversion", "device", {"mobile": (30, 300), "desktop": (60, 300)}, min_group_size=30)
>>> round(r.difference, 3), r.verdict
(0.1, 'disparity')
>>> parity("conversion", "device", {"mobile": (1, 5)}, min_group_size=30).message
'fewer than two groups with at least 30 profiles (mobile: 5)'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from scipy.stats import norm

Verdict = Literal["no material disparity", "possible disparity", "disparity", "too little data"]


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials ((0, 1) when n is 0).

    >>> [round(x, 3) for x in wilson(5, 10)]
    [0.237, 0.763]
    """
    if n <= 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval of p1 - p2.

    >>> [round(x, 3) for x in newcombe(60, 300, 30, 300)]
    [0.043, 0.157]
    """
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


@dataclass(frozen=True)
class GroupRate:
    """One group: size, positives, rate and its Wilson interval; ``compared`` = large enough to compare."""

    group: str
    n: int
    positives: int
    rate: float | None
    low: float | None
    high: float | None
    compared: bool


@dataclass(frozen=True)
class ParityResult:
    """The gap between the best and the worst compared group on one metric and dimension, with its interval,
    the ratio worst / best (four-fifths rule), a verdict and one sentence saying it."""

    metric: str
    dimension: str
    groups: list[GroupRate] = field(default_factory=list)
    best: str | None = None
    worst: str | None = None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    ratio: float | None = None
    verdict: Verdict = "too little data"
    summary: str = ""
    message: str = ""


def parity(
    metric: str,
    dimension: str,
    counts: Mapping[str, tuple[int, int]],
    min_group_size: int = 30,
    confidence: float = 0.95,
    tolerance: float = 0.05,
    min_ratio: float = 0.8,
) -> ParityResult:
    """Compare the positive rate of groups given as ``{group: (positives, size)}``."""
    groups = []
    for name, (k, n) in sorted(counts.items(), key=lambda kv: -kv[1][1]):
        if n < 0 or k < 0 or k > n:
            raise ValueError(f"group {name!r}: positives {k} must be between 0 and the size {n}")
        lo, hi = wilson(k, n, confidence) if n else (None, None)
        groups.append(GroupRate(name, n, k, k / n if n else None, lo, hi, n >= min_group_size))
    compared = [g for g in groups if g.compared]
    base = ParityResult(metric, dimension, groups)
    if len(compared) < 2:
        sizes = ", ".join(f"{g.group}: {g.n}" for g in groups) or "no group"
        return ParityResult(
            metric,
            dimension,
            groups,
            message=f"fewer than two groups with at least {min_group_size} profiles ({sizes})",
        )
    best = max(compared, key=lambda g: (g.rate or 0.0, g.n))
    worst = min(compared, key=lambda g: (g.rate or 0.0, -g.n))
    diff = (best.rate or 0.0) - (worst.rate or 0.0)
    lo, hi = newcombe(best.positives, best.n, worst.positives, worst.n, confidence)
    ratio = (worst.rate or 0.0) / best.rate if best.rate else None
    material = diff >= tolerance or (ratio is not None and ratio < min_ratio and diff > 0)
    verdict: Verdict = "no material disparity"
    if material:
        verdict = "disparity" if lo > 0 else "possible disparity"
    pct = f"{confidence:.0%}"
    gap = f"{100 * diff:.1f} points ({pct} interval {100 * lo:.1f} to {100 * hi:.1f})"
    if verdict == "disparity":
        summary = (
            f"{metric} by {dimension}: {worst.group} is at {100 * (worst.rate or 0):.1f}% against {best.group}'s "
            f"{100 * (best.rate or 0):.1f}%, a gap of {gap}; the data show a real disparity."
        )
    elif verdict == "possible disparity":
        summary = (
            f"{metric} by {dimension}: {worst.group} trails {best.group} by {gap}; large enough to matter but the "
            "interval includes no gap, so collect more data before concluding."
        )
    else:
        summary = f"{metric} by {dimension}: groups differ by at most {gap}; no material disparity."
    return ParityResult(base.metric, dimension, groups, best.group, worst.group, diff, lo, hi, ratio, verdict, summary)


@dataclass(frozen=True)
class Exposure:
    """What one group was shown: decisions, items shown, the top items and categories with their shares, and the
    total variation distance between its category shares and everyone else's (0 = same mix, 1 = disjoint)."""

    dimension: str
    group: str
    decisions: int
    items_shown: int
    top_items: list[tuple[str, float]] = field(default_factory=list)
    categories: list[tuple[str, float]] = field(default_factory=list)
    distance_from_rest: float | None = None
    message: str = ""


def shares(counts: Mapping[str, int], top: int = 10) -> list[tuple[str, float]]:
    """The ``top`` labels by count with their shares of the total.

    >>> shares({"a": 3, "b": 1})
    [('a', 0.75), ('b', 0.25)]
    """
    total = sum(counts.values())
    if total <= 0:
        return []
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [(label, n / total) for label, n in ranked]


def total_variation(a: Mapping[str, int], b: Mapping[str, int]) -> float | None:
    """Half the L1 distance between two count distributions (None when either is empty).

    >>> total_variation({"x": 1}, {"y": 1}), total_variation({"x": 2}, {"x": 5})
    (1.0, 0.0)
    """
    ta, tb = sum(a.values()), sum(b.values())
    if ta <= 0 or tb <= 0:
        return None
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0) / ta - b.get(k, 0) / tb) for k in keys)


@dataclass(frozen=True)
class AuditSection:
    """One part of the audit (recommendations, decisions, a predictive trait): its results and what it says."""

    name: str
    parity: list[ParityResult] = field(default_factory=list)
    exposure: list[Exposure] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class FairnessAudit:
    """The whole audit: when, over which window, each section, and the verdict over all comparisons."""

    generated_at: float
    since: float
    dimensions: list[str]
    sections: list[AuditSection] = field(default_factory=list)
    verdict: str = ""
    message: str = ""
