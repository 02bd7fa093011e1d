"""The built-in model kinds, one module each; importing this package registers every one of them.

The place that knows every kind: configs, the CLI, training and the model registry make and load models by
kind through it (``base`` knows none, so that models can import it without a cycle).

>>> sorted(MODEL_KINDS)[:3]
['als', 'bpr', 'content']
>>> make_model("ease", {"regularization": 50}).config.regularization
50.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pertinent.recommend.base import Recommender, registered_kinds
from pertinent.recommend.models.content import ContentRecommender
from pertinent.recommend.models.default import DefaultRecommender
from pertinent.recommend.models.ease import EASERecommender
from pertinent.recommend.models.factorization import ALSRecommender, BPRRecommender
from pertinent.recommend.models.fresh import FreshRecommender
from pertinent.recommend.models.fused import FusedRecommender
from pertinent.recommend.models.hybrid import HybridRecommender
from pertinent.recommend.models.itemknn import ItemKNNRecommender
from pertinent.recommend.models.popularity import PopularityRecommender
from pertinent.recommend.models.repeat import RepeatRecommender
from pertinent.recommend.models.transitions import TransitionRecommender
from pertinent.recommend.models.trending import TrendingRecommender
from pertinent.recommend.ranking.ranker import RankerRecommender

BUILT_IN: tuple[type[Recommender], ...] = (
    PopularityRecommender,
    ItemKNNRecommender,
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    ContentRecommender,
    HybridRecommender,
    DefaultRecommender,
    TransitionRecommender,
    TrendingRecommender,
    FreshRecommender,
    RepeatRecommender,
    RankerRecommender,
    FusedRecommender,
)

MODEL_KINDS = registered_kinds()
"""Every registered kind by name: the built-in ones above and any defined since."""


def make_model(kind: str, config: dict[str, Any] | None = None) -> Recommender:
    """A fresh model of ``kind`` with a config from a dict (validated; errors name the field)."""
    cls = MODEL_KINDS.get(kind)
    if cls is None:
        raise ValueError(f"kind: unknown model {kind!r}; choose from {sorted(MODEL_KINDS)}")
    return cls(cls.config_class.model_validate(config or {}))


def load_model(path: str | Path) -> Recommender:
    """A model saved with ``Recommender.save``, of any built-in or registered kind."""
    return Recommender.load(path)
