"""Recency weighting against its definition, row by row: the item at age ``a`` (0 = the newest distinct item, ties
by item index) is multiplied by ``decay ** a`` and by ``0.5 ** (days older than the row's newest event /
half_life_days)``, never below ``floor``; without times a row is left as it is. The ranker's request path weighs
the same rows for several configs at once (``recency.weigh``) and must give the same rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.recommend.recency import RecencyConfig, ages, decayed, newest_item, weigh

DAY = 86400.0
CONFIGS = {
    "plain": RecencyConfig(),
    "decay": RecencyConfig(decay=0.8),
    "both": RecencyConfig(decay=0.5, half_life_days=2.0, floor=0.1),
    "half-life": RecencyConfig(half_life_days=1.0),
}


@st.composite
def rows(draw: st.DrawFn) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    n_rows, n_items = draw(st.integers(1, 6)), draw(st.integers(1, 12))
    cells = draw(st.lists(st.tuples(st.integers(0, n_rows - 1), st.integers(0, n_items - 1)), max_size=40, unique=True))
    r = np.asarray([c[0] for c in cells], dtype=np.int64)
    c = np.asarray([c[1] for c in cells], dtype=np.int64)
    counts = draw(st.lists(st.integers(1, 3), min_size=len(cells), max_size=len(cells)))
    h = sp.csr_matrix((np.asarray(counts, np.float32), (r, c)), shape=(n_rows, n_items))
    h.sort_indices()
    if draw(st.booleans()):
        return h, None
    # few distinct times, 0 (unknown) among them, so that ties and unknown times happen
    stamps = draw(
        st.lists(st.sampled_from([0.0, 1e9, 1e9 + DAY, 1e9 + 3.5 * DAY]), min_size=len(cells), max_size=len(cells))
    )
    t = sp.csr_matrix((np.asarray(stamps, np.float64), (r, c)), shape=(n_rows, n_items))
    t.sort_indices()
    return h, t


def by_definition(
    h: sp.csr_matrix, t: sp.csr_matrix | None, cfg: RecencyConfig
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """The weighted rows, each row's newest item (-1: empty) and each entry's age (dense, -1 where none), one row
    and one entry at a time."""
    out = h.toarray().astype(np.float64)
    newest = []
    ages_of = np.full(h.shape, -1.0)
    timed = t is not None and bool((t.data > 0).any())
    for r in range(h.shape[0]):
        items = h.indices[h.indptr[r] : h.indptr[r + 1]].tolist()
        when = {j: (float(t[r, j]) if t is not None else 0.0) for j in items}
        order = sorted(items, key=lambda j: (-when[j], j))  # newest first, ties by item index
        newest.append(order[0] if order else -1)
        for age, j in enumerate(order):
            ages_of[r, j] = age
        if not cfg.active or not timed:
            continue
        latest = max(when.values(), default=0.0)
        for age, j in enumerate(order):
            w = cfg.decay**age
            if cfg.half_life_days is not None:
                w *= 0.5 ** (max(latest - when[j], 0.0) / DAY / cfg.half_life_days)
            out[r, j] *= max(w, cfg.floor)
    return out, newest, ages_of


@settings(max_examples=150, deadline=None)
@given(rows())
def test_weighting_follows_the_definition(case: tuple[sp.csr_matrix, sp.csr_matrix | None]) -> None:
    h, t = case
    weighted, newest = weigh(h, t, CONFIGS)
    for key, cfg in CONFIGS.items():
        expect, first, age = by_definition(h, t, cfg)
        np.testing.assert_allclose(decayed(h, t, cfg).toarray(), expect, rtol=1e-6, err_msg=key)
        np.testing.assert_allclose(weighted[key].toarray(), expect, rtol=1e-6, err_msg=key)
        assert newest.tolist() == first
        assert newest_item(h, t).tolist() == first
    found = ages(h, t)
    assert np.array_equal(np.where(h.toarray() > 0, found.toarray(), -1.0), age)
