"""Purchase propensity and churn risk: LightGBM against a recency/frequency logistic baseline, same report.

Targets: ``purchase`` (buys within ``horizon_days`` of the cutoff) and ``churn`` (no activity within it).
Every user seen before a cutoff is a row at that cutoff.

Backtest (:func:`backtest_classifier`): rolling origins from :mod:`pertinent.predict.backtest`; each test
cutoff is scored by models trained on the earlier cutoffs whose label window had closed by then.
Metrics per fold: AUC, PR-AUC, Brier, F1 / precision / recall at the threshold and a decile calibration
table; the report gives their means over folds and the calibration pooled over every test row.

Threshold: the F1-maximising score on the latest training cutoff, as predicted by a model fitted on the
training cutoffs before it (so the threshold is chosen out of sample, then applied to the model fitted
on all training cutoffs). When that inner split is impossible (one training cutoff, or one class), the
threshold flags the training base rate's share of users instead. Each model gets its own threshold.

Feature selection: on the last fold, LightGBM's gain shares (:mod:`pertinent.predict.selection`).
:func:`train_classifier` runs the backtest and fits the model to keep on every cutoff with known labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pertinent.predict.backtest import EPS, Panel, Stacked, cutoff_schedule, iso, plan_folds, stack
from pertinent.predict.config import DAY, BacktestConfig, EventSpec, FeatureConfig
from pertinent.predict.events import EventLog
from pertinent.predict.labels import churn_labels, purchase_labels
from pertinent.predict.metrics import (
    CalibrationBin,
    ClassificationMetrics,
    best_f1_threshold,
    calibration_table,
    classification_metrics,
    expected_calibration_error,
    roc_auc,
)
from pertinent.predict.models import (
    BinaryModel,
    RecencyFrequencyLogit,
    fit_lightgbm,
    model_fingerprint,
    positive_scores,
)
from pertinent.predict.selection import FeatureSelection, gain_shares, keep_until, plain_summary

Target = Literal["purchase", "churn"]
RULE_F1 = "F1-maximising on the latest training cutoff, scored by a model fitted on the cutoffs before it"
RULE_RATE = "flags the training base rate's share of users (no inner split possible)"
Fit = Callable[[pd.DataFrame, NDArray[np.int_]], Any]


@dataclass(frozen=True)
class FoldResult:
    """One test cutoff: sizes, each model's metrics (``None`` when the fold was skipped) and why."""

    test_cutoff: str
    train_cutoffs: list[str]
    n_train: int
    n_test: int
    model: ClassificationMetrics | None = None
    baseline: ClassificationMetrics | None = None
    message: str = ""


@dataclass(frozen=True)
class MetricSummary:
    """Means over the folds, and the calibration table pooled over every test row."""

    auc: float | None
    pr_auc: float | None
    brier: float | None
    f1: float | None
    precision: float | None
    recall: float | None
    ece: float | None
    calibration: list[CalibrationBin] = field(default_factory=list)


@dataclass(frozen=True)
class ClassifierReport:
    """The backtest of one target. ``auc_lift`` = LightGBM's mean AUC minus the baseline's."""

    target: str
    horizon_days: float
    n_users: int
    folds: list[FoldResult] = field(default_factory=list)
    model: MetricSummary | None = None
    baseline: MetricSummary | None = None
    auc_lift: float | None = None
    threshold_rule: str = RULE_F1
    selection: FeatureSelection | None = None
    seconds: float = 0.0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class TrainedClassifier:
    """The backtest report and the model fitted on every cutoff with known labels (``None`` on thin data)."""

    report: ClassifierReport
    model: BinaryModel | None
    message: str = ""


def _labeller(target: Target, horizon: float) -> Callable[[EventLog, float, pd.Index], pd.DataFrame]:
    def label(log: EventLog, cutoff: float, users: pd.Index) -> pd.DataFrame:
        fn = purchase_labels if target == "purchase" else churn_labels
        return pd.DataFrame({"y": fn(log, cutoff, horizon, users).to_numpy()})

    return label


def _lgbm(config: BacktestConfig) -> Fit:
    return lambda X, y: fit_lightgbm(X, y, config.lightgbm)


def _logit(X: pd.DataFrame, y: NDArray[np.int_]) -> Any:
    return RecencyFrequencyLogit().fit(X, y)


def _labels(st: Stacked, mask: NDArray[np.bool_]) -> NDArray[np.int_]:
    return np.asarray(st.y["y"].to_numpy()[mask], dtype=int)


def _trainable(y: NDArray[np.int_], config: BacktestConfig) -> str:
    if y.size < config.min_users:
        return f"{y.size} training rows (fewer than min_users={config.min_users})"
    positives = int(y.sum())
    if min(positives, y.size - positives) < config.min_positives:
        return f"{positives} positives of {y.size} training rows (one class has fewer than {config.min_positives})"
    return ""


