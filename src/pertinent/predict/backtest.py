"""Rolling-origin backtest plumbing: the cutoff schedule, folds, and features x labels stacked over cutoffs.

A :class:`Panel` holds the validated events and caches the feature frame of each cutoff, so the
propensity, churn and timing backtests on one dataset compute each cutoff's features once.

>>> cutoffs = [0.0, 30 * DAY, 60 * DAY, 90 * DAY]
>>> [(f.test / DAY, [c / DAY for c in f.train]) for f in plan_folds(cutoffs, horizon_days=30, n_folds=2)]
[(60.0, [0.0, 30.0]), (90.0, [0.0, 30.0, 60.0])]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pertinent.predict.config import DAY, BacktestConfig, EventSpec, FeatureConfig
from pertinent.predict.events import EventLog
from pertinent.predict.features import build_features

EPS = 1e-6  # seconds of slack when comparing cutoffs


def iso(seconds: float) -> str:
    """UTC ISO 8601 of a cutoff in seconds (to the second)."""
    return pd.Timestamp(round(seconds), unit="s", tz="UTC").isoformat()


class Panel:
    """Validated events with a cache of feature frames per cutoff."""

    def __init__(
        self,
        events: pd.DataFrame | EventLog,
        spec: EventSpec | None = None,
        features: FeatureConfig | None = None,
    ) -> None:
        self.log = EventLog.from_frame(events, spec)
        self.feature_config = features or FeatureConfig()
        self._cache: dict[float, pd.DataFrame] = {}

    @property
    def spec(self) -> EventSpec:
        """The event spec of the log."""
        return self.log.spec

    def features(self, cutoff: float) -> pd.DataFrame:
        """The feature frame at ``cutoff`` (cached; do not modify it)."""
        if cutoff not in self._cache:
            self._cache[cutoff] = build_features(self.log, cutoff, config=self.feature_config)
        return self._cache[cutoff]


def cutoff_schedule(log: EventLog, horizon_days: float, config: BacktestConfig) -> list[float]:
    """Cutoffs (ascending seconds) whose label window ``[c, c + horizon)`` closes by the last event."""
    if len(log) == 0:
        return []
    last = log.end - horizon_days * DAY
    earliest = log.start + config.min_history_days * DAY
    out = [last - k * config.step_days * DAY for k in range(config.max_cutoffs)]
    return sorted(c for c in out if c > earliest - EPS)


@dataclass(frozen=True)
class Fold:
    """One test cutoff and the earlier cutoffs whose labels are known by then."""

    test: float
    train: tuple[float, ...]


def plan_folds(cutoffs: Sequence[float], horizon_days: float, n_folds: int) -> list[Fold]:
    """The last ``n_folds`` cutoffs as tests, each with the cutoffs ``c`` where ``c + horizon <= test``.

    Tests without any such earlier cutoff are left out."""
    folds = []
    for test in list(cutoffs)[-n_folds:]:
        train = tuple(c for c in cutoffs if c + horizon_days * DAY <= test + EPS)
        if train:
            folds.append(Fold(test, train))
    return folds


@dataclass(frozen=True)
class Stacked:
    """Feature rows of several cutoffs (columns aligned), their targets and (cutoff, user) keys."""

    X: pd.DataFrame
    y: pd.DataFrame
    cutoff: np.ndarray
    user: np.ndarray

    def rows(self, cutoffs: Sequence[float]) -> np.ndarray:
        """Boolean mask of the rows of ``cutoffs``."""
        return np.isin(self.cutoff, np.asarray(cutoffs, dtype=float))


Labeller = Callable[[EventLog, float, pd.Index], pd.DataFrame]


def stack(
    panel: Panel,
    cutoffs: Sequence[float],
    labeller: Labeller,
    population: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> Stacked:
    """Features and labels of ``cutoffs`` stacked; ``population`` filters each cutoff's feature rows.

    Feature columns missing at some cutoff (an event type not seen yet) are 0 there."""
    xs, ys, cs, us = [], [], [], []
    for c in cutoffs:
        f = panel.features(c)
        if population is not None:
            f = f[population(f)]
        xs.append(f)
        ys.append(labeller(panel.log, c, f.index))
        cs.append(np.full(len(f), c))
        us.append(f.index.to_numpy())
    if not xs:
        return Stacked(pd.DataFrame(), pd.DataFrame(), np.zeros(0), np.zeros(0, dtype=object))
    columns: list[str] = []
    for f in xs:
        columns.extend(col for col in f.columns if col not in columns)
    X = pd.concat([f.reindex(columns=columns, fill_value=0.0) for f in xs], ignore_index=True)
    y = pd.concat(ys, ignore_index=True)
    return Stacked(X, y, np.concatenate(cs), np.concatenate(us))
