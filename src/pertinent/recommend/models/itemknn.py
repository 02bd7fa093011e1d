"""Item-to-item cosine kNN ("viewed this, also viewed").

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u1", "u2", "u2", "u3"], "item": ["a", "b", "a", "b", "c"]})
>>> model = ItemKNNRecommender().fit(Interactions.from_frame(df))
>>> model.similar_items("a", k=1)[0].item
'b'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.recommend.base import Recommender
from pertinent.recommend.filters import strongest_source
from pertinent.recommend.primitives import Context
from pertinent.recommend.recency import RecencyConfig, decayed

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


class ItemKNNConfig(BaseModel):
    """``neighbors`` most similar items kept per item; ``shrink`` damps similarities built on few
    co-occurrences: sim = co / (sqrt(n_i n_j) + shrink)."""

    model_config = ConfigDict(extra="forbid")

    neighbors: int = Field(default=100, ge=1)
    shrink: float = Field(default=0.0, ge=0)
    block_size: int = Field(default=2048, ge=64)
    # the user's row weighted by age before scoring (e.g. decay=0.8: 0.8^age, age 0 = the newest item)
    recency: RecencyConfig = Field(default_factory=RecencyConfig)


def cosine_topk(x: sp.csr_matrix, neighbors: int, shrink: float = 0.0, block: int = 2048) -> sp.csr_matrix:
    """Item x item cosine similarity of the columns of ``x``, top ``neighbors`` per row, zero diagonal.

    Without shrinkage this is implicit's ``all_pairs_knn`` (C++, sparse top-k) on l2-normalised item rows;
    with shrinkage (which implicit lacks) it is computed here in column blocks, memory O(n_items * block).
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    if shrink == 0:
        from implicit.nearest_neighbours import all_pairs_knn
        from sklearn.preprocessing import normalize

        unit = normalize(sp.csr_matrix(x, dtype=np.float64), norm="l2", axis=0).tocsr()  # unit item columns
        k = min(neighbors + 1, x.shape[1])  # + 1: every item is its own nearest neighbour
        sim = sp.csr_matrix(all_pairs_knn(unit, k, num_threads=1, show_progress=False), dtype=np.float32)
        sim.setdiag(0.0)
        sim.data[sim.data < 0] = 0.0
        sim.eliminate_zeros()
        return sim
    xc = x.tocsc()
    n = x.shape[1]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel()).astype(np.float32)
    xt = xc.T.tocsr()
    rows, cols, vals = [], [], []
    k = min(neighbors, max(n - 1, 1))
    for start in range(0, n, block):
        stop = min(n, start + block)
        co = (xt[start:stop] @ xc).toarray()  # (block, n)
        denom = norms[start:stop, None] * norms[None, :] + shrink
        sim = np.divide(co, denom, out=np.zeros_like(co), where=denom > 0)
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if k < n:
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        else:
            top = np.tile(np.arange(n), (stop - start, 1))
        v = np.take_along_axis(sim, top, axis=1)
        keep = v > 0
        r = np.repeat(np.arange(start, stop), top.shape[1]).reshape(top.shape)
        rows.append(r[keep])
        cols.append(top[keep])
        vals.append(v[keep])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
    )


class ItemKNNRecommender(Recommender):
    kind = "itemknn"
    config_class = ItemKNNConfig
    config: ItemKNNConfig

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        self.similarity = cosine_topk(data.matrix, self.config.neighbors, self.config.shrink, self.config.block_size)

    def wants_times(self) -> bool:
        return self.config.recency.active

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        history = decayed(history, context.times if context is not None else None, self.config.recency)
        return np.asarray((history @ self.similarity).toarray(), dtype=np.float32)

    def item_similarity(self, item: int) -> np.ndarray | None:
        return np.asarray(self.similarity[item].toarray()).ravel()

    def pair_similarity(self, items: np.ndarray) -> np.ndarray | None:
        return np.asarray(self.similarity[items][:, items].toarray())

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        src = strongest_source(history, items, lambda s, i: self.similarity[s][:, i].toarray())
        return self._similar_to(src)

    def _get_state(self) -> dict[str, Any]:
        return {"similarity": self.similarity}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.similarity = state["similarity"]
