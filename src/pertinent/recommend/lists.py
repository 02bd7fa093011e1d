"""The lists served per request: a user's top-k (``GET /v1/recommendations``, the recommender slot of
``/v1/decide``) and an item's similar items, with what makes them cheap: the history row read from the training
matrix's arrays, request filters built once per configured rules, and finished lists cached per profile.

A user's history comes from the profile (``recent_items``, newest events included), so a click changes the next
list without retraining. Users without history, or a server without a model, get popularity computed from stored
events (never an error).

Reasons name items of the history the list was made from ("similar to <title>"), so a list is only made from the
history of the person asking: an id that is not proven (``verified=False``: a browser call without the user's
``user_hash``) is looked up as an anonymous id only (holding the cookie is the proof), never as a user id.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, NotRequired

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from pertinent.errors import InvalidInput
from pertinent.privacy.consent import effective
from pertinent.recommend.base import Recommender
from pertinent.recommend.config import BusinessRules, RecommendConfig
from pertinent.recommend.filters import Filters
from pertinent.recommend.fresh import (
    CatalogueText,
    ColdItems,
    cold_items,
    merge,
    pick,
    pinned,
    similar_by_content,
)
from pertinent.recommend.items import UnknownItem
from pertinent.recommend.primitives import Context, Recommendation
from pertinent.storage.availability import is_unavailable

if TYPE_CHECKING:
    from pertinent.profiles.service import ProfileService
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.serving import ServedState
    from pertinent.settings import Settings
    from pertinent.storage.base import ProfileRow, Store


class RecommendedItem(TypedDict):
    """One entry of a list: the item, its score and 1-based rank, a short reason and the business rule that moved
    it (``pin``, ``boost``, ``demote``, ``bury`` or None)."""

    item_id: str
    score: float
    rank: int
    reason: str
    rule: str | None


class Recommendations(TypedDict):
    """A user's list as ``GET /v1/recommendations`` sends it. A typed dict, not a model: the hot path serves it as
    built (no validation, no copy); ``source`` says whether the model or the popularity fallback answered.
    ``degraded`` (only then: ``storage``): the database was unreachable, so the user's history could not be read
    and the list is the popularity ranking held in memory."""

    user_id: str
    source: Literal["model", "popularity"]
    model: str | None
    version: str | None
    items: list[RecommendedItem]
    degraded: NotRequired[str]


class SimilarItems(BaseModel):
    """An item's similar items (``GET /v1/items/{item_id}/similar``); ``source`` ``content``: the model does not
    know the item, its list is by content over the catalogue (``recommend/fresh.py``)."""

    item_id: str
    source: Literal["model", "content", "popularity"]
    version: str | None
    items: list[RecommendedItem]
    degraded: str | None = Field(None, description="`storage`: made without the database (it was unreachable)")


def recent_weights(recent: list[list[Any]]) -> list[tuple[str, float]]:
    """(item id, weight) of recent profile items as the history row uses them (weight 1 unless positive)."""
    return [(str(r[0]), float(r[3]) if isinstance(r[3], int | float) and r[3] > 0 else 1.0) for r in recent]


def history_row(model: Recommender, profile_id: str | None, recent: list[list[Any]]) -> sp.csr_matrix:
    """Training history (by profile id) merged with recent profile items, weight = max of both.

    Read from the training matrix's arrays directly, so that a request builds one sparse row."""
    train = model._train_rows
    if type(model).history_for is not Recommender.history_for or (train is not None and not sp.isspmatrix_csr(train)):
        row = model.history_for(profile_id)  # a model with its own notion of history
        cols, data = row.indices, row.data.astype(np.float32)
    else:
        model._check()  # NotFittedError like history_for
        idx = model.user_index.get(str(profile_id)) if profile_id is not None else None
        if idx is None or train is None:
            cols, data = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        else:
            start, end = train.indptr[idx], train.indptr[idx + 1]
            cols = train.indices[start:end].copy()
            data = train.data[start:end].astype(np.float32)
    weights: dict[int, float] | None = None
    changed = False
    for pid, w in recent_weights(recent):
        j = model.item_index.get(pid)
        if j is None:
            continue
        if weights is None:
            weights = dict(zip(cols.tolist(), data.tolist(), strict=True))
        if w > weights.get(j, 0.0):
            weights[j] = w
            changed = True
    if changed:
        assert weights is not None
        cols = np.fromiter(sorted(weights), dtype=np.int32, count=len(weights))
        data = np.asarray([weights[c] for c in cols.tolist()], dtype=np.float32)
    return sp.csr_matrix((data, cols, np.asarray([0, len(cols)])), shape=(1, model.n_items))


