"""Popularity: global counts, trending (exponential time decay) and per-group (segment / context).

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": ["a", "a", "b"], "seg": ["x", "y", "y"]})
>>> data = Interactions.from_frame(df, keep_cols=("seg",))
>>> model = PopularityRecommender(group_col="seg", min_group_events=1).fit(data)
>>> [r.item for r in model.recommend(k=1)]
['a']
>>> model.recommend(k=1, context=Context(group="x"))[0].reason
'popular in your segment'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.recommend.base import Recommender
from pertinent.recommend.primitives import Context

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


class PopularityConfig(BaseModel):
    """``mode='trending'`` weights each event by ``0.5 ** (age / half_life_days)``; ``group_col``
    (a column kept in ``Interactions.events``) gives one ranking per group value."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["count", "trending"] = "count"
    half_life_days: float = Field(default=7.0, gt=0)
    group_col: str | None = None
    min_group_events: int = Field(default=5, ge=1)


class PopularityRecommender(Recommender):
    kind = "popularity"
    config_class = PopularityConfig
    config: PopularityConfig

    def _weights(self, data: Interactions) -> np.ndarray:
        ev = data.events
        w = ev["weight"].to_numpy(np.float64)
        if self.config.mode == "trending":
            if not data.has_timestamps:
                raise ValueError("mode='trending' needs timestamps: build Interactions with timestamp_col")
            t = ev["timestamp"].to_numpy(np.float64)
            age_days = (np.nanmax(t) - t) / 86400.0
            w = w * np.power(0.5, age_days / self.config.half_life_days)
        return w

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        ev = data.events
        w = self._weights(data)
        scores = np.bincount(ev["item"].to_numpy(), weights=w, minlength=data.n_items)
        self.global_scores = (scores / (scores.max() or 1.0)).astype(np.float32)
        self.group_ids: list[str] = []
        self.group_scores = sp.csr_matrix((0, data.n_items), dtype=np.float32)
        col = self.config.group_col
        if col is not None:
            if col not in ev.columns:
                raise ValueError(
                    f"group_col: column {col!r} not kept in Interactions.events "
                    "(pass keep_cols=(...) to Interactions.from_frame)"
                )
            groups = ev[col].astype(str).to_numpy()
            codes, uniques = np.unique(groups, return_inverse=True)[1], np.unique(groups)
            counts = np.bincount(codes, minlength=len(uniques))
            m = sp.csr_matrix((w, (codes, ev["item"].to_numpy())), shape=(len(uniques), data.n_items))
            keep = counts >= self.config.min_group_events
            m = sp.csr_matrix(m[keep])
            maxes = m.max(axis=1).toarray().ravel()
            m = sp.diags(1.0 / np.where(maxes > 0, maxes, 1.0)) @ m
            self.group_ids = [str(g) for g in uniques[keep]]
            self.group_scores = sp.csr_matrix(m, dtype=np.float32)
        self._group_index = {g: i for i, g in enumerate(self.group_ids)}

    def _row_for(self, context: Context | None) -> tuple[np.ndarray, bool]:
        if context is not None and context.group is not None:
            g = self._group_index.get(str(context.group))
            if g is not None:
                # group ranking first, global popularity breaks ties / fills the tail
                return self.group_scores[g].toarray().ravel() + 1e-3 * self.global_scores, True
        return self.global_scores, False

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        row, _ = self._row_for(context)
        return np.broadcast_to(row.astype(np.float32), (history.shape[0], self.n_items)).copy()

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        _, grouped = self._row_for(context)
        if grouped:
            return ["popular in your segment"] * len(items)
        return ["trending" if self.config.mode == "trending" else "popular"] * len(items)

    def item_similarity(self, item: int) -> np.ndarray | None:
        return None

    def _get_state(self) -> dict[str, Any]:
        return {
            "global": self.global_scores,
            "groups": np.asarray(self.group_ids, dtype=str),
            "group_scores": self.group_scores,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.global_scores = state["global"]
        self.group_ids = [str(g) for g in state.get("groups", [])]
        self.group_scores = state.get("group_scores", sp.csr_matrix((0, len(self.global_scores))))
        self._group_index = {g: i for i, g in enumerate(self.group_ids)}
