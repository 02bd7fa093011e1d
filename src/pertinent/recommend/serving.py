"""What serving reads on every request, kept in memory and reloaded off the request path: the served model (the
registry's newest version, checked every ``reload_interval_s``), the live catalogue (``catalogue_ttl_s``) and the
popularity ranking over the newest events (``popularity_ttl_s``).

Each is a :class:`~pertinent.runtime.cache.Refreshing` value: the very first load is waited for, later an
expired value keeps being served while a daemon thread reloads it. Until a model is served, a due check of the
registry is waited for too (it is one small file read), so a version trained meanwhile is served at once.
:class:`ServingCatalogue` aligns the catalogue to a model's item order once, so that a request's availability
and category masks are numpy comparisons.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from pertinent.recommend.catalogue import Catalogue
from pertinent.recommend.interactions import InteractionConfig
from pertinent.recommend.items import catalogue_from_rows
from pertinent.recommend.models.popularity import PopularityRecommender
from pertinent.recommend.training import interaction_events, interactions_from_store
from pertinent.runtime.cache import Refreshing
from pertinent.storage.availability import is_unavailable

if TYPE_CHECKING:
    from pertinent.recommend.base import Recommender
    from pertinent.recommend.config import RecommendConfig
    from pertinent.recommend.persistence import ModelVersions
    from pertinent.storage.base import Store

log = logging.getLogger("pertinent.recommend")

Served: TypeAlias = "tuple[str | None, Recommender | None]"  # (None, None) before any version was saved


class ServingCatalogue(Catalogue):
    """The live catalogue aligned once to one model's item order, so that each request's availability and
    category masks are numpy comparisons instead of pandas re-indexing (see ``allowed_mask``).

    Other orders get the plain :class:`Catalogue` answers (same frame). With ``only_listed``, items the catalogue
    does not list are never available.

    >>> import numpy as np
    >>> from pertinent.storage.base import ItemRow
    >>> cat = catalogue_from_rows([ItemRow("a", categories=["x"]), ItemRow("b", available_until=1.0),
    ...                            ItemRow("d", available_from=4e9, categories=["x", "y"])])
    >>> ids = np.asarray(["a", "b", "c", "d"], dtype=object)
    >>> aligned = ServingCatalogue(cat, ids, only_listed=True)
    >>> aligned.available(ids).tolist(), aligned.in_categories(["x"], ids).tolist()
    ([True, False, False, False], [True, False, False, True])
    >>> ServingCatalogue(cat, ids, only_listed=False).available(ids).tolist()
    [True, False, True, False]
    """

    def __init__(self, catalogue: Catalogue, item_ids: Any, only_listed: bool) -> None:
        super().__init__(catalogue.frame)
        self.base = catalogue
        self.item_ids = item_ids
        df = catalogue.aligned(item_ids)
        n = len(df)
        nan = np.full(n, np.nan)

        def seconds(col: str) -> np.ndarray:
            if col not in df.columns:
                return nan.copy()
            values = df[col]
            out = nan.copy()
            ok = values.notna().to_numpy()
            out[ok] = values[ok].map(lambda t: t.timestamp()).to_numpy(dtype=float)
            return out

        self._from = seconds("available_from")
        self._until = seconds("available_until")
        if only_listed:
            listed = np.isin(np.asarray(item_ids, dtype=object), catalogue.frame["id"].to_numpy(dtype=object))
            self._until[~listed] = -np.inf
        self._by_category: dict[str, list[int]] = {}
        for i, cats in enumerate(df["categories"]):
            for c in cats:
                self._by_category.setdefault(c, []).append(i)
        self._n = n
        self._next: tuple[float, float] | None = None  # (computed at, next availability change)
        self._available: tuple[float, float, np.ndarray] | None = None  # (from, until, mask valid in between)

    def available(self, item_ids: np.ndarray | list[str] | None = None, at: datetime | None = None) -> np.ndarray:
        if item_ids is not self.item_ids:
            return self.base.available(item_ids, at)
        if at is None:
            now = time.time()
        else:
            now = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
        if at is None:  # serving: the mask only changes when an item's availability does (see next_change)
            cached = self._available
            if cached is not None and cached[0] <= now < cached[1]:
                return cached[2]
        with np.errstate(invalid="ignore"):
            mask = ~((self._from > now) | (self._until <= now))
        if at is None:
            mask.setflags(write=False)  # shared by requests: read-only
            self._available = (now, self.next_change(now), mask)
        return mask

    def next_change(self, now: float) -> float:
        """The first moment after ``now`` (epoch seconds) at which an item becomes available or unavailable
        (``inf`` when none will): lists ranked before it stay valid until then."""
        cached = self._next
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[1]
        bounds = np.concatenate([self._from, self._until])
        with np.errstate(invalid="ignore"):
            later = bounds[bounds > now]
        nxt = float(later.min()) if len(later) else float("inf")
        self._next = (now, nxt)
        return nxt

    def in_categories(self, categories: list[str], item_ids: np.ndarray | list[str] | None = None) -> np.ndarray:
        if item_ids is not self.item_ids:
            return self.base.in_categories(categories, item_ids)
        mask = np.zeros(self._n, dtype=bool)
        for c in set(categories):
            mask[self._by_category.get(c, [])] = True
        return mask


@dataclass(frozen=True)
class _LoadedCatalogue:
    catalogue: Catalogue | None  # None: no items stored


@dataclass(frozen=True)
class _Popularity:
    model: Recommender | None  # None: no track events to rank by
    newest: str | None  # message id of the newest track event it was computed with
    erasures: int  # how many erasures this process had seen when it was computed


class ServedState:
    """The served model, the live catalogue and the popularity ranking of one :class:`RecommendService`.

    ``config`` is the service's own copy, read on every access (its TTLs may be changed while serving).
    """

    def __init__(self, store: Store, config: RecommendConfig, versions: ModelVersions) -> None:
        self.store = store
        self.config = config
        self.versions = versions
        self._served: Served = (None, None)
        self._check_lock = threading.Lock()  # one registry check at a time (background, refresh_model)
        self._model_check: Refreshing[Served] = Refreshing(
            self._check_model, ttl_s=config.reload_interval_s, name="model"
        )
        self._catalogue: Refreshing[_LoadedCatalogue] = Refreshing(
            self._load_catalogue, ttl_s=config.catalogue_ttl_s, name="catalogue"
        )
        self._popularity: Refreshing[_Popularity] = Refreshing(
            self._load_popularity, ttl_s=config.popularity_ttl_s, name="popularity"
        )
        self._attached: weakref.WeakKeyDictionary[Recommender, Catalogue] = weakref.WeakKeyDictionary()
        # versions served by recommender experiments, by (name, version) ("latest" resolved, re-read after
        # ``reload_interval_s``): see ``version``
        self._versions: dict[tuple[str, str], Recommender] = {}
        self._latest: dict[str, tuple[float, str | None]] = {}
        self._versions_lock = threading.Lock()
        self._from_model: tuple[Recommender, Recommender] | None = None  # see ``_model_popularity``

    # ---------------------------------------------------------------- the served model
    def model(self) -> Served:
        """The served (version, model); the registry is checked for a newer version every ``reload_interval_s``.

        While a model is served, a due check (and the load of a new version) runs in a background thread and
        requests keep serving the current model meanwhile; only the very first load is waited for, and a due check
        while nothing is served yet. Training in this process loads its version at once (``refresh_model``)."""
        check = self._model_check
        check.ttl_s = self.config.reload_interval_s
        check.get()
        if self._served[1] is None:  # nothing to serve yet: wait for a due check rather than leave it running
            check.wait()
        return self._served

    def model_served(self) -> bool:
        return self._served[1] is not None

    def _check_model(self) -> Served:
        """Load the registry's newest version if it is newer than the served one (one caller at a time)."""
        with self._check_lock:
            try:
                newer = self.versions.newer_than(self._served[0])
                if newer is not None:
                    version, model = newer
                    cached = self._catalogue.peek()
                    if cached is not None and cached.catalogue is not None:
                        self._attach_catalogue(model, cached.catalogue)  # aligned before any request sees the model
                    self._served = (version, model)  # one assignment: readers never see a mixed pair
                    log.info("serving model %s version %s", self.config.model, version)
            except Exception:  # a broken or half-deleted version: keep serving the current one
                log.exception("could not load model %s", self.config.model)
        return self._served

    def refresh_model(self) -> None:
        """Load the registry's newest version now, in the caller's thread (the retrainer's: no request waits for
        the load); the next due check is ``reload_interval_s`` from now."""
        self._model_check.set(self._check_model())

    # ---------------------------------------------------------------- other versions (recommender experiments)
    def resolve(self, name: str, version: str) -> str | None:
        """``version`` itself, or for ``latest`` the newest version of ``name`` (re-read every
        ``reload_interval_s``); None when the model has no version."""
        if version != "latest":
            return version
        now = time.monotonic()
        cached = self._latest.get(name)
        if cached is None or now - cached[0] >= self.config.reload_interval_s:
            cached = (now, self.versions.registry.latest_version(name))
            self._latest[name] = cached
        return cached[1]

    def version(self, name: str, version: str) -> tuple[str, Recommender]:
        """(resolved version, model) of a saved version, loaded once and kept (the served model itself when it
        is that version). Raises ``RegistryError`` (unknown model or version, missing files) or the load's
        error (a broken or incompatible model file)."""
        from pertinent.recommend.registry import RegistryError

        resolved = self.resolve(name, version)
        if resolved is None:
            raise RegistryError("version", f"model {name!r} has no saved version")
        served_version, served = self._served
        if name == self.config.model and resolved == served_version and served is not None:
            return resolved, served
        model = self._versions.get((name, resolved))
        if model is None:
            with self._versions_lock:
                model = self._versions.get((name, resolved))
                if model is None:
                    model = self.versions.registry.load(name, resolved)
                    for erased in self.versions.erased:
                        model.user_index.pop(erased, None)
                    if len(self._versions) >= 8:
                        self._versions.pop(next(iter(self._versions)))
                    self._versions[(name, resolved)] = model
        return resolved, model

    # ---------------------------------------------------------------- the catalogue
    def catalogue(self) -> Catalogue | None:
        """The live catalogue (cached for ``catalogue_ttl_s``; None without items). An expired one is served while
        a background thread reloads it (and aligns it to the served model); after a catalogue write the next
        call reloads at once (``catalogue_changed``)."""
        cache = self._catalogue
        cache.ttl_s = self.config.catalogue_ttl_s
        try:
            return cache.get().catalogue
        except Exception as exc:  # never loaded, and storage is away: lists without catalogue filters meanwhile
            if not is_unavailable(exc):
                raise
            log.warning("storage unavailable (%s): serving without the catalogue", type(exc).__name__)
            return None

    def catalogue_loaded(self) -> bool:
        return self._catalogue.peek() is not None

    def catalogue_changed(self) -> None:
        self._catalogue.invalidate()

    def _load_catalogue(self) -> _LoadedCatalogue:
        with self.store.transaction(write=False) as tx:
            rows = list(tx.iter_items())
        cat = catalogue_from_rows(rows) if rows else None
        _version, model = self._served
        if model is not None and cat is not None:
            self._attach_catalogue(model, cat)  # aligned here, so that no request pays for it
        return _LoadedCatalogue(cat)

    def attach(self, model: Recommender) -> None:
        """Filter with the live catalogue (availability, categories) and name items by title in reasons."""
        cat = self.catalogue()
        if cat is not None:
            self._attach_catalogue(model, cat)

    def _attach_catalogue(self, model: Recommender, cat: Catalogue) -> None:
        if self._attached.get(model) is cat:
            return
        model.catalogue = ServingCatalogue(cat, model.item_ids, self.config.catalogue_only)
        model._titles.update(cat.titles())  # shared with the model's members: reasons read titles from it
        self._attached[model] = cat

    # ---------------------------------------------------------------- popularity
    def popularity(self) -> Recommender | None:
        """Popularity over the newest stored events (cached for ``popularity_ttl_s``); None without events.

        The first call computes it (concurrent first callers wait for that one); an expired ranking keeps
        being served while a background thread recomputes it.
        """
        cache = self._popularity
        cache.ttl_s = self.config.popularity_ttl_s
        try:
            return cache.get().model
        except Exception as exc:  # never computed, and storage is away: the served model's training counts
            if not is_unavailable(exc):
                raise
            log.warning("storage unavailable (%s): popularity from the served model's training", type(exc).__name__)
            return self._model_popularity()

    def _model_popularity(self) -> Recommender | None:
        """Popularity over the served model's training interactions (kept in memory with it), computed once per
        model: the fallback while storage is away and no popularity ranking was ever read; None without a model
        that kept its training rows."""
        import pandas as pd

        from pertinent.recommend.interactions import Interactions

        _version, model = self._served
        train = model._train_rows if model is not None else None
        if model is None or train is None:
            return None
        kept = self._from_model
        if kept is not None and kept[0] is model:
            return kept[1]
        coo = train.tocoo()
        frame = pd.DataFrame(
            {"user": coo.row.astype(str), "item": model.fitted_item_ids[coo.col], "weight": coo.data.astype(float)}
        )
        pop = PopularityRecommender().fit(Interactions.from_frame(frame, weight_col="weight"))
        self._from_model = (model, pop)
        return pop

    def loaded_popularity(self) -> Recommender | None:
        """The popularity ranking if it was ever computed (an expired one starts its refresh), else None: reading
        it never makes the caller wait for a first computation."""
        return self.popularity() if self._popularity.peek() is not None else None

    def popularity_loaded(self) -> bool:
        return self._popularity.peek() is not None

    def load_popularity_in_background(self) -> None:
        self._popularity.refresh_in_background()

    def _newest_track_event(self) -> str | None:
        with self.store.transaction(write=False) as tx:
            # the newest event that can change the ranking: exposures and impressions never do
            names = interaction_events(InteractionConfig())  # popularity's (the default) weights
            newest = next(iter(tx.iter_events("track", limit=1, names=names)), None)
        return newest.message_id if newest is not None else None

    def _load_popularity(self) -> _Popularity:
        """Popularity over the newest ``popularity_max_events`` track events. An expired ranking is kept as it
        is when no track event was stored since it was computed (reading and counting 200k events costs seconds
        of CPU); an erasure always recomputes it (``forget``)."""
        erasures = len(self.versions.erased)
        newest = self._newest_track_event()
        cached = self._popularity.peek()
        if cached is not None and newest is not None and newest == cached.newest and cached.erasures == erasures:
            return cached
        data = interactions_from_store(self.store, self.config.popularity_max_events)
        model = PopularityRecommender().fit(data) if data.n_items else None
        # an erasure while this ran may have been read with the events: then the next refresh recomputes
        return _Popularity(model, newest, erasures)

    # ---------------------------------------------------------------- everything
    def forget(self, profile_id: str) -> None:
        """Drop an erased profile's training row from the served model and the popularity ranking at once (the
        ranking is recomputed without its events on its next refresh: the erasure count changed), and what each
        model kept of the last request of every serving thread (``Recommender.forget_recent``: it may be the
        erased profile's history; every thread's is dropped, as nothing there names the profile)."""
        pop = self._popularity.peek()
        if pop is not None and pop.model is not None:
            pop.model.user_index.pop(profile_id, None)  # meanwhile: the erased profile's row is not read any more
        _version, model = self._served
        if model is not None:
            model.user_index.pop(profile_id, None)
            model.forget_recent()
        for other in list(self._versions.values()):
            other.user_index.pop(profile_id, None)
            other.forget_recent()

    def refresh(self) -> None:
        """Forget cached popularity and catalogue (reloaded on the next call) and load a newer model now."""
        self._popularity.invalidate()
        self._catalogue.invalidate()
        self.refresh_model()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for running background reloads (tests, shutdown)."""
        for cache in (self._model_check, self._catalogue, self._popularity):
            cache.wait(timeout)
