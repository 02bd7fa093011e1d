"""The model kinds by name (for ``Recommender.load``, the registry, configs and the CLI).

>>> sorted(MODEL_KINDS)[:3]
['als', 'bpr', 'content']
>>> make_model("ease", {"regularization": 50}).config.regularization
50.0
"""

from __future__ import annotations

from typing import Any

from pertinent.recommend.base import Recommender
from pertinent.recommend.content import ContentRecommender
from pertinent.recommend.default import DefaultRecommender
from pertinent.recommend.ease import EASERecommender
from pertinent.recommend.factorization import ALSRecommender, BPRRecommender
from pertinent.recommend.hybrid import HybridRecommender
from pertinent.recommend.itemknn import ItemKNNRecommender
from pertinent.recommend.popularity import PopularityRecommender

MODEL_KINDS: dict[str, type[Recommender]] = {
    cls.kind: cls
    for cls in (
        PopularityRecommender,
        ItemKNNRecommender,
        ALSRecommender,
        BPRRecommender,
        EASERecommender,
        ContentRecommender,
        HybridRecommender,
        DefaultRecommender,
    )
}


def make_model(kind: str, config: dict[str, Any] | None = None) -> Recommender:
    """A fresh model of ``kind`` with a config from a dict (validated; errors name the field)."""
    cls = MODEL_KINDS.get(kind)
    if cls is None:
        raise ValueError(f"kind: unknown model {kind!r}; choose from {sorted(MODEL_KINDS)}")
    return cls(cls.config_class.model_validate(config or {}))
