"""The cold-item layer: catalogue items that the model answering a list does not know — added with
``POST /v1/items`` after training, or never interacted with — are served at once, by any model kind.

A trained model ranks only the items of its training data (items with events), so without this layer a new item
waits for retraining, and even retraining leaves it out until someone has interacted with it. Here, at serving
time, such *unknown* items are scored by

* **content**: cosine similarity of the item's hashed text (title, text, categories, tags; scikit-learn's
  stateless ``HashingVectorizer``, so a new item needs no refit) to the user's recent items;
* **category affinity**: the share of the user's recent items (by weight) in the item's categories;
* **freshness**: ``0.5 ** (age / half_life_s)``, items older than ``max_age_s`` being left out.

``relevance = (content + affinity) / 2`` and ``score = relevance * freshness``; an item needs
``min_relevance``. Users without a history get the freshest items (``for_new_users``). The bound: at most
``FreshConfig.slots(k)`` places of a list, spread over it (never before pinned items); the model's list fills the
rest. Similar items: an unknown item's similar items come from content over the whole catalogue, and unknown
items join a known item's similar list under the same bound. See docs/recommend-serving.md.

>>> import pandas as pd
>>> from pertinent.recommend.catalogue import Catalogue
>>> from pertinent.recommend.config import FreshConfig
>>> cat = Catalogue.from_frame(pd.DataFrame({"id": ["a", "b", "new"], "title": ["red wool scarf", "garden hose",
...     "red wool hat"], "categories": [["winter"], ["garden"], ["winter"]], "listed_at": [0.0, 0.0, 100.0]}))
>>> cold = cold_items(cat, {"a": 0, "b": 1}, FreshConfig(), now=200.0)
>>> [(p.item, p.reason) for p in pick(cold, [("a", 1.0)], 1, Filters(), FreshConfig(), now=200.0)]
[('new', 'new, similar to red wool scarf')]
>>> merge([entry("a", 1.0, 1), entry("b", 0.5, 2)], [FreshPick("new", 0.9, "new")], 3)[1]["item_id"]
'new'
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pertinent.recommend.filters import Filters

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.config import FreshConfig
    from pertinent.recommend.lists import RecommendedItem

N_FEATURES = 2**16  # hashed features: short item texts rarely collide
MAX_TEXT_ROWS = 50_000  # hashed rows of single items kept per catalogue


_VECTORIZER: Any = None


def hashed(docs: Sequence[str]) -> sp.csr_matrix:
    """Unit-length hashed bag-of-words rows (no fit: a new item's row is ready at once)."""
    global _VECTORIZER
    if _VECTORIZER is None:
        from sklearn.feature_extraction.text import HashingVectorizer

        _VECTORIZER = HashingVectorizer(
            n_features=N_FEATURES, alternate_sign=False, norm="l2", stop_words="english", dtype=np.float32
        )
    return sp.csr_matrix(_VECTORIZER.transform(list(docs)), dtype=np.float32)


class CatalogueText:
    """Content vectors of one catalogue's items, hashed when first needed and kept with the catalogue."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        frame = catalogue.frame
        self.ids = frame["id"].to_numpy(dtype=object)
        self.pos = {str(i): n for n, i in enumerate(self.ids)}
        self.categories: list[list[str]] = [list(c) for c in frame["categories"]]
        self.titles = dict(zip(self.ids.tolist(), frame["title"].tolist(), strict=True))
        self._columns = (frame["title"].tolist(), frame["text"].tolist(), frame["tags"].tolist(), self.categories)
        self._rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # id -> (feature indices, values)
        self._all: sp.csr_matrix | None = None
        self._lock = threading.Lock()

    def _docs(self, positions: Iterable[int]) -> list[str]:
        title, text, tags, cats = self._columns
        return [" ".join([title[p], text[p], " ".join(cats[p]), " ".join(tags[p])]).strip() for p in positions]

    def vectors(self, item_ids: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(feature indices, values) per id, hashed once and kept (an id not in the catalogue: empty)."""
        everything = self._all
        if everything is not None:  # every item hashed already: slices of it
            out = []
            for i in item_ids:
                p = self.pos.get(i)
                if p is None:
                    out.append((np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)))
                else:
                    start, end = everything.indptr[p], everything.indptr[p + 1]
                    out.append((everything.indices[start:end], everything.data[start:end]))
            return out
        missing = [i for i in dict.fromkeys(item_ids) if i not in self._rows and i in self.pos]
        if missing:
            made = hashed(self._docs([self.pos[i] for i in missing]))
            with self._lock:
                if len(self._rows) + len(missing) > MAX_TEXT_ROWS:
                    self._rows = {}
                for n, i in enumerate(missing):
                    start, end = made.indptr[n], made.indptr[n + 1]
                    self._rows[i] = (made.indices[start:end].copy(), made.data[start:end].copy())
        empty = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
        return [self._rows.get(i, empty) for i in item_ids]

    def rows(self, item_ids: Sequence[str]) -> sp.csr_matrix:
        """One sparse row per id (an id not in the catalogue gets an empty row)."""
        parts = self.vectors(item_ids)
        indptr = np.zeros(len(parts) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(ix) for ix, _ in parts])
        indices = np.concatenate([ix for ix, _ in parts]) if parts else np.zeros(0, dtype=np.int32)
        data = np.concatenate([d for _, d in parts]) if parts else np.zeros(0, dtype=np.float32)
        return sp.csr_matrix((data, indices, indptr), shape=(len(parts), N_FEATURES))

    def profile(self, history: Sequence[tuple[str, float]]) -> np.ndarray:
        """The unit-length weighted sum of the history items' vectors, dense (``N_FEATURES`` floats)."""
        out = np.zeros(N_FEATURES, dtype=np.float32)
        for (ix, values), (_, w) in zip(self.vectors([i for i, _ in history]), history, strict=True):
            np.add.at(out, ix, values * w)
        norm = float(np.linalg.norm(out))
        return out / norm if norm > 0 else out

    def all(self) -> sp.csr_matrix:
        """Every item's row, in catalogue order (hashed once per catalogue)."""
        if self._all is None:
            self._all = hashed(self._docs(range(len(self.ids))))
        return self._all


