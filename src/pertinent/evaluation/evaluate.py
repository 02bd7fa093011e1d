"""Evaluation runs and hyperparameter search.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions, PopularityRecommender
>>> df = pd.DataFrame({"user": [f"u{i % 20}" for i in range(200)], "item": [f"i{i % 17}" for i in range(200)]})
>>> split = random_holdout(Interactions.from_frame(df), fraction=0.2, seed=1)
>>> result = evaluate(PopularityRecommender().fit(split.train), split, k=5)
>>> result.n_users > 0 and 0.0 <= result.metrics["ndcg"] <= 1.0
True
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pertinent.evaluation.metrics import ranking_metrics
from pertinent.evaluation.splits import Split, random_holdout

if TYPE_CHECKING:
    from pertinent.recommend.base import Recommender
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


@dataclass(frozen=True)
class EvaluationResult:
    """Mean metrics over the test users; ``message`` explains empty or thin results."""

    metrics: dict[str, float]
    k: int
    n_users: int
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n_users": self.n_users, "metrics": self.metrics, "message": self.message}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


@dataclass(frozen=True)
class SearchResult:
    """Best parameters of a grid search on a validation split, with every trial."""

    best_params: dict[str, Any]
    best_score: float
    metric: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def rank_users(model: Recommender, history: sp.csr_matrix, k: int, batch_size: int = 1024) -> np.ndarray:
    """Top-k item indices per history row, excluding the row's own items (-1 where fewer exist)."""
    from pertinent.recommend.filters import Filters, top_k_matrix

    filters = Filters(only_available=False)
    out = []
    for start in range(0, history.shape[0], batch_size):
        rows = history[start : start + batch_size]
        idx, vals = top_k_matrix(model, model.score(rows), rows, k, filters)
        out.append(np.where(np.isfinite(vals), idx, -1))
    return np.vstack(out) if out else np.zeros((0, k), dtype=np.int64)


def evaluate(
    model: Recommender, split: Split, k: int = 10, max_users: int | None = None, seed: int = 0
) -> EvaluationResult:
    """Score a fitted model on ``split.test`` (ranking all items not in the user's train row)."""
    users = split.test_users
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    if len(users) == 0:
        return EvaluationResult({}, k, 0, "no test users: every user has too few interactions to hold out")
    ranked = rank_users(model, split.train.matrix[users], k)
    counts = split.train.item_counts()
    metrics = ranking_metrics(
        ranked, split.test[users], k, item_counts=counts, n_items=split.train.n_items, n_train_users=split.train.n_users
    )
    msg = "" if len(users) >= 30 else f"only {len(users)} test users: metrics are noisy"
    return EvaluationResult(metrics, k, int(len(users)), msg)


def grid_search(
    kind: str,
    grid: dict[str, list[Any]],
    train: Interactions,
    *,
    catalogue: Catalogue | None = None,
    base_config: dict[str, Any] | None = None,
    fraction: float = 0.2,
    seed: int = 0,
    k: int = 10,
    metric: str = "ndcg",
    max_users: int | None = 2000,
) -> SearchResult:
    """Try every combination of ``grid`` on a validation split carved from ``train`` only."""
    from pertinent.recommend.models import make_model

    split = random_holdout(train, fraction=fraction, seed=seed)
    if len(split.test_users) == 0:
        return SearchResult(
            dict(base_config or {}),
            math.nan,
            metric,
            [],
            "no validation users (need users with >= 5 interactions): kept the defaults",
        )
    trials = []
    best: tuple[float, dict[str, Any]] = (-math.inf, dict(base_config or {}))
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        params = {**(base_config or {}), **dict(zip(names, values, strict=True))}
        model = make_model(kind, params).fit(split.train, catalogue)
        result = evaluate(model, split, k=k, max_users=max_users, seed=seed)
        score = result.metrics.get(metric, math.nan)
        trials.append({"params": params, "metrics": result.metrics})
        if score > best[0]:
            best = (score, params)
    return SearchResult(best[1], best[0], metric, trials)
