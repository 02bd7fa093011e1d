"""Peers for offline comparisons, run on the same split as Pertinent's models: popularity, EASE (a dense
numpy/LAPACK solve), recency-weighted EASE, implicit ALS and an item-transition (next-item) baseline.

They are evaluation baselines, not product models: each is a :class:`Ranker` that fits on
``split.train`` and ranks, for train user indices, the items not in the user's train row. Product
models of any registered kind run through :class:`ModelRanker`, so one loop compares them all::

    split = temporal_user_split(data)
    results = compare(split, [PopularityPeer(), EASEPeer(EASEFit(500), decay=0.8), ModelRanker("default")])

Recency weighting (``decay``): the user's history row has weight ``decay ** age`` per distinct item,
age 0 = the item the user touched last (by its latest event), so "what is this user doing now" counts.

>>> import pandas as pd
>>> from pertinent.evaluation.splits import temporal_user_split
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": [f"u{i % 6}" for i in range(60)], "item": [f"i{(i * 7) % 13}" for i in range(60)],
...                    "ts": range(60)})
>>> split = temporal_user_split(Interactions.from_frame(df, timestamp_col="ts"))
>>> [r.name for r in compare(split, [PopularityPeer(), TransitionsPeer()])]
['popularity', 'item transitions']
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import scipy.sparse as sp

from pertinent.evaluation.evaluate import EvaluationResult, rank_for, sample_users, score_ranked

if TYPE_CHECKING:
    from pertinent.evaluation.splits import Split
    from pertinent.recommend.base import Recommender
    from pertinent.recommend.interactions import Interactions


class Ranker(Protocol):
    """Fits on a split's train part; ranks unseen items for train user indices (-1 pads short rows)."""

    name: str

    def fit(self, split: Split) -> None: ...

    def rank(self, users: np.ndarray, k: int) -> np.ndarray: ...


@dataclass(frozen=True)
class PeerResult:
    """One ranker's result on a split: metrics, fit seconds, and a note (why skipped, what was pruned)."""

    name: str
    result: EvaluationResult
    fit_seconds: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "fit_seconds": round(self.fit_seconds, 3), "note": self.note}


class SkipPeer(Exception):
    """A peer that cannot run on this data (no timestamps, too large): the message says why."""


