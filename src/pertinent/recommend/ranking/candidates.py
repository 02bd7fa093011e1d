"""Candidate generators for the ranker: models made by kind, trained once per distinct (kind, config), each
scoring the user's row weighted by its own recency; the union of their best unseen items is what the ranker
orders, and their scores and ranks are its first features.

>>> import numpy as np
>>> union_candidates({"a": np.array([[3.0, 1.0, 2.0, 0.0]])}, {"a": 2}, np.array([[False, False, True, False]]))
(array([0, 0]), array([0, 1]))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pertinent.recommend.recency import decayed

if TYPE_CHECKING:
    from pertinent.recommend.base import Recommender
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions
    from pertinent.recommend.ranking.config import GeneratorSpec


def generator_kinds() -> dict[str, type[Recommender]]:
    """The kinds a generator may be (imported here, not at module level: ``models`` registers the ranker)."""
    from pertinent.recommend.models.content import ContentRecommender
    from pertinent.recommend.models.ease import EASERecommender
    from pertinent.recommend.models.factorization import ALSRecommender, BPRRecommender
    from pertinent.recommend.models.fresh import FreshRecommender
    from pertinent.recommend.models.itemknn import ItemKNNRecommender
    from pertinent.recommend.models.popularity import PopularityRecommender
    from pertinent.recommend.models.repeat import RepeatRecommender
    from pertinent.recommend.models.transitions import TransitionRecommender
    from pertinent.recommend.models.trending import TrendingRecommender

    classes: tuple[type[Recommender], ...] = (
        EASERecommender,
        ItemKNNRecommender,
        ALSRecommender,
        BPRRecommender,
        ContentRecommender,
        PopularityRecommender,
        TransitionRecommender,
        TrendingRecommender,
        FreshRecommender,
        RepeatRecommender,
    )
    return {cls.kind: cls for cls in classes}


def member_key(spec: GeneratorSpec) -> str:
    return f"{spec.kind}:{json.dumps(spec.config, sort_keys=True)}"


def make_member(spec: GeneratorSpec) -> Recommender:
    """A fresh, unfitted model for ``spec`` (its config validated by that model: errors name the field)."""
    cls = generator_kinds()[spec.kind]
    return cls(cls.config_class.model_validate(spec.config))


@dataclass
class Generators:
    """The specs and one trained model per distinct (kind, config)."""

    specs: list[GeneratorSpec]
    members: dict[str, Recommender]

    @classmethod
    def fit(cls, specs: list[GeneratorSpec], data: Interactions, catalogue: Catalogue | None) -> Generators:
        members: dict[str, Recommender] = {}
        for spec in specs:
            key = member_key(spec)
            if key not in members:
                if spec.kind == "content" and catalogue is None:
                    raise ValueError(f"generators: {spec.name!r} (content) needs a catalogue")
                members[key] = make_member(spec).fit(data, catalogue)
        return cls(specs, members)

    def model(self, spec: GeneratorSpec) -> Recommender:
        return self.members[member_key(spec)]

    def weighted(self, spec: GeneratorSpec, history: sp.csr_matrix, times: Any) -> sp.csr_matrix:
        return decayed(history, times, spec.recency)

    def scores(self, history: sp.csr_matrix, times: Any) -> dict[str, np.ndarray]:
        """Each generator's scores (rows x items) for the history rows (each distinct weighting computed once)."""
        rows: dict[tuple[float, float | None, float], sp.csr_matrix] = {}
        out = {}
        for s in self.specs:
            key = (s.recency.decay, s.recency.half_life_days, s.recency.floor)
            if key not in rows:
                rows[key] = self.weighted(s, history, times)
            out[s.name] = self.model(s).score(rows[key])
        return out

    def base(self) -> Recommender:
        """The first generator with an item x item notion (similar items, fallback scores)."""
        for spec in self.specs:
            model = self.model(spec)
            if spec.kind in ("ease", "itemknn", "als", "bpr", "transitions", "content"):
                return model
        return self.model(self.specs[0])

    def state(self) -> dict[str, Any]:
        keys = list(self.members)
        return {
            "keys": np.asarray(keys, dtype=str),
            **{f"m{i}": self.members[k]._get_state() for i, k in enumerate(keys)},
        }

    @classmethod
    def restore(cls, specs: list[GeneratorSpec], state: dict[str, Any], owner: Recommender) -> Generators:
        keys = [str(k) for k in state["keys"]]
        members: dict[str, Recommender] = {}
        for spec in specs:
            key = member_key(spec)
            if key in members:
                continue
            if key not in keys:
                raise KeyError(f"generator {spec.name!r} is not in the saved state")
            model = make_member(spec)
            model.item_ids, model.item_index, model.user_index = owner.item_ids, owner.item_index, owner.user_index
            model._train_rows, model._titles, model.catalogue = owner._train_rows, owner._titles, owner.catalogue
            model._train_times = owner._train_times
            model._set_state(state[f"m{keys.index(key)}"])
            members[key] = model
        return cls(specs, members)


def union_candidates(
    scores: dict[str, np.ndarray], counts: dict[str, int], blocked: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(row, item) pairs, grouped by row: each generator's ``counts[name]`` best items not ``blocked`` (seen)."""
    n_rows, n_items = blocked.shape
    picks = []
    for name, s in scores.items():
        k = min(counts.get(name, 0), n_items)
        if k <= 0:
            continue
        masked = np.where(blocked, -np.inf, s)
        top = np.argpartition(-masked, k - 1, axis=1)[:, :k]
        ok = np.isfinite(np.take_along_axis(masked, top, axis=1))
        rows = np.repeat(np.arange(n_rows), k).reshape(n_rows, k)
        picks.append(rows[ok].astype(np.int64) * n_items + top[ok])
    if not picks:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = np.unique(np.concatenate(picks))
    return keys // n_items, keys % n_items


def rank_within_rows(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """1-based rank of each value among its row's values (descending), for pairs grouped by row."""
    order = np.lexsort((-values, rows))
    starts = np.searchsorted(rows[order], rows[order], side="left")
    ranks = np.empty(len(rows), dtype=np.float32)
    ranks[order] = np.arange(len(rows)) - starts + 1
    return ranks


def last_affinity(model: Recommender | None, last: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The item x item weight in ``model`` of each pair's (row's newest item ``last``, candidate): NaN where the
    row has no newest item (-1), without a model, or where the model has no item x item notion. The model is
    asked once per distinct newest item."""
    out = np.full(len(items), np.nan)
    ok = last >= 0
    if model is None or not ok.any():
        return out
    for j in np.unique(last[ok]).tolist():
        sims = model.item_similarity(int(j))
        if sims is not None:
            sel = last == j
            out[sel] = np.asarray(sims, dtype=np.float64)[items[sel]]
    return out