@dataclass(frozen=True)
class ColdItems:
    """The catalogue items a model does not know, newest first (at most ``max_items``), with what scoring needs."""

    text: CatalogueText
    ids: np.ndarray
    listed: np.ndarray  # epoch seconds (see ``items.listed_at``)
    start: np.ndarray  # availability bounds, epoch seconds (nan: open)
    end: np.ndarray
    categories: list[list[str]]
    vectors: sp.csr_matrix
    index: dict[str, int]
    by_category: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)


def _seconds(values: Any) -> np.ndarray:
    out = np.full(len(values), np.nan)
    ok = values.notna().to_numpy()
    out[ok] = values[ok].map(lambda t: t.timestamp()).to_numpy(dtype=float)
    return out


def cold_items(
    catalogue: Catalogue,
    known: Mapping[str, int] | None,
    config: FreshConfig,
    now: float,
    text: CatalogueText | Callable[[], CatalogueText] | None = None,
) -> ColdItems | None:
    """The items of ``catalogue`` missing from ``known`` (a model's item index) listed within ``max_age_s``, or
    None when there are none (then nothing is hashed; ``text`` is made only when needed)."""
    frame = catalogue.frame
    ids_all = frame["id"].to_numpy(dtype=object)
    n = len(ids_all)
    listed = frame["listed_at"].to_numpy(dtype=float) if "listed_at" in frame.columns else np.full(n, now)
    seen = known or {}
    unknown = np.fromiter((str(i) not in seen for i in ids_all), dtype=bool, count=n)
    fresh = unknown & (now - np.nan_to_num(listed, nan=-np.inf) <= config.max_age_s)
    picked = np.flatnonzero(fresh)
    if not picked.size:
        return None
    picked = picked[np.argsort(-listed[picked], kind="stable")][: config.max_items]
    made = text() if callable(text) else text
    made = made if made is not None else CatalogueText(catalogue)
    sub = frame.iloc[picked]
    nan = np.full(len(picked), np.nan)
    ids = ids_all[picked]
    categories = [made.categories[i] for i in picked.tolist()]
    return ColdItems(
        text=made,
        ids=ids,
        listed=listed[picked],
        start=_seconds(sub["available_from"]) if "available_from" in sub.columns else nan,
        end=_seconds(sub["available_until"]) if "available_until" in sub.columns else nan.copy(),
        categories=categories,
        vectors=made.rows([str(i) for i in ids]),
        index={str(i): n for n, i in enumerate(ids)},
        by_category=_by_category(categories),
    )


