"""What the predictive-trait service returns: training reports, the registry listing and drift (typed)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TraitReport(BaseModel):
    """One trait's fit: its backtest next to the baseline's, the model version kept, or why none was."""

    trait: str
    trained: bool
    model_version: str | None = None  # the model's own version (target, horizon, cutoff, hash of the trees)
    registry_version: str | None = None  # v1, v2, ... in <data_dir>/predict_models/<trait>/
    target: str = ""
    horizon_days: float = 0.0
    model: dict[str, Any] = Field(default_factory=dict)  # AUC, PR-AUC, F1, Brier, ECE (or MAE, coverage)
    baseline: dict[str, Any] = Field(default_factory=dict)
    baseline_name: str = ""
    lift: float | None = None  # AUC lift, or relative MAE reduction for days to next purchase
    threshold: float | None = None
    threshold_rule: str = ""
    calibration: list[dict[str, Any]] = Field(default_factory=list)
    feature_selection: str = ""
    folds: list[dict[str, Any]] = Field(default_factory=list)
    message: str = ""


class TrainReport(BaseModel):
    """A training run over the stored events: each trait's report and how many profiles got fresh traits."""

    trained_at: float
    n_events: int
    n_profiles: int
    traits: list[TraitReport] = Field(default_factory=list)
    scored_profiles: int = 0
    message: str = ""

    @property
    def any_trained(self) -> bool:
        return any(t.trained for t in self.traits)


class ModelEntry(BaseModel):
    """A registry entry: the latest version of one trait's model and its backtest metrics."""

    trait: str
    registry_version: str
    model_version: str
    created_at: float
    horizon_days: float
    trained_through: str
    n_events: int
    n_profiles: int
    metrics: dict[str, Any] = Field(default_factory=dict)
    versions: list[str] = Field(default_factory=list)


class ScoreReport(BaseModel):
    """A scoring pass: profiles whose ``predicted.*`` traits were written, and those cleared."""

    scored_at: float
    written: int
    cleared: int
    message: str = ""
