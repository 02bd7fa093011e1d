"""Sample-ratio-mismatch check: chi-square goodness of fit of unit counts against planned weights.

>>> srm_check([5000, 5100]).flagged
False
>>> srm_check([5000, 5600]).flagged
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    """Chi-square statistic and p-value; ``flagged`` when p < threshold (default 0.001).

    >>> SrmResult(None, None, False, "needs at least 2 variants").p_value is None
    True
    """

    statistic: float | None
    p_value: float | None
    flagged: bool
    message: str = ""


def srm_check(
    counts: Sequence[int], weights: Sequence[float] | None = None, threshold: float = SRM_THRESHOLD
) -> SrmResult:
    """Compare observed unit counts per variant with the expected split (equal when ``weights`` is None)."""
    observed = np.asarray(counts, dtype=float)
    if observed.ndim != 1 or (observed < 0).any():
        raise ValueError(f"counts must be a list of non-negative integers, got {list(counts)}")
    if len(observed) < 2:
        return SrmResult(None, None, False, "needs at least 2 variants")
    w = np.full(len(observed), 1 / len(observed)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != observed.shape:
        raise ValueError(f"weights has {w.size} entries but counts has {observed.size}")
    if (w <= 0).any():
        raise ValueError(f"weights must be positive, got {list(w)}")
    total = observed.sum()
    if total == 0:
        return SrmResult(None, None, False, "no units")
    expected = total * w / w.sum()
    stat, p = sps.chisquare(observed, expected)
    flagged = bool(p < threshold)
    msg = f"sample ratio mismatch (p={p:.2g} < {threshold}); do not trust the results" if flagged else ""
    return SrmResult(float(stat), float(p), flagged, msg)