def _by_category(categories: list[list[str]]) -> dict[str, np.ndarray]:
    out: dict[str, list[int]] = {}
    for n, cats in enumerate(categories):
        for c in set(cats):
            out.setdefault(c, []).append(n)
    return {c: np.asarray(v, dtype=np.int64) for c, v in out.items()}


@dataclass(frozen=True)
class FreshPick:
    """An unknown item chosen for a list: its score (relevance x freshness) and reason."""

    item: str
    score: float
    reason: str


def _allowed(cold: ColdItems, filters: Filters, now: float, exclude: set[str]) -> np.ndarray:
    mask = np.ones(len(cold), dtype=bool)
    if filters.only_available:
        at = now if filters.at is None else filters.at.timestamp()
        with np.errstate(invalid="ignore"):
            mask &= ~((cold.start > at) | (cold.end <= at))
    wanted, unwanted = set(filters.include_categories), set(filters.exclude_categories) | set(filters.bury_categories)
    if wanted or unwanted:
        for i, cats in enumerate(cold.categories):
            if (wanted and not wanted.intersection(cats)) or unwanted.intersection(cats):
                mask[i] = False
    for item in (*filters.exclude_items, *filters.bury, *exclude):
        j = cold.index.get(str(item))
        if j is not None:
            mask[j] = False
    return mask


def pick(
    cold: ColdItems,
    history: Sequence[tuple[str, float]],
    n: int,
    filters: Filters,
    config: FreshConfig,
    now: float,
    exclude: Sequence[str] = (),
) -> list[FreshPick]:
    """Up to ``n`` unknown items for a user with ``history`` ((item id, weight), newest first; may be empty)."""
    if n <= 0 or not len(cold):
        return []
    seen = {i for i, _ in history} if filters.exclude_seen else set()
    mask = _allowed(cold, filters, now, seen | set(exclude))
    freshness = 0.5 ** (np.maximum(now - cold.listed, 0.0) / config.half_life_s)
    content = affinity = None
    if history:
        profile = cold.text.profile(history)
        content = np.asarray(cold.vectors @ profile, dtype=np.float64)
        share: dict[str, float] = {}
        total = float(sum(w for _, w in history)) or 1.0
        for item, w in history:
            p = cold.text.pos.get(item)
            for c in set(cold.text.categories[p]) if p is not None else ():
                share[c] = share.get(c, 0.0) + w / total
        affinity = np.zeros(len(cold))
        for c, v in share.items():
            members = cold.by_category.get(c)
            if members is not None:
                affinity[members] = np.maximum(affinity[members], v)
        relevance = (content + affinity) / 2
        mask &= relevance >= max(config.min_relevance, 1e-9)
        score = relevance * freshness
    elif config.for_new_users:
        score = freshness
    else:
        return []
    score = np.where(mask, score, -np.inf)
    top = np.argsort(-score, kind="stable")[:n]
    top = top[np.isfinite(score[top])]
    return [FreshPick(str(cold.ids[j]), float(score[j]), _reason(cold, j, history, content, affinity)) for j in top]


def _reason(cold: ColdItems, j: int, history: Sequence[tuple[str, float]], content: Any, affinity: Any) -> str:
    cats = cold.categories[j]
    if content is not None and content[j] > 0 and content[j] >= affinity[j] / 2:
        row = np.zeros(N_FEATURES, dtype=np.float32)
        start, end = cold.vectors.indptr[j], cold.vectors.indptr[j + 1]
        row[cold.vectors.indices[start:end]] = cold.vectors.data[start:end]
        sims = [float(values @ row[ix]) for ix, values in cold.text.vectors([i for i, _ in history])]
        src = history[int(np.argmax(sims))][0]
        return f"new, similar to {cold.text.titles.get(src) or src}"
    return f"new in {', '.join(cats[:2])}" if cats else "new"


def entry(item: str, score: float, rank: int, reason: str = "", rule: str | None = None) -> RecommendedItem:
    return {"item_id": item, "score": round(score, 6), "rank": rank, "reason": reason, "rule": rule}


