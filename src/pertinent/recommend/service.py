"""Recommendation serving: the item catalogue, training from stored events and live recommendations.

``RecommendService`` loads the newest model version from the registry lazily and, at most every
``reload_interval_s`` seconds, checks ``has_newer`` and swaps in a new version without a restart.
A user's history comes from the profile (``recent_items``, newest events included), so a click
changes the next list without retraining. Users without history, or a server without a model, get
popularity computed from stored events (never an error).

>>> from pertinent.settings import Settings
>>> from pertinent.services import Services
>>> import tempfile
>>> s = Settings(database_url="sqlite://", data_dir=tempfile.mkdtemp(), write_key="w", admin_key="a",
...              pseudonym_keys=["k"])
>>> svc = Services.build(s); svc.store.migrate()
>>> svc.recommend.upsert_items([{"item_id": "mug", "title": "Red mug", "categories": ["kitchen"]}]).stored
1
>>> svc.recommend.recommend("nobody", k=3)["source"]
'popularity'
>>> svc.close()
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pertinent.recommend.config import BusinessRules, RecommendConfig
from pertinent.storage.base import ItemRow, ProfileRow, Store

if TYPE_CHECKING:
    import scipy.sparse as sp

    from pertinent.profiles.service import ProfileService
    from pertinent.recommend.base import Recommender
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import InteractionConfig, Interactions
    from pertinent.recommend.retrain import Retrainer
    from pertinent.settings import Settings

log = logging.getLogger("pertinent.recommend")


# ------------------------------------------------------------------------------------------------ items
def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be epoch seconds or an ISO 8601 date-time")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be epoch seconds or an ISO 8601 date-time") from None
        if dt.tzinfo is None:
            from datetime import UTC

            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    raise ValueError("must be epoch seconds or an ISO 8601 date-time")


class ItemIn(BaseModel):
    """One catalogue item as sent to ``POST /v1/items`` (unknown fields are refused, by name).

    >>> ItemIn(item_id=42, title="Mug", available_until="2030-01-01T00:00:00Z").available_until
    1893456000.0
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_id: str = Field(min_length=1, max_length=200)
    title: str = Field(default="", max_length=1000)
    text: str = Field(default="", max_length=20_000)
    categories: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)
    available_from: float | None = None
    available_until: float | None = None

    @field_validator("item_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        if value is None or (isinstance(value, float) and value != value):
            raise ValueError("missing item id")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("available_from", "available_until", mode="before")
    @classmethod
    def _time(cls, value: Any) -> float | None:
        return _epoch(value)

    def row(self, now: float) -> ItemRow:
        if (
            self.available_from is not None
            and self.available_until is not None
            and self.available_until <= self.available_from
        ):
            raise ValueError("available_until: must be after available_from")
        return ItemRow(
            self.item_id,
            self.title,
            self.text,
            self.categories,
            self.tags,
            self.attributes,
            self.available_from,
            self.available_until,
            now,
        )


@dataclass
class UpsertResult:
    received: int = 0
    stored: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "success": not self.errors,
            "received": self.received,
            "stored": self.stored,
            "rejected": self.received - self.stored,
            "errors": self.errors,
        }


def validate_items(
    raws: Sequence[Any], prefix: str = "items", now: float | None = None, offset: int = 0
) -> tuple[list[ItemRow], list[dict[str, Any]]]:
    """Valid rows, and one error per problem of each invalid row: ``{"index", "field", "message"}``
    (indices count from ``offset``, for callers that validate a long list in chunks)."""
    now = time.time() if now is None else now
    rows: list[ItemRow] = []
    errors: list[dict[str, Any]] = []
    for i, raw in enumerate(raws, start=offset):
        where = f"{prefix}[{i}]"
        if not isinstance(raw, dict):
            errors.append({"index": i, "field": where, "message": "must be an object"})
            continue
        try:
            rows.append(ItemIn.model_validate(raw).row(now))
        except ValidationError as exc:
            for e in exc.errors():
                loc = ".".join(str(p) for p in e.get("loc", ()))
                errors.append(
                    {
                        "index": i,
                        "field": f"{where}.{loc}" if loc else where,
                        "message": e.get("msg", "invalid").removeprefix("Value error, "),
                    }
                )
        except ValueError as exc:
            name, _, msg = str(exc).partition(": ")
            errors.append({"index": i, "field": f"{where}.{name}", "message": msg or str(exc)})
    return rows, errors


