"""Classification metrics in numpy (checked against scikit-learn in the tests), with thin-data messages.

- ``roc_auc``: Mann-Whitney U with average ranks for ties; ``None`` when only one class is present.
- ``average_precision`` (PR-AUC): scikit-learn's step-wise definition, sum of (R_n - R_n-1) * P_n over
  descending distinct scores; ``None`` without positives.
- ``brier``: mean squared error of probabilities. ``f1_at``: users with score >= threshold are flagged.
- ``best_f1_threshold``: the score that maximises F1 (how the propensity models choose their threshold,
  on data the model was not fitted on).
- ``calibration_table``: equal-count bins (deciles) by predicted probability, mean predicted vs observed.

>>> y = [0, 0, 1, 1]
>>> s = [0.1, 0.4, 0.35, 0.8]
>>> roc_auc(y, s), average_precision(y, s), round(brier(y, s), 4)
(0.75, 0.8333333333333333, 0.1581)
>>> f1_at(y, s, 0.35)
(0.6666666666666666, 1.0, 0.8)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata


def _arrays(y_true: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but scores has {s.size}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float | None:
    """Area under the ROC curve; ``None`` when only one class is present."""
    y, s = _arrays(y_true, scores)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(s, method="average")
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _pr_curve(y: NDArray[np.float64], s: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tps = np.cumsum(y_sorted)[last]
    flagged = (last + 1).astype(float)
    precision = tps / flagged
    recall = tps / tps[-1] if tps[-1] > 0 else np.zeros_like(tps)
    return precision, recall, s_sorted[last]


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float | None:
    """Average precision (PR-AUC); ``None`` without positives."""
    y, s = _arrays(y_true, scores)
    if y.size == 0 or y.sum() == 0:
        return None
    precision, recall, _ = _pr_curve(y, s)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(y_true: ArrayLike, probabilities: ArrayLike) -> float | None:
    """Brier score (mean squared error of the probabilities); ``None`` when empty."""
    y, p = _arrays(y_true, probabilities)
    return float(np.mean((p - y) ** 2)) if y.size else None


def f1_at(y_true: ArrayLike, scores: ArrayLike, threshold: float) -> tuple[float, float, float]:
    """(precision, recall, F1) when users with ``score >= threshold`` are flagged (0 where undefined)."""
    y, s = _arrays(y_true, scores)
    flagged = s >= threshold
    tp = float((flagged & (y == 1)).sum())
    precision = tp / float(flagged.sum()) if flagged.any() else 0.0
    recall = tp / float(y.sum()) if y.sum() > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def best_f1_threshold(y_true: ArrayLike, scores: ArrayLike) -> float | None:
    """The score threshold with the highest F1 (flag ``score >= threshold``); ``None`` without positives."""
    y, s = _arrays(y_true, scores)
    if y.size == 0 or y.sum() == 0:
        return None
    precision, recall, thresholds = _pr_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(thresholds[int(np.argmax(f1))])


@dataclass(frozen=True)
class CalibrationBin:
    """One equal-count bin: its score range, size, mean predicted probability and observed rate."""

    lower: float
    upper: float
    n: int
    mean_predicted: float
    observed_rate: float


def calibration_table(y_true: ArrayLike, probabilities: ArrayLike, bins: int = 10) -> list[CalibrationBin]:
    """Equal-count bins by predicted probability (deciles by default; fewer when there are fewer rows)."""
    y, p = _arrays(y_true, probabilities)
    if y.size == 0:
        return []
    order = np.argsort(p, kind="mergesort")
    out = []
    for chunk in np.array_split(order, min(bins, y.size)):
        out.append(
            CalibrationBin(
                lower=float(p[chunk].min()),
                upper=float(p[chunk].max()),
                n=int(chunk.size),
                mean_predicted=float(p[chunk].mean()),
                observed_rate=float(y[chunk].mean()),
            )
        )
    return out


def expected_calibration_error(table: Sequence[CalibrationBin]) -> float | None:
    """Row-weighted mean |mean predicted - observed rate| over the bins."""
    n = sum(b.n for b in table)
    if n == 0:
        return None
    return float(sum(b.n * abs(b.mean_predicted - b.observed_rate) for b in table) / n)


@dataclass(frozen=True)
class ClassificationMetrics:
    """Metrics of probabilities against 0/1 labels at a given threshold; ``message`` says what is missing."""

    n: int
    positives: int
    base_rate: float | None
    auc: float | None
    pr_auc: float | None
    brier: float | None
    threshold: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    flagged_share: float | None
    calibration: list[CalibrationBin] = field(default_factory=list)
    ece: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def classification_metrics(
    y_true: ArrayLike, probabilities: ArrayLike, threshold: float | None, bins: int = 10
) -> ClassificationMetrics:
    """All metrics at once. ``threshold`` None: precision / recall / F1 are left out with a message."""
    y, p = _arrays(y_true, probabilities)
    n, positives = int(y.size), int(y.sum())
    if n == 0:
        return ClassificationMetrics(0, 0, None, None, None, None, threshold, None, None, None, None, message="no rows")
    messages = []
    if positives in (0, n):
        messages.append(f"only one class in the labels ({'all positive' if positives else 'no positives'})")
    prec = rec = f1 = share = None
    if threshold is None:
        messages.append("no threshold: precision, recall and F1 left out")
    else:
        prec, rec, f1 = f1_at(y, p, threshold)
        share = float((p >= threshold).mean())
    table = calibration_table(y, p, bins)
    return ClassificationMetrics(
        n=n,
        positives=positives,
        base_rate=positives / n,
        auc=roc_auc(y, p),
        pr_auc=average_precision(y, p),
        brier=brier(y, p),
        threshold=threshold,
        precision=prec,
        recall=rec,
        f1=f1,
        flagged_share=share,
        calibration=table,
        ece=expected_calibration_error(table),
        message="; ".join(messages),
    )
