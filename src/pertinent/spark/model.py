"""The ``spark_als`` recommender kind: user and item factors learned by Spark's implicit ALS, served in-process.

The Spark job (:mod:`pertinent.spark.als`) builds one with :meth:`SparkALSRecommender.from_factors`; this module
needs numpy only, so an API node that never runs Spark loads a saved version like any other kind
(``pertinent.services`` imports it to register the kind).

Scoring follows Spark's implicit-feedback model (Hu, Koren & Volinsky, with Spark's ALS-WR regularisation): every
history row (a known user's training row plus new events, a new user's first clicks) is folded in with Spark's
user update, ``(YᵀY + Yᵀ(C - I)Y + λ·n_u·I) x = YᵀC·p`` with ``c = 1 + alpha·r``, against the item factors Spark
learned. For a known user this is Spark's last user step, so single and batch recommendations agree and a new event
counts at once.

The user factors Spark learned are kept with the version (``user_factors``: offline analysis, warm starts). They are
personal data: they sit under the ``per_user/`` state key, one row per saved user id, so the registry's erasure
zeroes a forgotten user's vector and a person's export lists it.

``fit`` without Spark trains the same model shape in-process with ``implicit`` (small data, the contract tests).

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u1", "u2", "u2", "u3"], "item": ["a", "b", "a", "b", "c"]})
>>> model = SparkALSRecommender(rank=4, max_iter=3).fit(Interactions.from_frame(df))
>>> len(model.recommend("u3", k=2)), model.kind
(2, 'spark_als')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.recommend.base import Recommender
from pertinent.recommend.primitives import Context

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions

PER_USER = "per_user"
"""State key whose arrays have one row per saved user id (the registry erases and exports those rows)."""


class SparkALSConfig(BaseModel):
    """``pyspark.ml.recommendation.ALS`` parameters (implicitPrefs=True; confidence = 1 + alpha * weight).

    The defaults are the in-process ``als`` kind's (``ALSConfig``): 64 factors, 20 iterations, alpha 2, seed 42.
    ``reg_param`` is multiplied by each user's (item's) number of ratings (ALS-WR): 0.01 is ``implicit``'s 0.05 at
    5 ratings each, and 0.66 at Online Retail's 66; NDCG@10 there is the same at either (docs/benchmarks.md).
    """

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=64, ge=1)
    reg_param: float = Field(default=0.01, ge=0)
    alpha: float = Field(default=2.0, gt=0)
    max_iter: int = Field(default=20, ge=1)
    seed: int = 42


def implicit_regularization(reg_param: float, matrix: sp.spmatrix) -> float:
    """``implicit``'s penalty for Spark's ``reg_param``: Spark multiplies it by each user's (item's) number of ratings
    (ALS-WR), ``implicit`` does not, so the same mean penalty per solve is ``reg_param`` times the mean count over the
    users and items that have ratings.

    >>> implicit_regularization(0.01, sp.csr_matrix(np.ones((2, 3))))  # 6 ratings, 2 users and 3 items
    0.024
    """
    m = sp.csr_matrix(matrix)
    solves = int((m.getnnz(axis=1) > 0).sum() + (m.getnnz(axis=0) > 0).sum())
    return round(reg_param * 2 * m.nnz / solves, 12) if solves else reg_param


class SparkALSRecommender(Recommender):
    kind = "spark_als"
    config_class = SparkALSConfig
    config: SparkALSConfig

    item_factors: np.ndarray
    user_factors: np.ndarray

    @classmethod
    def from_factors(
        cls,
        config: SparkALSConfig,
        data: Interactions,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        catalogue: Catalogue | None = None,
    ) -> Self:
        """A fitted model from factors learned elsewhere (Spark), rows aligned with ``data``'s user and item ids;
        ``data`` supplies the id maps and the training rows (seen items, fold-in)."""
        n_users, n_items = data.shape
        if user_factors.shape != (n_users, config.rank) or item_factors.shape != (n_items, config.rank):
            raise ValueError(
                f"factors: expected {(n_users, config.rank)} and {(n_items, config.rank)}, "
                f"got {user_factors.shape} and {item_factors.shape}"
            )
        model = cls(config)
        model.item_ids = np.asarray(data.item_ids, dtype=object)
        model.item_index = dict(data.item_index)
        model.user_index = dict(data.user_index)
        model._train_rows = data.matrix
        if catalogue is not None:
            model._titles = catalogue.titles()
        model.catalogue = catalogue
        model.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        return model

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        """Spark's objective solved by ``implicit``: its confidence is ``alpha * weight``, so it is given Spark's
        ``1 + alpha * weight`` with ``alpha = 1``; its penalty is not scaled per user and item, so it gets
        ``reg_param`` times the mean number of ratings per user and item (``implicit_regularization``)."""
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        c = self.config
        confidence = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
        confidence.data = 1.0 + c.alpha * np.abs(confidence.data)
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(
                factors=c.rank,
                regularization=implicit_regularization(c.reg_param, data.matrix),
                alpha=1.0,
                iterations=c.max_iter,
                random_state=c.seed,
                use_cg=False,  # exact solves, as Spark's
            )
            als.fit(confidence, show_progress=False)
        self.user_factors = np.asarray(als.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(als.item_factors, dtype=np.float32)

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Spark's implicit user update for each history row (a zero vector for an empty row)."""
        h = sp.csr_matrix(history, dtype=np.float32)
        y = self.item_factors
        yty = y.T @ y
        out = np.zeros((h.shape[0], y.shape[1]), dtype=np.float32)
        for r in range(h.shape[0]):
            cols = h.indices[h.indptr[r] : h.indptr[r + 1]]
            if not len(cols):
                continue
            c1 = self.config.alpha * np.abs(h.data[h.indptr[r] : h.indptr[r + 1]])
            yh = y[cols]
            a = yty + (yh.T * c1) @ yh + self.config.reg_param * len(cols) * np.eye(y.shape[1], dtype=np.float32)
            out[r] = np.linalg.solve(a, (yh * (1.0 + c1)[:, None]).sum(axis=0))
        return out

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        return np.asarray(self.fold_in(history) @ self.item_factors.T, dtype=np.float32)

    def item_similarity(self, item: int) -> np.ndarray | None:
        f = self.item_factors
        norms = np.linalg.norm(f, axis=1)
        sims: np.ndarray = (f @ f[item]) / np.where(norms > 0, norms, 1.0) / (norms[item] or 1.0)
        return sims

    def _get_state(self) -> dict[str, Any]:
        return {"item_factors": self.item_factors, PER_USER: {"factors": self.user_factors}}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.item_factors = np.asarray(state["item_factors"], dtype=np.float32)
        self.user_factors = np.asarray(state[PER_USER]["factors"], dtype=np.float32)
