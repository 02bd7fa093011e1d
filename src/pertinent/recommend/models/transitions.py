"""Item transitions ("often chosen after X"): what users pick next after an item, from the order of their events.

Each user's distinct items in time order (first interaction; the event order without timestamps) give pairs
(item, an item picked up to ``window`` steps later), weighted ``1 / step``; a row of the transition matrix is
divided by ``count(item) ** alpha``. A history scores by its newest items, weighted ``decay ** age``.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u1", "u2", "u2", "u3"], "item": ["a", "b", "a", "b", "c"],
...                    "timestamp": [1, 2, 1, 2, 1]})
>>> model = TransitionRecommender().fit(Interactions.from_frame(df, timestamp_col="timestamp"))
>>> model.recommend(items=["a"], k=1)[0].reason
'often chosen after a'
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


class TransitionConfig(BaseModel):
    """``window`` later items count as transitions; ``alpha`` normalises by the source item's count
    (1 = a probability, 0 = raw counts); ``neighbors`` successors kept per item; ``recency`` weights the
    history (newest items most); ``symmetric`` adds the reverse pairs at that weight (0 = strictly next)."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(default=3, ge=1, le=50)
    alpha: float = Field(default=0.5, ge=0, le=1)
    neighbors: int = Field(default=200, ge=1)
    symmetric: float = Field(default=0.0, ge=0, le=1)
    recency: RecencyConfig = Field(default_factory=lambda: RecencyConfig(decay=0.6))
    reason: str = Field(default="often chosen after {item}", max_length=200)


def sequences(data: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) of each user's distinct items in order of first interaction, grouped by user."""
    import pandas as pd

    ev = data.events
    key = ev["timestamp"].to_numpy(np.float64) if "timestamp" in ev.columns else np.arange(len(ev), dtype=np.float64)
    pairs = pd.DataFrame({"user": ev["user"].to_numpy(), "item": ev["item"].to_numpy(), "t": key})
    t = pairs.groupby(["user", "item"], sort=False)["t"].min()
    frame = t.rename("t").reset_index().sort_values(["user", "t", "item"], kind="stable")
    return frame["user"].to_numpy(np.int64), frame["item"].to_numpy(np.int64)


def transition_matrix(users: np.ndarray, items: np.ndarray, n_items: int, config: TransitionConfig) -> sp.csr_matrix:
    """The item x item transition weights (see the module docstring), top ``neighbors`` per row."""
    rows, cols, vals = [], [], []
    for step in range(1, config.window + 1):
        same = users[step:] == users[:-step] if len(users) > step else np.zeros(0, bool)
        src, dst = items[:-step][same], items[step:][same]
        rows.append(src)
        cols.append(dst)
        vals.append(np.full(len(src), 1.0 / step, dtype=np.float32))
        if config.symmetric > 0:
            rows.append(dst)
            cols.append(src)
            vals.append(np.full(len(src), config.symmetric / step, dtype=np.float32))
    m = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items), dtype=np.float32
    )
    m.sum_duplicates()
    m.setdiag(0.0)
    m.eliminate_zeros()
    counts = np.bincount(items, minlength=n_items).astype(np.float32)
    m = sp.csr_matrix(sp.diags(1.0 / np.maximum(counts, 1.0) ** config.alpha) @ m, dtype=np.float32)
    return top_per_row(m, config.neighbors)


def top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row."""
    m = sp.csr_matrix(m)
    lengths = np.diff(m.indptr)
    if not len(lengths) or lengths.max() <= k:
        return m
    keep = np.ones(m.nnz, dtype=bool)
    for r in np.flatnonzero(lengths > k):
        s, e = m.indptr[r], m.indptr[r + 1]
        drop = np.argpartition(-m.data[s:e], k)[k:]
        keep[s + drop] = False
    m.data[~keep] = 0.0
    m.eliminate_zeros()
    return m


class TransitionRecommender(Recommender):
    kind = "transitions"
    config_class = TransitionConfig
    config: TransitionConfig

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        users, items = sequences(data)
        self.transitions = transition_matrix(users, items, data.n_items, self.config)

    def wants_times(self) -> bool:
        return self.config.recency.active

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        h = decayed(history, context.times if context is not None else None, self.config.recency)
        return np.asarray((h @ self.transitions).toarray(), dtype=np.float32)

    def item_similarity(self, item: int) -> np.ndarray | None:
        return np.asarray(self.transitions[item].toarray()).ravel()

    def pair_similarity(self, items: np.ndarray) -> np.ndarray | None:
        return np.asarray(self.transitions[items][:, items].toarray())

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        h = decayed(history, context.times if context is not None else None, self.config.recency)
        src = strongest_source(h, items, lambda s, i: self.transitions[s][:, i].toarray())
        out = []
        for j in src:
            if j < 0:
                out.append("recommended for you")
            else:
                item = str(self.fitted_item_ids[j])
                out.append(self.config.reason.format(item=self._titles.get(item, item)))
        return out

    def _get_state(self) -> dict[str, Any]:
        return {"transitions": self.transitions}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.transitions = state["transitions"]
