"""Recommendations as a service: the facade that routes, ``/v1/decide``, privacy and the server's lifespan call.

It wires the parts, each in its own module: catalogue items (``items``), the saved model versions
(``persistence``), the served model, catalogue and popularity (``serving``), the lists served per request
(``lists``) and scheduled retraining (``retrain``, training itself in ``training``).

The served model is the registry's newest version, loaded lazily and, at most every ``reload_interval_s``
seconds, checked for a newer one that is swapped in without a restart.

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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pertinent.privacy.audit import SYSTEM, Actor, record
from pertinent.recommend.config import BusinessRules, RecommendConfig
from pertinent.recommend.items import Item, UpsertResult, audit_upsert, item_body, validate_items
from pertinent.recommend.lists import Lists, Recommendations, SimilarItems
from pertinent.recommend.persistence import ModelVersions
from pertinent.recommend.registry import ModelRegistry
from pertinent.recommend.retrain import Retrainer
from pertinent.recommend.serving import Served, ServedState

if TYPE_CHECKING:
    from pertinent.profiles.service import ProfileService
    from pertinent.recommend.base import Recommender
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.settings import Settings
    from pertinent.storage.base import ItemRow, ProfileRow, Store

log = logging.getLogger("pertinent.recommend")


class RecommendService:
    """Catalogue writes and live recommendations (see the module docstring for the example).

    ``config`` is the service's own copy of ``settings.recommend``, shared by its parts (changes apply at once).
    """

    def __init__(
        self, store: Store, settings: Settings, profiles: ProfileService, config: RecommendConfig | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.profiles = profiles
        self.config = config or settings.recommend.model_copy(deep=True)
        self.versions = ModelVersions(ModelRegistry.for_data_dir(settings.data_dir), self.config)
        self.serving = ServedState(store, self.config, self.versions)
        self.lists = Lists(store, settings, profiles, self.config, self.serving)

    @property
    def registry(self) -> ModelRegistry:
        return self.versions.registry

    @property
    def erased(self) -> list[str]:
        """Profile ids erased while this process runs (append-only; read by ``Retrainer``)."""
        return self.versions.erased

    # ---------------------------------------------------------------- personal data in models
    def user_rows(self, user_id: str) -> list[dict[str, Any]]:
        """What the saved model versions hold about a user (data export)."""
        return self.versions.user_rows(user_id)

    def forget_user(self, user_id: str) -> int:
        """Erase a user from every saved model version, from the model being served and from cached lists.

        The id is also remembered for this process's scheduled retraining, so that a version whose training
        read the user's events before the erasure is cleaned once it is saved (see ``Retrainer``), and popularity
        is recomputed without the user's events on its next refresh.
        """
        self.versions.erased.append(user_id)
        self.lists.forget(user_id)
        self.serving.forget(user_id)
        return self.versions.forget_user(user_id)

    def forget_cached(self, user_id: str) -> None:
        """Another node erased the user (``runtime/bus.py``) and rewrote the shared model files: drop the user
        from this process's served model and cached lists, and from what its retraining saves next."""
        self.versions.erased.append(user_id)
        self.lists.forget(user_id)
        self.serving.forget(user_id)

    # ---------------------------------------------------------------- items (each write audited under ``actor``)
    def upsert_items(self, raws: Sequence[Any], actor: Actor = SYSTEM) -> UpsertResult:
        rows, errors = validate_items(raws)
        if rows:
            self.upsert_rows(rows, actor)
        return UpsertResult(len(raws), len(rows), errors)

    def upsert_rows(self, rows: Sequence[ItemRow], actor: Actor = SYSTEM) -> None:
        with self.store.transaction() as tx:
            audit_upsert(tx, actor, rows)
            tx.upsert_items(rows)
        self.serving.catalogue_changed()

    def get_item(self, item_id: str) -> Item | None:
        with self.store.transaction(write=False) as tx:
            row = tx.get_items([item_id]).get(item_id)
        return None if row is None else Item.from_row(row)

    def delete_item(self, item_id: str, actor: Actor = SYSTEM) -> bool:
        with self.store.transaction() as tx:
            old = tx.get_items([item_id]).get(item_id)
            gone = tx.delete_items([item_id]) > 0
            if gone and old is not None:
                record(tx, actor, "item.delete", f"item:{item_id}", before=item_body(old))
        self.serving.catalogue_changed()
        return gone

    # ---------------------------------------------------------------- served state
    def model(self) -> Served:
        """The served (version, model): see :meth:`ServedState.model`."""
        return self.serving.model()

    def catalogue(self) -> Catalogue | None:
        return self.serving.catalogue()

    def popularity(self) -> Recommender | None:
        return self.serving.popularity()

    def refresh(self) -> None:
        """Forget cached popularity and catalogue (reloaded on the next call) and load a newer model now."""
        self.serving.refresh()

    def refresh_model(self) -> None:
        """Load the registry's newest version now, in the caller's thread (the retrainer's: no request waits for
        the load); caches kept."""
        self.serving.refresh_model()

    def wait_background(self, timeout: float | None = None) -> None:
        """Wait for background reloads of the model, catalogue and popularity now running (tests, shutdown)."""
        self.serving.wait(timeout)

    def start_retraining(self) -> Retrainer | None:
        """Start scheduled retraining when ``retrain_interval_s`` > 0 (the server does this); else None."""
        if self.config.retrain_interval_s <= 0:
            return None
        log.info("retraining %s every %.0f s when new events arrive", self.config.model, self.config.retrain_interval_s)
        return Retrainer(self).start()

    # ---------------------------------------------------------------- recommending
    def runs_inline(self) -> bool:
        """Whether ``recommend`` may run on the server's event loop: on SQLite with one pseudonym key its reads take
        microseconds, and nothing it needs has to be loaded first (the model checked recently, popularity and the
        catalogue cached; expired ones are refreshed by background threads). Otherwise it runs in a thread."""
        serving = self.serving
        if self.store.backend != "sqlite" or self.profiles.pseudo.n_keys != 1 or not serving.catalogue_loaded():
            return False
        if not serving.popularity_loaded():  # only known users so far never needed it: load it, nobody waiting
            serving.load_popularity_in_background()
            return False
        return serving.model_served()  # a due model check runs in the background (``model``)

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
        version: tuple[str, str] | None = None,
    ) -> Recommendations:
        """Top-``k`` items for a user: see :meth:`Lists.recommend`. ``version``: (model name, version or
        ``latest``) of the registry to answer instead of the served model (a recommender experiment); an unknown
        or unloadable version raises."""
        using = None
        if version is not None:
            resolved, model = self.serving.version(*version)
            using = (version[0], resolved, model)
        return self.lists.recommend(
            user_id,
            k,
            include_categories,
            exclude_categories,
            exclude,
            rules,
            profile=profile,
            verified=verified,
            using=using,
        )

    def check_version(self, name: str, version: str) -> tuple[str, str] | None:
        """Why (model name, version) cannot be served, as (``model`` or ``version``, message), or None when it
        can: the model has saved versions, the version exists, its files are there and it loads."""
        registry = self.registry
        names = registry.names()
        if name not in names:
            return "model", f"no saved model {name!r}; saved models are {names} (train one first)"
        versions = registry.versions(name)
        resolved = registry.latest_version(name) if version == "latest" else version
        if resolved is None or resolved not in versions:
            return "version", f"model {name!r} has no version {version!r}; its versions are {versions[-20:]}"
        folder = registry.root / name / resolved
        missing = [f for f in ("config.json", "state.npz") if not (folder / f).is_file()]
        if missing:
            return "version", f"model {name!r} version {resolved!r} is missing its files {missing}"
        try:
            self.serving.version(name, resolved)
        except Exception as exc:  # an unreadable, truncated or incompatible model file: say why, never a 500
            return "version", f"model {name!r} version {resolved!r} cannot be loaded: {str(exc)[:200]}"
        return None

    def similar(self, item_id: str, k: int = 10, rules: BusinessRules | None = None) -> SimilarItems:
        """Items similar to ``item_id``: see :meth:`Lists.similar` (raises ``UnknownItem``)."""
        return self.lists.similar(item_id, k, rules)