def _fit_with_threshold(
    fit: Fit, st: Stacked, train: Sequence[float], horizon: float, config: BacktestConfig
) -> tuple[Any, float, str]:
    mask = st.rows(train)
    y = _labels(st, mask)
    estimator = fit(st.X[mask], y)
    val = train[-1]
    inner = [c for c in train if c + horizon * DAY <= val + EPS]
    if inner:
        im, vm = st.rows(inner), st.rows([val])
        yi, yv = _labels(st, im), _labels(st, vm)
        if not _trainable(yi, config) and yv.sum() > 0:
            scores = positive_scores(fit(st.X[im], yi), st.X[vm])
            threshold = best_f1_threshold(yv, scores)
            if threshold is not None:
                return estimator, threshold, RULE_F1
    scores = positive_scores(estimator, st.X[mask])
    return estimator, float(np.quantile(scores, 1.0 - float(y.mean()))), RULE_RATE


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _summary(metrics: list[ClassificationMetrics], y: NDArray[np.int_], p: NDArray[np.float64]) -> MetricSummary:
    table = calibration_table(y, p) if y.size else []
    return MetricSummary(
        auc=_mean([m.auc for m in metrics]),
        pr_auc=_mean([m.pr_auc for m in metrics]),
        brier=_mean([m.brier for m in metrics]),
        f1=_mean([m.f1 for m in metrics]),
        precision=_mean([m.precision for m in metrics]),
        recall=_mean([m.recall for m in metrics]),
        ece=expected_calibration_error(table),
        calibration=table,
    )


def _select(
    estimator: Any, st: Stacked, train: NDArray[np.bool_], test: NDArray[np.bool_], config: BacktestConfig
) -> FeatureSelection:
    names = list(st.X.columns)
    shares = gain_shares(estimator, names)
    if not shares:
        return FeatureSelection(len(names), message="the model made no split; nothing to select")
    kept = keep_until(shares)
    y_test = _labels(st, test)
    auc_all = roc_auc(y_test, positive_scores(estimator, st.X[test]))
    cols = [s.name for s in kept]
    refit = fit_lightgbm(st.X.loc[train, cols], _labels(st, train), config.lightgbm)
    auc_kept = roc_auc(y_test, positive_scores(refit, st.X.loc[test, cols]))
    words = plain_summary(shares)
    if auc_all is not None and auc_kept is not None:
        words += (
            f" {len(kept)} of {len(names)} features carry {sum(s.share for s in kept):.0%} of the gain; refitted on"
            f" those alone the model scores AUC {auc_kept:.3f} on the last fold against {auc_all:.3f} with all."
        )
    return FeatureSelection(len(names), kept, 0.95, auc_all, auc_kept, words)


def _panel(events: pd.DataFrame | EventLog | Panel, spec: EventSpec | None, features: FeatureConfig | None) -> Panel:
    return events if isinstance(events, Panel) else Panel(events, spec, features)


def _thin(panel: Panel, target: Target, cutoffs: list[float], config: BacktestConfig) -> str:
    if len(panel.log) == 0:
        return "no events"
    if target == "purchase" and not panel.log.frame["purchase"].any():
        return f"no purchase events (EventSpec.purchase_events = {list(panel.spec.purchase_events)})"
    if len(cutoffs) < 2:
        span = (panel.log.end - panel.log.start) / DAY
        return (
            f"the events span {span:.1f} days: too short for two cutoffs {config.step_days:g} days apart with a"
            f" {config.horizon_days:g}-day label window after them"
        )
    return ""


