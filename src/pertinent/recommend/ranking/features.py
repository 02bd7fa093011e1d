"""Features of (user, candidate item) pairs for the ranker: item popularity over several windows, item age, the
user's recency, history and session length, category affinity and price relative to the user's usual spend.

Item statistics are computed once from the training data (``ItemStats.fit``) relative to its newest event; user
features are read from the history row and its times at request time.

>>> import numpy as np, pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u1", "u1", "u2"], "item": ["a", "b", "a"], "t": [0, 86400, 2 * 86400]})
>>> stats = ItemStats.fit(Interactions.from_frame(df, timestamp_col="t"))
>>> stats.counts["pop_all"].tolist(), stats.counts["pop_1d"].tolist(), stats.columns()["item_age_days"].tolist()
([2.0, 1.0], [1.0, 1.0], [2.0, 1.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pertinent.recommend.ranking.retrieval import ranges
from pertinent.recommend.recency import aligned

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions

WINDOWS_DAYS = (1, 7, 30)
ITEM_FEATURES = ("pop_all", *(f"pop_{d}d" for d in WINDOWS_DAYS), "item_age_days", "item_idle_days")
USER_FEATURES = ("hist_len", "user_idle_days", "session_len", "hist_mean_pop")
PAIR_FEATURES = ("category_affinity", "price_ratio")
# relative to the user's own newest event rather than to the data's newest (``RankerConfig.user_time_features``)
USER_TIME_FEATURES = ("item_born_rel_days", "item_pop_user_30d", "hist_span_days")


@dataclass
class ItemStats:
    """Per-item statistics as of ``now`` (the newest training event), the item x category matrix and prices; with
    ``event_keys``, every training event's (item, time) too, which ``count_between`` reads (the user-relative time
    features: 8 bytes per event, kept only when those features are asked for)."""

    now: float
    counts: dict[str, np.ndarray]
    first: np.ndarray
    last: np.ndarray
    categories: sp.csr_matrix
    category_names: np.ndarray
    price: np.ndarray
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted item << 32 | (t - t0)
    t0: float = 0.0

    @classmethod
    def fit(cls, data: Interactions, catalogue: Catalogue | None = None, event_keys: bool = False) -> ItemStats:
        ev = data.events
        n = data.n_items
        items = ev["item"].to_numpy()
        counts = {"pop_all": np.bincount(items, minlength=n).astype(np.float32)}
        first = np.full(n, np.nan)
        last = np.full(n, np.nan)
        now = 0.0
        if "timestamp" in ev.columns and len(ev):
            t = ev["timestamp"].to_numpy(np.float64)
            now = float(np.nanmax(t))
            for d in WINDOWS_DAYS:
                recent = t >= now - d * 86400.0
                counts[f"pop_{d}d"] = np.bincount(items[recent], minlength=n).astype(np.float32)
            g = ev.groupby("item")["timestamp"]
            lo, hi = g.min(), g.max()
            first[lo.index.to_numpy()] = lo.to_numpy(np.float64)
            last[hi.index.to_numpy()] = hi.to_numpy(np.float64)
        else:
            for d in WINDOWS_DAYS:
                counts[f"pop_{d}d"] = np.full(n, np.nan, dtype=np.float32)
        keys, t0 = np.zeros(0, np.int64), 0.0
        if event_keys and "timestamp" in ev.columns and len(ev):
            t = ev["timestamp"].to_numpy(np.float64)
            t0 = float(np.nanmin(t))
            rel = np.nan_to_num(t - t0).astype(np.int64).clip(0, 2**32 - 1)
            keys = np.sort((items.astype(np.int64) << 32) | rel)
        cats = sp.csr_matrix((n, 0), dtype=np.float32)
        names = np.zeros(0, dtype=str)
        price = np.full(n, np.nan)
        if catalogue is not None:
            frame = catalogue.aligned(data.item_ids)
            if "categories" in frame.columns:
                lists = [list(c) if isinstance(c, list | tuple | np.ndarray) else [] for c in frame["categories"]]
                names = np.asarray(sorted({c for cs in lists for c in cs}), dtype=str)
                index = {c: i for i, c in enumerate(names.tolist())}
                rows = np.repeat(np.arange(n), [len(cs) for cs in lists])
                cols = np.asarray([index[c] for cs in lists for c in cs], dtype=np.int64)
                cats = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(n, len(names)))
            if "price" in frame.columns:
                import pandas as pd

                price = pd.to_numeric(frame["price"], errors="coerce").to_numpy(np.float64)
                price = np.where(price > 0, price, np.nan)
        return cls(now, counts, first, last, cats, names, price, keys, t0)

    def count_between(self, items: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Events of each item with ``lo <= t <= hi`` (seconds), in the training data (NaN: fitted without
        ``event_keys`` or without times)."""
        if not len(self.keys):
            return np.full(len(items), np.nan)
        base = items.astype(np.int64) << 32
        a = np.clip(np.nan_to_num(lo - self.t0), 0, 2**32 - 1).astype(np.int64)
        b = np.clip(np.nan_to_num(hi - self.t0), 0, 2**32 - 1).astype(np.int64)
        out = np.searchsorted(self.keys, base | b, side="right") - np.searchsorted(self.keys, base | a, side="left")
        return out.astype(np.float64)

    def columns(self) -> dict[str, np.ndarray]:
        """The per-item features (log counts, ages in days; NaN when unknown)."""
        out = {k: np.log1p(v) for k, v in self.counts.items()}
        out["item_age_days"] = (self.now - self.first) / 86400.0
        out["item_idle_days"] = (self.now - self.last) / 86400.0
        return out

    def state(self) -> dict[str, Any]:
        return {
            "now": np.asarray(self.now),
            "counts": dict(self.counts),
            "first": self.first,
            "last": self.last,
            "categories": self.categories,
            "category_names": self.category_names,
            "price": self.price,
            "keys": self.keys,
            "t0": np.asarray(self.t0),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ItemStats:
        return cls(
            float(state["now"]),
            {k: np.asarray(v) for k, v in state["counts"].items()},
            state["first"],
            state["last"],
            sp.csr_matrix(state["categories"]),
            np.asarray(state["category_names"]),
            state["price"],
            np.asarray(state.get("keys", np.zeros(0, np.int64)), dtype=np.int64),
            float(state.get("t0", 0.0)),
        )


def user_features(
    history: sp.csr_matrix, times: Any, stats: ItemStats, now: float, session_gap_s: float
) -> dict[str, np.ndarray]:
    """Per history row: its length, days since its newest event, events in its last session, mean popularity."""
    h = sp.csr_matrix(history)
    lengths = np.diff(h.indptr).astype(np.float64)
    rows = np.repeat(np.arange(h.shape[0]), np.diff(h.indptr))
    t = aligned(h, times)
    newest = np.zeros(h.shape[0])
    np.maximum.at(newest, rows, t)
    idle = np.where(newest > 0, (now - newest) / 86400.0, np.nan)
    in_session = (t > 0) & (t >= newest[rows] - session_gap_s)
    session = np.bincount(rows, weights=in_session, minlength=h.shape[0])
    pop = np.log1p(stats.counts["pop_all"])[h.indices]
    mean_pop = np.bincount(rows, weights=pop, minlength=h.shape[0]) / np.maximum(lengths, 1)
    return {"hist_len": lengths, "user_idle_days": idle, "session_len": session, "hist_mean_pop": mean_pop}


def user_time_features(
    history: sp.csr_matrix, times: Any, rows: np.ndarray, items: np.ndarray, stats: ItemStats
) -> dict[str, np.ndarray]:
    """Time features relative to each user's own newest event: the candidate's first appearance (days after it;
    negative when older), its events in the 30 days up to it (log), and the span of the user's history (days).
    NaN without times."""
    h = sp.csr_matrix(history)
    hrows = np.repeat(np.arange(h.shape[0]), np.diff(h.indptr))
    t = aligned(h, times)
    newest = np.zeros(h.shape[0])
    np.maximum.at(newest, hrows, t)
    oldest = np.full(h.shape[0], np.inf)
    np.minimum.at(oldest, hrows, np.where(t > 0, t, np.inf))
    known = newest > 0
    span = np.where(known & np.isfinite(oldest), (newest - oldest) / 86400.0, np.nan)
    u = np.where(known, newest, np.nan)[rows]
    born = (stats.first[items] - u) / 86400.0
    near = np.log1p(stats.count_between(items, u - 30 * 86400.0, u))
    near = np.where(np.isfinite(u), near, np.nan)
    return {"item_born_rel_days": born, "item_pop_user_30d": near, "hist_span_days": span[rows]}


def pair_features(
    history: sp.csr_matrix, rows: np.ndarray, items: np.ndarray, stats: ItemStats, priced: bool | None = None
) -> dict[str, Any]:
    """Category affinity and the candidate's price over the median price of the user's history (NaN without
    categories or prices), for training and for requests alike. ``priced``: whether any item has a price, when the
    caller knows (serving does: not scanned per request)."""
    h = history if isinstance(history, sp.csr_matrix) else sp.csr_matrix(history)  # a request's row: no copy
    affinity = category_affinity(h, rows, items, stats.categories)
    if priced is None:
        priced = bool(np.isfinite(stats.price).any())
    ratio = price_ratio(h, rows, items, stats.price) if priced else np.full(len(rows), np.nan)
    return {"category_affinity": affinity, "price_ratio": ratio}


def category_affinity(
    history: sp.csr_matrix, rows: np.ndarray, items: np.ndarray, categories: sp.csr_matrix
) -> np.ndarray:
    """Per pair (history row, candidate): the share of the row's (weighted) history in each of the candidate's
    categories, summed and divided by its number of categories; NaN without categories. From the CSR arrays (no
    sparse products: a request scores one row).

    >>> h = sp.csr_matrix(np.array([[2.0, 1.0, 0.0]]))
    >>> cats = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> category_affinity(h, np.array([0, 0]), np.array([0, 2]), cats).round(4).tolist()
    [0.6667, 0.5]
    """
    n_rows, n, n_cats = len(history.indptr) - 1, len(rows), categories.shape[1]
    if not n_cats:
        return np.full(n, np.nan)
    c_ptr, c_idx, c_val = categories.indptr, categories.indices, categories.data.astype(np.float64)
    h_rows = np.repeat(np.arange(n_rows), np.diff(history.indptr))
    lengths = c_ptr[history.indices + 1] - c_ptr[history.indices]
    pos = ranges(c_ptr[history.indices], lengths)
    profile = np.bincount(  # rows x categories, flat: the weighted count of each row's history in each category
        np.repeat(h_rows, lengths) * n_cats + c_idx[pos],
        weights=np.repeat(history.data.astype(np.float64), lengths) * c_val[pos],
        minlength=n_rows * n_cats,
    )
    totals = np.maximum(np.bincount(h_rows, weights=history.data, minlength=n_rows), 1e-9)
    lengths = c_ptr[items + 1] - c_ptr[items]
    pos = ranges(c_ptr[items], lengths)
    pair = np.repeat(np.arange(n), lengths)
    hit = np.bincount(pair, weights=c_val[pos] * profile[rows[pair] * n_cats + c_idx[pos]], minlength=n)
    affinity: np.ndarray = hit / totals[rows] / np.maximum(lengths, 1)
    return affinity


def price_ratio(history: sp.csr_matrix, rows: np.ndarray, items: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Log of each candidate's price over the median price of its history row (NaN where either is unknown): the
    ``price_ratio`` feature of :func:`pair_features`."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.log(price[items] / usual_price(history, price)[rows]))


def usual_price(history: sp.csr_matrix, price: np.ndarray) -> np.ndarray:
    """The median price of each history row's items with a known (finite) price; NaN for a row without one.

    >>> h = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 0, 0, 1], [1, 0, 0, 1]], dtype=np.float32))
    >>> usual_price(h, np.array([3.0, 1.0, 2.0, np.nan])).tolist()
    [2.0, nan, 3.0]
    """
    n_rows = len(history.indptr) - 1
    p = price[history.indices]
    rows = np.repeat(np.arange(n_rows), np.diff(history.indptr))
    known = np.isfinite(p)
    p, rows = p[known], rows[known]
    p = p[np.lexsort((p, rows))]  # by row, then by price
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    out = np.full(n_rows, np.nan)
    has = counts > 0
    lo = (starts + (counts - 1) // 2)[has]
    hi = (starts + counts // 2)[has]
    out[has] = (p[lo] + p[hi]) / 2  # as ``np.median``: the middle one, or the mean of the middle two
    return out


def top_category(history: sp.csr_matrix, item: int, stats: ItemStats) -> str | None:
    """The candidate's category that the user's history holds most, or None."""
    if not stats.categories.shape[1]:
        return None
    profile = np.asarray((sp.csr_matrix(history)[:1] @ stats.categories).todense()).ravel()
    cats = stats.categories[item].indices
    if not len(cats) or profile[cats].max() <= 0:
        return None
    return str(stats.category_names[cats[np.argmax(profile[cats])]])
