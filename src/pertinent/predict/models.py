"""The estimators behind the propensity and churn scores, and the fitted model that a registry can store.

- :func:`fit_lightgbm`: a LightGBM classifier on every feature (NaN kept as missing).
- :class:`RecencyFrequencyLogit`: the baseline, a logistic regression on log(1 + x) of recency and frequency
  only (days since the last activity and since the last purchase, active days and orders in all history:
  activity is counted in days, not events, so one long session is not "frequent"), missing
  values imputed with the training median plus a missing indicator (never bought), standardised.
- :class:`BinaryModel`: a fitted model with ``predict(features) -> probabilities``, its threshold, a
  deterministic ``version`` and a metrics summary; plain attributes, so pickle and joblib can store it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pertinent.predict.config import LightGBMParams

RF_COLUMNS = ("recency_days", "purchase_recency_days", "active_days_total", "orders_total")


class Scorer(Protocol):
    """Anything with scikit-learn's ``predict_proba``."""

    def predict_proba(self, X: Any) -> Any: ...


def fit_lightgbm(X: pd.DataFrame, y: NDArray[np.int_], params: LightGBMParams) -> Any:
    """A fitted ``lightgbm.LGBMClassifier``."""
    import lightgbm

    model = lightgbm.LGBMClassifier(objective="binary", **params.kwargs())
    model.fit(X, y)
    return model


class RecencyFrequencyLogit:
    """Logistic regression on log(1 + recency / frequency) with median imputation and missing indicators."""

    def __init__(self, columns: tuple[str, ...] = RF_COLUMNS, C: float = 1.0) -> None:
        self.columns = columns
        self.C = C
        self.medians_: NDArray[np.float64] | None = None
        self.missing_: NDArray[np.bool_] | None = None
        self.model_: Any = None

    def _design(self, X: pd.DataFrame) -> NDArray[np.float64]:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"features are missing column {missing[0]!r}")
        raw = np.log1p(np.clip(X[list(self.columns)].to_numpy(dtype=float), 0.0, None))
        assert self.medians_ is not None and self.missing_ is not None
        nan = np.isnan(raw)
        filled = np.where(nan, self.medians_, raw)
        return np.hstack([filled, nan[:, self.missing_].astype(float)])

    def fit(self, X: pd.DataFrame, y: NDArray[np.int_]) -> RecencyFrequencyLogit:
        """Fit on a feature frame and 0/1 labels."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        raw = np.log1p(np.clip(X[list(self.columns)].to_numpy(dtype=float), 0.0, None))
        nan = np.isnan(raw)
        with np.errstate(all="ignore"):
            medians = np.nanmedian(np.where(nan.all(axis=0), 0.0, raw), axis=0)
        self.medians_ = np.nan_to_num(medians, nan=0.0)
        self.missing_ = nan.any(axis=0)
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))
        self.model_.fit(self._design(X), y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Class probabilities (columns 0 and 1), as scikit-learn's."""
        return np.asarray(self.model_.predict_proba(self._design(X)), dtype=float)


def positive_scores(model: Scorer, X: pd.DataFrame) -> NDArray[np.float64]:
    """Probabilities of class 1."""
    return np.asarray(model.predict_proba(X), dtype=float)[:, 1]


def model_fingerprint(model: Any) -> str:
    """A short hash of a fitted model's content (LightGBM's model text, else its pickle)."""
    import pickle

    booster = getattr(model, "booster_", None)
    raw = booster.model_to_string().encode() if booster is not None else pickle.dumps(model)
    return hashlib.sha256(raw).hexdigest()[:10]


@dataclass(frozen=True)
class BinaryModel:
    """A fitted propensity / churn model, ready to score feature frames and to be stored.

    ``predict(features)`` returns the probability of the target for each row; ``flag`` applies
    ``threshold``. Feature columns the model knows but the frame lacks raise ``ValueError`` naming the
    column, except per-event-type and item counts (``ev_*``, ``items_*``), which are 0 when absent.
    """

    target: str
    horizon_days: float
    feature_names: tuple[str, ...]
    estimator: Any
    threshold: float
    threshold_rule: str
    trained_through: str
    n_train: int
    version: str
    metrics: dict[str, float | None] = field(default_factory=dict)

    def _align(self, features: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(features, pd.DataFrame):
            raise ValueError(f"features must be a pandas DataFrame, got {type(features).__name__}")
        for name in self.feature_names:
            if name not in features.columns and not name.startswith(("ev_", "items_")):
                raise ValueError(f"features are missing column {name!r}")
        X = features.reindex(columns=list(self.feature_names), fill_value=0.0)
        bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c].dtype)]
        if bad:
            raise ValueError(f"feature column {bad[0]!r} must be numeric, got dtype {X[bad[0]].dtype}")
        return X.astype(float)

    def predict(self, features: pd.DataFrame) -> NDArray[np.float64]:
        """The probability of the target (purchase / churn within the horizon) per row."""
        X = self._align(features)
        if len(X) == 0:
            return np.zeros(0)
        return positive_scores(self.estimator, X)

    def flag(self, features: pd.DataFrame) -> NDArray[np.bool_]:
        """Rows whose probability reaches the threshold."""
        return self.predict(features) >= self.threshold

    def summary(self) -> dict[str, Any]:
        """Version, target, threshold and backtest metrics, for a model registry (JSON-ready)."""
        return {
            "version": self.version,
            "target": self.target,
            "horizon_days": self.horizon_days,
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "trained_through": self.trained_through,
            "n_train": self.n_train,
            "n_features": len(self.feature_names),
            "metrics": dict(self.metrics),
        }
