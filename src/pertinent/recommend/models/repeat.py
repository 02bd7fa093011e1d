"""Repeat consumption: the user's own items again, newest and most re-chosen first (shops re-buy, readers do not).

Whether the catalogue allows it is a config flag or detected from data: ``mode="auto"`` turns it on when at
least ``min_repeat_rate`` of the user x item pairs were chosen at two or more distinct times. Items outside the
history score 0. Lists exclude seen items by default: serve this kind with ``Filters(exclude_seen=False)``.

>>> import pandas as pd
>>> from pertinent.recommend import Filters, Interactions
>>> df = pd.DataFrame({"user": ["u1", "u1", "u1"], "item": ["a", "a", "b"], "t": [1, 2, 3]})
>>> model = RepeatRecommender().fit(Interactions.from_frame(df, timestamp_col="t"))
>>> model.enabled, model.recommend("u1", k=1, filters=Filters(exclude_seen=False))[0].reason
(True, 'you chose it before')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.recommend.base import Recommender
from pertinent.recommend.primitives import Context
from pertinent.recommend.recency import RecencyConfig, decayed

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


class RepeatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "on", "off"] = "auto"
    min_repeat_rate: float = Field(default=0.05, ge=0, le=1)
    recency: RecencyConfig = Field(default_factory=lambda: RecencyConfig(decay=0.9))


def repeat_rates(data: Interactions) -> tuple[float, np.ndarray]:
    """(share of user x item pairs chosen at >= 2 distinct times, that share per item); zeros without times."""
    ev = data.events
    if "timestamp" not in ev.columns or not len(ev):
        return 0.0, np.zeros(data.n_items, dtype=np.float32)
    times = ev.groupby(["user", "item"], sort=False)["timestamp"].nunique()
    repeated = (times >= 2).to_numpy()
    items = times.index.get_level_values(1).to_numpy()
    pairs = np.bincount(items, minlength=data.n_items)
    again = np.bincount(items, weights=repeated, minlength=data.n_items)
    per_item = (again + 0.1) / (pairs + 1.0)  # smoothed towards a small prior
    return float(repeated.mean()), per_item.astype(np.float32)


class RepeatRecommender(Recommender):
    kind = "repeat"
    config_class = RepeatConfig
    config: RepeatConfig

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        self.rate, self.item_rates = repeat_rates(data)
        mode = self.config.mode
        self.enabled = mode == "on" or (mode == "auto" and self.rate >= self.config.min_repeat_rate)

    def wants_times(self) -> bool:
        return self.enabled and self.config.recency.active

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        out = np.zeros((history.shape[0], self.n_items), dtype=np.float32)
        if not self.enabled:
            return out
        h = decayed(history, context.times if context is not None else None, self.config.recency)
        h = sp.csr_matrix(h @ sp.diags(self.item_rates))
        out += np.asarray(h.toarray(), dtype=np.float32)
        return out

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        seen = set(sp.csr_matrix(history).indices.tolist())
        return ["you chose it before" if int(j) in seen else "recommended for you" for j in items]

    def item_similarity(self, item: int) -> np.ndarray | None:
        return None

    def _get_state(self) -> dict[str, Any]:
        return {"rate": np.asarray(self.rate), "item_rates": self.item_rates, "enabled": np.asarray(self.enabled)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.rate = float(state["rate"])
        self.item_rates = state["item_rates"]
        self.enabled = bool(state["enabled"])
