"""The service container: one object holding every service, built once from settings.

Routes and CLI commands receive it; nothing is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from pertinent.browser.catalogue import PublicCatalogue
from pertinent.dashboard.service import DashboardService
from pertinent.dashboard.shared_login_limiter import SharedLoginLimiter
from pertinent.decide.service import DecideService
from pertinent.destinations.service import DestinationService
from pertinent.events.service import IngestService
from pertinent.fairness.service import FairnessService
from pertinent.predictions.service import PredictionService
from pertinent.privacy.audit import AuditLog
from pertinent.privacy.identity_proof import IdentityVerifier
from pertinent.privacy.pseudonym import Pseudonymizer
from pertinent.privacy.service import PrivacyService
from pertinent.profiles.groups import GroupService
from pertinent.profiles.service import ProfileService
from pertinent.quality.service import QualityService
from pertinent.recommend.promotion import ModelPromotions
from pertinent.recommend.retrain import Retrainer
from pertinent.recommend.service import RecommendService
from pertinent.runtime.bus import Bus, LocalBus, RedisBus
from pertinent.runtime.redis import connect as redis_connect
from pertinent.segments.service import SegmentService
from pertinent.settings import Settings
from pertinent.spark import model as _spark_model  # noqa: F401  (registers the "spark_als" kind: versions load)
from pertinent.storage.base import Store
from pertinent.storage.deployment import check_hot_store
from pertinent.storage.factory import open_store
from pertinent.storage.hot import HotStore
from pertinent.warehouse import WarehouseExports


class Health(BaseModel):
    """The server is ready: storage answers."""

    status: str
    backend: str


@dataclass
class Services:
    settings: Settings
    store: Store
    ingest: IngestService
    profiles: ProfileService
    privacy: PrivacyService
    recommend: RecommendService
    catalogue: PublicCatalogue  # the catalogue as sites read it (write key)
    dashboard: DashboardService  # what /dashboard shows (aggregates, KPIs, drift, experiment results)
    decide: DecideService  # blocks, slots, experiments, /v1/decide, attribution, results
    segments: SegmentService  # segment definitions, real-time membership, sweep, retraining
    audit: AuditLog  # the audit log of changes to what the engine does (each service records its own)
    identity: IdentityVerifier  # checks the user_hash of browser calls naming a user id (docs/api.md)
    warehouse: WarehouseExports  # Parquet exports of events, profiles and decisions (covered by erasure)
    bus: Bus  # cross-node invalidation (Redis pub/sub with PERTINENT_REDIS_URL; in process otherwise)
    models: ModelPromotions  # which model version every node serves (promote, roll back; audited)
    groups: GroupService  # groups (accounts): GET /v1/groups/{id}
    destinations: DestinationService  # webhooks fed from a durable outbox (events, traits, segment changes)
    quality: QualityService  # tracking plans, failed events, outliers, imputation, duplicates (docs/data-quality.md)
    predictions: PredictionService | None = None  # predicted.* traits: training, registry, scheduled refits
    fairness: FairnessService | None = None  # the fairness audit of recommendations, decisions and predictions

    @classmethod
    def build(cls, settings: Settings, store: Store | None = None) -> Services:
        settings.require_keys()
        sql: Store = store or open_store(settings)
        client = redis_connect(settings.redis_url) if settings.redis_url else None
        hot = sql if isinstance(sql, HotStore) else None  # a second node over the same store object
        if hot is None and settings.hot_store:
            assert client is not None  # settings.hot_store implies a Redis URL
            hot = HotStore(sql, client, settings.hot_store_ttl_s)
        store = hot or sql  # serving reads from Redis, SQL behind it (storage/hot.py)
        # a database served with the hot store is never written by a process without it (storage/deployment.py)
        check_hot_store(hot.inner if hot is not None else sql, hot is not None)
        pseudo = Pseudonymizer(settings.pseudonym_keys)
        ingest = IngestService(store, settings, pseudo)
        profiles = ProfileService(store, settings, pseudo, ingest.profile_config)
        recommend = RecommendService(store, settings, profiles)
        segments = SegmentService(store, settings, ingest.profile_config)
        profiles.segments = segments  # a profile's current segments in its view
        if settings.segments.realtime:
            ingest.subscribe(segments.on_commit)
        decide = DecideService(store, settings, ingest, profiles, recommend)
        warehouse = WarehouseExports(store)
        destinations = DestinationService(store, settings)
        if settings.destinations.webhooks:  # nothing on the ingest path without a webhook
            ingest.subscribe_in_transaction(destinations.on_ingest)  # queued with the events, in their transaction
            ingest.subscribe(destinations.after_commit)
            segments.membership.change_hooks.append(destinations.on_segment_changes)
        privacy = PrivacyService(
            store,
            settings,
            pseudo,
            profiles,
            derived={"models": recommend, "pending_decisions": decide, "segment_models": segments},
            tx_derived={"warehouse_exports": warehouse},
        )
        dashboard = DashboardService(store, settings, ingest.profile_config, recommend.registry, recommend.config.model)
        dashboard.segment_names = lambda: segments.names(fresh=True)  # ML/RFM: one name per cluster
        bus: Bus = LocalBus()
        if client is not None:  # a cluster: login limits and invalidation shared through Redis
            dashboard.login_limiter = SharedLoginLimiter(client)
            bus = RedisBus(client)

        def erased_elsewhere(profile_id: str) -> None:
            if profile_id:  # "" after a reconnect: nothing names what was missed; caches expire on their own
                decide.forget_cached(profile_id)
                recommend.forget_cached(profile_id)

        bus.subscribe("profile.erased", erased_elsewhere)
        if hot is not None:  # export lists what Redis holds; erasure deletes it, again once committed
            privacy.derived["hot_store"] = hot
            bus.subscribe("profile.erased", hot.forget_erased)
        models = ModelPromotions(store, recommend.registry)
        models.on_change.append(lambda name: bus.publish("model.promoted", name))
        bus.subscribe(
            "model.promoted", lambda name: recommend.refresh_model() if name in ("", recommend.config.model) else None
        )
        privacy.on_erased.append(lambda profile_id: bus.publish("profile.erased", profile_id))
        quality = QualityService(store, settings.quality, ingest, ingest.profile_config)
        quality.profiles_changed = segments.profiles_changed  # merges and inferred traits re-evaluate segments
        # every run of an experiment, with its own metrics (the keys the analysis has, as the API answers them)
        dashboard.experiment_results = lambda key: decide.results(key).model_dump(exclude_unset=True)
        predictions = PredictionService(store, settings, ingest.profile_config)
        predictions.on_written = segments.profiles_changed  # rules on predicted.* re-evaluated when scores change
        predictions.exclude = quality.flagged_profiles  # flagged bots and outliers stay out of training and scoring
        bus.subscribe("profile.erased", predictions.forget_cached)  # its kept events hold profile ids
        fairness = FairnessService(store, settings, predictions)
        fairness.segment_names = lambda: segments.names(fresh=True)
        # the models, fairness and profile pages
        dashboard.prediction_service, dashboard.fairness_service = predictions, fairness
        dashboard.profile_lookup = profiles.get
        return cls(
            settings,
            store,
            ingest,
            profiles,
            privacy,
            recommend,
            catalogue=PublicCatalogue(store),
            dashboard=dashboard,
            decide=decide,
            segments=segments,
            audit=AuditLog(store),
            identity=ingest.identity,
            warehouse=warehouse,
            bus=bus,
            models=models,
            groups=GroupService(store),
            destinations=destinations,
            quality=quality,
            predictions=predictions,
            fairness=fairness,
        )

    def start_jobs(self) -> Retrainer | None:
        """Start the scheduled jobs of this process: segment sweep, size snapshots and refits (claimed, so one
        process of the cluster runs each), and the recommender's scheduled retraining. ``pertinent serve`` calls
        this unless ``run_jobs`` is off; ``pertinent worker`` always does."""
        self.segments.start()
        self.quality.start(self.segments.jobs)  # scheduled quality scans (quality.scan_interval_s; 0 = never)
        self.destinations.start()  # webhook deliveries from the outbox (when any destination is configured)
        if self.predictions is not None:  # scheduled refits of the predictive traits
            self.predictions.start()
        return self.recommend.start_retraining()

    def health(self) -> Health:
        """Ready when storage answers a read (raises otherwise)."""
        with self.store.transaction(write=False) as tx:
            tx.count_profiles()
        return Health(status="ok", backend=self.store.backend)

    def close(self) -> None:
        if self.predictions is not None:
            self.predictions.close()
        self.segments.close()  # evaluates and writes queued profiles, stops the background threads
        self.decide.close()  # writes queued decisions before the store closes
        self.bus.close()
        self.destinations.close()  # the outbox keeps what is not delivered yet
        self.store.close()
