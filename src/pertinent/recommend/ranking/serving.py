"""The ranker at request time: candidates from precomputed lists (``retrieval``), their features assembled with
numpy over the candidate pairs only, one LightGBM prediction, and explanations for the returned items only.

The features are the training ones (``RankerRecommender._candidates``) computed from the generators' exact
scores of the candidates; a feature this module does not know makes it answer None, and the ranker then scores
every item as in training. Items that are not candidates rank below every candidate: first the base generator's
other scored items, then the rest by popularity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pertinent.recommend.last_request import LastRequest
from pertinent.recommend.ranking.candidates import last_affinity, rank_within_rows
from pertinent.recommend.ranking.features import ITEM_FEATURES, ItemStats, pair_features, user_features
from pertinent.recommend.ranking.retrieval import Scored, Source, build_sources, history_keys, pair_keys
from pertinent.recommend.recency import weigh

if TYPE_CHECKING:
    from pertinent.recommend.ranking.candidates import Generators
    from pertinent.recommend.ranking.config import RankerConfig
    from pertinent.recommend.ranking.contrib import PathContributions

USER_COLUMNS = ("hist_len", "user_idle_days", "session_len", "hist_mean_pop")


class Served:
    """Candidate pairs of some history rows, their features (in the booster's order) and the scores of the
    other items (rows x items, all below -1)."""

    def __init__(self, rows: np.ndarray, items: np.ndarray, features: np.ndarray, tail: np.ndarray | None) -> None:
        self.rows, self.items, self.features, self.tail = rows, items, features, tail


class Serving:
    """What a trained ranker serves from: one source per generator, per-item features, popularity order."""

    def __init__(self, gens: Generators, stats: ItemStats, config: RankerConfig, names: list[str]) -> None:
        self.gens, self.stats, self.config, self.names = gens, stats, config, names
        self.sources = build_sources(gens, config.serving)
        item_cols = stats.columns()
        self.item_matrix = np.column_stack([np.asarray(item_cols[n], dtype=np.float64) for n in ITEM_FEATURES])
        self.item_index = {n: i for i, n in enumerate(ITEM_FEATURES)}
        pop = np.asarray(stats.counts["pop_all"], dtype=np.float64)
        self.tail = (-2.0 + 0.5 * pop / (pop.max() if len(pop) and pop.max() > 0 else 1.0)).astype(np.float32)
        base = gens.base()
        self.base = next(s.name for s in gens.specs if gens.model(s) is base)
        self.after = next((s.name for s in gens.specs if s.kind == "transitions"), None)
        self.contributions: PathContributions | None = None
        self.recency = {s.recency.model_dump_json(): s.recency for s in gens.specs}
        self.recency_of = {s.name: s.recency.model_dump_json() for s in gens.specs}
        self._recent = LastRequest()  # the last one-row answer, per serving thread (for ``because``)
        self.usable = self.knows()
        self.priced = bool(np.isfinite(stats.price).any())

    def knows(self) -> bool:
        """Whether every feature of the booster is one this module assembles."""
        known = {f"{s.name}_{p}" for s in self.gens.specs for p in ("score", "norm", "rank")}
        known |= {"like_last", "after_last", *ITEM_FEATURES, *USER_COLUMNS, "category_affinity", "price_ratio"}
        return all(n in known for n in self.names)

    # ------------------------------------------------------------------ candidates and features
    def candidates(
        self, h: sp.csr_matrix, times: Any, now: float, pairs: tuple[np.ndarray, np.ndarray] | None = None
    ) -> Served:
        """The union of the generators' candidates (or the given ``pairs``) with their features."""
        n_rows, n = h.shape
        seen = history_keys(h)
        weighted, newest = weigh(h, times, self.recency)
        scored = {
            spec.name: Scored(self.sources[spec.name], weighted[self.recency_of[spec.name]], seen, self.config.serving)
            for spec in self.gens.specs
        }
        if pairs is None:
            picks = [s.picks for s in scored.values() if len(s.picks[0])]
            keys = np.unique(np.concatenate([pair_keys(r, i, n) for r, i in picks])) if picks else np.zeros(0, int)
            rows, items = keys // n, keys % n
        else:
            rows, items = np.asarray(pairs[0], np.int64), np.asarray(pairs[1], np.int64)
        cols: dict[str, np.ndarray] = {}
        for name, s in scored.items():
            v = s.values(rows, items)
            top = s.top
            cols[f"{name}_score"] = v
            cols[f"{name}_norm"] = v / np.where(top > 0, top, 1.0)[rows]
            cols[f"{name}_rank"] = rank_within_rows(rows, v).astype(np.float64)
        last = newest[rows]
        cols["like_last"] = self._affinity(self.base, last, items)
        cols["after_last"] = self._affinity(self.after, last, items)
        for name, i in self.item_index.items():
            cols[name] = self.item_matrix[items, i]
        users = user_features(h, times, self.stats, now, self.config.session_gap_s)
        for name in USER_COLUMNS:
            cols[name] = np.asarray(users[name], dtype=np.float64)[rows]
        cols.update(pair_features(h, rows, items, self.stats, self.priced))
        features = (
            np.column_stack([cols[n] for n in self.names]).astype(np.float32)
            if len(rows)
            else np.zeros((0, len(self.names)), np.float32)
        )
        tail = self._tail(scored[self.base], n_rows) if pairs is None else None
        return Served(rows, items, features, tail)

    def _affinity(self, name: str | None, last: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The item x item weight of (the row's newest item, candidate) in generator ``name``'s model."""
        ok = last >= 0
        if name is None or not ok.any():
            return np.full(len(items), np.nan)
        source = self.sources[name]
        found = source.item_pairs(last[ok], items[ok])
        if found is None:  # a model without an item x item matrix here: ask it, once per newest item
            return last_affinity(source.model, last, items)
        out = np.full(len(items), np.nan)
        out[ok] = found
        return out

    def _tail(self, base: Scored, n_rows: int) -> np.ndarray:
        """Scores of the non-candidates: the base generator's scored items in [-1.5, -1], the rest by popularity
        in [-2, -1.5]."""
        out = np.tile(self.tail, (n_rows, 1))
        rows, items, values = base.known()
        if len(rows):
            lo = np.full(n_rows, np.inf)
            hi = np.full(n_rows, -np.inf)
            np.minimum.at(lo, rows, values)
            np.maximum.at(hi, rows, values)
            span = np.where(hi > lo, hi - lo, 1.0)
            out[rows, items] = (-1.5 + 0.5 * (values - lo[rows]) / span[rows]).astype(np.float32)
        return out

    # ------------------------------------------------------------------ the ranker's answers
    def scores(self, booster: Any, h: sp.csr_matrix, times: Any, now: float) -> np.ndarray:
        """Scores (rows x items) of the history rows: the booster's over the candidates, above every other."""
        served = self.candidates(h, times, now)
        assert served.tail is not None
        out = served.tail
        if len(served.rows):
            pred = np.asarray(booster.predict(served.features, num_threads=self.config.threads), dtype=np.float64)
            out[served.rows, served.items] = (pred - pred.min() + 1.0).astype(np.float32)
        if h.shape[0] == 1:
            self._recent.put(key=fingerprint(h, times), served=served)
        return out

    def features_of(self, h: sp.csr_matrix, times: Any, now: float, items: np.ndarray) -> np.ndarray:
        """Feature rows of one history row's ``items``: the last ``scores`` call's when it scored this row."""
        served: Served | None = self._recent.get("served")
        key = self._recent.get("key")
        out = np.zeros((len(items), len(self.names)), np.float32)
        missing = np.ones(len(items), dtype=bool)
        if served is not None and key is not None and same_row(key, fingerprint(h, times)) and len(served.items):
            order = np.argsort(served.items)
            pos = np.searchsorted(served.items[order], items).clip(0, len(order) - 1)
            hit = served.items[order][pos] == items
            out[hit] = served.features[order[pos[hit]]]
            missing = ~hit
        if missing.any():
            rest = items[missing]
            out[missing] = self.candidates(h, times, now, (np.zeros(len(rest), np.int64), rest)).features
        return out

    def forget_recent(self) -> None:
        """Drop every thread's last answer (it holds a user's history and features): erasure."""
        self._recent.clear()

    def contributions_of(self, booster: Any, x: np.ndarray) -> np.ndarray:
        """Per-feature contributions of the rows of ``x`` (the configured method)."""
        if self.config.serving.explain == "shap":
            return np.asarray(booster.predict(x, pred_contrib=True, num_threads=self.config.threads))
        if self.contributions is None or self.contributions.booster is not booster:
            from pertinent.recommend.ranking.contrib import PathContributions

            self.contributions = PathContributions(booster)
        return self.contributions(x, self.config.threads)


def fingerprint(history: sp.csr_matrix, times: Any) -> tuple[np.ndarray, ...]:
    """What one history row and its times hold (compared, not hashed: ids of freed objects are reused)."""
    if times is None:
        return (history.indices.copy(), history.data.copy())
    t = times if isinstance(times, sp.csr_matrix) and times.shape[0] == 1 else sp.csr_matrix(times)[:1]
    return (history.indices.copy(), history.data.copy(), t.indices.copy(), t.data.copy())


def same_row(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


__all__ = ["Served", "Serving", "Source", "fingerprint", "same_row"]
