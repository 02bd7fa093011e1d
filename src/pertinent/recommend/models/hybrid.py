"""Hybrid: a weighted blend of models plus the cold-start fallback chain.

* no history: popularity (per segment / context group when the request names one);
* a few events (< ``min_history``): the blend plus content similarity and popularity;
* new items (no interactions yet): content similarity to the user's history.

Each member's scores are divided by the row's top score before blending, so weights are comparable.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u1", "u2", "u2", "u3"], "item": ["a", "b", "a", "b", "c"]})
>>> cfg = HybridConfig(components=[Component(kind="itemknn"), Component(kind="popularity", weight=0.1)])
>>> model = HybridRecommender(cfg).fit(Interactions.from_frame(df))
>>> model.recommend(k=1)[0].reason
'popular'
>>> model.recommend(items=["a"], k=1)[0].item
'b'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.recommend.base import Recommender
from pertinent.recommend.last_request import LastRequest
from pertinent.recommend.models.content import ContentConfig, ContentRecommender
from pertinent.recommend.models.ease import EASERecommender
from pertinent.recommend.models.factorization import ALSRecommender, BPRRecommender
from pertinent.recommend.models.itemknn import ItemKNNRecommender
from pertinent.recommend.models.popularity import PopularityConfig, PopularityRecommender
from pertinent.recommend.primitives import Context

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


MEMBER_KINDS: dict[str, type[Recommender]] = {
    cls.kind: cls
    for cls in (
        PopularityRecommender,
        ItemKNNRecommender,
        ALSRecommender,
        BPRRecommender,
        EASERecommender,
        ContentRecommender,
    )
}
"""The kinds a blend may hold (``Component.kind``)."""


class Component(BaseModel):
    """One blended model: its kind, blend weight and config (a dict validated by that model)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["popularity", "itemknn", "als", "bpr", "ease", "content"]
    weight: float = Field(default=1.0, ge=0)
    config: dict[str, Any] = Field(default_factory=dict)

    def make(self) -> Recommender:
        """A fresh, unfitted member (its config validated by its model: errors name the field)."""
        cls = MEMBER_KINDS[self.kind]
        return cls(cls.config_class.model_validate(self.config))


class HybridConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    components: list[Component] = Field(default_factory=lambda: [Component(kind="ease")])
    popularity: PopularityConfig = Field(default_factory=PopularityConfig)
    content: ContentConfig = Field(default_factory=ContentConfig)
    use_content: bool = True
    min_history: int = Field(default=3, ge=0)
    cold_content_weight: float = Field(default=0.5, ge=0)
    cold_popularity_weight: float = Field(default=0.3, ge=0)
    new_item_weight: float = Field(default=0.5, ge=0)


def normalize_rows(scores: np.ndarray) -> np.ndarray:
    """Divide each row by its largest value (rows without a positive value are left as they are)."""
    top = scores.max(axis=1, keepdims=True) if scores.size else np.ones((len(scores), 1), np.float32)
    return scores / np.where(top > 0, top, 1.0)


