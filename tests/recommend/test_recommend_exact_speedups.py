"""The fused model's training was made cheaper without changing a number: each faster path is checked here against
the computation it replaced (kept in this file as the reference), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from pertinent.recommend import EASERecommender
from pertinent.recommend.models.ease import EASEConfig, ease_from_gram, gram
from pertinent.recommend.models.fused import FusedRecommender, Standardised, fuse_scores, per_row_candidates
from pertinent.recommend.ranking.ranker import RankerRecommender
from pertinent.recommend.ranking.retrieval import best_per_row, coo_of, merge, ranges
from tests.recommend.test_recommend_ranking import journeys


def reference_ease(g: np.ndarray, regularization: float) -> np.ndarray:
    """EASE weights as computed before: the inverse's lower triangle mirrored with two ``tril`` copies (one BLAS
    thread, as ``ease_from_gram`` solves by default: LAPACK's blocking differs with the thread count)."""
    with threadpool_limits(1, "blas"):
        return _reference_ease(g, regularization)


def _reference_ease(g: np.ndarray, regularization: float) -> np.ndarray:
    a = g.copy()
    a[np.diag_indices_from(a)] += np.float32(regularization)
    c, info = lapack.spotrf(a.T, lower=1, overwrite_a=1, clean=0)
    assert info == 0
    p, info = lapack.spotri(c, lower=1, overwrite_c=1)
    assert info == 0
    p = np.tril(p)
    p += np.tril(p, -1).T
    d = np.diag(p).copy()
    p /= -d[None, :]
    p[np.diag_indices_from(p)] = 0.0
    return np.ascontiguousarray(p)


