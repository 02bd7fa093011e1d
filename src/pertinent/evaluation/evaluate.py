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


COLD_WARNING_SHARE = 0.5
"""Above this share of test users without training history, results carry a loud warning."""


@dataclass(frozen=True)
class EvaluationResult:
    """Mean metrics over the test users; ``message`` explains empty, thin or mostly-cold results.

    ``metrics`` has precision, recall, map, ndcg, hit_rate, mrr, coverage, novelty at ``k``, plus
    ``recall@<recall_k>``; with cold test users also ``ndcg_warm`` (users with a training history only).
    """

    metrics: dict[str, float]
    k: int
    n_users: int
    message: str = ""
    n_cold: int = 0

    @property
    def cold_share(self) -> float:
        return self.n_cold / self.n_users if self.n_users else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n_users": self.n_users,
            "n_cold_users": self.n_cold,
            "cold_share": self.cold_share,
            "metrics": self.metrics,
            "message": self.message,
        }

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


def sample_users(split: Split, max_users: int | None = None, seed: int = 0) -> np.ndarray:
    """The split's test users, or a reproducible sorted sample of ``max_users`` of them."""
    users = split.test_users
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def cold_warning(n_cold: int, n_users: int) -> str:
    """A loud sentence when most test users have no training history, else ''."""
    if not n_users or n_cold / n_users <= COLD_WARNING_SHARE:
        return ""
    return (
        f"WARNING: {n_cold:,} of {n_users:,} test users ({n_cold / n_users:.0%}) have no training history: "
        "every model can only serve them a fallback (popularity), so collaborative models look worse than "
        "popularity here; compare ndcg_warm, or use the per-user temporal split"
    )


def score_ranked(
    ranked: np.ndarray, split: Split, users: np.ndarray, k: int = 10, recall_k: int = 20
) -> EvaluationResult:
    """Metrics of ranked item indices (rows = ``users``, at least ``max(k, recall_k)`` columns, -1 = none)."""
    if len(users) == 0:
        return EvaluationResult({}, k, 0, "no test users: every user has too few interactions to hold out")
    test = split.test[users]
    metrics = ranking_metrics(
        ranked[:, :k],
        test,
        k,
        item_counts=split.train.item_counts(),
        n_items=split.train.n_items,
        n_train_users=split.train.n_users,
    )
    metrics[f"recall@{recall_k}"] = ranking_metrics(ranked[:, :recall_k], test, recall_k)["recall"]
    warm = np.diff(split.train.matrix.indptr)[users] > 0
    n_cold = int((~warm).sum())
    if n_cold:
        metrics["ndcg_warm"] = ranking_metrics(ranked[warm, :k], test[warm], k)["ndcg"] if warm.any() else math.nan
    msg = cold_warning(n_cold, len(users)) or (
        "" if len(users) >= 30 else f"only {len(users)} test users: metrics are noisy"
    )
    return EvaluationResult(metrics, k, int(len(users)), msg, n_cold)


def rank_for(model: Recommender, split: Split, users: np.ndarray, k: int) -> np.ndarray:
    """Top-k unseen items of a fitted model for ``users`` (indices into the train vocabulary).

    A model whose scores need more than the history row (e.g. the user's events in time order) may define
    ``rank_users(users: np.ndarray, k: int) -> np.ndarray`` (train user indices in, item indices out, -1
    padding, the user's train items excluded); it is used instead of scoring the history rows.
    """
    own = getattr(model, "rank_users", None)
    if callable(own):
        return np.asarray(own(users, k))
    return rank_users(model, split.train.matrix[users], k)


def evaluate(
    model: Recommender, split: Split, k: int = 10, max_users: int | None = None, seed: int = 0, recall_k: int = 20
) -> EvaluationResult:
    """Score a fitted model on ``split.test`` (ranking all items not in the user's train row)."""
    users = sample_users(split, max_users, seed)
    if len(users) == 0:
        return score_ranked(np.zeros((0, k), np.int64), split, users, k, recall_k)
    return score_ranked(rank_for(model, split, users, max(k, recall_k)), split, users, k, recall_k)


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