def item_json(row: ItemRow) -> dict[str, Any]:
    return {
        "item_id": row.item_id,
        "title": row.title,
        "text": row.text,
        "categories": row.categories,
        "tags": row.tags,
        "attributes": row.attributes,
        "available_from": row.available_from,
        "available_until": row.available_until,
        "updated_at": row.updated_at,
    }


def catalogue_from_rows(rows: Iterable[ItemRow]) -> Catalogue:
    """A library :class:`Catalogue` (availability as UTC timestamps) from stored items."""
    import pandas as pd

    from pertinent.recommend.catalogue import Catalogue

    rows = list(rows)
    frame = pd.DataFrame(
        {
            "id": [r.item_id for r in rows],
            "title": [r.title for r in rows],
            "text": [r.text for r in rows],
            "categories": [list(r.categories) for r in rows],
            "tags": [list(r.tags) for r in rows],
            "available_from": pd.to_datetime(
                pd.Series([r.available_from for r in rows], dtype="float64"), unit="s", utc=True
            ),
            "available_until": pd.to_datetime(
                pd.Series([r.available_until for r in rows], dtype="float64"), unit="s", utc=True
            ),
        }
    )
    return Catalogue.from_frame(frame)


class ServingCatalogue:
    """The live catalogue aligned once to one model's item order, so that each request's availability and
    category masks are numpy comparisons instead of pandas re-indexing (see ``allowed_mask``).

    Other orders fall back to the plain :class:`Catalogue`. With ``only_listed``, items the catalogue does
    not list are never available.

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
        import numpy as np

        self.base = catalogue
        self.frame = catalogue.frame
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

    def __len__(self) -> int:
        return len(self.base)

    def available(self, item_ids: Any = None, at: datetime | None = None) -> Any:
        import numpy as np

        if item_ids is not self.item_ids:
            return self.base.available(item_ids, at)
        if at is None:
            now = time.time()
        else:
            from datetime import UTC

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
        import numpy as np

        cached = self._next
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[1]
        bounds = np.concatenate([self._from, self._until])
        with np.errstate(invalid="ignore"):
            later = bounds[bounds > now]
        nxt = float(later.min()) if len(later) else float("inf")
        self._next = (now, nxt)
        return nxt

    def in_categories(self, categories: list[str], item_ids: Any = None) -> Any:
        import numpy as np

        if item_ids is not self.item_ids:
            return self.base.in_categories(categories, item_ids)
        mask = np.zeros(self._n, dtype=bool)
        for c in set(categories):
            mask[self._by_category.get(c, [])] = True
        return mask

    def __getattr__(self, name: str) -> Any:  # titles(), documents(), ... from the plain catalogue
        return getattr(self.base, name)


# ------------------------------------------------------------------------------------------------ training
def product_ids(props: dict[str, Any] | None) -> list[str]:
    """Product ids of an event: ``properties.product_id`` or ``properties.products[].product_id``.

    >>> product_ids({"products": [{"product_id": 1}, {"sku": "x"}, {"product_id": "b"}]})
    ['1', 'b']
    """
    if not props:
        return []
    products = props.get("products")
    items = [p for p in products if isinstance(p, dict)] if isinstance(products, list) else [props]
    out = []
    for p in items:
        pid = p.get("product_id")
        if isinstance(pid, str | int) and not isinstance(pid, bool) and str(pid):
            out.append(str(pid)[:200])
    return out


def _interaction_events(config: InteractionConfig) -> list[str]:
    """The track events that can become interactions (positive weight); others (exposures, impressions...)
    are not even read."""
    return sorted(name for name, w in config.event_weights.items() if w > 0)


def interactions_from_store(
    store: Store,
    max_events: int | None = None,
    config: InteractionConfig | None = None,
    on_event: Callable[[int], None] | None = None,
) -> Interactions:
    """Track events with product ids -> an Interactions frame (user = profile id), weighted by ``config``."""
    import pandas as pd

    from pertinent.recommend.interactions import InteractionConfig, Interactions

    config = config or InteractionConfig()
    users: list[str] = []
    items: list[str] = []
    names: list[str] = []
    stamps: list[float] = []
    n = 0
    interactions = _interaction_events(config)
    with store.transaction(write=False) as tx:
        for profile_id, name, timestamp, properties in tx.iter_event_properties(interactions, limit=max_events):
            n += 1
            if on_event is not None and n % 1000 == 0:
                on_event(1000)
            for pid in product_ids(properties):
                users.append(profile_id)
                items.append(pid)
                names.append(name)
                stamps.append(timestamp)
    if on_event is not None:
        on_event(n % 1000)
    frame = pd.DataFrame({"user": users, "item": items, "event": names, "timestamp": stamps})
    data = Interactions.from_frame(frame, event_col="event", timestamp_col="timestamp", config=config)
    return data


@dataclass(frozen=True)
class TrainResult:
    """What ``train_from_store`` produced: the saved version, its metrics and the data size."""

    version: str | None
    model: str
    n_users: int
    n_items: int
    n_interactions: int
    metrics: dict[str, Any]
    message: str = ""


def train_from_store(
    store: Store,
    data_dir: str | Path,
    model: str = "default",
    max_events: int | None = None,
    seed: int = 42,
    k: int = 10,
    progress: Callable[[str, int | None], None] | None = None,
    events_seen: int | None = None,
    config: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` on stored events, evaluate it on a per-user random holdout, save it to the registry.

    Returns a result with ``version=None`` and a message (no exception) when there is nothing to learn.
    The version's meta records ``events_seen`` (the stored event count; counted here unless given).
    ``config`` is the model's config as a dict (e.g. ``{"hybrid": {"content": {"encoder": "embedding"}}}``).
    """
    from pertinent.evaluation import evaluate, random_holdout
    from pertinent.recommend.models import make_model
    from pertinent.recommend.registry import ModelRegistry

    step = progress or (lambda _label, _n: None)
    recommender = make_model(model, config)  # ValueError names an unknown kind or bad field before any work
    if events_seen is None:
        with store.transaction(write=False) as tx:
            events_seen = tx.count_events()
    step("reading events", None)
    data = interactions_from_store(store, max_events, on_event=lambda n: step("reading events", n))
    if data.n_items == 0 or data.matrix.nnz == 0:
        return TrainResult(None, model, 0, 0, 0, {}, "no track events with product ids to learn from")
    with store.transaction(write=False) as tx:
        rows = list(tx.iter_items())
    catalogue = catalogue_from_rows(rows) if rows else None
    metrics: dict[str, Any] = {}
    message = ""
    step("evaluating on a random holdout", None)
    try:
        split = random_holdout(data, 0.2, seed, min_interactions=5)
        if len(split.test_users):
            held = make_model(model, config).fit(split.train, catalogue)
            result = evaluate(held, split, k=k)
            metrics = {"holdout": result.to_dict()}
            message = result.message
        else:
            message = "no user has 5 interactions: not evaluated"
    except ValueError as exc:  # thin data: train anyway, report why there are no metrics
        message = f"not evaluated: {exc}"
    step("training", None)
    recommender.fit(data, catalogue)
    report = getattr(recommender, "report", None)
    if report:
        metrics["report"] = report
    meta = {
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": int(data.matrix.nnz),
        "max_events": max_events,
        "events_seen": events_seen,
    }
    version = ModelRegistry.for_data_dir(data_dir).save(model, recommender, metrics=metrics, meta=meta)
    return TrainResult(version, model, data.n_users, data.n_items, int(data.matrix.nnz), metrics, message)