def reference_merge(
    matrix: sp.csr_matrix, rows: np.ndarray, items: np.ndarray, weights: np.ndarray, n_rows: int, cells: int = 1 << 22
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The list merge as computed before: lists concatenated, summed with ``bincount`` over dense row blocks."""
    n = matrix.shape[1]
    starts, stops = matrix.indptr[items], matrix.indptr[items + 1]
    lengths = stops - starts
    if not int(lengths.sum()):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    pos = ranges(starts, lengths)
    out_rows = np.repeat(rows, lengths)
    values = matrix.data[pos].astype(np.float64) * np.repeat(weights, lengths)
    cols = matrix.indices[pos].astype(np.int64)
    step = max(1, cells // max(n, 1))
    parts_r, parts_i, parts_v = [], [], []
    for lo in range(0, n_rows, step):
        sel = (out_rows >= lo) & (out_rows < lo + step) if n_rows > step else slice(None)
        block = np.bincount((out_rows[sel] - lo) * n + cols[sel], weights=values[sel], minlength=0)
        nz = np.flatnonzero(block)
        parts_r.append(nz // n + lo)
        parts_i.append(nz % n)
        parts_v.append(block[nz])
    return np.concatenate(parts_r), np.concatenate(parts_i), np.concatenate(parts_v)


def binary(rows: int, cols: int, density: float, seed: int) -> sp.csr_matrix:
    m = sp.random(rows, cols, density=density, format="csr", dtype=np.float32, random_state=seed)
    m.data[:] = 1.0
    return m


@pytest.mark.parametrize("n", [1, 7, 300, 517])
def test_ease_weights_are_the_same_numbers_as_before(n: int) -> None:
    x = binary(400, n, 0.05, n)
    g = gram(x)
    for lam in (0.5, 10.0, 200.0):
        assert np.array_equal(ease_from_gram(g, lam), reference_ease(g, lam))


def test_ease_at_several_lambdas_shares_one_gram_and_gives_each_fits_weights() -> None:
    data, cat = journeys()
    config = EASEConfig(regularization=5.0, min_item_count=2)
    found = dict(EASERecommender.fit_lambdas(config, [5.0, 50.0, 500.0], data, cat))
    assert list(found) == [5.0, 50.0, 500.0]
    for lam, model in found.items():
        alone = EASERecommender(config.model_copy(update={"regularization": lam})).fit(data, cat)
        assert model.config.regularization == lam and model._shared is None
        assert np.array_equal(model.active, alone.active)
        assert np.array_equal(model.weights, alone.weights)
        assert np.array_equal(model.score(data.matrix[:9]), alone.score(data.matrix[:9]))


def test_ease_at_several_lambdas_beyond_the_dense_limit_shares_one_fallback() -> None:
    data, cat = journeys()
    config = EASEConfig(max_dense_items=3)
    models = [m for _, m in EASERecommender.fit_lambdas(config, [5.0, 50.0], data, cat)]
    assert models[0].uses_fallback and models[0].fallback_model is models[1].fallback_model
    alone = EASERecommender(config).fit(data, cat)
    np.testing.assert_array_equal(models[1].score(data.matrix[:9]), alone.score(data.matrix[:9]))


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_list_merge_gives_the_same_numbers_as_before(shuffle: bool) -> None:
    n = 900
    matrix = sp.random(n, n, density=0.08, format="csr", dtype=np.float32, random_state=3)
    matrix.data = (matrix.data - 0.4).astype(np.float32)
    matrix.data[::17] = 0.0  # stored zeros, and sums that cancel, are dropped by both
    history = sp.random(700, n, density=0.03, format="csr", dtype=np.float32, random_state=4)
    rows, items, weights = coo_of(history)
    if shuffle:  # pairs not grouped by row
        order = np.random.default_rng(0).permutation(len(rows))
        rows, items, weights = rows[order], items[order], weights[order]
    new = merge(matrix, rows, items, weights, 700)
    old = reference_merge(matrix, rows, items, weights, 700, cells=1 << 16)  # several row blocks
    for a, b in zip(new, old, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for user in (0, 3, 699):  # one row, as a request merges
        one = history[user]
        r, i, w = coo_of(one)
        if shuffle:
            order = np.random.default_rng(user).permutation(len(r))
            r, i, w = r[order], i[order], w[order]
        for a, b in zip(merge(matrix, r, i, w, 1), reference_merge(matrix, r, i, w, 1), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    empty = merge(matrix, rows[:0], items[:0], weights[:0], 700)
    assert all(len(x) == 0 for x in empty)


def test_a_fold_standardised_once_mixes_as_fuse_scores_does() -> None:
    rng = np.random.default_rng(5)
    anchor = rng.normal(size=(6, 40)).astype(np.float32)
    ranker = np.where(rng.random((6, 40)) < 0.3, rng.random((6, 40)) + 1.0, -1.5).astype(np.float32)
    ranker = per_row_candidates(ranker)
    seen = binary(6, 40, 0.2, 6)
    folded = Standardised(anchor, ranker, seen)
    for share in (0.0, 0.1, 0.35, 0.7, 0.85, 1.0):
        assert np.array_equal(folded.mix(share), fuse_scores(anchor, ranker, seen, share))


def test_ease_alone_fits_no_ranker_on_the_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    data, cat = journeys()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a ranker was fitted although no share can use it")

    monkeypatch.setattr(RankerRecommender, "fit", refuse)
    model = FusedRecommender(ease_lambdas=[5.0, 50.0], weights=[0.0]).fit(data, cat)
    assert model.share == 0.0 and [t["share"] for t in model.report["trials"]] == [0.0]


def reference_best(rows: np.ndarray, items: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` best positions as found before: one full sort by (row, -value, item)."""
    order = np.lexsort((items, -values, rows))
    r = rows[order]
    starts = np.searchsorted(r, r, side="left")
    return order[np.arange(len(r)) - starts < k]


@pytest.mark.parametrize("seed", range(6))
def test_each_rows_best_are_the_same_positions_in_the_same_order_as_before(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_rows, n = 40, 300
    dense = rng.random((n_rows, n)) < rng.uniform(0.02, 0.6, size=(n_rows, 1))  # rows shorter and longer than k
    rows, items = np.nonzero(dense)
    values = np.round(rng.normal(size=len(rows)), 1)  # many ties, at the cut too
    values[::7] = -0.0 if seed % 2 else 0.0
    for k in (1, 5, 30, 150):
        got = best_per_row(rows.astype(np.int64), items.astype(np.int64), values, k)
        assert np.array_equal(got, reference_best(rows, items, values, k))
    shuffled = rng.permutation(len(rows))  # not grouped: the full sort, as before
    r, i, v = rows[shuffled], items[shuffled], values[shuffled]
    assert np.array_equal(best_per_row(r, i, v, 10), reference_best(r, i, v, 10))
