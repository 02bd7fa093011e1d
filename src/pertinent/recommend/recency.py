"""Time in a history row: when each item was last interacted with, the order that gives (age 0 = newest item),
and the decay that weights the newest items most.

A model that reads time says so (``Recommender.wants_times``); ``Recommender.recommend`` then passes the user's
interaction times in :class:`~pertinent.recommend.primitives.Context` (``times``, shaped like the history rows),
from the training data and the request's newest events.

>>> import numpy as np, scipy.sparse as sp
>>> h = sp.csr_matrix(np.array([[1.0, 1.0, 0.0, 1.0]], dtype=np.float32))
>>> t = sp.csr_matrix(np.array([[10.0, 30.0, 0.0, 20.0]]))
>>> ages(h, t).toarray().tolist()
[[2.0, 0.0, 0.0, 1.0]]
>>> decayed(h, t, RecencyConfig(decay=0.5)).toarray().round(3).tolist()
[[0.25, 1.0, 0.0, 0.5]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import pandas as pd


class RecencyConfig(BaseModel):
    """How a history row is weighted by age: the item at age ``a`` (0 = the newest distinct item) is multiplied
    by ``decay ** a``; ``half_life_days`` (if set) also multiplies by ``0.5 ** (days old / half_life_days)``,
    measured from the row's newest event. ``decay=1`` and no half-life leave the row as it is."""

    model_config = ConfigDict(extra="forbid")

    decay: float = Field(default=1.0, gt=0, le=1)
    half_life_days: float | None = Field(default=None, gt=0)
    floor: float = Field(default=0.0, ge=0, le=1)

    @property
    def active(self) -> bool:
        return self.decay < 1.0 or self.half_life_days is not None


def last_times(events: pd.DataFrame, shape: tuple[int, int]) -> sp.csr_matrix | None:
    """User x item CSR (float64) of each pair's newest timestamp, or None without a ``timestamp`` column."""
    if "timestamp" not in events.columns or not len(events):
        return None
    g = events.groupby(["user", "item"], sort=False)["timestamp"].max()
    t = g.to_numpy(np.float64)
    t = np.where(np.isfinite(t), t, 0.0)
    m = sp.csr_matrix(
        (t, (g.index.get_level_values(0).to_numpy(), g.index.get_level_values(1).to_numpy())), shape=shape
    )
    m.sort_indices()
    return m


def aligned(history: sp.csr_matrix, times: Any) -> np.ndarray:
    """The time of each stored entry of ``history`` (in its CSR order) read from ``times`` (0 where missing)."""
    h = sp.csr_matrix(history)
    out = np.zeros(h.nnz, dtype=np.float64)
    if times is None or h.nnz == 0:
        return out
    t = sp.csr_matrix(times, dtype=np.float64)
    if t.shape != h.shape or t.nnz == 0:
        return out
    t.sort_indices()
    n = np.int64(h.shape[1])
    hk = np.repeat(np.arange(h.shape[0], dtype=np.int64), np.diff(h.indptr)) * n + h.indices
    tk = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr)) * n + t.indices
    pos = np.searchsorted(tk, hk).clip(0, len(tk) - 1)
    hit = tk[pos] == hk
    out[hit] = t.data[pos[hit]]
    return out


class Aged:
    """The stored entries of some history rows (CSR order) with their times, their age in their row (0 = the
    newest, ties by position: item index) and their row's newest time, computed once for every weighting of the
    same rows (``decayed`` with several configs, the ranker's request features)."""

    def __init__(self, history: sp.csr_matrix, times: Any) -> None:
        h = sp.csr_matrix(history, dtype=np.float32)
        self.history = h
        self.rows = np.repeat(np.arange(h.shape[0]), np.diff(h.indptr))
        self.t = aligned(h, times)
        order = np.lexsort((-self.t, self.rows))  # by row, newest first
        self.age = np.empty(h.nnz, dtype=np.float64)
        self.age[order] = np.arange(h.nnz) - h.indptr[self.rows[order]]
        self.timed = h.nnz > 0 and bool((self.t > 0).any())
        self._latest: np.ndarray | None = None

    def latest(self) -> np.ndarray:
        """Each row's newest time (0: none known)."""
        if self._latest is None:
            self._latest = np.zeros(self.history.shape[0])
            np.maximum.at(self._latest, self.rows, self.t)
        return self._latest

    def decayed(self, config: RecencyConfig) -> sp.csr_matrix:
        """The rows weighted by ``config`` (see :class:`RecencyConfig`); as they are without known times."""
        h = self.history
        if not config.active or not self.timed:
            return h
        weight = np.ones(h.nnz, dtype=np.float64)
        if config.decay < 1.0:
            weight *= np.power(config.decay, self.age)
        if config.half_life_days is not None:
            days = np.maximum(self.latest()[self.rows] - self.t, 0.0) / 86400.0
            weight *= np.power(0.5, days / config.half_life_days)
        weight = np.maximum(weight, config.floor)
        return sp.csr_matrix((h.data * weight.astype(np.float32), h.indices, h.indptr), shape=h.shape)

    def newest(self) -> np.ndarray:
        """Each row's newest item (age 0); -1 for an empty row."""
        out = np.full(self.history.shape[0], -1, dtype=np.int64)
        first = self.age == 0
        out[self.rows[first]] = self.history.indices[first]
        return out


def ages(history: sp.csr_matrix, times: Any) -> sp.csr_matrix:
    """Each history entry's age rank in its row: 0 = the newest, ties broken by item index."""
    a = Aged(history, times)
    h = a.history
    return sp.csr_matrix((a.age.astype(np.float32), h.indices.copy(), h.indptr.copy()), shape=h.shape)


def decayed(history: sp.csr_matrix, times: Any, config: RecencyConfig) -> sp.csr_matrix:
    """``history`` with each entry weighted by its age (see :class:`RecencyConfig`); as it is without times."""
    if not config.active or times is None:
        return sp.csr_matrix(history, dtype=np.float32)
    return Aged(history, times).decayed(config)


def weigh(
    history: sp.csr_matrix, times: Any, configs: dict[str, RecencyConfig]
) -> tuple[dict[str, sp.csr_matrix], np.ndarray]:
    """The history weighted by each of ``configs`` (as :func:`decayed`; the times aligned and the ages ranked once
    for all of them) and each row's newest item (-1: an empty row): what the ranker's serving path asks."""
    aged = Aged(history, times)
    return {key: aged.decayed(cfg) for key, cfg in configs.items()}, aged.newest()


def newest_item(history: sp.csr_matrix, times: Any) -> np.ndarray:
    """Each row's newest item (the first stored one without times); -1 for an empty row."""
    return Aged(history, times).newest()
