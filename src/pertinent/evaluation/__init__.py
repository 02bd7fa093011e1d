"""Offline evaluation: splits, ranking metrics, evaluation runs and hyperparameter search."""

from pertinent.evaluation.evaluate import EvaluationResult, SearchResult, evaluate, grid_search, rank_users
from pertinent.evaluation.metrics import ranking_metrics
from pertinent.evaluation.splits import (
    Split,
    global_time_split,
    leave_last_out,
    random_holdout,
    temporal_split,
    temporal_user_split,
)

__all__ = [
    "EvaluationResult",
    "SearchResult",
    "Split",
    "evaluate",
    "global_time_split",
    "grid_search",
    "leave_last_out",
    "random_holdout",
    "rank_users",
    "ranking_metrics",
    "temporal_split",
    "temporal_user_split",
]
