"""Explanations from the ranker itself: LightGBM's per-feature contributions (``pred_contrib``) of each
recommended item, grouped by what they mean, and the strongest positive group read as a sentence.

>>> feature_group("ease_recent_rank"), feature_group("pop_7d"), feature_group("hist_len")
('gen:ease_recent', 'trending', None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pertinent.recommend.ranking.features import top_category

if TYPE_CHECKING:
    import scipy.sparse as sp

    from pertinent.recommend.base import Recommender
    from pertinent.recommend.ranking.candidates import Generators
    from pertinent.recommend.ranking.features import ItemStats

_FIXED = {
    "like_last": "recent",
    "after_last": "after",
    "pop_1d": "trending",
    "pop_7d": "trending",
    "item_idle_days": "trending",
    "pop_30d": "popular",
    "pop_all": "popular",
    "item_age_days": "fresh",
    "category_affinity": "category",
    "price_ratio": "price",
}


def feature_group(name: str, generators: tuple[str, ...] = ("ease_recent",)) -> str | None:
    """What a feature stands for in a sentence (None: a user feature, which explains no item)."""
    if name in _FIXED:
        return _FIXED[name]
    for suffix in ("_score", "_norm", "_rank"):
        if name.endswith(suffix):
            return f"gen:{name[: -len(suffix)]}"
    return None


def explain(
    owner: Recommender,
    gens: Generators,
    stats: ItemStats,
    contrib: np.ndarray,
    names: list[str],
    history: sp.csr_matrix,
    times: object,
    items: np.ndarray,
    newest: int | None,
    reason_recent: str,
    weighted: dict[str, sp.csr_matrix] | None = None,
) -> list[str]:
    """One sentence per item from its row of ``contrib`` (items x features + bias); ``weighted`` may hold the
    history already weighted per recency config (keyed by its JSON)."""
    groups = [feature_group(n) for n in names]
    keys = sorted({g for g in groups if g is not None})
    index = {g: i for i, g in enumerate(keys)}
    summed = np.zeros((len(items), len(keys)))
    for f, g in enumerate(groups):
        if g is not None:
            summed[:, index[g]] += contrib[:, f]
    specs = {s.name: s for s in gens.specs}
    rows: dict[str, sp.csr_matrix] = dict(weighted or {})
    by_generator: dict[str, list[str]] = {}  # a generator's reasons for all the items, asked once
    out = []
    for row, item in enumerate(np.asarray(items).tolist()):
        order: list[int] = np.argsort(-summed[row]).tolist() if len(keys) else []
        sentence = "recommended for you"
        for best in order:
            if summed[row, best] <= 0:
                break
            group = keys[best]
            if group.startswith("gen:"):
                if group not in by_generator:
                    by_generator[group] = _generator_reasons(gens, specs.get(group[4:]), history, times, items, rows)
                said = by_generator[group][row] or None
            else:
                said = _sentence(
                    owner, gens, stats, group, specs, history, times, int(item), newest, reason_recent, rows
                )
            if said:
                sentence = said
                break
        out.append(sentence)
    return out


def _generator_reasons(
    gens: Generators, spec: Any, history: sp.csr_matrix, times: object, items: np.ndarray, rows: dict[str, Any]
) -> list[str]:
    """The generator's own reason for each item ("" where it has none)."""
    if spec is None:
        return [""] * len(items)
    said = gens.model(spec).because(_weighted(gens, spec, history, times, rows), np.asarray(items))
    return ["" if reason == "recommended for you" else reason for reason in said]


def _weighted(
    gens: Generators, spec: Any, history: sp.csr_matrix, times: object, rows: dict[str, sp.csr_matrix]
) -> sp.csr_matrix:
    """The weighted row of one explanation call (the items of one list share it)."""
    key = spec.recency.model_dump_json()
    if key not in rows:
        rows[key] = gens.weighted(spec, history, times)
    return rows[key]


def _title(owner: Recommender, j: int) -> str:
    item = str(owner.fitted_item_ids[j])
    return owner._titles.get(item, item)


def _sentence(
    owner: Recommender,
    gens: Generators,
    stats: ItemStats,
    group: str,
    specs: dict[str, Any],
    history: sp.csr_matrix,
    times: object,
    item: int,
    newest: int | None,
    reason_recent: str,
    rows: dict[str, sp.csr_matrix],
) -> str | None:
    if group == "recent" and newest is not None:
        return reason_recent.format(item=_title(owner, newest))
    if group == "after" and newest is not None:
        for spec in gens.specs:
            if spec.kind == "transitions":
                template = str(getattr(gens.model(spec).config, "reason", "often chosen after {item}"))
                return template.format(item=_title(owner, newest))
        return None
    if group == "category":
        category = top_category(history, item, stats)
        return f"because you like {category}" if category else None
    return {
        "trending": "trending now",
        "popular": "popular",
        "fresh": "new arrival",
        "price": "in your usual price range",
    }.get(group)
