"""Configuration of the predictive traits as pydantic models (plain data, apart from any learned state).

>>> EventSpec(purchase_events=("buy",)).is_purchase("buy")
True
>>> BacktestConfig(horizon_days=30, step_days=30).n_folds
3
>>> FeatureConfig(windows_days=(7, 30)).trend_window
7.0
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAY = 86_400.0


class EventSpec(BaseModel):
    """What the events mean.

    ``purchase_events``: event names that are purchases (their ``revenue`` is the monetary value).
    ``activity_events``: event names that count as activity (for churn and the per-type counts) besides the
    purchases; ``None`` = every event. ``order_gap_seconds``: a purchase at most this many seconds after
    the same user's previous purchase belongs to the same order; 0 merges only purchases with the same
    timestamp (the lines of one invoice). Frequency counts orders, monetary sums their revenue.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    purchase_events: tuple[str, ...] = Field(default=("order", "buy", "purchase"), min_length=1)
    activity_events: tuple[str, ...] | None = None
    order_gap_seconds: float = Field(default=0.0, ge=0.0)

    def is_purchase(self, event: str) -> bool:
        """Whether ``event`` names a purchase."""
        return event in self.purchase_events


class FeatureConfig(BaseModel):
    """Feature windows in days (counts, revenue and activity per window). ``trend_days`` compares the last
    ``trend_days`` with the ``trend_days`` before them (default: the shortest window). ``behaviour``: add the
    features of :mod:`pertinent.predict.behaviour`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows_days: tuple[float, ...] = Field(default=(30.0, 90.0, 180.0, 365.0), min_length=1)
    trend_days: float | None = Field(default=None, gt=0)
    behaviour: bool = False  # the rhythm, intent, diversity and trend features (off: no gain, docs/benchmarks.md)

    @field_validator("windows_days")
    @classmethod
    def _positive_sorted(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(w <= 0 for w in v):
            raise ValueError(f"windows_days must be positive, got {v}")
        return tuple(sorted(set(float(w) for w in v)))

    @property
    def trend_window(self) -> float:
        """The trend window in days."""
        return float(self.trend_days) if self.trend_days is not None else self.windows_days[0]


class LightGBMParams(BaseModel):
    """LightGBM settings: small, regularised trees (7 leaves, 100 rows a leaf), one thread by default.

    Chosen among four settings (15/40, 7/100, 4/200 and 31/20 leaves/rows) on the Online Retail purchase
    backtest; the larger trees lost 0.003-0.004 AUC there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_estimators: int = Field(default=300, ge=1)
    learning_rate: float = Field(default=0.02, gt=0)
    num_leaves: int = Field(default=7, ge=2)
    min_child_samples: int = Field(default=100, ge=1)
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    reg_lambda: float = Field(default=1.0, ge=0)
    n_jobs: int = 1
    seed: int = 0

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``lightgbm.LGBMClassifier`` / ``LGBMRegressor``."""
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "n_jobs": self.n_jobs,
            "random_state": self.seed,
            "verbose": -1,
        }


class BacktestConfig(BaseModel):
    """Rolling-origin backtest over cutoffs.

    Cutoffs run back from ``end - horizon_days`` every ``step_days`` (at most ``max_cutoffs``), none earlier
    than ``min_history_days`` after the first event. The last ``n_folds`` cutoffs are test cutoffs; each is
    predicted by a model trained on the earlier cutoffs whose label window has closed by then
    (``cutoff + horizon <= test cutoff``), so no training label looks past the test cutoff.
    ``min_users`` / ``min_positives``: below these a fold is skipped with a message.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_days: float = Field(gt=0)
    step_days: float = Field(gt=0)
    n_folds: int = Field(default=3, ge=1)
    min_history_days: float = Field(default=0.0, ge=0)
    max_cutoffs: int = Field(default=12, ge=2)
    min_users: int = Field(default=30, ge=2)
    min_positives: int = Field(default=5, ge=1)
    lightgbm: LightGBMParams = Field(default_factory=LightGBMParams)

    @model_validator(mode="after")
    def _enough_cutoffs(self) -> BacktestConfig:
        if self.max_cutoffs <= self.n_folds:
            raise ValueError(f"max_cutoffs ({self.max_cutoffs}) must exceed n_folds ({self.n_folds})")
        return self
