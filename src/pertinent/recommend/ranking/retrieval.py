"""Cheap candidates for serving the ranker: each generator answers from lists built once from its trained model,
so a request merges the lists of the user's items instead of scoring every item.

* ``sparse`` (item-kNN, transitions, EASE that fell back to item-kNN): the model's item x item matrix already keeps
  its top neighbours per item; the weighted history row times that sparse matrix *is* the model's score, exact;
* ``lists`` (dense EASE): each item's ``neighbours`` strongest weights; the lists of the user's ``sources`` heaviest
  items are merged, the best ``pool`` of them are scored exactly (history x weights, only those columns) and the
  generator's candidates are the best of the pool;
* ``static`` (trending, popularity, freshness): one score per item, sorted once; candidates are the first unseen;
* ``dense`` (any other kind): the model scores every item, as in training.

Scores of any (row, item) pair are exact in every mode; what may differ from scoring every item is which items
the ``lists`` mode finds, and the normaliser of its scores (the largest among the items it looked at).

>>> import numpy as np, scipy.sparse as sp
>>> top_per_row(sp.csr_matrix(np.array([[0.0, 3.0, 1.0, 2.0]])), 2).toarray().tolist()
[[0.0, 3.0, 0.0, 2.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from pertinent.recommend.base import Recommender
    from pertinent.recommend.ranking.candidates import Generators
    from pertinent.recommend.ranking.config import GeneratorSpec, ServingConfig


def top_per_row(m: sp.csr_matrix | np.ndarray, k: int) -> sp.csr_matrix:
    """The ``k`` largest entries of each row of ``m`` (dense or sparse) as CSR; zeros are not kept."""
    if sp.issparse(m):
        from pertinent.recommend.models.transitions import top_per_row as sparse_top

        return sparse_top(sp.csr_matrix(m, dtype=np.float32), k)
    m = np.asarray(m, dtype=np.float32)
    n_rows, n_cols = m.shape
    k = min(k, n_cols)
    if k <= 0 or not n_rows:
        return sp.csr_matrix((n_rows, n_cols), dtype=np.float32)
    block = max(1, (1 << 22) // max(n_cols, 1))  # rows at a time: a block's copy and indices stay a few MiB
    top = np.empty((n_rows, k), dtype=np.int64)
    for start in range(0, n_rows, block):
        part = m[start : start + block]
        top[start : start + block] = np.argpartition(-part, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(m, top, axis=1)
    keep = vals > 0
    rows = np.repeat(np.arange(n_rows), k).reshape(n_rows, k)
    out = sp.csr_matrix((vals[keep], (rows[keep], top[keep])), shape=(n_rows, n_cols), dtype=np.float32)
    out.sort_indices()
    return out


def best_per_row(rows: np.ndarray, items: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Positions of each row's ``k`` highest values (pairs grouped or not), ties by item index."""
    if not len(rows) or k <= 0:
        return np.zeros(0, np.int64)
    if rows[0] == rows[-1] and (len(rows) < 2 or (rows == rows[0]).all()):  # one row (serving): no sort
        if len(rows) <= k:
            return np.arange(len(rows))
        return np.argpartition(-values, k - 1)[:k]
    if len(rows) > 4 * k and _grouped(rows, items) and np.isfinite(values).all():
        chosen = _best_of_grouped(rows, items, values, k)  # the same positions, found without sorting them all
        rows, items, values = rows[chosen], items[chosen], values[chosen]
        return chosen[np.lexsort((items, -values, rows))]
    order = np.lexsort((items, -values, rows))
    r = rows[order]
    starts = np.searchsorted(r, r, side="left")
    return order[np.arange(len(r)) - starts < k]


def _grouped(rows: np.ndarray, items: np.ndarray) -> bool:
    """Whether the pairs are sorted by row, then by item, each pair once."""
    return bool(
        (rows[1:] >= rows[:-1]).all() and ((rows[1:] > rows[:-1]) | (items[1:] > items[:-1])).all() and rows[0] >= 0
    )


