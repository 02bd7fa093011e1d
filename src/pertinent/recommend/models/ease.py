"""EASE (Steck 2019): closed-form item x item weights, B = I - P / diag(P), P = (X'X + lambda I)^-1.

The dense item x item matrix is only built when it fits: items with interactions are counted, the
memory need (about three n x n float32 matrices) is compared with available memory and a size cap,
and otherwise the model falls back, with a logged warning, to item-kNN (or ALS).

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u1", "u2", "u2", "u3"], "item": ["a", "b", "a", "b", "c"]})
>>> model = EASERecommender(regularization=1.0).fit(Interactions.from_frame(df))
>>> model.uses_fallback
False
>>> model.recommend(items=["a"], k=1)[0].item
'b'
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.recommend.base import Recommender, log
from pertinent.recommend.filters import strongest_source
from pertinent.recommend.models.factorization import ALSRecommender
from pertinent.recommend.models.itemknn import ItemKNNRecommender
from pertinent.recommend.primitives import Context
from pertinent.recommend.recency import RecencyConfig, decayed

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


class EASEConfig(BaseModel):
    """``regularization`` is EASE's lambda. ``max_dense_items`` caps the dense solve (time grows as
    n^3); ``memory_fraction`` of available memory may be used; ``fallback`` names the model used
    beyond either limit."""

    model_config = ConfigDict(extra="forbid")

    regularization: float = Field(default=100.0, gt=0)
    min_item_count: int = Field(default=1, ge=1)
    max_dense_items: int = Field(default=10_000, ge=1)
    memory_fraction: float = Field(default=0.5, gt=0, le=1)
    fallback: Literal["itemknn", "als"] = "itemknn"
    # BLAS threads for the solve; 1 is fastest on small shared machines (threads spin when cores are
    # busy), 0 leaves the library default
    blas_threads: int = Field(default=1, ge=0)
    # the user's row weighted by age before scoring (e.g. decay=0.8: 0.8^age, age 0 = the newest item)
    recency: RecencyConfig = Field(default_factory=RecencyConfig)


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux), else total physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def dense_bytes(n_items: int) -> int:
    """Peak memory of a float32 EASE solve over ``n_items`` (Gram, its inverse, a symmetrised copy)."""
    return 3 * 4 * n_items * n_items


def ease_fits(n_items: int, config: EASEConfig, available: int | None = None) -> tuple[bool, str]:
    """Whether a dense solve over ``n_items`` is allowed, with the reason when not."""
    avail = available_memory_bytes() if available is None else available
    need = dense_bytes(n_items)
    if n_items > config.max_dense_items:
        return False, f"{n_items:,} items exceed max_dense_items={config.max_dense_items:,}"
    if need > config.memory_fraction * avail:
        return False, (
            f"{n_items:,} items need {need / 2**30:.1f} GiB, more than "
            f"{config.memory_fraction:.0%} of {avail / 2**30:.1f} GiB available"
        )
    return True, ""


def gram(x: sp.csr_matrix, chunk_elems: int = 32_000_000) -> np.ndarray:
    """Dense float32 X'X, accumulated over dense row chunks (BLAS) to bound memory."""
    x = sp.csr_matrix(x, dtype=np.float32)
    n = x.shape[1]
    g = np.zeros((n, n), dtype=np.float32)
    step = max(1, chunk_elems // max(n, 1))
    for start in range(0, x.shape[0], step):
        block = x[start : start + step].toarray()
        g += block.T @ block
    return g


def ease_from_gram(g: np.ndarray, regularization: float, overwrite: bool = False, threads: int = 1) -> np.ndarray:
    """EASE weights from a Gram matrix with a Cholesky inverse (float32, LAPACK potrf/potri).

    The symmetric matrix is handed to LAPACK as its Fortran-ordered transpose, so nothing is copied.
    """
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads, "blas") if threads > 0 else nullcontext():
        return _ease_from_gram(g, regularization, overwrite)


