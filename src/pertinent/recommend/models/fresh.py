"""Fresh items: the newest items first, ``0.5 ** (days since the item's first interaction / half_life_days)``.

An item's age is counted from its first interaction (or the catalogue's ``created_at``, when it has one)
to the newest event of the training data; items nobody has chosen yet and without a date score 0.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": ["a", "a", "b"], "t": [0, 86400, 10 * 86400]})
>>> model = FreshRecommender().fit(Interactions.from_frame(df, timestamp_col="t"))
>>> [(r.item, r.reason) for r in model.recommend(k=1)]
[('b', 'new arrival')]
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


class FreshConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    half_life_days: float = Field(default=14.0, gt=0)


def first_seen(data: Interactions, catalogue: Catalogue | None = None) -> np.ndarray:
    """Per item: the epoch seconds of its first interaction (or catalogue ``created_at``), NaN when unknown."""
    out = np.full(data.n_items, np.nan)
    ev = data.events
    if "timestamp" in ev.columns and len(ev):
        t = ev.groupby("item")["timestamp"].min()
        out[t.index.to_numpy()] = t.to_numpy(np.float64)
    if catalogue is not None and "created_at" in catalogue.frame.columns:
        import pandas as pd

        created = pd.to_datetime(catalogue.aligned(data.item_ids)["created_at"], errors="coerce", utc=True)
        secs = (created - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64)
        out = np.where(np.isfinite(secs), secs, out)
    return out


class FreshRecommender(Recommender):
    kind = "fresh"
    config_class = FreshConfig
    config: FreshConfig

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        born = first_seen(data, catalogue)
        now = float(np.nanmax(born)) if np.isfinite(born).any() else 0.0
        days = np.maximum(now - born, 0.0) / 86400.0
        self.scores = np.nan_to_num(np.power(0.5, days / self.config.half_life_days), nan=0.0).astype(np.float32)

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        return np.broadcast_to(self.scores, (history.shape[0], self.n_items)).copy()

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        return ["new arrival"] * len(items)

    def item_similarity(self, item: int) -> np.ndarray | None:
        return None

    def _get_state(self) -> dict[str, Any]:
        return {"scores": self.scores}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.scores = state["scores"]
