"""Model drift of the predictive traits: prediction drift and performance drift (typed results, no raising).

- Prediction drift: PSI (``pertinent.drift.PSI``) between the scores the model gave the training population at
  its last cutoff (the registry keeps 101 quantiles of them) and the scores it gives the profiles now.
- Performance drift: the backtest metric recomputed as labels arrive. At each cutoff after the model's training
  data (``trained_through``) whose label window has closed, the model scores the profiles from the events before
  the cutoff and is measured against what they did in the window: AUC for propensity and churn, MAE for days to
  the next purchase. An alert when AUC falls more than ``max_auc_drop`` below the backtest's (or MAE rises more
  than ``max_mae_rise`` relative to it).
- :func:`labelled_scores` gives (score, flag, label) per profile at a past cutoff: the fairness audit's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pertinent.drift import PSI, DriftResult
from pertinent.predict.backtest import Panel, iso
from pertinent.predict.config import DAY
from pertinent.predict.labels import churn_labels, days_to_next_purchase, purchase_labels
from pertinent.predict.metrics import roc_auc

CLASSIFIERS = {"purchase_propensity": purchase_labels, "churn_risk": churn_labels}


@dataclass(frozen=True)
class PerformancePoint:
    """The metric at one cutoff after training, on the profiles seen before it."""

    cutoff: str
    n: int
    metric: str
    value: float | None
    message: str = ""


@dataclass(frozen=True)
class ModelDrift:
    """One trait's model: prediction drift, the metric over time against the backtest's, and the alerts."""

    trait: str
    model_version: str
    prediction: DriftResult | None = None
    metric: str = ""
    at_training: float | None = None
    performance: list[PerformancePoint] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class LabelledScores:
    """Scores at a past cutoff with the outcome seen after it (``flag`` = score at or above the threshold)."""

    trait: str
    cutoff: float
    users: list[str]
    scores: np.ndarray
    flags: np.ndarray
    labels: np.ndarray
    message: str = ""


def labelled_scores(trait: str, model: Any, panel: Panel, cutoff: float) -> LabelledScores:
    """The classifier's scores, flags and true labels at ``cutoff`` (its horizon must have closed by the data)."""
    if trait not in CLASSIFIERS:
        raise ValueError(f"trait must be one of {sorted(CLASSIFIERS)}, got {trait!r}")
    f = panel.features(cutoff)
    empty = np.zeros(0)
    if f.empty:
        return LabelledScores(trait, cutoff, [], empty, empty.astype(bool), empty.astype(int), "no profile before it")
    scores = model.predict(f)
    labels = CLASSIFIERS[trait](panel.log, cutoff, model.horizon_days, f.index).to_numpy(dtype=int)
    return LabelledScores(trait, cutoff, [str(u) for u in f.index], scores, scores >= model.threshold, labels)


def _cutoffs(trained_through: str, horizon: float, step: float, end: float, most: int = 12) -> list[float]:
    start = pd.Timestamp(trained_through).timestamp() + step * DAY
    last = end - horizon * DAY
    out: list[float] = []
    c = start
    while c <= last and len(out) < most:
        out.append(c)
        c += step * DAY
    return out


def _point(trait: str, model: Any, panel: Panel, cutoff: float) -> PerformancePoint:
    if trait in CLASSIFIERS:
        ls = labelled_scores(trait, model, panel, cutoff)
        auc = roc_auc(ls.labels, ls.scores) if ls.labels.size else None
        msg = "" if auc is not None else "one class only: AUC undefined"
        return PerformancePoint(iso(cutoff), int(ls.labels.size), "auc", auc, msg)
    f = panel.features(cutoff)
    f = f[f["orders_total"].to_numpy() >= 2]
    if f.empty:
        return PerformancePoint(iso(cutoff), 0, "mae", None, "no repeat customer before the cutoff")
    truth = days_to_next_purchase(panel.log, cutoff, model.horizon_days, f.index)["days"].to_numpy(dtype=float)
    p50 = model.predict(f)["p50"].to_numpy(dtype=float)
    return PerformancePoint(iso(cutoff), len(f), "mae", float(np.mean(np.abs(p50 - truth))))


def model_drift(
    trait: str,
    model: Any,
    reference: list[float],
    metrics: dict[str, Any],
    panel: Panel,
    now: float,
    step_days: float,
    max_auc_drop: float = 0.05,
    max_mae_rise: float = 0.2,
) -> ModelDrift:
    """Prediction and performance drift of one registered model on the events in ``panel``."""
    f = panel.features(now)
    if trait in CLASSIFIERS:
        current = model.predict(f) if not f.empty else np.zeros(0)
        metric, trained_value = "auc", (metrics.get("model") or {}).get("auc")
    else:
        repeat = f[f["orders_total"].to_numpy() >= 2] if not f.empty else f
        current = model.predict(repeat)["p50"].to_numpy(dtype=float) if not repeat.empty else np.zeros(0)
        metric, trained_value = "mae", (metrics.get("model") or {}).get("mae")
    prediction = PSI().compare(reference, current) if reference else None
    points = [
        _point(trait, model, panel, c) for c in _cutoffs(model.trained_through, model.horizon_days, step_days, now)
    ]
    alerts = []
    if prediction is not None and prediction.alert:
        alerts.append(
            f"{trait}: scores drifted since training (PSI {prediction.statistic:.2f} > {prediction.threshold})"
        )
    scored = [p for p in points if p.value is not None]
    if scored and trained_value is not None:
        latest = scored[-1]
        assert latest.value is not None
        if metric == "auc" and latest.value < trained_value - max_auc_drop:
            alerts.append(
                f"{trait}: AUC {latest.value:.3f} at {latest.cutoff[:10]} against {trained_value:.3f} in the backtest"
            )
        if metric == "mae" and latest.value > trained_value * (1 + max_mae_rise):
            alerts.append(
                f"{trait}: MAE {latest.value:.2f} days at {latest.cutoff[:10]} against {trained_value:.2f} in the "
                "backtest"
            )
    message = "" if points else "no label window has closed since the model's training data: performance comes later"
    return ModelDrift(trait, model.version, prediction, metric, trained_value, points, alerts, message)
