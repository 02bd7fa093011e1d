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
    "Context": "pertinent.recommend.base",
    "NotFittedError": "pertinent.recommend.base",
    "Recommendation": "pertinent.recommend.base",
    "Recommender": "pertinent.recommend.base",
    "Catalogue": "pertinent.recommend.catalogue",
    "CatalogueError": "pertinent.recommend.catalogue",
    "ContentConfig": "pertinent.recommend.content",
    "ContentRecommender": "pertinent.recommend.content",
    "DefaultConfig": "pertinent.recommend.default",
    "DefaultRecommender": "pertinent.recommend.default",
    "EASEConfig": "pertinent.recommend.ease",
    "EASERecommender": "pertinent.recommend.ease",
    "ALSConfig": "pertinent.recommend.factorization",
    "ALSRecommender": "pertinent.recommend.factorization",
    "BPRConfig": "pertinent.recommend.factorization",
    "BPRRecommender": "pertinent.recommend.factorization",
    "Filters": "pertinent.recommend.filters",
    "Component": "pertinent.recommend.hybrid",
    "HybridConfig": "pertinent.recommend.hybrid",
    "HybridRecommender": "pertinent.recommend.hybrid",
    "InteractionConfig": "pertinent.recommend.interactions",
    "InteractionError": "pertinent.recommend.interactions",
    "Interactions": "pertinent.recommend.interactions",
    "ItemKNNConfig": "pertinent.recommend.itemknn",
    "ItemKNNRecommender": "pertinent.recommend.itemknn",
    "MODEL_KINDS": "pertinent.recommend.models",
    "make_model": "pertinent.recommend.models",
    "PopularityConfig": "pertinent.recommend.popularity",
    "PopularityRecommender": "pertinent.recommend.popularity",
    "ModelRegistry": "pertinent.recommend.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pertinent.recommend' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
