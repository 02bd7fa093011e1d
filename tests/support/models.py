"""Saving small recommender models in a test's registry (model versions to serve, promote, roll back, list).

>>> popularity_model(["b", "a"]).recommend("someone", k=1)[0].item
'b'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pertinent.recommend import Interactions, PopularityRecommender


def popularity_model(items: Sequence[str] = ("a", "b")) -> PopularityRecommender:
    """A fitted popularity model over ``items`` whose top item is ``items[0]`` (one more user holds it)."""
    items = list(items)
    frame = pd.DataFrame({"user": [f"u{i}" for i in range(len(items) * 3)], "item": items * 3})
    frame = pd.concat([frame, pd.DataFrame({"user": ["extra"], "item": [items[0]]})])
    return PopularityRecommender().fit(Interactions.from_frame(frame))


def save_popularity(
    services: Any, items: Sequence[str] = ("a", "b"), *, name: str | None = None, metrics: dict[str, Any] | None = None
) -> str:
    """Save :func:`popularity_model` as the next version of ``name`` (default: the model ``services`` serves) in
    ``services``' registry; returns the version."""
    recommend = services.recommend
    return str(recommend.registry.save(name or recommend.config.model, popularity_model(items), metrics=metrics))
