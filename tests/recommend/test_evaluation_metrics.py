"""Metric code checked against ranx on the same rankings; split invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.evaluation import leave_last_out, random_holdout, temporal_split
from pertinent.evaluation.metrics import ndcg_of_groups, ndcg_of_scores, ranking_metrics
from pertinent.recommend import Interactions


def random_case(seed: int, n_users: int = 40, n_items: int = 50, k: int = 10):
    rng = np.random.default_rng(seed)
    ranked = np.vstack([rng.choice(n_items, size=k, replace=False) for _ in range(n_users)])
    rel = sp.lil_matrix((n_users, n_items))
    for u in range(n_users):
        for i in rng.choice(n_items, size=rng.integers(1, 12), replace=False):
            rel[u, i] = 1
    return ranked, sp.csr_matrix(rel)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.slow  # ranx compiles its numba kernels on first use (minutes on a cold cache)
def test_metrics_match_ranx(seed: int) -> None:
    ranx = pytest.importorskip("ranx")
    ranked, rel = random_case(seed)
    k = ranked.shape[1]
    qrels = {f"q{u}": {f"d{i}": 1 for i in rel[u].indices} for u in range(rel.shape[0])}
    run = {f"q{u}": {f"d{i}": float(k - r) for r, i in enumerate(ranked[u])} for u in range(rel.shape[0])}
    names = {
        "precision": f"precision@{k}",
        "recall": f"recall@{k}",
        "map": f"map@{k}",
        "ndcg": f"ndcg@{k}",
        "hit_rate": f"hit_rate@{k}",
        "mrr": f"mrr@{k}",
    }
    expected = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), list(names.values()))
    ours = ranking_metrics(ranked, rel, k)
    for ours_name, ranx_name in names.items():
        assert ours[ours_name] == pytest.approx(expected[ranx_name], abs=1e-6), ours_name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ndcg_of_scores_is_the_ndcg_of_the_top_k_of_the_unseen_items(seed: int) -> None:
    """Training's NDCG of a score matrix (seen items excluded) agrees with the metric of the ranked lists."""
    rng = np.random.default_rng(seed)
    _, truth = random_case(seed, n_users=30, n_items=40)
    seen = sp.csr_matrix((rng.random((30, 40)) < 0.1) & (truth.toarray() == 0))
    scores = rng.random((30, 40))
    masked = np.where(seen.toarray() > 0, -np.inf, scores)
    ranked = np.argsort(-masked, axis=1, kind="stable")[:, :10]
    per_user = ndcg_of_scores(scores, seen, truth, k=10)
    assert per_user.shape == (30,)
    assert np.isclose(per_user.mean(), ranking_metrics(ranked, truth, k=10)["ndcg"])
    empty = ndcg_of_scores(scores[:2], seen[:2], sp.csr_matrix((2, 40)), k=10)
    assert empty.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ndcg_of_groups_is_each_groups_per_user_ndcg(seed: int) -> None:
    """The learned ranker's NDCG of candidate groups (consecutive rows of varying sizes) agrees group by group with
    the per-user NDCG of the same scores as one user's row; k beyond a group's size too."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, size=25)
    scores = rng.random(int(sizes.sum()))
    labels = (rng.random(int(sizes.sum())) < 0.15).astype(np.int64)
    for k in (5, 10, 40):
        grouped = ndcg_of_groups(scores, labels, sizes, k=k)
        assert grouped.shape == (25,)
        start = 0
        for g, size in enumerate(sizes.tolist()):
            s, rel = scores[start : start + size], labels[start : start + size]
            start += size
            one = ndcg_of_scores(s[None, :], sp.csr_matrix((1, size)), sp.csr_matrix(rel[None, :]), k=k)
            assert grouped[g] == pytest.approx(one[0], abs=1e-6), (k, g)
    assert ndcg_of_groups(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), k=10).shape == (0,)


def test_ndcg_of_groups_keeps_the_rows_order_on_ties_and_ranks_nan_scores_last() -> None:
    # group 1: the relevant candidate has no score (NaN), behind the scored one; group 2 is longer, all tied: its
    # first row ranks first; group 3: the relevant row is third of three tied ones, past k=2
    scores = np.array([np.nan, 0.1, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0])
    out = ndcg_of_groups(scores, np.array([1, 0, 1, 0, 0, 0, 0, 1]), np.array([2, 3, 3]), k=2)
    assert out.round(4).tolist() == [0.6309, 1.0, 0.0]


def test_coverage_and_novelty() -> None:
    ranked = np.array([[0, 1], [0, 2]])
    rel = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 1, 0]]))
    counts = np.array([10, 1, 1, 0])
    m = ranking_metrics(ranked, rel, 2, item_counts=counts, n_items=4, n_train_users=10)
    assert m["coverage"] == pytest.approx(3 / 4)
    # popular item 0 (p=1) adds no novelty; items 1 and 2 (p=0.1) add log2(10) each
    assert m["novelty"] == pytest.approx(2 * np.log2(10) / 4)


def test_no_relevant_users_gives_nan_not_crash() -> None:
    m = ranking_metrics(np.array([[0, 1]]), sp.csr_matrix((1, 3)), 2)
    assert np.isnan(m["ndcg"])


def frame(n_users: int = 30, per_user: int = 10, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i}", float(t))
        for u in range(n_users)
        for t, i in enumerate(rng.choice(40, per_user, replace=False))
    ]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item", "ts"]), timestamp_col="ts")


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0.05, 0.95), seed=st.integers(0, 10_000), per_user=st.integers(1, 12))
def test_random_holdout_partitions_each_users_items(fraction: float, seed: int, per_user: int) -> None:
    data = frame(n_users=8, per_user=per_user, seed=seed % 7)
    split = random_holdout(data, fraction=fraction, seed=seed, min_interactions=5)
    train, test = split.train.matrix, split.test
    assert (train.multiply(test)).nnz == 0
    assert train.nnz + test.nnz == data.matrix.nnz
    for u in range(data.n_users):
        n = data.matrix[u].nnz
        expected = max(1, round(fraction * n)) if n >= 5 else 0
        assert test[u].nnz == min(expected, n)


def test_random_holdout_is_reproducible_and_rejects_bad_fraction() -> None:
    data = frame()
    a, b = random_holdout(data, seed=3), random_holdout(data, seed=3)
    assert (a.test != b.test).nnz == 0
    with pytest.raises(ValueError, match="fraction"):
        random_holdout(data, fraction=1.5)


def test_leave_last_out_holds_out_the_latest_item() -> None:
    data = frame()
    split = leave_last_out(data)
    ev = data.events
    for u in range(data.n_users):
        last = ev[ev.user == u].sort_values("timestamp")["item"].iloc[-1]
        assert split.test[u].indices.tolist() == [last]
        assert split.train.matrix[u, last] == 0


def test_temporal_split_is_a_time_cut() -> None:
    data = frame()
    split = temporal_split(data, fraction=0.3)
    ev = data.events
    cut = split.train.events["timestamp"].max()
    later = ev[ev.timestamp > cut]
    assert len(later) > 0 and split.test.nnz <= len(later)
    assert (split.train.matrix.multiply(split.test)).nnz == 0


def test_time_splits_need_timestamps() -> None:
    data = Interactions.from_frame(pd.DataFrame({"user": ["a"], "item": ["x"]}))
    with pytest.raises(ValueError, match="timestamp"):
        leave_last_out(data)
