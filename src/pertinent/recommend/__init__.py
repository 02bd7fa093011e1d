"""Offline recommendation engine: data, models behind one interface, filters, registry.

>>> from pertinent.recommend import MODEL_KINDS
>>> "default" in MODEL_KINDS
True
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy exports: importing ``pertinent.recommend`` (e.g. by the CLI) stays cheap.
_EXPORTS = {
    "Context": "pertinent.recommend.primitives",
    "NotFittedError": "pertinent.recommend.primitives",
    "Recommendation": "pertinent.recommend.primitives",
    "Recommender": "pertinent.recommend.base",
    "Catalogue": "pertinent.recommend.catalogue",
    "CatalogueError": "pertinent.recommend.catalogue",
    "ContentConfig": "pertinent.recommend.models.content",
    "ContentRecommender": "pertinent.recommend.models.content",
    "DefaultConfig": "pertinent.recommend.models.default",
    "DefaultRecommender": "pertinent.recommend.models.default",
    "EASEConfig": "pertinent.recommend.models.ease",
    "EASERecommender": "pertinent.recommend.models.ease",
    "ALSConfig": "pertinent.recommend.models.factorization",
    "ALSRecommender": "pertinent.recommend.models.factorization",
    "BPRConfig": "pertinent.recommend.models.factorization",
    "BPRRecommender": "pertinent.recommend.models.factorization",
    "Filters": "pertinent.recommend.filters",
    "Component": "pertinent.recommend.models.hybrid",
    "HybridConfig": "pertinent.recommend.models.hybrid",
    "HybridRecommender": "pertinent.recommend.models.hybrid",
    "InteractionConfig": "pertinent.recommend.interactions",
    "InteractionError": "pertinent.recommend.interactions",
    "Interactions": "pertinent.recommend.interactions",
    "ItemKNNConfig": "pertinent.recommend.models.itemknn",
    "ItemKNNRecommender": "pertinent.recommend.models.itemknn",
    "MODEL_KINDS": "pertinent.recommend.models",
    "make_model": "pertinent.recommend.models",
    "load_model": "pertinent.recommend.models",
    "PopularityConfig": "pertinent.recommend.models.popularity",
    "PopularityRecommender": "pertinent.recommend.models.popularity",
    "ModelRegistry": "pertinent.recommend.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pertinent.recommend' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
