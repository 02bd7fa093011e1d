"""Ranking metrics with binary relevance, vectorised over users.

``ranked`` is an (n_users x k) array of item indices (-1 = no item), ``relevant`` a CSR matrix of
the same users' held-out items. Definitions follow ``ranx`` (checked against it in the tests):
recall and MAP divide by the number of relevant items, NDCG's ideal list has min(n_rel, k) hits.

>>> import numpy as np, scipy.sparse as sp
>>> rel = sp.csr_matrix(np.array([[0, 1, 1, 0]]))
>>> m = ranking_metrics(np.array([[1, 0, 3]]), rel, k=3)
>>> round(m["precision"], 3), m["recall"], m["hit_rate"], m["mrr"]
(0.333, 0.5, 1.0, 1.0)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def hits_matrix(ranked: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean (n_users x k): whether the item at each rank is relevant."""
    n, k = ranked.shape
    rows = np.repeat(np.arange(n), k)
    cols = ranked.ravel()
    valid = cols >= 0
    out = np.zeros(n * k, dtype=bool)
    if valid.any():
        out[valid] = np.asarray(relevant[rows[valid], cols[valid]]).ravel() > 0
    return out.reshape(n, k)


def ndcg_from_hits(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """Per-user NDCG of an (n_users x k) hits matrix, ``n_rel`` (at least 1) relevant items per user: the ideal
    list has min(n_rel, k) hits.

    >>> ndcg_from_hits(np.array([[0, 1], [1, 0]]), np.array([1, 1])).round(4).tolist()
    [0.6309, 1.0]
    """
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    ideal = np.cumsum(discount)[np.minimum(n_rel, hits.shape[1]) - 1]
    ndcg: np.ndarray = (hits * discount).sum(axis=1) / ideal
    return ndcg


def ndcg_of_scores(scores: np.ndarray, seen: sp.csr_matrix, truth: sp.csr_matrix, k: int) -> np.ndarray:
    """Per-user NDCG@k (binary relevance) of a dense (n_users x n_items) score matrix, each user's ``seen``
    items excluded; a user without held-out items scores 0. What training compares candidate settings with.

    >>> seen, truth = sp.csr_matrix(np.array([[1, 0, 0]])), sp.csr_matrix(np.array([[0, 0, 1]]))
    >>> ndcg_of_scores(np.array([[0.9, 0.5, 0.1]]), seen, truth, k=2).round(4).tolist()
    [0.6309]
    """
    s = np.array(scores, dtype=np.float32, copy=True)
    r, c = seen.nonzero()
    s[r, c] = -np.inf
    kk = min(k, s.shape[1])
    part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    ranked = np.take_along_axis(part, order, axis=1)
    return ndcg_from_hits(hits_matrix(ranked, truth), np.maximum(np.diff(truth.indptr), 1))


def ndcg_of_groups(scores: np.ndarray, relevant: np.ndarray, sizes: np.ndarray, k: int) -> np.ndarray:
    """Per-group NDCG@k (binary relevance) of candidates listed group after group: ``sizes`` holds each group's
    number of consecutive rows (LightGBM's ``group``), ``relevant`` each row's label (above 0: relevant). The ideal
    list has min(relevant candidates, k) hits; a group without a relevant candidate scores 0, ties keep the rows'
    order and NaN scores rank last. What the learned ranker compares itself with its generators on.

    >>> ndcg_of_groups(np.array([0.9, 0.1, 0.5, 0.2, 0.3]), np.array([0, 1, 1, 0, 0]), np.array([2, 2, 1]), k=10)
    ... # doctest: +ELLIPSIS
    array([0.6309..., 1.        , 0.        ])
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n = len(sizes)
    if n == 0:
        return np.zeros(0)
    rows = np.repeat(np.arange(n), sizes)
    cols = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    width = int(sizes.max())
    padded = np.full((n, width), np.nan)  # padding sorts after every score (NaN scores too: a stable sort)
    padded[rows, cols] = scores
    rel = np.zeros((n, width), dtype=bool)
    rel[rows, cols] = np.asarray(relevant) > 0
    top = np.argsort(-padded, axis=1, kind="stable")[:, : min(k, width)]
    n_rel = rel.sum(axis=1)
    out = np.zeros(n)
    some = n_rel > 0
    out[some] = ndcg_from_hits(np.take_along_axis(rel, top, axis=1)[some], n_rel[some])
    return out


def ranking_metrics(
    ranked: np.ndarray,
    relevant: sp.csr_matrix,
    k: int | None = None,
    item_counts: np.ndarray | None = None,
    n_items: int | None = None,
    n_train_users: int | None = None,
) -> dict[str, float]:
    """Mean Precision@K, Recall@K, MAP@K, NDCG@K, HitRate@K, MRR@K over users with relevant items,
    plus catalogue coverage and novelty (mean -log2 popularity) when item counts are given."""
    ranked = np.asarray(ranked)
    k = ranked.shape[1] if k is None else k
    ranked = ranked[:, :k]
    relevant = sp.csr_matrix(relevant)
    n_rel = np.diff(relevant.indptr)
    users = n_rel > 0
    out: dict[str, float] = {}
    if not users.any():
        return {name: float("nan") for name in ("precision", "recall", "map", "ndcg", "hit_rate", "mrr")}
    ranked, relevant, n_rel = ranked[users], relevant[users], n_rel[users]
    hits = hits_matrix(ranked, relevant).astype(np.float64)
    n_hits = hits.sum(axis=1)
    ranks = np.arange(1, hits.shape[1] + 1)
    prec_at = np.cumsum(hits, axis=1) / ranks
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    out["precision"] = float(np.mean(n_hits / k))
    out["recall"] = float(np.mean(n_hits / n_rel))
    out["map"] = float(np.mean((prec_at * hits).sum(axis=1) / n_rel))
    out["ndcg"] = float(np.mean(ndcg_from_hits(hits, n_rel)))
    out["hit_rate"] = float(np.mean(n_hits > 0))
    out["mrr"] = float(np.mean(1.0 / first))
    if item_counts is not None:
        n_items = n_items or len(item_counts)
        rec = ranked[ranked >= 0]
        out["coverage"] = float(len(np.unique(rec)) / max(n_items, 1))
        total = n_train_users or max(int(item_counts.max(initial=0)), 1)
        p = np.maximum(item_counts[rec], 1) / total
        out["novelty"] = float(np.mean(-np.log2(p))) if len(rec) else float("nan")
    return out
