"""Filters and re-ranking as plain functions: exclusions, availability, pin/boost/bury, MMR, reasons.

>>> f = Filters(exclude_items=["a"], boost={"c": 2.0})
>>> f.exclude_seen
True
>>> Filters.model_validate_json(f.model_dump_json()) == f
True
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pertinent.recommend.config import positive_factors
from pertinent.recommend.primitives import Context, Recommendation

if TYPE_CHECKING:
    from pertinent.recommend.base import Recommender


class Filters(BaseModel):
    """What may be recommended and how the list is re-ranked.

    ``boost`` multiplies an item's normalised score (factor > 1 lifts it), ``boost_categories`` does
    the same for every item of a category (factors multiply), ``bury`` / ``bury_categories`` move items
    below every other candidate, ``pin`` puts items first in the given order (if allowed at all),
    ``diversity`` > 0 turns on MMR re-ranking (0 = pure relevance, 1 = pure novelty).
    """

    model_config = ConfigDict(extra="forbid")

    exclude_seen: bool = True
    include_categories: list[str] = Field(default_factory=list)
    exclude_categories: list[str] = Field(default_factory=list)
    exclude_items: list[str] = Field(default_factory=list)
    only_available: bool = True
    at: datetime | None = None
    pin: list[str] = Field(default_factory=list)
    boost: dict[str, float] = Field(default_factory=dict)
    boost_categories: dict[str, float] = Field(default_factory=dict)
    bury: list[str] = Field(default_factory=list)
    bury_categories: list[str] = Field(default_factory=list)
    diversity: float = Field(default=0.0, ge=0.0, le=1.0)
    candidate_pool: int = Field(default=100, ge=1)

    check_factors = field_validator("boost", "boost_categories")(positive_factors)

    @property
    def reweights(self) -> bool:
        return bool(self.boost or self.boost_categories or self.bury or self.bury_categories)


def allowed_mask(model: Recommender, filters: Filters) -> np.ndarray:
    """Items that pass the catalogue rules (availability, categories, exclude list)."""
    n = model.n_items
    mask = np.ones(n, dtype=bool)
    cat = getattr(model, "catalogue", None)
    if cat is not None:
        ids = model.item_ids
        if filters.only_available:
            mask &= cat.available(ids, filters.at)
        if filters.include_categories:
            mask &= cat.in_categories(filters.include_categories, ids)
        if filters.exclude_categories:
            mask &= ~cat.in_categories(filters.exclude_categories, ids)
    elif filters.include_categories:
        mask[:] = False  # no catalogue: nothing is known to be in the category
    for item in filters.exclude_items:
        j = model.item_index.get(str(item))
        if j is not None:
            mask[j] = False
    return mask


def rule_factors(model: Recommender, filters: Filters) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-item boost factors (None without boosts) and the mask of buried items (None without burials)."""
    cat = getattr(model, "catalogue", None)
    factor = None
    if filters.boost or filters.boost_categories:
        factor = np.ones(model.n_items, dtype=np.float32)
        if cat is not None:
            for category, f in filters.boost_categories.items():
                factor[cat.in_categories([category], model.item_ids)] *= f
        for item, f in filters.boost.items():
            j = model.item_index.get(str(item))
            if j is not None:
                factor[j] *= f
    buried = None
    if filters.bury or filters.bury_categories:
        buried = np.zeros(model.n_items, dtype=bool)
        if cat is not None and filters.bury_categories:
            buried |= cat.in_categories(filters.bury_categories, model.item_ids)
        for item in filters.bury:
            j = model.item_index.get(str(item))
            if j is not None:
                buried[j] = True
    return factor, buried


def _adjust(model: Recommender, scores: np.ndarray, filters: Filters) -> np.ndarray:
    """Apply boost/bury on min-max normalised scores (rows = users)."""
    if not filters.reweights:
        return scores
    factor, buried = rule_factors(model, filters)
    finite = np.where(np.isfinite(scores), scores, np.nan)
    with np.errstate(all="ignore"):  # rows without any allowed item are all -inf
        lo = np.nanmin(finite, axis=1, keepdims=True)
        hi = np.nanmax(finite, axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = (scores - lo) / span + 1.0  # in [1, 2]: multiplying keeps the order meaningful
    if factor is not None:
        out *= factor
    if buried is not None:
        out[:, buried] = np.where(np.isfinite(out[:, buried]), out[:, buried] * 1e-6 - 1.0, out[:, buried])
    return np.asarray(out)


def top_k_matrix(
    model: Recommender, scores: np.ndarray, rows: sp.csr_matrix, k: int, filters: Filters
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item indices and scores per row, after exclusions (-inf marks "no item")."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    mask = allowed_mask(model, filters)
    scores[:, ~mask] = -np.inf
    if filters.exclude_seen:
        if not sp.isspmatrix_csr(rows):
            rows = sp.csr_matrix(rows)
        if rows.shape[0] == 1:  # one user (serving): the row's columns, without building a row index
            scores[0, rows.indices[rows.indptr[0] : rows.indptr[1]]] = -np.inf
        else:
            scores[np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr)), rows.indices] = -np.inf
    scores = _adjust(model, scores, filters)
    k = min(k, scores.shape[1])
    if scores.shape[0] == 1:  # the same selection on the 1-d row (take_along_axis costs more than the rest)
        row = scores[0]
        top = np.argpartition(-row, k - 1)[:k]
        top_vals = row[top]
        order1 = np.argsort(-top_vals, kind="stable")
        return top[order1][None, :], top_vals[order1][None, :]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(vals, order, axis=1)