def backtest_classifier(
    events: pd.DataFrame | EventLog | Panel,
    target: Target,
    config: BacktestConfig,
    spec: EventSpec | None = None,
    features: FeatureConfig | None = None,
) -> ClassifierReport:
    """Rolling-origin backtest of LightGBM and the recency/frequency baseline for ``target``.

    Thin data (no events, no purchases, too short a span, too few users or one class) gives a report with
    a ``message`` and no metrics, never an exception."""
    if target not in ("purchase", "churn"):
        raise ValueError(f"target must be 'purchase' or 'churn', got {target!r}")
    started = time.perf_counter()
    panel = _panel(events, spec, features)
    horizon = config.horizon_days
    cutoffs = cutoff_schedule(panel.log, horizon, config)
    base = ClassifierReport(target, horizon, panel.log.n_users)
    thin = _thin(panel, target, cutoffs, config)
    folds = plan_folds(cutoffs, horizon, config.n_folds) if not thin else []
    if not thin and not folds:
        thin = f"no test cutoff has an earlier cutoff at least {horizon:g} days before it (step_days too small?)"
    if thin:
        return replace(base, seconds=time.perf_counter() - started, message=thin)

    st = stack(panel, cutoffs, _labeller(target, horizon))
    results: list[FoldResult] = []
    pooled: dict[str, list[NDArray[Any]]] = {"y": [], "model": [], "baseline": []}
    rules: set[str] = set()
    last: tuple[Any, NDArray[np.bool_], NDArray[np.bool_]] | None = None
    for fold in folds:
        train, test = st.rows(fold.train), st.rows([fold.test])
        y_train, y_test = _labels(st, train), _labels(st, test)
        head = FoldResult(iso(fold.test), [iso(c) for c in fold.train], int(train.sum()), int(test.sum()))
        problem = _trainable(y_train, config) or (
            f"{y_test.size} test rows (fewer than min_users={config.min_users})"
            if y_test.size < config.min_users
            else ""
        )
        if problem:
            results.append(replace(head, message=f"fold skipped: {problem}"))
            continue
        lgbm, t_lgbm, rule = _fit_with_threshold(_lgbm(config), st, fold.train, horizon, config)
        logit, t_logit, rule_b = _fit_with_threshold(_logit, st, fold.train, horizon, config)
        rules.update((rule, rule_b))
        p_lgbm = positive_scores(lgbm, st.X[test])
        p_logit = positive_scores(logit, st.X[test])
        m_lgbm = classification_metrics(y_test, p_lgbm, t_lgbm)
        m_logit = classification_metrics(y_test, p_logit, t_logit)
        results.append(replace(head, model=m_lgbm, baseline=m_logit, message=m_lgbm.message))
        pooled["y"].append(y_test)
        pooled["model"].append(p_lgbm)
        pooled["baseline"].append(p_logit)
        last = (lgbm, train, test)

    scored = [r for r in results if r.model is not None and r.baseline is not None]
    if not scored or last is None:
        messages = "; ".join(f"{r.test_cutoff}: {r.message}" for r in results)
        return replace(
            base,
            folds=results,
            seconds=time.perf_counter() - started,
            message=f"no fold could be scored ({messages})",
        )
    y_all = np.concatenate(pooled["y"])
    model = _summary([r.model for r in scored if r.model is not None], y_all, np.concatenate(pooled["model"]))
    baseline = _summary(
        [r.baseline for r in scored if r.baseline is not None], y_all, np.concatenate(pooled["baseline"])
    )
    lift = model.auc - baseline.auc if model.auc is not None and baseline.auc is not None else None
    selection = _select(last[0], st, last[1], last[2], config)
    skipped = [r.message for r in results if r.model is None]
    return replace(
        base,
        folds=results,
        model=model,
        baseline=baseline,
        auc_lift=lift,
        threshold_rule=" / ".join(sorted(rules)),
        selection=selection,
        seconds=time.perf_counter() - started,
        message="; ".join(skipped),
    )


def train_classifier(
    events: pd.DataFrame | EventLog | Panel,
    target: Target,
    config: BacktestConfig,
    spec: EventSpec | None = None,
    features: FeatureConfig | None = None,
) -> TrainedClassifier:
    """Backtest, then fit LightGBM on every cutoff whose labels are known; the model carries the backtest's
    mean metrics and a version (target, horizon, last training cutoff, a hash of the trees)."""
    panel = _panel(events, spec, features)
    report = backtest_classifier(panel, target, config)
    cutoffs = cutoff_schedule(panel.log, config.horizon_days, config)
    if report.model is None:
        return TrainedClassifier(report, None, report.message or "nothing to train on")
    st = stack(panel, cutoffs, _labeller(target, config.horizon_days))
    problem = _trainable(_labels(st, st.rows(cutoffs)), config)
    if problem:
        return TrainedClassifier(report, None, f"not trained: {problem}")
    estimator, threshold, rule = _fit_with_threshold(_lgbm(config), st, cutoffs, config.horizon_days, config)
    stamp = pd.Timestamp(round(cutoffs[-1]), unit="s", tz="UTC").strftime("%Y%m%d")
    version = f"{target}-{config.horizon_days:g}d-{stamp}-{model_fingerprint(estimator)}"
    metrics = {
        "auc": report.model.auc,
        "pr_auc": report.model.pr_auc,
        "brier": report.model.brier,
        "f1": report.model.f1,
        "baseline_auc": report.baseline.auc if report.baseline else None,
        "auc_lift": report.auc_lift,
    }
    model = BinaryModel(
        target=target,
        horizon_days=config.horizon_days,
        feature_names=tuple(st.X.columns),
        estimator=estimator,
        threshold=threshold,
        threshold_rule=rule,
        trained_through=iso(cutoffs[-1]),
        n_train=len(st.X),
        version=version,
        metrics=metrics,
    )
    return TrainedClassifier(report, model)