def binary(m: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(m, dtype=np.float32, copy=True)
    out.data[:] = 1.0
    return out


def recency_history(train: Interactions, decay: float, max_items: int | None = None) -> sp.csr_matrix:
    """User x item rows weighted ``decay ** age`` (age 0 = the distinct item with the latest event).

    >>> import pandas as pd
    >>> from pertinent.recommend import Interactions
    >>> d = Interactions.from_frame(pd.DataFrame({"user": ["u"] * 3, "item": ["a", "b", "a"], "t": [1, 2, 3]}),
    ...                             timestamp_col="t")
    >>> recency_history(d, 0.5).toarray().tolist()
    [[1.0, 0.5]]
    """
    if not train.has_timestamps:
        raise SkipPeer("needs timestamps (recency order of the user's items)")
    last = train.events.groupby(["user", "item"], sort=False)["timestamp"].max().reset_index()
    last = last.sort_values(["user", "timestamp"], ascending=[True, False], kind="stable")
    age = last.groupby("user", sort=False).cumcount().to_numpy()
    keep = age < max_items if max_items is not None else np.ones(len(age), bool)
    m = sp.csr_matrix(
        (decay ** age[keep].astype(np.float64), (last["user"].to_numpy()[keep], last["item"].to_numpy()[keep])),
        shape=train.shape,
    )
    m.sort_indices()
    return m


def top_k_unseen(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> np.ndarray:
    """Top-k column indices per row, seen items and -inf scores excluded (-1 where fewer remain)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    r, c = seen.nonzero()
    scores[r, c] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, 1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, 1)
    return np.where(np.isfinite(np.take_along_axis(vals, order, 1)), idx, -1)


def _batched(users: np.ndarray, k: int, score_rows: Any, seen: sp.csr_matrix, size: int = 1024) -> np.ndarray:
    out = [
        top_k_unseen(score_rows(users[s : s + size]), seen[users[s : s + size]], k) for s in range(0, len(users), size)
    ]
    return np.vstack(out) if out else np.zeros((0, k), np.int64)


class PopularityPeer:
    """Items by the number of train users who have them."""

    name = "popularity"

    def fit(self, split: Split) -> None:
        self.seen = binary(split.train.matrix)
        self.pop = np.asarray(self.seen.sum(axis=0)).ravel()

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        return _batched(users, k, lambda u: np.tile(self.pop, (len(u), 1)), self.seen)


@dataclass
class EASEFit:
    """EASE item weights B for one λ (Steck 2019), solved once per train set and shared by the plain and the
    recency-weighted peer. With more than ``max_items`` items, only the most popular of those seen at least
    twice enter the dense solve (the rest are never recommended), as the default model does."""

    lam: float
    max_items: int = 12_000
    train: Any = None
    items: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    note: str = ""

    def fit(self, train: Interactions) -> None:
        if self.train is train:
            return
        from scipy.linalg import lapack

        x = binary(train.matrix)
        counts = np.asarray(x.sum(axis=0)).ravel()
        items = np.flatnonzero(counts > 0)
        self.note = ""
        if len(items) > self.max_items:  # a large sparse catalogue: items seen once carry little co-occurrence
            items = np.flatnonzero(counts >= 2)
            items = np.sort(items[np.argsort(-counts[items], kind="stable")[: self.max_items]])
            self.note = f"dense solve over {len(items):,} of {int((counts > 0).sum()):,} items (seen twice or more)"
        xs = x[:, items]
        g = (xs.T @ xs).toarray().astype(np.float64)
        g[np.diag_indices_from(g)] += self.lam
        chol, info = lapack.dpotrf(g, lower=True, overwrite_a=True)
        if info != 0:
            raise SkipPeer(f"EASE: Cholesky failed (info {info})")
        p, info = lapack.dpotri(chol, lower=True, overwrite_c=True)
        p = np.tril(p) + np.tril(p, -1).T
        b = p / -np.diag(p)
        np.fill_diagonal(b, 0.0)
        self.items, self.weights, self.train = items, b.astype(np.float32), train

    def scores(self, rows: sp.csr_matrix) -> np.ndarray:
        out = np.full(rows.shape, -np.inf, dtype=np.float64)
        out[:, self.items] = rows[:, self.items] @ self.weights
        return out


class EASEPeer:
    """EASE with binary history rows, or rows weighted ``decay ** age`` (recency-weighted EASE)."""

    def __init__(self, fit: EASEFit, decay: float | None = None) -> None:
        self.ease, self.decay = fit, decay
        self.name = f"EASE λ{fit.lam:g}" if decay is None else f"rw-EASE λ{fit.lam:g} ({decay:g}^age)"
        self.note = ""

    def fit(self, split: Split) -> None:
        train = split.train
        self.seen = binary(train.matrix)
        self.rows = self.seen if self.decay is None else recency_history(train, self.decay)
        self.ease.fit(train)
        self.note = self.ease.note

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        return _batched(users, k, lambda u: self.ease.scores(self.rows[u]), self.seen)


class ALSPeer:
    """implicit's AlternatingLeastSquares on binary train rows (one BLAS thread, seeded)."""

    def __init__(self, name: str = "implicit ALS", **params: Any) -> None:
        self.name, self.params = name, {"random_state": 42, **params}

    def fit(self, split: Split) -> None:
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        self.seen = binary(split.train.matrix)
        self.model = AlternatingLeastSquares(**self.params)
        with threadpool_limits(1, "blas"):
            self.model.fit(self.seen, show_progress=False)

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        ids, scores = self.model.recommend(users, self.seen[users], N=k, filter_already_liked_items=True)
        ids = np.asarray(ids, dtype=np.int64)
        return np.where(np.isfinite(np.asarray(scores)) & (ids >= 0), ids, -1)


class TransitionsPeer:
    """Sequence baseline: item-to-item transitions. Each train user's time-ordered item sequence (repeats
    collapsed) adds ``1/d`` to (a -> b) when b follows a within ``window`` steps; a user's scores sum the
    transition rows of their ``recent`` latest items weighted ``decay ** age``, popularity breaks ties."""

    name = "item transitions"

    def __init__(self, window: int = 3, recent: int = 10, decay: float = 0.8) -> None:
        self.window, self.recent, self.decay = window, recent, decay

    def fit(self, split: Split) -> None:
        train = split.train
        if not train.has_timestamps:
            raise SkipPeer("needs timestamps (the order of each user's items)")
        ev = train.events
        order = np.lexsort((np.arange(len(ev)), ev["timestamp"].to_numpy(), ev["user"].to_numpy()))
        users, items = ev["user"].to_numpy()[order], ev["item"].to_numpy()[order]
        new = np.ones(len(users), bool)
        new[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
        users, items = users[new], items[new]
        rows, cols, vals = [], [], []
        for d in range(1, self.window + 1):
            same = (users[d:] == users[:-d]) & (items[d:] != items[:-d])
            rows.append(items[:-d][same])
            cols.append(items[d:][same])
            vals.append(np.full(int(same.sum()), 1.0 / d))
        n = train.n_items
        self.trans = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        self.seen = binary(train.matrix)
        pop = np.asarray(self.seen.sum(axis=0)).ravel()
        self.tiebreak = 1e-6 * pop / max(pop.max(initial=0), 1)
        self.rows = recency_history(train, self.decay, self.recent)

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        return _batched(users, k, lambda u: (self.rows[u] @ self.trans).toarray() + self.tiebreak, self.seen)


class ModelRanker:
    """A product model of any registered kind (``default``, ``ease``, a ranker helper's kind, ...)."""

    def __init__(self, kind: str, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        from pertinent.recommend.models import make_model

        self.kind, self.name = kind, name or kind
        self.model: Recommender = make_model(kind, config)  # validates kind and config before any fitting
        self.note = ""

    def fit(self, split: Split) -> None:
        self.split = split
        self.model.fit(split.train)
        report = getattr(self.model, "report", None) or {}
        if report.get("weights"):
            self.note = f"chose {report['weights']}, EASE λ {report.get('ease_lambda')}"

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        return rank_for(self.model, self.split, users, k)


def _popular_for_cold(split: Split, users: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Rows of users without training history replaced by the most popular items (the products' fallback)."""
    cold = np.diff(split.train.matrix.indptr)[users] == 0
    if not cold.any():
        return ranked
    pop = np.diff(split.train.matrix.tocsc().indptr)
    top = np.argsort(-pop, kind="stable")[: ranked.shape[1]]
    out = ranked.copy()
    out[cold, : len(top)] = top
    return out


def compare(
    split: Split,
    rankers: list[Any],
    k: int = 10,
    recall_k: int = 20,
    max_users: int | None = None,
    seed: int = 0,
    on_done: Any = None,
) -> list[PeerResult]:
    """Fit each ranker on ``split.train`` and score it on the same test users; a peer that cannot run on
    this data (:class:`SkipPeer`) gets NaN metrics and the reason as its note. Peers serve users without
    training history the most popular items (product models use their own fallback). ``on_done(result)`` is
    called after each ranker (progress)."""
    users = sample_users(split, max_users, seed)
    out = []
    for ranker in rankers:
        start = time.perf_counter()
        try:
            ranker.fit(split)
            fit_s = time.perf_counter() - start
            ranked = ranker.rank(users, max(k, recall_k)) if len(users) else np.zeros((0, k), np.int64)
            if not isinstance(ranker, ModelRanker):  # peers serve users without history what a product would
                ranked = _popular_for_cold(split, users, ranked)
            result = score_ranked(ranked, split, users, k, recall_k)
            note = getattr(ranker, "note", "")
        except SkipPeer as exc:
            fit_s, note = math.nan, f"skipped: {exc}"
            result = EvaluationResult({}, k, int(len(users)), note)
        out.append(PeerResult(ranker.name, result, fit_s, note))
        if on_done is not None:
            on_done(out[-1])
    return out


PEER_NAMES = ("popularity-peer", "ease-100", "ease-500", "rw-ease", "rw-ease-100", "als-peer", "transitions")
"""Names ``pertinent evaluate --models`` accepts besides the registered model kinds."""


def make_peer(name: str, shared: dict[float, EASEFit] | None = None) -> Ranker | None:
    """The peer called ``name`` (see :data:`PEER_NAMES`), or None if it is not a peer name. EASE solves are
    shared through ``shared`` (λ -> :class:`EASEFit`), so EASE and rw-EASE of one λ solve once."""
    shared = {} if shared is None else shared

    def ease(lam: float) -> EASEFit:
        return shared.setdefault(lam, EASEFit(lam))

    peers: dict[str, Any] = {
        "popularity-peer": PopularityPeer,
        "ease-100": lambda: EASEPeer(ease(100.0)),
        "ease-500": lambda: EASEPeer(ease(500.0)),
        "rw-ease": lambda: EASEPeer(ease(500.0), decay=0.8),
        "rw-ease-100": lambda: EASEPeer(ease(100.0), decay=0.8),
        "als-peer": lambda: ALSPeer(
            "implicit ALS (64f, reg .05, α 2, 20 it)", factors=64, regularization=0.05, alpha=2.0, iterations=20
        ),
        "transitions": TransitionsPeer,
    }
    make = peers.get(name)
    return make() if make is not None else None
