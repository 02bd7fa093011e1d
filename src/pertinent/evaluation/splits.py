"""Train/test splits over ``Interactions``: per-user random holdout, leave-last-out, global temporal.

The test part is a user x item CSR matrix over the same vocabularies as ``train``; items a user
already has in train are never in their test row.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u"] * 10, "item": list("abcdefghij")})
>>> split = random_holdout(Interactions.from_frame(df), fraction=0.2, seed=42)
>>> split.train.matrix.nnz, split.test.nnz
(8, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from pertinent.recommend.interactions import Interactions

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Split:
    train: Interactions
    test: sp.csr_matrix

    @property
    def test_users(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.test.indptr))


def holdout_matrix(
    m: sp.csr_matrix, fraction: float, seed: int, min_items: int = 1
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per row, move ``max(1, round(fraction * n))`` random entries into the test matrix
    (rows with fewer than ``min_items`` entries stay entirely in train)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: must be between 0 and 1, got {fraction}")
    m = sp.csr_matrix(m)
    m.sort_indices()
    rng = np.random.default_rng(seed)
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((rng.random(m.nnz), rows))
    pos = np.empty(m.nnz, dtype=np.int64)
    pos[order] = np.arange(m.nnz) - m.indptr[rows[order]]
    n_test = np.where(counts >= max(min_items, 2), np.maximum(1, np.round(fraction * counts)), 0)
    is_test = pos < n_test[rows]
    coo = m.tocoo()
    test = sp.csr_matrix((coo.data[is_test], (coo.row[is_test], coo.col[is_test])), shape=m.shape)
    train = sp.csr_matrix((coo.data[~is_test], (coo.row[~is_test], coo.col[~is_test])), shape=m.shape)
    return train, test


def random_holdout(data: Interactions, fraction: float = 0.2, seed: int = 42, min_interactions: int = 5) -> Split:
    """Per-user random holdout of ``fraction`` of each eligible user's items."""
    train, test = holdout_matrix(data.matrix, fraction, seed, min_interactions)
    keep = set(zip(*train.nonzero(), strict=True))
    ev = data.events
    mask = np.fromiter((p in keep for p in zip(ev["user"], ev["item"], strict=True)), bool, len(ev))
    tr = data.with_events(ev[mask])
    return Split(tr, _binary(test))


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    m.data[:] = 1.0
    m.eliminate_zeros()
    return m


def _need_time(data: Interactions, name: str) -> None:
    if not data.has_timestamps:
        raise ValueError(f"{name}: needs timestamps (build Interactions with timestamp_col)")


def _test_from_events(data: Interactions, train: Interactions, events: pd.DataFrame) -> sp.csr_matrix:
    test = sp.csr_matrix((np.ones(len(events), np.float32), (events["user"], events["item"])), shape=data.shape)
    test = _binary(test)
    seen = train.matrix.copy()
    seen.data[:] = 1.0
    return _binary(test - test.multiply(seen))


def leave_last_out(data: Interactions, min_interactions: int = 2) -> Split:
    """Each user's latest event's item goes to test (users with >= ``min_interactions`` items)."""
    _need_time(data, "leave_last_out")
    ev = data.events
    counts = np.diff(data.matrix.indptr)
    latest = ev.sort_values(["timestamp"], kind="stable").groupby("user").tail(1)
    latest = latest[counts[latest["user"].to_numpy()] >= min_interactions]
    last_pairs = set(zip(latest["user"], latest["item"], strict=True))
    is_last = np.fromiter((p in last_pairs for p in zip(ev["user"], ev["item"], strict=True)), bool, len(ev))
    train = data.with_events(ev[~is_last])
    return Split(train, _test_from_events(data, train, latest))


def temporal_split(data: Interactions, fraction: float = 0.2) -> Split:
    """Global time cut: the latest ``fraction`` of events form the test set."""
    _need_time(data, "temporal_split")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: must be between 0 and 1, got {fraction}")
    ev = data.events
    cut = np.quantile(ev["timestamp"].to_numpy(), 1 - fraction)
    after = ev["timestamp"].to_numpy() > cut
    train = data.with_events(ev[~after])
    return Split(train, _test_from_events(data, train, ev[after]))
