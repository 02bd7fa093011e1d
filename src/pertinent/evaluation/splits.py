"""Train/test splits over ``Interactions``: per-user random holdout, per-user temporal (the default for data
with timestamps), global time cut, leave-last-out.

The test part is a user x item CSR matrix over the same vocabularies as ``train``; items a user
already has in train are never in their test row. The time splits keep the ``timestamp`` column in
``train.events``, so time-aware models fit on the train part exactly as in production.

Reusable from benchmarks and other models' evaluations::

    split = temporal_user_split(data)            # last 20% of each user's distinct items (>= 5 items)
    split = global_time_split(data)              # train before the 80% time quantile, test after it
    split = global_time_split(data, at=1.3e9)    # ... or before/after a given time (seconds)
    split.cold_share                             # share of test users with no training history

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
    """``train``: the interactions a model may see (with timestamps when the input had them);
    ``test``: binary user x item matrix of held-out items; ``name``/``cut`` describe how it was made."""

    train: Interactions
    test: sp.csr_matrix
    name: str = ""
    cut: float | None = None

    @property
    def test_users(self) -> np.ndarray:
        """Indices of users with at least one held-out item."""
        return np.flatnonzero(np.diff(self.test.indptr))

    @property
    def cold_test_users(self) -> np.ndarray:
        """Test users without any training history (only popularity-like fallbacks can serve them)."""
        users = self.test_users
        empty: np.ndarray = users[np.diff(self.train.matrix.indptr)[users] == 0]
        return empty

    @property
    def cold_share(self) -> float:
        """Share of test users without training history (0.0 when there are no test users)."""
        n = len(self.test_users)
        return len(self.cold_test_users) / n if n else 0.0

    def describe(self) -> str:
        """One line: the split, its test users and how many have no training history."""
        n, cold = len(self.test_users), len(self.cold_test_users)
        return (
            f"{self.name or 'split'}: {n:,} test users ({cold:,} = {self.cold_share:.0%} without training history), "
            f"{self.train.matrix.nnz:,} train / {self.test.nnz:,} test pairs"
        )


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
    return Split(tr, _binary(test), "random")


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
    return Split(train, _test_from_events(data, train, latest), "last")


def temporal_split(data: Interactions, fraction: float = 0.2) -> Split:
    """Global time cut where the latest ``fraction`` of events form the test set (kept for old callers;
    :func:`global_time_split` is the same cut with a choice of time and a clear name)."""
    return global_time_split(data, quantile=1 - _fraction(fraction))


def _fraction(fraction: float) -> float:
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: must be between 0 and 1, got {fraction}")
    return fraction


def temporal_user_split(data: Interactions, fraction: float = 0.2, min_items: int = 5) -> Split:
    """Per-user temporal holdout: what will each user want next?

    For each user with at least ``min_items`` distinct items, order the distinct items by their first
    interaction time (ties: input order); the last ``round(fraction * n)`` (at least 1, at most n - 1) are
    the test items.
    The user's train events are those of the earlier items up to the first test item's time (later
    repeats of train items are dropped, so no train event of a user is later than their test items);
    users with fewer items keep all their events in train. Train keeps its ``timestamp`` column.

    >>> import pandas as pd
    >>> from pertinent.recommend import Interactions
    >>> df = pd.DataFrame({"user": ["u"] * 6, "item": list("abcdea"), "ts": [1, 2, 3, 4, 5, 6]})
    >>> s = temporal_user_split(Interactions.from_frame(df, timestamp_col="ts"))
    >>> [str(s.train.item_ids[j]) for j in s.test[0].indices], float(s.train.events["timestamp"].max())
    (['e'], 4.0)
    """
    _need_time(data, "temporal_user_split")
    _fraction(fraction)
    ev = data.events
    order = np.lexsort((np.arange(len(ev)), ev["timestamp"].to_numpy()))
    first = ev.iloc[order].drop_duplicates(["user", "item"], keep="first")
    first = first.sort_values("user", kind="stable")
    users = first["user"].to_numpy()
    n = np.bincount(users, minlength=data.n_users)
    pos = np.arange(len(first)) - np.concatenate([[0], np.cumsum(n)[:-1]])[users]
    n_test = np.where(n >= max(min_items, 2), np.clip(np.round(fraction * n), 1, n - 1), 0).astype(np.int64)
    is_test = pos >= (n - n_test)[users]
    cut = np.full(data.n_users, np.inf)
    np.minimum.at(cut, users[is_test], first["timestamp"].to_numpy()[is_test])
    test_pairs = first[is_test]
    test_keys = set(zip(test_pairs["user"].to_numpy(), test_pairs["item"].to_numpy(), strict=True))
    ev_users = ev["user"].to_numpy()
    held = np.fromiter((p in test_keys for p in zip(ev_users, ev["item"].to_numpy(), strict=True)), bool, len(ev))
    keep = ~held & (ev["timestamp"].to_numpy() <= cut[ev_users])
    train = data.with_events(ev[keep])
    return Split(train, _test_from_events(data, train, test_pairs), "temporal")


def global_time_split(data: Interactions, at: float | None = None, quantile: float = 0.8) -> Split:
    """Global time cut: train on events before ``at`` (seconds; default the ``quantile`` of event times),
    test on the items each user first meets at or after it. Users first seen after the cut are test
    users with an empty train row (``Split.cold_share`` says how many), as new visitors are in production.

    >>> import pandas as pd
    >>> from pertinent.recommend import Interactions
    >>> df = pd.DataFrame({"user": ["a", "a", "b"], "item": ["x", "y", "x"], "ts": [1, 5, 6]})
    >>> s = global_time_split(Interactions.from_frame(df, timestamp_col="ts"), at=5)
    >>> s.test.nnz, s.cold_share
    (2, 0.5)
    """
    _need_time(data, "global_time_split")
    ev = data.events
    ts = ev["timestamp"].to_numpy()
    if at is None:
        if not 0 < quantile < 1:
            raise ValueError(f"quantile: must be between 0 and 1, got {quantile}")
        at = float(np.quantile(ts, quantile))
        # a quantile that falls on the earliest time would leave train empty: cut just after it instead
        if not (ts < at).any():
            at = float(np.nextafter(at, np.inf))
    before = ts < at
    train = data.with_events(ev[before])
    return Split(train, _test_from_events(data, train, ev[~before]), "global", float(at))
