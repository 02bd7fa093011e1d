"""Rank fusion of the learned ranking with an anchor generator's (reciprocal-rank fusion, weighted).

The learned ranking answers "what comes next" (its labels are each user's newest items); an anchor such as plain
EASE answers "what else does this user like". ``fuse`` mixes their orders per row: an item at rank ``r1`` in the
ranker and ``r2`` in the anchor scores ``(1 - w) / (k + r1) + w / (k + r2)`` (ranks from 0, the row's seen items
ranked last in both).

>>> import numpy as np, scipy.sparse as sp
>>> ranker = np.array([[3.0, 2.0, 1.0, 0.0]])
>>> anchor = np.array([[0.0, 1.0, 2.0, 3.0]])
>>> seen = sp.csr_matrix(np.array([[0.0, 0.0, 0.0, 1.0]]))
>>> fuse(ranker, anchor, seen, 0.0).argmax(), fuse(ranker, anchor, seen, 1.0).argmax()
(np.int64(0), np.int64(2))
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def ranks(scores: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    """0-based descending rank of each item in its row, the row's seen items after every other item."""
    s = np.array(scores, dtype=np.float64, copy=True)
    h = sp.csr_matrix(seen)
    s[np.repeat(np.arange(h.shape[0]), np.diff(h.indptr)), h.indices] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")
    out = np.empty(s.shape, dtype=np.float64)
    np.put_along_axis(out, order, np.broadcast_to(np.arange(s.shape[1], dtype=np.float64), s.shape), axis=1)
    return out


def fuse(ranker: np.ndarray, anchor: np.ndarray, seen: sp.csr_matrix, weight: float, k: float = 20.0) -> np.ndarray:
    """Weighted reciprocal-rank fusion of two score matrices (rows x items), as float32."""
    fused = (1.0 - weight) / (k + ranks(ranker, seen)) + weight / (k + ranks(anchor, seen))
    return fused.astype(np.float32)
