"""Trending: items by interactions weighted ``0.5 ** (days old / half_life_days)``, measured from the newest event.

Unlike ``popularity`` (all-time counts) it follows what is being chosen now; without timestamps it counts.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": ["a", "a", "b"], "t": [0, 0, 30 * 86400]})
>>> model = TrendingRecommender(half_life_days=3).fit(Interactions.from_frame(df, timestamp_col="t"))
>>> [(r.item, r.reason) for r in model.recommend(k=1)]
[('b', 'trending now')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.recommend.base import Recommender
from pertinent.recommend.primitives import Context

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


class TrendingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    half_life_days: float = Field(default=7.0, gt=0)


def decayed_counts(data: Interactions, half_life_days: float, now: float | None = None) -> np.ndarray:
    """Per item: the sum of its events' weights, each halved every ``half_life_days`` before ``now``."""
    ev = data.events
    w = ev["weight"].to_numpy(np.float64)
    if "timestamp" in ev.columns and len(ev):
        t = ev["timestamp"].to_numpy(np.float64)
        ref = float(np.nanmax(t)) if now is None else now
        w = w * np.power(0.5, np.maximum(ref - np.nan_to_num(t, nan=ref), 0.0) / 86400.0 / half_life_days)
    return np.bincount(ev["item"].to_numpy(), weights=w, minlength=data.n_items)


class TrendingRecommender(Recommender):
    kind = "trending"
    config_class = TrendingConfig
    config: TrendingConfig

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        scores = decayed_counts(data, self.config.half_life_days)
        self.scores = (scores / (scores.max() or 1.0)).astype(np.float32)

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        return np.broadcast_to(self.scores, (history.shape[0], self.n_items)).copy()

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        return ["trending now"] * len(items)

    def item_similarity(self, item: int) -> np.ndarray | None:
        return None

    def _get_state(self) -> dict[str, Any]:
        return {"scores": self.scores}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.scores = state["scores"]