def pinned(cold: ColdItems, filters: Filters, now: float, seen: Sequence[str] = ()) -> list[str]:
    """The unknown items that ``filters.pin`` names and that may be shown (pins are business rules: no bound)."""
    if not filters.pin or not len(cold):
        return []
    mask = _allowed(cold, filters, now, set(seen) if filters.exclude_seen else set())
    return [p for p in dict.fromkeys(filters.pin) if p in cold.index and mask[cold.index[p]]]


def merge(
    items: list[RecommendedItem],
    picks: Sequence[FreshPick],
    k: int,
    pins: Sequence[str] = (),
    pin_order: Sequence[str] = (),
) -> list[RecommendedItem]:
    """A model's list with unknown items spread over it (after any pinned items), ``k`` long at most, re-ranked.
    Each unknown item is marked ``rule="fresh"``; ``pins``: unknown items pinned, placed among the model's
    pinned items in ``pin_order``."""
    if not picks and not pins:
        return items
    taken = {p.item for p in picks} | set(pins)
    rest = [it for it in items if it["item_id"] not in taken]
    lead = 0
    while lead < len(rest) and rest[lead]["rule"] == "pin":
        lead += 1
    if pins:
        order = {p: n for n, p in enumerate(pin_order)}
        head = rest[:lead] + [entry(p, rest[0]["score"] if rest else 1.0, 0, "pinned", "pin") for p in pins]
        head.sort(key=lambda it: order.get(it["item_id"], len(order)))
        rest = head + rest[lead:]
        lead = len(head)
        picks = [p for p in picks if p.item not in set(pins)]
    n = len(picks)
    length = min(k, len(rest) + n)
    if length - lead < n:  # pins take the places: unknown items only after them
        n = max(0, length - lead)
    out = list(rest[:lead])
    body = rest[lead:]
    places = {lead + ((i + 1) * (length - lead)) // (n + 1) for i in range(n)}
    fresh = iter(picks[:n])
    while len(out) < length:
        if len(out) in places or not body:
            p = next(fresh, None)
            if p is not None:
                out.append(entry(p.item, p.score, 0, p.reason, "fresh"))
                continue
        if not body:
            break
        out.append(body.pop(0))
    for r, it in enumerate(out, start=1):
        it["rank"] = r
    return out


def similar_by_content(
    text: CatalogueText, item_id: str, k: int, filters: Filters, now: float
) -> list[RecommendedItem]:
    """An item's most similar catalogue items by content (hashed text; zero similarity is not similar), after
    the catalogue rules of ``filters``; its pinned items first (empty when nothing is similar at all)."""
    p = text.pos.get(item_id)
    if p is None:
        return []
    everything = text.all()
    sims = np.asarray((everything @ everything[p].T).toarray()).ravel()
    rules = np.ones(len(sims), dtype=bool)
    rules[p] = False
    if filters.only_available:
        rules &= text.catalogue.available(None, filters.at)
    wanted, unwanted = set(filters.include_categories), set(filters.exclude_categories) | set(filters.bury_categories)
    if wanted or unwanted:
        cats = text.categories
        rules &= np.asarray(
            [(not wanted or bool(wanted.intersection(c))) and not unwanted.intersection(c) for c in cats]
        )
    for item in (*filters.exclude_items, *filters.bury):
        j = text.pos.get(str(item))
        if j is not None:
            rules[j] = False
    pins = [text.pos[i] for i in dict.fromkeys(filters.pin) if i in text.pos and rules[text.pos[i]]][:k]
    ranked = rules & (sims > 0)
    ranked[pins] = False
    sims = np.where(ranked, sims, -np.inf)
    top = np.argsort(-sims, kind="stable")[: k - len(pins)]
    top = top[np.isfinite(sims[top])]
    if not len(top):
        return []
    title = text.titles.get(item_id) or item_id
    out = [entry(str(text.ids[j]), float(sims[top[0]]), 0, "pinned", "pin") for j in pins]
    out += [entry(str(text.ids[j]), float(sims[j]), 0, f"similar to {title}") for j in top]
    for r, it in enumerate(out, start=1):
        it["rank"] = r
    return out