# ------------------------------------------------------------------------------------------------ serving
class UnknownItemError(LookupError):
    """The item is neither in the model nor in the catalogue."""


class RecommendService:
    """Catalogue writes and live recommendations (see the module docstring for the example)."""

    def __init__(
        self, store: Store, settings: Settings, profiles: ProfileService, config: RecommendConfig | None = None
    ) -> None:
        from pertinent.recommend.registry import ModelRegistry

        self.store = store
        self.settings = settings
        self.profiles = profiles
        self.config = config or settings.recommend.model_copy(deep=True)
        self.registry = ModelRegistry.for_data_dir(settings.data_dir)
        self._lock = threading.Lock()
        self._served: tuple[str | None, Recommender | None] = (None, None)
        self._checked_at = float("-inf")
        self._popularity: tuple[float, Recommender | None] | None = None
        self._popularity_newest: str | None = None  # message id of the newest track event it was computed with
        self._popularity_lock = threading.Lock()
        self._background: dict[str, threading.Thread] = {}
        self._background_lock = threading.Lock()
        self._attached: weakref.WeakKeyDictionary[Recommender, Catalogue] = weakref.WeakKeyDictionary()
        self._catalogue: tuple[float, Catalogue | None] | None = None
        self.erased: list[str] = []  # profile ids erased while this process runs (append-only)
        # Request filters without request rules, per (include, exclude categories, exclude items), built once for
        # the configured rules object (replaced, not mutated, when rules change): see ``_filters``.
        self._filter_cache: dict[tuple[Any, ...], tuple[BusinessRules, Any]] = {}
        # Finished lists per (profile, request, recent items) ("" = no usable history): see ``_cached``. Entries
        # hold only numbers, strings and tuples of them, which the garbage collector stops tracking: 20k cached
        # lists as dicts and objects were ~140k more objects for every full collection to walk (a pause per pass).
        self._results: OrderedDict[tuple[Any, ...], tuple[Any, ...]] = OrderedDict()
        self._generation = 0  # bumped when what every cached list depends on changes (see ``_current_generation``)
        self._generation_of: tuple[Any, ...] = ()

    # ---------------------------------------------------------------- personal data in models
    def user_rows(self, user_id: str) -> list[dict[str, Any]]:
        """What the saved model versions hold about a user (data export)."""
        return self.registry.user_rows(user_id)

    def forget_user(self, user_id: str) -> int:
        """Erase a user from every saved model version and from the model being served.

        The id is also remembered for this process's scheduled retraining, so that a version whose training
        read the user's events before the erasure is cleaned once it is saved (see ``Retrainer``).
        """
        self.erased.append(user_id)
        for key in [k for k in list(self._results) if k[0] == user_id]:  # lists derived from the profile's history
            self._results.pop(key, None)
        self._popularity_newest = None  # popularity is recomputed on its next refresh, without the erased events
        pop = self._popularity
        if pop is not None and pop[1] is not None:
            pop[1].user_index.pop(user_id, None)  # meanwhile: the erased profile's row is not read any more
        changed = self.registry.forget_user(user_id)
        _version, model = self._served
        if model is not None:
            model.user_index.pop(user_id, None)
        return changed

    # ---------------------------------------------------------------- items
    def upsert_items(self, raws: Sequence[Any]) -> UpsertResult:
        rows, errors = validate_items(raws)
        if rows:
            with self.store.transaction() as tx:
                tx.upsert_items(rows)
            self._catalogue = None
        return UpsertResult(len(raws), len(rows), errors)

    def upsert_rows(self, rows: Sequence[ItemRow]) -> None:
        with self.store.transaction() as tx:
            tx.upsert_items(rows)
        self._catalogue = None

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        with self.store.transaction(write=False) as tx:
            row = tx.get_items([item_id]).get(item_id)
        return None if row is None else item_json(row)

    def delete_item(self, item_id: str) -> bool:
        with self.store.transaction() as tx:
            gone = tx.delete_items([item_id]) > 0
        self._catalogue = None
        return gone

    # ---------------------------------------------------------------- cached state
    def model(self) -> tuple[str | None, Recommender | None]:
        """The served (version, model); the registry is checked for a newer version every ``reload_interval_s``.

        While a model is served, a due check (and the load of a new version) runs in a background thread and
        requests keep serving the current model meanwhile; only the very first load is waited for. Training in
        this process loads its version at once (``refresh_model``)."""
        if time.monotonic() - self._checked_at < self.config.reload_interval_s:
            return self._served
        if self._served[1] is not None:
            self._in_background("model", self._check_model)
            return self._served
        return self._check_model()

    def _check_model(self) -> tuple[str | None, Recommender | None]:
        """Load the registry's newest version if it is newer than the served one (one caller at a time)."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at < self.config.reload_interval_s:
                return self._served
            self._checked_at = now
            try:
                if self.registry.has_newer(self.config.model, self._served[0]):
                    version = self.registry.latest_version(self.config.model)
                    model = self.registry.load(self.config.model, version or "latest")
                    cached = self._catalogue
                    if model is not None and cached is not None and cached[1] is not None:
                        self._attach_catalogue(model, cached[1])  # aligned before any request sees the model
                    self._served = (version, model)  # one assignment: readers never see a mixed pair
                    log.info("serving model %s version %s", self.config.model, version)
            except Exception:  # a broken or half-deleted version: keep serving the current one
                log.exception("could not load model %s", self.config.model)
        return self._served

    def _in_background(self, key: str, work: Callable[[], Any]) -> None:
        """Run ``work`` in a daemon thread unless the previous one for ``key`` is still running."""
        with self._background_lock:
            running = self._background.get(key)
            if running is not None and running.is_alive():
                return

            def guarded() -> None:
                try:
                    work()
                except Exception:  # keep serving the cached value; try again after the next expiry
                    log.exception("background refresh of the %s failed", key)

            thread = threading.Thread(target=guarded, name=f"pertinent-{key}", daemon=True)
            self._background[key] = thread
            thread.start()

    def catalogue(self) -> Catalogue | None:
        """The live catalogue (cached for ``catalogue_ttl_s``). An expired one is served while a background
        thread reloads it (and aligns it to the served model), so no request waits for the reload; after
        a catalogue write the next call reloads at once."""
        cached = self._catalogue
        if cached is None:
            return self._load_catalogue()
        if time.monotonic() - cached[0] >= self.config.catalogue_ttl_s:
            self._in_background("catalogue", self._load_catalogue)
        return cached[1]

    def _load_catalogue(self) -> Catalogue | None:
        with self.store.transaction(write=False) as tx:
            rows = list(tx.iter_items())
        cat = catalogue_from_rows(rows) if rows else None
        self._catalogue = (time.monotonic(), cat)
        _version, model = self._served
        if model is not None and cat is not None:
            self._attach_catalogue(model, cat)  # aligned here, so that no request pays for it
        return cat

    def popularity(self) -> Recommender | None:
        """Popularity over the newest stored events (cached for ``popularity_ttl_s``); None without events.

        The first call computes it (concurrent first callers wait for that one); an expired ranking keeps
        being served while a background thread recomputes it.
        """
        cached = self._popularity
        if cached is not None:
            if time.monotonic() - cached[0] >= self.config.popularity_ttl_s:
                self._in_background("popularity", self._load_popularity)
            return cached[1]
        with self._popularity_lock:
            cached = self._popularity
            return cached[1] if cached is not None else self._load_popularity()

    def _newest_track_event(self) -> str | None:
        from pertinent.recommend.interactions import InteractionConfig  # popularity's (the default) weights

        with self.store.transaction(write=False) as tx:
            # the newest event that can change the ranking: exposures and impressions never do
            newest = next(iter(tx.iter_events("track", limit=1, names=_interaction_events(InteractionConfig()))), None)
        return newest.message_id if newest is not None else None

    def _load_popularity(self) -> Recommender | None:
        """Popularity over the newest ``popularity_max_events`` track events. An expired ranking is kept as it
        is when no track event was stored since it was computed (reading and counting 200k events costs seconds
        of CPU); an erasure always recomputes it (``forget_user``)."""
        from pertinent.recommend.models.popularity import PopularityRecommender

        erasures = len(self.erased)
        newest = self._newest_track_event()
        cached = self._popularity
        if cached is not None and newest is not None and newest == self._popularity_newest:
            self._popularity = (time.monotonic(), cached[1])
            return cached[1]
        data = interactions_from_store(self.store, self.config.popularity_max_events)
        model = PopularityRecommender().fit(data) if data.n_items else None
        self._popularity = (time.monotonic(), model)
        # an erasure while this ran may have been read with the events: then the next refresh recomputes
        self._popularity_newest = newest if len(self.erased) == erasures else None
        return model

    def refresh(self) -> None:
        """Forget cached popularity and catalogue (reloaded on the next call) and load a newer model now."""
        self._popularity = self._catalogue = None
        self.refresh_model()

    def refresh_model(self) -> None:
        """Load the registry's newest version now, in the caller's thread (the retrainer's: no request waits for
        the load); caches kept."""
        self._checked_at = float("-inf")
        self._check_model()

    def start_retraining(self) -> Retrainer | None:
        """Start scheduled retraining when ``retrain_interval_s`` > 0 (the server does this); else None."""
        if self.config.retrain_interval_s <= 0:
            return None
        from pertinent.recommend.retrain import Retrainer

        log.info("retraining %s every %.0f s when new events arrive", self.config.model, self.config.retrain_interval_s)
        return Retrainer(self).start()

    # ---------------------------------------------------------------- recommending
    def runs_inline(self) -> bool:
        """Whether ``recommend`` may run on the server's event loop: on SQLite with one pseudonym key its reads take
        microseconds, and nothing it needs has to be loaded first (the model checked recently, popularity and the
        catalogue cached; expired ones are refreshed by background threads). Otherwise it runs in a thread."""
        if self.store.backend != "sqlite" or self.profiles.pseudo.n_keys != 1 or self._catalogue is None:
            return False
        if self._popularity is None:  # only known users so far never needed it: load it without them waiting
            self._in_background("popularity", self.popularity)
            return False
        return self._served[1] is not None  # a due model check runs in the background (``model``)

    def _history(self, user_id: str) -> tuple[str | None, list[list[Any]]]:
        """(profile id, recent_items) or (None, []) for unknown users or without personalization consent.

        A user id is looked up first, then the same raw id as an anonymous id (as ``ProfileService.find``), in
        one read transaction."""
        pseudo = self.profiles.pseudo
        if pseudo.n_keys > 1:  # a key rotation: the resolver re-keys identities found under old keys (writes)
            with self.store.transaction(write=True) as tx:
                profile_id = self.profiles.find(tx, user_id)
                row = tx.get_profiles([profile_id]).get(profile_id) if profile_id is not None else None
        else:
            user_key, anon_key = pseudo.key("user", user_id), pseudo.key("anonymous", user_id)
            with self.store.reader() as tx:
                found = tx.get_identities([user_key, anon_key])
                ident = found.get(user_key) or found.get(anon_key)
                if ident is None:
                    return None, []
                profile_id = ident.profile_id
                row = tx.get_profiles([profile_id]).get(profile_id)
        return self._usable_history(profile_id, row)

    def _usable_history(self, profile_id: str | None, row: ProfileRow | None) -> tuple[str | None, list[list[Any]]]:
        """(profile id, recent_items) of a profile read by the caller, or (None, []) when it is not stored or has
        no personalization consent."""
        from pertinent.privacy.consent import effective

        if (
            profile_id is None
            or row is None
            or not effective(row.consent, self.settings.default_consent)["personalization"]
        ):
            return None, []
        recent = row.state.get("recent_items", [])
        return profile_id, [r for r in recent if isinstance(r, list) and len(r) >= 4]

    @staticmethod
    def _recent_weights(recent: list[list[Any]]) -> list[tuple[str, float]]:
        """(item id, weight) of recent profile items as the history row uses them (weight 1 unless positive)."""
        return [(str(r[0]), float(r[3]) if isinstance(r[3], int | float) and r[3] > 0 else 1.0) for r in recent]

    @staticmethod
    def _row(model: Recommender, profile_id: str | None, recent: list[list[Any]]) -> sp.csr_matrix:
        """Training history (by profile id) merged with recent profile items, weight = max of both.

        Read from the training matrix's arrays directly, so that a request builds one sparse row."""
        import numpy as np
        import scipy.sparse as sp

        from pertinent.recommend.base import Recommender

        train = model._train_rows
        if type(model).history_for is not Recommender.history_for or (
            train is not None and not sp.isspmatrix_csr(train)
        ):
            row = model.history_for(profile_id)  # a model with its own notion of history
            cols, data = row.indices, row.data.astype(np.float32)
        else:
            model._check()  # NotFittedError like history_for
            idx = model.user_index.get(str(profile_id)) if profile_id is not None and train is not None else None
            if idx is None:
                cols, data = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
            else:
                start, end = train.indptr[idx], train.indptr[idx + 1]  # type: ignore[union-attr]
                cols = train.indices[start:end].copy()  # type: ignore[union-attr]
                data = train.data[start:end].astype(np.float32)  # type: ignore[union-attr]
        weights: dict[int, float] | None = None
        changed = False
        for pid, w in RecommendService._recent_weights(recent):
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

    def _filters(
        self,
        include_categories: Sequence[str],
        exclude_categories: Sequence[str],
        exclude: Sequence[str],
        rules: BusinessRules | None = None,
    ) -> Any:
        """Request filters with the configured business rules, the request's own rules on top."""
        from pertinent.recommend.filters import Filters

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

    @staticmethod
    def _items(recs: Sequence[Any], reason: str | None = None) -> list[dict[str, Any]]:
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

    def _attach(self, model: Recommender) -> None:
        """Filter with the live catalogue (availability, categories) and name items by title in reasons."""
        cat = self.catalogue()
        if cat is not None:
            self._attach_catalogue(model, cat)

    def _attach_catalogue(self, model: Recommender, cat: Catalogue) -> None:
        if self._attached.get(model) is cat:
            return
        model.catalogue = ServingCatalogue(cat, model.item_ids, self.config.catalogue_only)  # type: ignore[assignment]
        model._titles.update(cat.titles())  # shared with the model's members: reasons read titles from it
        self._attached[model] = cat

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
    ) -> dict[str, Any]:
        """Top-``k`` items for a user; ``source`` says whether the model or the popularity fallback answered.

        ``rules`` (pin, boost, bury, diversity) apply on top of the configured ``RecommendConfig.rules``.
        ``profile``: (profile id, row) when the caller has already read the user's profile (``/v1/decide``), so
        that it is not looked up again. Lists without request rules are cached per profile (see ``_cached``).
        """
        if not 1 <= k <= self.config.max_k:
            raise ValueError(f"k: must be between 1 and {self.config.max_k}")
        filters = self._filters(include_categories, exclude_categories, exclude, rules)
        version, model = self.model()
        served = model
        profile_id, recent = self._history(user_id) if profile is None else self._usable_history(*profile)
        cache_key = None
        generation = 0
        pop = None  # the popularity ranking read for this request (read once: a refresh may swap it meanwhile)
        if rules is None and self.config.result_cache_size > 0:
            generation, pop = self._current_generation(served)
            cache_key = (
                profile_id or "",
                k,
                tuple(include_categories),
                tuple(exclude_categories),
                tuple(exclude),
                tuple(self._recent_weights(recent)),
            )
            hit = self._cached(cache_key, generation)
            if hit is not None:
                return {
                    "user_id": user_id,
                    "source": hit[2],
                    "model": self.config.model if hit[2] == "model" else None,
                    "version": hit[3],
                    "items": [
                        {"item_id": i, "score": sc, "rank": r, "reason": why, "rule": rule}
                        for i, sc, r, why, rule in hit[4]
                    ],
                }
        source = "model"
        row = None
        if model is not None:
            row = self._row(model, profile_id, recent)
            if row.nnz == 0:
                model = None
        if model is None:
            source = "popularity"
            model = pop if pop is not None else self.popularity()
            version = None
            if model is not None:
                row = self._row(model, profile_id, recent)
        items: list[dict[str, Any]] = []
        if model is not None and row is not None:
            self._attach(model)
            items = self._items(model.recommend(history=row, k=k, filters=filters))
        if cache_key is not None:
            self._store(cache_key, generation, source, version, items, model)
        return {
            "user_id": user_id,
            "source": source,
            "model": self.config.model if source == "model" else None,
            "version": version,
            "items": items,
        }

    # ---------------------------------------------------------------- cached lists
    def _current_generation(self, served: Recommender | None) -> tuple[int, Recommender | None]:
        """A number that changes whenever the served model, the catalogue, the popularity ranking or the configured
        rules (replaced, not mutated) change: a cached list is valid only under the number it was stored with.
        Reading the catalogue and popularity here also starts their refresh once they have expired; the
        popularity ranking read is returned with the number."""
        pop = self.popularity() if self._popularity is not None else None
        current = (served, self.catalogue(), pop, self.config.rules)
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
        items: list[dict[str, Any]],
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

    def similar(self, item_id: str, k: int = 10, rules: BusinessRules | None = None) -> dict[str, Any]:
        """Items similar to ``item_id``; an item only in the catalogue gets popular items of its categories.

        Raises :class:`UnknownItemError` when neither the model nor the catalogue knows the item.
        """
        if not 1 <= k <= self.config.max_k:
            raise ValueError(f"k: must be between 1 and {self.config.max_k}")
        version, model = self.model()
        filters = self._filters((), (), [item_id], rules)
        if model is not None and item_id in model.item_index:
            self._attach(model)
            recs = model.similar_items(item_id, k=k, filters=filters)
            if recs:
                return {"item_id": item_id, "source": "model", "version": version, "items": self._items(recs)}
        with self.store.transaction(write=False) as tx:
            row = tx.get_items([item_id]).get(item_id)
        pop = self.popularity()
        known_by_events = pop is not None and item_id in pop.item_index
        if row is None and not known_by_events and (model is None or item_id not in model.item_index):
            raise UnknownItemError(item_id)
        items: list[dict[str, Any]] = []
        if pop is not None:
            self._attach(pop)
            cats = row.categories if row is not None else []
            filters = self._filters(cats, (), [item_id], rules)
            recs = pop.recommend(history=pop.history_for(None), k=k, filters=filters)
            items = self._items(recs, f"popular in {', '.join(cats)}" if cats else "popular")
        return {"item_id": item_id, "source": "popularity", "version": None, "items": items}