def history_context(model: Recommender, profile_id: str | None, recent: list[list[Any]]) -> Context | None:
    """The interaction times of the history row for a model that reads them (``wants_times``): the training
    data's, with the profile's recent items at their own times; None for other models."""
    if not model.wants_times():
        return None
    times = model.times_for(profile_id)
    if times is None:
        return None
    newest: dict[int, float] = {}
    for r in recent:
        j = model.item_index.get(str(r[0]))
        ts = r[2] if len(r) > 2 else None
        if j is not None and isinstance(ts, int | float) and not isinstance(ts, bool) and ts > newest.get(j, 0.0):
            newest[j] = float(ts)
    if newest:
        cols = np.fromiter(newest, dtype=np.int64, count=len(newest))
        extra = sp.csr_matrix(
            (np.asarray(list(newest.values())), (np.zeros(len(cols), int), cols)), shape=(1, model.n_items)
        )
        times = times.maximum(extra).tocsr()
    return Context(times=times, now=time.time())


def item_entries(recs: Sequence[Recommendation], reason: str | None = None) -> list[RecommendedItem]:
    """The JSON entries of a ranked list; ``reason`` replaces the model's reasons (pinned items keep theirs)."""
    return [
        {
            "item_id": r.item,
            "score": round(r.score, 6),
            "rank": r.rank,
            "reason": r.reason if reason is None or r.rule == "pin" else reason,
            "rule": r.rule,
        }
        for r in recs
    ]