class HybridRecommender(Recommender):
    kind = "hybrid"
    config_class = HybridConfig
    config: HybridConfig

    def __init__(self, config: BaseModel | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.members: list[tuple[Recommender, float]] = []
        self.popularity = PopularityRecommender(self.config.popularity)  # rebuilt by fit and load
        self.content: ContentRecommender | None = None
        self.item_counts = np.zeros(0, dtype=np.int64)
        self._recent = LastRequest()  # the last one-row score's parts, per serving thread

    def _build(self, with_content: bool) -> None:
        self.members = [(c.make(), c.weight) for c in self.config.components]
        self.popularity = PopularityRecommender(self.config.popularity)
        self.content = ContentRecommender(self.config.content) if with_content else None

    def _children(self) -> list[Recommender]:
        out = [m for m, _ in self.members]
        out.append(self.popularity)
        return out + ([self.content] if self.content is not None else [])

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        self._build(with_content=self.config.use_content and catalogue is not None)
        for child in self._children():
            child.fit(data, catalogue)
        self.item_counts = data.item_counts()

    def _parts(self, history: sp.csr_matrix, context: Context | None) -> list[tuple[Recommender, np.ndarray]]:
        h = sp.csr_matrix(history, dtype=np.float32)
        n_hist = np.diff(h.indptr)
        parts: list[tuple[Recommender, np.ndarray]] = []
        for model, weight in self.members:
            if weight > 0:
                parts.append((model, weight * normalize_rows(model.score(h, context))))
        pop = self.popularity.score(h, context)
        cold = n_hist < self.config.min_history
        empty = n_hist == 0
        if cold.any():
            parts.append((self.popularity, self.config.cold_popularity_weight * pop * cold[:, None]))
        new_items = self.item_counts == 0
        if self.content is not None and (cold.any() or new_items.any()):  # else its weight is 0 everywhere
            content = normalize_rows(self.content.score(h))
            weight = np.where(cold, self.config.cold_content_weight, 0.0)[:, None] * np.ones_like(content)
            weight[:, new_items] = self.config.new_item_weight
            parts.append((self.content, weight * content))
        if empty.any():  # no history at all: popularity decides
            for i, (m, s) in enumerate(parts):
                if m is not self.popularity:
                    s = s.copy()
                    s[empty] = 0.0
                    parts[i] = (m, s)
            parts.append((self.popularity, pop * empty[:, None]))
        return parts

    def wants_times(self) -> bool:
        return any(m.wants_times() for m, _w in self.members)

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        parts = self._parts(history, context)
        total = np.zeros((history.shape[0], self.n_items), dtype=np.float32)
        for _, s in parts:
            total += s
        if history.shape[0] == 1:  # one user's list: because() will ask for the same parts next
            self._recent.put(parts=(history, context, parts))
        return total

    def forget_recent(self) -> None:
        self._recent.clear()
        for child in self._children():
            child.forget_recent()

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        recent = self._recent.get("parts")
        if recent is not None and recent[0] is history and recent[1] is context:
            parts = recent[2]
        else:
            parts = self._parts(history[:1], context)
        self._recent.put(parts=None)
        first = history if history.shape[0] == 1 else history[:1]
        if not parts or len(items) == 0:
            return ["recommended for you"] * len(items)
        contrib = np.vstack([s[0, items] for _, s in parts])
        owner = contrib.argmax(axis=0)
        reasons = [""] * len(items)
        for p, (model, _) in enumerate(parts):
            pos = np.flatnonzero(owner == p)
            if len(pos):
                for q, r in zip(pos, model.because(first, items[pos], context), strict=True):
                    reasons[q] = r
        return reasons

    def _similarity_models(self) -> list[Recommender]:
        """Weighted members first, then content: the first with an item-item notion answers."""
        return [m for m, w in self.members if w > 0] + ([self.content] if self.content is not None else [])

    def item_similarity(self, item: int) -> np.ndarray | None:
        for model in self._similarity_models():
            sim = model.item_similarity(item)
            if sim is not None:
                return sim
        return None

    def pair_similarity(self, items: np.ndarray) -> np.ndarray | None:
        for model in self._similarity_models():
            sim = model.pair_similarity(items)
            if sim is not None:
                return sim
        return None

    def _get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {f"m{i}": m._get_state() for i, (m, _) in enumerate(self.members)}
        state["popularity"] = self.popularity._get_state()
        if self.content is not None:
            state["content"] = self.content._get_state()
        state["item_counts"] = self.item_counts
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        self._build(with_content="content" in state)
        for i, (m, _) in enumerate(self.members):
            self._adopt(m, state.get(f"m{i}", {}))
        self._adopt(self.popularity, state["popularity"])
        if self.content is not None:
            self._adopt(self.content, state["content"])
        self.item_counts = state["item_counts"]

    def _adopt(self, child: Recommender, state: dict[str, Any]) -> None:
        child.item_ids, child.item_index, child.user_index = self.item_ids, self.item_index, self.user_index
        child._train_rows, child._titles, child.catalogue = self._train_rows, self._titles, self.catalogue
        child._set_state(state)