def _ease_from_gram(g: np.ndarray, regularization: float, overwrite: bool) -> np.ndarray:
    from scipy.linalg import lapack

    a = g if overwrite else g.copy()
    a[np.diag_indices_from(a)] += np.float32(regularization)
    potrf, potri = (lapack.spotrf, lapack.spotri) if a.dtype == np.float32 else (lapack.dpotrf, lapack.dpotri)
    c, info = potrf(a.T, lower=1, overwrite_a=1, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: Gram matrix is not positive definite (info={info})")
    p, info = potri(c, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: inverse failed (info={info})")
    # potri fills the lower triangle only: p.T (C-ordered, no copy) holds it as its upper triangle; mirror that
    p = symmetric_from_upper(np.ascontiguousarray(p.T))
    d = np.diag(p).copy()
    p /= -d[None, :]
    p[np.diag_indices_from(p)] = 0.0
    return np.ascontiguousarray(p)


def symmetric_from_upper(a: np.ndarray, block: int = 256) -> np.ndarray:
    """``a`` (square, C-ordered) with its strict lower triangle overwritten by the upper one's mirror, in place,
    a block of rows at a time (a copy of values: the same numbers as ``triu(a) + triu(a, 1).T``).

    >>> symmetric_from_upper(np.array([[1.0, 2.0, 3.0], [9.0, 4.0, 5.0], [9.0, 9.0, 6.0]]), block=2).tolist()
    [[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]]
    """
    n = a.shape[0]
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        a[lo:hi, :lo] = a[:lo, lo:hi].T
        square = a[lo:hi, lo:hi]
        low = np.tril_indices(hi - lo, -1)
        square[low] = square.T[low]
    return a


class EASERecommender(Recommender):
    kind = "ease"
    config_class = EASEConfig
    config: EASEConfig

    def __init__(self, config: BaseModel | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.fallback_model: Recommender | None = None
        self.fallback_reason = ""
        self._position: np.ndarray | None = None  # item index -> position among active items (-1: inactive)
        self._shared: dict[str, Any] | None = None  # set by ``fit_lambdas``: the Gram / fallback of the same data

    @classmethod
    def fit_lambdas(
        cls, config: EASEConfig, lambdas: list[float], data: Interactions, catalogue: Catalogue | None = None
    ) -> Iterator[tuple[float, EASERecommender]]:
        """EASE at each of ``lambdas`` on the same data, one after the other (drop each when done with it): the
        Gram matrix (or the fallback model) is computed once, each model's weights are exactly those of fitting
        it alone."""
        shared: dict[str, Any] = {}
        for lam in lambdas:
            model = cls(config.model_copy(update={"regularization": lam}))
            model._shared = shared
            try:
                model.fit(data, catalogue)
            finally:
                model._shared = None
            yield lam, model

    @property
    def uses_fallback(self) -> bool:
        return self.fallback_model is not None

    def _make_fallback(self) -> Recommender:
        return ItemKNNRecommender() if self.config.fallback == "itemknn" else ALSRecommender()

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        counts = data.item_counts()
        active = np.flatnonzero(counts >= self.config.min_item_count)
        ok, why = ease_fits(len(active), self.config)
        if not len(active):
            ok, why = False, f"no item has min_item_count={self.config.min_item_count} interactions"
        self.fallback_model = None
        shared = self._shared
        if not ok:
            self.fallback_reason = why
            if shared is not None and "fallback" in shared:  # the fallback does not depend on lambda
                self.fallback_model = shared["fallback"]
                return
            log.warning("EASE: %s; falling back to %s", why, self.config.fallback)
            self.fallback_model = self._make_fallback().fit(data, catalogue)
            if shared is not None:
                shared["fallback"] = self.fallback_model
            return
        self.active = active.astype(np.int64)
        if shared is None:
            g, keep = gram(data.matrix[:, active]), False
        else:
            if "gram" not in shared:
                shared["gram"] = gram(data.matrix[:, active])
            g, keep = shared["gram"], True
        self.weights = ease_from_gram(
            g, self.config.regularization, overwrite=not keep, threads=self.config.blas_threads
        )

    def _active_history(self, history: sp.csr_matrix) -> sp.csr_matrix:
        """The history's columns of active items (re-indexed), built from the CSR arrays directly."""
        h = (
            history
            if sp.isspmatrix_csr(history) and history.dtype == np.float32
            else sp.csr_matrix(history, dtype=np.float32)
        )
        if len(self.active) == h.shape[1]:
            return h
        position = self._position
        if position is None or len(position) != h.shape[1]:
            position = np.full(h.shape[1], -1, dtype=np.int64)
            position[self.active] = np.arange(len(self.active))
            self._position = position
        pos = position[h.indices]
        keep = pos >= 0
        indptr = np.concatenate([[0], np.cumsum(keep)])[h.indptr]
        return sp.csr_matrix((h.data[keep], pos[keep], indptr), shape=(h.shape[0], len(self.active)))

    def wants_times(self) -> bool:
        return self.config.recency.active

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        history = decayed(history, context.times if context is not None else None, self.config.recency)
        if self.fallback_model is not None:
            return self.fallback_model.score(history, None)
        part = np.asarray(self._active_history(history) @ self.weights, dtype=np.float32)
        if len(self.active) == self.n_items:
            return part
        out = np.zeros((history.shape[0], self.n_items), dtype=np.float32)
        out[:, self.active] = part
        return out

    def item_similarity(self, item: int) -> np.ndarray | None:
        if self.fallback_model is not None:
            return self.fallback_model.item_similarity(item)
        pos = np.searchsorted(self.active, item)
        out = np.zeros(self.n_items, dtype=np.float32)
        if pos < len(self.active) and self.active[pos] == item:
            out[self.active] = self.weights[pos]
        return out

    def pair_similarity(self, items: np.ndarray) -> np.ndarray | None:
        if self.fallback_model is not None:
            return self.fallback_model.pair_similarity(items)
        pos = np.searchsorted(self.active, items).clip(0, max(len(self.active) - 1, 0))
        valid = (self.active[pos] == items) if len(self.active) else np.zeros(len(items), bool)
        sims: np.ndarray = self.weights[np.ix_(pos, pos)] * (valid[:, None] & valid[None, :])
        return sims

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        if self.fallback_model is not None:
            return self.fallback_model.because(history, items, context)
        if len(self.active) == self.n_items:  # every item is active: positions are item indices

            def item_weights(src: np.ndarray, _items: np.ndarray) -> np.ndarray:
                return np.asarray(self.weights[src[:, None], np.asarray(items)[None, :]])

            return self._similar_to(strongest_source(history, items, item_weights))
        pos = np.searchsorted(self.active, items).clip(0, max(len(self.active) - 1, 0))
        valid = self.active[pos] == items if len(self.active) else np.zeros(len(items), bool)

        def active_weights(src: np.ndarray, _items: np.ndarray) -> np.ndarray:
            spos = np.searchsorted(self.active, src).clip(0, len(self.active) - 1)
            w: np.ndarray = self.weights[spos[:, None], pos[None, :]]
            w = w * (self.active[spos] == src)[:, None] * valid[None, :]
            return w

        return self._similar_to(strongest_source(history, items, active_weights))

    def _get_state(self) -> dict[str, Any]:
        if self.fallback_model is not None:
            return {"fallback": self.fallback_model._get_state(), "fallback_reason": np.asarray(self.fallback_reason)}
        return {"active": self.active, "weights": self.weights}

    def _set_state(self, state: dict[str, Any]) -> None:
        if "fallback" in state:
            fb = self._make_fallback()
            fb.item_ids, fb.item_index, fb.user_index = self.item_ids, self.item_index, self.user_index
            fb._train_rows, fb._titles, fb.catalogue = self._train_rows, self._titles, self.catalogue
            fb._set_state(state["fallback"])
            self.fallback_model = fb
            self.fallback_reason = str(state.get("fallback_reason", ""))
        else:
            self.active = state["active"]
            self.weights = state["weights"]