def _best_of_grouped(rows: np.ndarray, items: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """The positions ``best_per_row`` keeps, ascending, for pairs sorted by (row, item) with finite values: each
    row's k-th largest value from a partial sort of a dense block of rows, every value above it, and as many of the
    values equal to it as fit, smallest items first (the tie order of the full sort)."""
    n_rows = int(rows[-1]) + 1
    width = int(items.max()) + 1
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    threshold = np.full(n_rows, -np.inf)  # rows with <= k pairs keep them all
    big = np.flatnonzero(counts > k)
    step = max(1, (1 << 22) // width)
    for lo in range(0, len(big), step):
        chunk = big[lo : lo + step]
        pos = ranges(starts[chunk], counts[chunk])
        dense = np.full((len(chunk), width), np.inf)
        dense[np.repeat(np.arange(len(chunk)), counts[chunk]), items[pos]] = -values[pos]
        threshold[chunk] = -np.partition(dense, k - 1, axis=1)[:, k - 1]
    t = threshold[rows]
    above = values > t
    tied = values == t
    room = k - np.bincount(rows, weights=above, minlength=n_rows).astype(np.int64)
    seen_tied = np.cumsum(tied)
    before_row = seen_tied[starts] - tied[starts]  # tied pairs of the earlier rows
    tie_rank = seen_tied - before_row[rows]  # 1-based rank of a tied pair in its row, by item
    return np.flatnonzero(above | (tied & (tie_rank <= room[rows])))


def pair_keys(rows: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    return rows.astype(np.int64) * np.int64(n_items) + items.astype(np.int64)


def history_keys(history: sp.csr_matrix) -> np.ndarray:
    """Sorted (row, item) keys of the history's stored entries."""
    rows = np.repeat(np.arange(history.shape[0], dtype=np.int64), np.diff(history.indptr))
    return np.sort(pair_keys(rows, history.indices, history.shape[1]))


def is_in(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    pos = np.searchsorted(sorted_keys, keys).clip(0, len(sorted_keys) - 1)
    return np.asarray(sorted_keys[pos] == keys)


def coo_of(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = m if isinstance(m, sp.csr_matrix) else sp.csr_matrix(m)
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows, m.indices.astype(np.int64), m.data.astype(np.float64)


class Scored:
    """One generator's answer for some weighted history rows: its candidates, exact scores of any pair and the
    per-row normaliser (the largest absolute score it knows of)."""

    def __init__(self, source: Source, weighted: sp.csr_matrix, seen: np.ndarray, config: ServingConfig) -> None:
        self.source, self.h = source, weighted
        n_rows, n = weighted.shape
        self.picks = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.top = np.ones(n_rows)
        self._keys: np.ndarray | None = None
        self._vals: np.ndarray | None = None
        self._dense: np.ndarray | None = None
        self._known: tuple[np.ndarray, np.ndarray, np.ndarray] = (*self.picks, np.zeros(0))
        k = source.spec.candidates
        if source.mode == "static":
            assert source.vector is not None and source.order is not None
            self.top = np.full(n_rows, float(np.abs(source.vector).max()) if n else 1.0)
            head = source.order[: k + int(np.diff(weighted.indptr).max(initial=0))]
            rows = np.repeat(np.arange(n_rows, dtype=np.int64), len(head))
            items = np.tile(head, n_rows)
            ok = ~is_in(pair_keys(rows, items, n), seen)
            self.picks = self._best(rows[ok], items[ok], source.vector[items[ok]].astype(np.float64), k)
            self._known = (*self.picks, source.vector[self.picks[1]].astype(np.float64))
        elif source.mode == "sparse":
            assert source.matrix is not None
            rows, items, vals = merge(source.matrix, *coo_of(weighted), n_rows)
            self._keys, self._vals = pair_keys(rows, items, n), vals  # sorted: rows, then sorted indices
            self.top = _row_max(rows, np.abs(vals), n_rows)
            ok = ~is_in(pair_keys(rows, items, n), seen)
            self.picks = self._best(rows[ok], items[ok], vals[ok], k)
            self._known = (rows[ok], items[ok], vals[ok])
        elif source.mode == "lists":
            assert source.matrix is not None
            heavy = _heaviest(weighted, config.sources)
            rows, items, approx = merge(source.matrix, *heavy, n_rows)
            ok = ~is_in(pair_keys(rows, items, n), seen)
            pool = self._best(rows[ok], items[ok], approx[ok], max(k, config.pool))
            h_rows, h_items, _ = heavy
            looked = (np.concatenate([pool[0], h_rows]), np.concatenate([pool[1], h_items]))
            known = source.dense_pairs(weighted, *looked)  # the pool and the heaviest seen items, one gather
            self.top = _row_max(looked[0], np.abs(known), n_rows)
            exact = known[: len(pool[0])]
            self.picks = self._best(pool[0], pool[1], exact, k)
            self._known = (*pool, exact)
            self._keys = pair_keys(*looked, n)
            order = np.argsort(self._keys)
            self._keys, self._vals = self._keys[order], known[order]
        else:
            self._dense = np.asarray(source.model.score(weighted), dtype=np.float32)
            if n:
                self.top = np.abs(self._dense).max(axis=1).astype(np.float64)
            blocked = np.zeros((n_rows, n), dtype=bool)
            blocked[np.repeat(np.arange(n_rows), np.diff(weighted.indptr)), weighted.indices] = True
            from pertinent.recommend.ranking.candidates import union_candidates

            self.picks = union_candidates({"g": self._dense}, {"g": k}, blocked)
            self._known = (*self.picks, self._dense[self.picks].astype(np.float64))

    @staticmethod
    def _best(rows: np.ndarray, items: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        keep = best_per_row(rows, items, values, k)
        return rows[keep], items[keep]

    def known(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, items, exact scores) of the unseen items this generator scored for the rows."""
        return self._known

    def values(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The generator's exact scores of the (row, item) pairs."""
        s = self.source
        if not len(rows):
            return np.zeros(0)
        if s.mode == "static":
            assert s.vector is not None
            return np.asarray(s.vector[items], dtype=np.float64)
        if s.mode == "sparse":
            assert self._keys is not None and self._vals is not None
            if not len(self._keys):
                return np.zeros(len(rows))
            want = pair_keys(rows, items, self.h.shape[1])
            pos = np.searchsorted(self._keys, want).clip(0, len(self._keys) - 1)
            return np.where(self._keys[pos] == want, self._vals[pos], 0.0)
        if s.mode == "lists":  # the pairs scored already, then the others
            assert self._keys is not None and self._vals is not None
            want = pair_keys(rows, items, self.h.shape[1])
            pos = np.searchsorted(self._keys, want).clip(0, max(len(self._keys) - 1, 0))
            hit = self._keys[pos] == want if len(self._keys) else np.zeros(len(want), bool)
            out = np.zeros(len(rows))
            out[hit] = self._vals[pos[hit]]
            if not hit.all():
                out[~hit] = s.dense_pairs(self.h, rows[~hit], items[~hit])
            return out
        assert self._dense is not None
        return np.asarray(self._dense[rows, items], dtype=np.float64)


def _row_max(rows: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    top = np.zeros(n_rows)
    np.maximum.at(top, rows, values)
    return top


def _heaviest(weighted: sp.csr_matrix, sources: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, item, weight) of each row's ``sources`` heaviest entries (all of them when the row is shorter)."""
    rows, items, vals = coo_of(weighted)
    lengths = np.diff(weighted.indptr)
    if not len(lengths) or lengths.max(initial=0) <= sources:
        return rows, items, vals
    keep = np.sort(best_per_row(rows, items, vals, sources))
    return rows[keep], items[keep], vals[keep]


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``starts[i] .. starts[i] + lengths[i] - 1``, concatenated.

    >>> ranges(np.array([5, 0]), np.array([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.asarray(offsets + np.arange(total), dtype=np.int64)


def merge(
    matrix: sp.csr_matrix, rows: np.ndarray, items: np.ndarray, weights: np.ndarray, n_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, item, value) of the non-zero entries of ``weights`` x the ``items``' rows of ``matrix`` (a sparse row
    times a sparse matrix, as the merge of those rows' lists), sorted by row then item.

    One row (a request): the lists concatenated and summed with ``bincount``. Several rows (training, evaluation):
    one sparse product (SciPy's ``csr_matmat``) in float64, far cheaper than a ``bincount`` over row blocks there.
    Both sum each value in the order of the row's entries, so the numbers are the same either way.

    >>> m = sp.csr_matrix(np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 1.0]]))
    >>> [x.tolist() for x in merge(m, np.array([1, 1]), np.array([0, 1]), np.array([1.0, 2.0]), 2)]
    [[1, 1, 1], [0, 1, 2], [6.0, 1.0, 4.0]]
    """
    empty = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    if not len(rows) or not matrix.nnz:
        return empty
    rows, items = np.asarray(rows, np.int64), np.asarray(items, np.int64)
    weights = np.asarray(weights, np.float64)
    if n_rows == 1:
        return _merge_row(matrix, items, weights)
    if len(rows) > 1 and np.any(rows[1:] < rows[:-1]):  # grouped by row, each row's entries in their order
        order = np.argsort(rows, kind="stable")
        rows, items, weights = rows[order], items[order], weights[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    used, column = np.unique(items, return_inverse=True)  # only the lists of these items (a request: a few)
    part = matrix[used] if len(used) < matrix.shape[0] else matrix
    a = sp.csr_matrix((weights, column.ravel(), indptr), shape=(n_rows, part.shape[0]))
    b = sp.csr_matrix((part.data.astype(np.float64), part.indices, part.indptr), shape=part.shape)
    c = sp.csr_matrix(a @ b)  # exact zeros are not stored
    c.sort_indices()
    if not c.nnz:
        return empty
    out_rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(c.indptr))
    return out_rows, c.indices.astype(np.int64), np.asarray(c.data, dtype=np.float64)


def _merge_row(
    matrix: sp.csr_matrix, items: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``merge`` of one row: the items' lists concatenated, scaled and summed per column with ``bincount``."""
    starts, lengths = matrix.indptr[items], matrix.indptr[items + 1] - matrix.indptr[items]
    pos = ranges(starts, lengths)
    values = matrix.data[pos].astype(np.float64) * np.repeat(weights, lengths)
    summed = np.bincount(matrix.indices[pos].astype(np.int64), weights=values, minlength=matrix.shape[1])
    nz = np.flatnonzero(summed)
    return np.zeros(len(nz), np.int64), nz.astype(np.int64), summed[nz]


@dataclass
class Source:
    """How one generator answers at request time (see the module docstring)."""

    spec: GeneratorSpec
    mode: str
    model: Recommender
    matrix: sp.csr_matrix | None = None  # sparse: item x item; lists: each item's strongest weights
    weights: np.ndarray | None = None  # lists: the dense weights over active items
    position: np.ndarray | None = None  # lists: item -> position among active items (-1: inactive)
    vector: np.ndarray | None = None  # static: one score per item
    order: np.ndarray | None = None  # static: items by score, best first
    keys: np.ndarray | None = None  # sparse: the matrix's (row, column) keys, sorted

    def dense_pairs(self, weighted: sp.csr_matrix, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """sum_i h[r, i] W[i, item] for each pair, from the row's history x the pairs' items block of W only."""
        assert self.weights is not None and self.position is not None
        out = np.zeros(len(rows))
        ipos = self.position[items]
        ok = ipos >= 0
        order = np.argsort(rows, kind="stable") if len(rows) > 1 and np.any(rows[1:] < rows[:-1]) else None
        sorted_rows = rows if order is None else rows[order]
        bounds = np.searchsorted(sorted_rows, np.arange(weighted.shape[0] + 1))
        indptr, indices, data = weighted.indptr, weighted.indices, weighted.data
        for r in np.flatnonzero(np.diff(bounds)).tolist():
            sel = np.arange(bounds[r], bounds[r + 1]) if order is None else order[bounds[r] : bounds[r + 1]]
            sel = sel[ok[sel]]
            hp = self.position[indices[indptr[r] : indptr[r + 1]]]
            w = data[indptr[r] : indptr[r + 1]]
            keep = (hp >= 0) & (np.abs(w) > 1e-7 * np.abs(w).max(initial=0.0))  # decayed to nothing: skipped
            if not len(sel) or not keep.any():
                continue
            hv = w[keep].astype(np.float32)
            out[sel] = hv @ self.weights[np.ix_(hp[keep], ipos[sel])]
        return out

    def item_pairs(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
        """The model's item x item weight of each (src, dst) pair, or None without one here."""
        if self.mode == "sparse":
            assert self.matrix is not None
            assert self.keys is not None
            if not len(self.keys):
                return np.zeros(len(src))
            want = pair_keys(src, dst, self.matrix.shape[1])
            pos = np.searchsorted(self.keys, want).clip(0, len(self.keys) - 1)
            return np.where(self.keys[pos] == want, self.matrix.data[pos].astype(np.float64), 0.0)
        if self.mode == "lists":
            assert self.weights is not None and self.position is not None
            ps, pd = self.position[src], self.position[dst]
            ok = (ps >= 0) & (pd >= 0)
            out = np.zeros(len(src))
            out[ok] = self.weights[ps[ok], pd[ok]]
            return out
        return None


def _matrix_of(model: Recommender) -> tuple[str, Recommender, Any]:
    """The mode a trained model serves in, the model that holds the data, and that data."""
    from pertinent.recommend.models.ease import EASERecommender
    from pertinent.recommend.models.fresh import FreshRecommender
    from pertinent.recommend.models.itemknn import ItemKNNRecommender
    from pertinent.recommend.models.popularity import PopularityRecommender
    from pertinent.recommend.models.transitions import TransitionRecommender
    from pertinent.recommend.models.trending import TrendingRecommender

    inner = model
    if isinstance(model, EASERecommender) and model.fallback_model is not None:
        inner = model.fallback_model
    if isinstance(inner, ItemKNNRecommender):
        return "sparse", inner, inner.similarity
    if isinstance(inner, TransitionRecommender):
        return "sparse", inner, inner.transitions
    if isinstance(inner, EASERecommender):
        return "lists", inner, inner.weights
    if isinstance(inner, TrendingRecommender | FreshRecommender):
        return "static", inner, inner.scores
    if isinstance(inner, PopularityRecommender):  # generators score without a group: the global ranking
        return "static", inner, inner.global_scores
    return "dense", inner, None


def build_sources(gens: Generators, config: ServingConfig) -> dict[str, Source]:
    """One source per generator name; generators sharing a model share its lists."""
    from pertinent.recommend.ranking.candidates import member_key

    built: dict[str, tuple[str, Recommender, Any, dict[str, Any]]] = {}
    out = {}
    for spec in gens.specs:
        key = member_key(spec)
        if key not in built:
            mode, inner, data = _matrix_of(gens.model(spec))
            extra: dict[str, Any] = {}
            if mode == "sparse":
                matrix = sp.csr_matrix(data, dtype=np.float32, copy=True)
                matrix.sort_indices()
                extra = {"matrix": matrix, "keys": pair_keys(*coo_of(matrix)[:2], matrix.shape[1])}
            elif mode == "static":
                vec = np.asarray(data, dtype=np.float32)
                extra = {"vector": vec, "order": np.argsort(-vec, kind="stable")}
            elif mode == "lists":
                active = np.asarray(inner.active, dtype=np.int64)  # type: ignore[attr-defined]
                n = inner.n_items
                position = np.full(n, -1, dtype=np.int64)
                position[active] = np.arange(len(active))
                lists = sp.coo_matrix(top_per_row(data, config.neighbours))
                matrix = sp.csr_matrix(
                    (lists.data, (active[lists.row], active[lists.col])), shape=(n, n), dtype=np.float32
                )
                extra = {"matrix": matrix, "weights": data, "position": position}
            built[key] = (mode, inner, data, extra)
        mode, inner, _, extra = built[key]
        out[spec.name] = Source(spec, mode, inner, **extra)
    return out
