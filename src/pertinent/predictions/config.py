"""How the predictive traits are trained, refreshed and written. Plain pydantic (``Settings.predict``):
``PERTINENT_PREDICT__REFIT_INTERVAL_S=86400`` or ``[predict]`` in the TOML file.

>>> PredictConfig().purchase_horizon_days, PredictConfig(refit_after_events=0).refit_after_events
(30.0, 0)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PredictConfig(BaseModel):
    """``purchase_horizon_days``: propensity = P(a purchase within this many days); ``churn_horizon_days``:
    churn risk = P(no activity within it); ``timing_horizon_days``: days to the next purchase are forecast up to
    this cap. ``step_days``: training cutoffs are this far apart (at most ``max_cutoffs``, the last ``n_folds``
    are the backtest's test cutoffs); ``windows_days``: feature windows. ``purchase_events``: event names that are
    purchases (empty = the profile config's ``purchase_events``). ``min_profiles``: fewer profiles with events
    than this and nothing is trained (a message says so). ``refit_interval_s``: the server refits this often
    (0 = never on time); ``refit_after_events``: and as soon as this many events arrived since the last fit
    (0 = never on volume), checked every ``check_interval_s``. ``score_batch``: profiles written per
    transaction. ``keep_versions``: model versions kept per trait in the registry.
    """

    model_config = ConfigDict(extra="forbid")

    purchase_horizon_days: float = Field(default=30.0, gt=0)
    churn_horizon_days: float = Field(default=30.0, gt=0)
    timing_horizon_days: float = Field(default=60.0, gt=0)
    step_days: float = Field(default=7.0, gt=0)
    max_cutoffs: int = Field(default=12, ge=3)
    n_folds: int = Field(default=2, ge=1)
    windows_days: list[float] = Field(default_factory=lambda: [7.0, 30.0, 90.0, 365.0], min_length=1)
    purchase_events: list[str] = Field(default_factory=list)
    behaviour_features: bool = False  # predict/behaviour.py: no AUC gain on the benchmarks, twice the time
    min_profiles: int = Field(default=50, ge=2)
    min_positives: int = Field(default=5, ge=1)
    refit_interval_s: float = Field(default=0.0, ge=0)
    refit_after_events: int = Field(default=0, ge=0)
    check_interval_s: float = Field(default=300.0, gt=0)
    score_batch: int = Field(default=500, ge=1)
    keep_versions: int = Field(default=5, ge=1)
    drift_recent_days: float = Field(default=7.0, gt=0)

    @field_validator("windows_days")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(w <= 0 for w in v):
            raise ValueError(f"windows_days must be positive, got {v}")
        return v