def rank(
    model: Recommender,
    scores: np.ndarray,
    row: sp.csr_matrix,
    *,
    k: int,
    filters: Filters,
    context: Context | None = None,
    with_reasons: bool = True,
) -> list[Recommendation]:
    """One user's list: filter, boost/bury, optional MMR, pins, reasons.

    Each item's ``rule`` names the business rule that moved it: ``pin``, ``boost`` (factor above 1),
    ``demote`` (factor below 1) or ``bury``; pinned items get the reason "pinned".
    """
    pool = max(k, filters.candidate_pool) if filters.diversity > 0 else k
    idx, vals = top_k_matrix(model, scores[None, :], row, pool + len(filters.pin), filters)
    idx, vals = idx[0], vals[0]
    keep = np.isfinite(vals)
    idx, vals = idx[keep], vals[keep]
    if filters.diversity > 0 and len(idx) > 1:
        order = mmr(model, idx, vals, k, filters.diversity)
        idx, vals = idx[order], vals[order]
    pinned: list[int] = []
    if filters.pin:
        allowed = allowed_mask(model, filters)
        seen = set(row.indices.tolist()) if filters.exclude_seen else set()
        for item in filters.pin:
            j = model.item_index.get(str(item))
            if j is not None and allowed[j] and j not in seen and j not in pinned:
                pinned.append(j)
        rest = [(i, v) for i, v in zip(idx.tolist(), vals.tolist(), strict=True) if i not in pinned]
        top = float(vals[0]) if len(vals) else 1.0
        idx = np.asarray(pinned + [i for i, _ in rest], dtype=np.int64)
        vals = np.asarray([top] * len(pinned) + [v for _, v in rest], dtype=np.float32)
    idx, vals = idx[:k], vals[:k]
    reasons = model.because(row, idx, context) if with_reasons else [""] * len(idx)
    rules: list[str | None] = [None] * len(idx)
    if filters.reweights:
        factor, buried = rule_factors(model, filters)
        for r, i in enumerate(idx.tolist()):
            if buried is not None and buried[i]:
                rules[r] = "bury"
            elif factor is not None and factor[i] != 1.0:
                rules[r] = "boost" if factor[i] > 1.0 else "demote"
    pinned_set = set(pinned)
    ids = model.fitted_item_ids
    return [
        Recommendation(
            str(ids[i]),
            float(v),
            r + 1,
            "pinned" if i in pinned_set else reasons[r],
            "pin" if i in pinned_set else rules[r],
        )
        for r, (i, v) in enumerate(zip(idx.tolist(), vals.tolist(), strict=True))
    ]


def candidate_similarity(model: Recommender, idx: np.ndarray) -> np.ndarray:
    """Pairwise similarity (0..1, symmetric, diagonal 1) of the candidate items ``idx``.

    From the model's item-item similarity when it has one (each row scaled by its largest value among the
    candidates), else from shared catalogue categories (cosine of category sets), else all zero.
    """
    n = len(idx)
    pairs = model.pair_similarity(idx)
    if pairs is not None:
        sim = np.maximum(np.asarray(pairs, dtype=np.float32), 0.0)
        np.fill_diagonal(sim, 0.0)
        top = sim.max(axis=1, keepdims=True)
        sim = sim / np.where(top > 0, top, 1.0)
        sim = np.maximum(sim, sim.T)
    else:
        sim = np.zeros((n, n), dtype=np.float32)
        cat = getattr(model, "catalogue", None)
        if cat is not None:
            from sklearn.preprocessing import MultiLabelBinarizer

            cats = cat.aligned(model.fitted_item_ids[idx])["categories"]
            onehot = MultiLabelBinarizer(sparse_output=True).fit_transform([list(c) for c in cats])
            if onehot.shape[1]:
                onehot = sp.csr_matrix(onehot, dtype=np.float32)
                norms = np.sqrt(np.asarray(onehot.multiply(onehot).sum(axis=1)).ravel())
                onehot = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ onehot
                sim = np.asarray((onehot @ onehot.T).toarray(), dtype=np.float32)
    np.fill_diagonal(sim, 1.0)
    return sim


def mmr(model: Recommender, idx: np.ndarray, vals: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Maximal Marginal Relevance order over candidates ``idx`` (positions into ``idx``).

    Relevance is the min-max normalised score; redundancy the largest similarity of a candidate to those
    already chosen (:func:`candidate_similarity`).
    """
    n = len(idx)
    rel = (vals - vals.min()) / (vals.max() - vals.min() or 1.0)
    sim = candidate_similarity(model, idx)
    chosen: list[int] = [int(np.argmax(rel))]
    redundancy = sim[:, chosen[0]].copy()
    left = np.ones(n, dtype=bool)
    left[chosen[0]] = False
    while left.any() and len(chosen) < k:
        gain = np.where(left, (1 - diversity) * rel - diversity * redundancy, -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        left[best] = False
        np.maximum(redundancy, sim[:, best], out=redundancy)
    rest = np.flatnonzero(left)
    rest = rest[np.argsort(-rel[rest], kind="stable")]
    return np.asarray(chosen + rest.tolist(), dtype=np.int64)


def strongest_source(
    history: sp.csr_matrix, items: np.ndarray, weight_of: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> list[int]:
    """For each item, the history item that contributes most (``weight_of(src_idx, items)`` gives a
    len(src) x len(items) matrix), or -1 when none contributes."""
    src = history.indices
    if len(src) == 0 or len(items) == 0:
        return [-1] * len(items)
    w = np.asarray(weight_of(src, items), dtype=np.float64) * history.data[:, None]
    best = np.argmax(w, axis=0)
    return [int(src[b]) if w[b, c] > 0 else -1 for c, b in enumerate(best)]
