"""Matrix factorisation through ``implicit``: ALS and BPR, with fold-in for new histories.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u1", "u2", "u2", "u3"], "item": ["a", "b", "a", "b", "c"]})
>>> model = ALSRecommender(factors=4, iterations=3).fit(Interactions.from_frame(df))
>>> len(model.recommend("u3", k=2))
2
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


class ALSConfig(BaseModel):
    """implicit's AlternatingLeastSquares parameters (confidence = alpha * weight)."""

    model_config = ConfigDict(extra="forbid")

    factors: int = Field(default=64, ge=1)
    regularization: float = Field(default=0.05, ge=0)
    alpha: float = Field(default=2.0, gt=0)
    iterations: int = Field(default=20, ge=1)
    seed: int = 42
    threads: int = 0


class BPRConfig(BaseModel):
    """implicit's BayesianPersonalizedRanking parameters."""

    model_config = ConfigDict(extra="forbid")

    factors: int = Field(default=64, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    regularization: float = Field(default=0.01, ge=0)
    iterations: int = Field(default=100, ge=1)
    seed: int = 42
    threads: int = 0


class ALSRecommender(Recommender):
    kind = "als"
    config_class = ALSConfig
    config: ALSConfig

    def _model(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=c.alpha,
            iterations=c.iterations,
            random_state=c.seed,
            num_threads=c.threads,
        )

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):  # implicit warns (and slows down) with threaded BLAS
            self._als = self._model()
            self._als.fit(data.matrix, show_progress=False)
        self._yty = None

    def user_factors(self, history: sp.csr_matrix) -> np.ndarray:
        """Fold-in: the ALS least-squares user vector for each history row (implicit's formula)."""
        h = sp.csr_matrix(history, dtype=np.float32)
        if h.shape[0] > 8:
            return np.asarray(self._als.recalculate_user(np.arange(h.shape[0]), h))
        y = self._als.item_factors
        if getattr(self, "_yty", None) is None:
            self._yty = y.T @ y + self.config.regularization * np.eye(y.shape[1], dtype=np.float32)
        out = np.zeros((h.shape[0], y.shape[1]), dtype=np.float32)
        for r in range(h.shape[0]):
            cols, conf = h.indices[h.indptr[r] : h.indptr[r + 1]], h.data[h.indptr[r] : h.indptr[r + 1]]
            if len(cols):
                conf = self.config.alpha * conf
                yh = y[cols]
                a = self._yty + (yh.T * (conf - 1.0)) @ yh
                out[r] = np.linalg.solve(a, (yh * conf[:, None]).sum(axis=0))
        return out

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        return np.asarray(self.user_factors(history) @ self._als.item_factors.T, dtype=np.float32)

    def item_similarity(self, item: int) -> np.ndarray | None:
        f = self._als.item_factors
        norms = np.linalg.norm(f, axis=1)
        sims: np.ndarray = (f @ f[item]) / np.where(norms > 0, norms, 1.0) / (norms[item] or 1.0)
        return sims

    def _get_state(self) -> dict[str, Any]:
        return {"item_factors": self._als.item_factors}

    def _set_state(self, state: dict[str, Any]) -> None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            self._als = self._model()
        self._als.item_factors = state["item_factors"]
        self._yty = None
        self._als.user_factors = np.zeros((1, state["item_factors"].shape[1]), np.float32)


class BPRRecommender(Recommender):
    kind = "bpr"
    config_class = BPRConfig
    config: BPRConfig

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        c = self.config
        with threadpool_limits(1, "blas"):
            bpr = BayesianPersonalizedRanking(
                factors=c.factors,
                learning_rate=c.learning_rate,
                regularization=c.regularization,
                iterations=c.iterations,
                random_state=c.seed,
                num_threads=c.threads,
            )
            bpr.fit(data.matrix, show_progress=False)
        self.item_factors = np.asarray(bpr.item_factors, dtype=np.float32)  # last column = item bias

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        """Fold-in: a user's vector is the weighted mean of their items' vectors (bias term = 1)."""
        self._check()
        h = sp.csr_matrix(history, dtype=np.float32)
        sums = np.asarray(h.sum(axis=1)).ravel()
        h = sp.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ h
        u = np.asarray(h @ self.item_factors[:, :-1])
        u = np.hstack([u, np.ones((u.shape[0], 1), np.float32)])
        return (u @ self.item_factors.T).astype(np.float32)

    def item_similarity(self, item: int) -> np.ndarray | None:
        f = self.item_factors[:, :-1]
        norms = np.linalg.norm(f, axis=1)
        sims: np.ndarray = (f @ f[item]) / np.where(norms > 0, norms, 1.0) / (norms[item] or 1.0)
        return sims

    def _get_state(self) -> dict[str, Any]:
        return {"item_factors": self.item_factors}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.item_factors = state["item_factors"]