class Lists:
    """Recommendations and similar items over the served state (see the module docstring)."""

    def __init__(
        self, store: Store, settings: Settings, profiles: ProfileService, config: RecommendConfig, serving: ServedState
    ) -> None:
        self.store = store
        self.settings = settings
        self.profiles = profiles
        self.config = config
        self.serving = serving
        # Request filters without request rules, per (include, exclude categories, exclude items), built once for
        # the configured rules object (replaced, not mutated, when rules change): see ``_filters``.
        self._filter_cache: dict[tuple[Any, ...], tuple[BusinessRules, Filters]] = {}
        # Finished lists per (profile, request, recent items) ("" = no usable history): see ``_cached``. Entries
        # hold only numbers, strings and tuples of them, which the garbage collector stops tracking: 20k cached
        # lists as dicts and objects were ~140k more objects for every full collection to walk (a pause per pass).
        self._results: OrderedDict[tuple[Any, ...], tuple[Any, ...]] = OrderedDict()
        self._generation = 0  # bumped when what every cached list depends on changes (see ``_current_generation``)
        self._generation_of: tuple[Any, ...] = ()
        # the cold-item layer's state per catalogue (and model): see ``_cold``
        self._text: tuple[Catalogue, CatalogueText] | None = None
        self._colds: list[tuple[Catalogue, Recommender | None, float, ColdItems | None]] = []

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= self.config.max_k:
            raise InvalidInput.field("k", f"must be between 1 and {self.config.max_k}")

    def forget(self, profile_id: str) -> None:
        """Drop the cached lists derived from an erased profile's history."""
        for key in [key for key in list(self._results) if key[0] == profile_id]:
            self._results.pop(key, None)

    def _history(self, user_id: str, verified: bool = True) -> tuple[str | None, list[list[Any]]]:
        """(profile id, recent_items) or (None, []) for unknown users or without personalization consent.

        A user id is looked up first (only when ``verified``), then the same raw id as an anonymous id (as
        ``ProfileService.find``), in one read transaction."""
        pseudo = self.profiles.pseudo
        if pseudo.n_keys > 1:  # a key rotation: the resolver re-keys identities found under old keys (writes)
            with self.store.transaction(write=True) as tx:
                profile_id = self.profiles.find(tx, user_id, kinds=None if verified else ("anonymous",))
                row = tx.get_profiles([profile_id]).get(profile_id) if profile_id is not None else None
        else:
            user_key, anon_key = pseudo.key("user", user_id), pseudo.key("anonymous", user_id)
            with self.store.reader() as tx:
                found = tx.get_identities([user_key, anon_key] if verified else [anon_key])
                ident = found.get(user_key) or found.get(anon_key)
                if ident is None:
                    return None, []
                profile_id = ident.profile_id
                row = tx.get_profiles([profile_id]).get(profile_id)
        return self._usable_history(profile_id, row)

    def _usable_history(self, profile_id: str | None, row: ProfileRow | None) -> tuple[str | None, list[list[Any]]]:
        """(profile id, recent_items) of a profile read by the caller, or (None, []) when it is not stored or has
        no personalization consent."""
        if (
            profile_id is None
            or row is None
            or not effective(row.consent, self.settings.default_consent)["personalization"]
        ):
            return None, []
        recent = row.state.get("recent_items", [])
        return profile_id, [r for r in recent if isinstance(r, list) and len(r) >= 4]

    def _filters(
        self,
        include_categories: Sequence[str],
        exclude_categories: Sequence[str],
        exclude: Sequence[str],
        rules: BusinessRules | None = None,
    ) -> Filters:
        """Request filters with the configured business rules, the request's own rules on top."""
        configured = self.config.rules
        key = None
        if rules is None:
            key = (tuple(include_categories), tuple(exclude_categories), tuple(exclude))
            hit = self._filter_cache.get(key)
            if hit is not None and hit[0] is configured:
                return hit[1]
        merged = configured.merged(rules) if rules is not None else configured
        filters = Filters(
            include_categories=list(include_categories),
            exclude_categories=list(exclude_categories),
            exclude_items=list(exclude),
            **merged.model_dump(),
        )
        if key is not None:
            if len(self._filter_cache) >= 1024:
                self._filter_cache = {}
            self._filter_cache[key] = (configured, filters)
        return filters

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        include_categories: Sequence[str] = (),
        exclude_categories: Sequence[str] = (),
        exclude: Sequence[str] = (),
        rules: BusinessRules | None = None,
        *,
        profile: tuple[str | None, ProfileRow | None] | None = None,
        verified: bool = True,
        using: tuple[str, str, Recommender] | None = None,
    ) -> Recommendations:
        """Top-``k`` items for a user; ``source`` says whether the model or the popularity fallback answered.

        ``rules`` (pin, boost, bury, diversity) apply on top of the configured ``RecommendConfig.rules``.
        ``profile``: (profile id, row) when the caller has already read the user's profile (``/v1/decide``), so
        that it is not looked up again. ``verified=False``: ``user_id`` is not proven, so it is looked up as an
        anonymous id only (see the module docstring). Lists without request rules are cached per profile (see
        ``_cached``). ``using``: (model name, version, model) answering instead of the served model (a
        recommender experiment; its lists are cached under its name and version).
        """
        self._check_k(k)
        filters = self._filters(include_categories, exclude_categories, exclude, rules)
        version, model = self.serving.model()
        current = model  # what cached lists depend on: the served model (another version is in the key)
        name = self.config.model
        if using is not None:
            name, version, model = using
        served = model
        degraded = False
        if profile is not None:
            profile_id, recent = self._usable_history(*profile)
        else:
            try:
                profile_id, recent = self._history(user_id, verified)
            except Exception as exc:  # storage away: the popularity list held in memory, flagged (docs/deploy.md)
                if not is_unavailable(exc):
                    raise
                profile_id, recent, degraded = None, [], True
        cache_key: tuple[Any, ...] | None = None
        generation = 0
        pop = None  # the popularity ranking read for this request (read once: a refresh may swap it meanwhile)
        if rules is None and self.config.result_cache_size > 0:
            generation, pop = self._current_generation(current)
            cache_key = (
                profile_id or "",
                k,
                tuple(include_categories),
                tuple(exclude_categories),
                tuple(exclude),
                tuple(recent_weights(recent)),
            )
            if using is not None:
                cache_key += (name, version)
            hit = self._cached(cache_key, generation)
            if hit is not None:
                cached: Recommendations = {
                    "user_id": user_id,
                    "source": hit[2],
                    "model": name if hit[2] == "model" else None,
                    "version": hit[3],
                    "items": [
                        {"item_id": i, "score": sc, "rank": r, "reason": why, "rule": rule}
                        for i, sc, r, why, rule in hit[4]
                    ],
                }
                if degraded:
                    cached["degraded"] = "storage"
                return cached
        source: Literal["model", "popularity"] = "model"
        row = None
        if model is not None:
            row = history_row(model, profile_id, recent)
            if row.nnz == 0:
                model = None
        if model is None:
            source = "popularity"
            model = pop if pop is not None else self.serving.popularity()
            version = None
            if model is not None:
                row = history_row(model, profile_id, recent)
        items: list[RecommendedItem] = []
        if model is not None and row is not None:
            self.serving.attach(model)
            context = history_context(model, profile_id, recent)
            items = item_entries(model.recommend(history=row, k=k, filters=filters, context=context))
        slots = self.config.fresh.slots(k)
        cold = self._cold(model) if slots else None
        if cold is not None and len(cold):
            history, now = self._fresh_history(served, profile_id, recent), time.time()
            picks = pick(cold, history, slots, filters, self.config.fresh, now)
            pins = pinned(cold, filters, now, [i for i, _ in history])
            items = merge(items, picks, k, pins, filters.pin)
        if cache_key is not None:
            self._store(cache_key, generation, source, version, items, model)
        answer: Recommendations = {
            "user_id": user_id,
            "source": source,
            "model": name if source == "model" else None,
            "version": version,
            "items": items,
        }
        if degraded:
            answer["degraded"] = "storage"
        return answer

    # ---------------------------------------------------------------- the cold-item layer (``fresh.py``)
    def _cold(self, model: Recommender | None) -> ColdItems | None:
        """The live catalogue's items that ``model`` does not know (None without a catalogue); made once per
        catalogue and model, and again after a minute (items age out)."""
        cat = self.serving.catalogue()
        if cat is None:
            return None
        now = time.time()
        for c, m, at, cold in self._colds:
            if c is cat and m is model and now - at < 60:
                return cold
        known = model.item_index if model is not None else None
        cold = cold_items(cat, known, self.config.fresh, now, lambda: self._ensure_text(cat))
        self._colds = [e for e in self._colds[-3:] if e[0] is cat and e[1] is not model] + [(cat, model, now, cold)]
        return cold

    def _catalogue_text(self) -> CatalogueText | None:
        """Content vectors of the live catalogue's items (made when first needed, once per catalogue)."""
        cat = self.serving.catalogue()
        return None if cat is None else self._ensure_text(cat)

    def _ensure_text(self, cat: Catalogue) -> CatalogueText:
        kept = self._text
        if kept is not None and kept[0] is cat:
            return kept[1]
        text = CatalogueText(cat)
        text.all()  # every item hashed at once (per catalogue load): requests then only slice it
        self._text = (cat, text)
        return text

    @staticmethod
    def _fresh_history(
        model: Recommender | None, profile_id: str | None, recent: list[list[Any]]
    ) -> list[tuple[str, float]]:
        """What the cold-item layer reads of a user: the recent profile items, else the (50 heaviest) items of
        their training row."""
        if recent:
            return recent_weights(recent)
        train = model._train_rows if model is not None else None
        idx = model.user_index.get(profile_id) if model is not None and profile_id is not None else None
        if idx is None or train is None or not sp.isspmatrix_csr(train):
            return []
        assert model is not None
        start, end = train.indptr[idx], train.indptr[idx + 1]
        cols, data = train.indices[start:end], train.data[start:end]
        order = np.argsort(-data, kind="stable")[:50]
        return [(str(model.fitted_item_ids[cols[o]]), float(data[o])) for o in order]

    # ---------------------------------------------------------------- cached lists
    def _current_generation(self, served: Recommender | None) -> tuple[int, Recommender | None]:
        """A number that changes whenever the served model, the catalogue, the popularity ranking or the configured
        rules (replaced, not mutated) change: a cached list is valid only under the number it was stored with.
        Reading the catalogue and popularity here also starts their refresh once they have expired; the
        popularity ranking read is returned with the number."""
        pop = self.serving.loaded_popularity()
        current = (served, self.serving.catalogue(), pop, self.config.rules)
        seen = self._generation_of
        if len(seen) != len(current) or any(a is not b for a, b in zip(seen, current, strict=True)):
            self._generation += 1
            self._generation_of = current
        return self._generation, pop

    def _cached(self, key: tuple[Any, ...], generation: int) -> tuple[Any, ...] | None:
        """The list stored for this profile, request and recent items (as the history row uses them), if it was
        made under the current generation and neither ``result_cache_ttl_s`` nor the next availability change of a
        catalogue item has passed since. Consent is read from the profile first: a cached list never skips that."""
        hit = self._results.get(key)
        if hit is None or hit[0] != generation or time.time() >= hit[1]:
            return None
        return hit

    def _store(
        self,
        key: tuple[Any, ...],
        generation: int,
        source: str,
        version: str | None,
        items: list[RecommendedItem],
        used: Recommender | None,
    ) -> None:
        now = time.time()
        until = now + self.config.result_cache_ttl_s
        used_catalogue = getattr(used, "catalogue", None)
        if used_catalogue is not None:
            change = getattr(used_catalogue, "next_change", None)
            if change is None:  # a catalogue whose availability changes are not known in advance: not cached
                return
            until = min(until, change(now))
        if generation != self._generation:  # something changed while this list was made
            return
        while len(self._results) >= self.config.result_cache_size:
            try:
                self._results.popitem(last=False)  # the oldest entry
            except KeyError:  # emptied by another thread meanwhile
                break
        self._results[key] = (
            generation,
            until,
            source,
            version,
            tuple((i["item_id"], i["score"], i["rank"], i["reason"], i["rule"]) for i in items),
        )

    def similar(self, item_id: str, k: int = 10, rules: BusinessRules | None = None) -> SimilarItems:
        """Items similar to ``item_id``; an item only in the catalogue gets popular items of its categories.

        Raises :class:`UnknownItem` when neither the model nor the catalogue knows the item.
        """
        self._check_k(k)
        version, model = self.serving.model()
        filters = self._filters((), (), [item_id], rules)
        fresh = self.config.fresh
        if model is not None and item_id in model.item_index:
            self.serving.attach(model)
            listed = item_entries(model.similar_items(item_id, k=k, filters=filters))
            cold = self._cold(model) if fresh.in_similar and fresh.slots(k) else None
            if cold is not None and len(cold):
                now, title = time.time(), model._titles.get(item_id, item_id)
                picks = pick(cold, [(item_id, 1.0)], fresh.slots(k), filters, fresh, now, [item_id])
                picks = [dataclasses.replace(p, reason=f"similar to {title} (new)") for p in picks]
                listed = merge(listed, picks, k, pinned(cold, filters, now, [item_id]), filters.pin)
            if listed:
                return SimilarItems(item_id=item_id, source="model", version=version, items=listed)
        elif fresh.in_similar and (text := self._catalogue_text()) is not None:
            by_content = similar_by_content(text, item_id, k, filters, time.time())
            if by_content:
                return SimilarItems(item_id=item_id, source="content", version=None, items=by_content)
        degraded = None
        try:
            with self.store.transaction(write=False) as tx:
                row = tx.get_items([item_id]).get(item_id)
        except Exception as exc:  # storage away: the popularity list held in memory, flagged
            if not is_unavailable(exc):
                raise
            row, degraded = None, "storage"
        pop = self.serving.popularity()
        known_by_events = pop is not None and item_id in pop.item_index
        unknown = row is None and not known_by_events and (model is None or item_id not in model.item_index)
        if unknown and degraded is None:
            raise UnknownItem(item_id)
        items: list[RecommendedItem] = []
        if pop is not None:
            self.serving.attach(pop)
            cats = row.categories if row is not None else []
            filters = self._filters(cats, (), [item_id], rules)
            recs = pop.recommend(history=pop.history_for(None), k=k, filters=filters)
            items = item_entries(recs, f"popular in {', '.join(cats)}" if cats else "popular")
        return SimilarItems(item_id=item_id, source="popularity", version=None, items=items, degraded=degraded)
