"""Runtime settings, read from the environment (``PERTINENT_*``) and an optional TOML file.

Nothing is created at import time: call :func:`load_settings` (the API and CLI do it once).

>>> s = Settings(data_dir="/tmp/p", write_key="w", admin_key="a", pseudonym_keys=["k1"])
>>> s.resolved_database_url()
'sqlite:////tmp/p/pertinent.db'

Lists come from the environment as comma-separated values or JSON:

>>> import os; os.environ["PERTINENT_PSEUDONYM_KEYS"] = "new-key, old-key"
>>> load_settings().pseudonym_keys
['new-key', 'old-key']
>>> del os.environ["PERTINENT_PSEUDONYM_KEYS"]

Trusted proxies are addresses or CIDR networks; anything else fails at startup, naming the setting:

>>> Settings(trusted_proxies="127.0.0.1, 10.0.0.0/8").trusted_proxies
['127.0.0.1', '10.0.0.0/8']
>>> Settings(trusted_proxies="proxy.local")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
trusted_proxies
  Value error, not an IP address or CIDR network: 'proxy.local' ...
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pertinent.decide.config import DecideConfig
from pertinent.destinations.config import DestinationsConfig
from pertinent.fairness.config import FairnessConfig
from pertinent.geo.config import GeoConfig
from pertinent.predictions.config import PredictConfig
from pertinent.quality.config import QualityConfig
from pertinent.recommend.config import RecommendConfig
from pertinent.segments.config import SegmentsConfig

MAX_COUNT_DAYS = 3660  # the longest count window (rules.values.MAX_WINDOW_DAYS)


class Limits(BaseSettings):
    """Request size limits (the Segment HTTP API's documented limits: bytes only, no count of messages)."""

    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PERTINENT_", env_nested_delimiter="__", extra="ignore", toml_file=None
    )

    data_dir: Path = Path("./pertinent-data")
    database_url: str | None = None
    write_key: str | None = None
    admin_key: str | None = None
    # HMAC keys for pseudonymising user identifiers; the first is current, later ones are
    # previous keys still accepted during a rotation (see docs/privacy.md).
    pseudonym_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    store_pii_in_clear: bool = False
    pii_traits: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["email", "phone", "address", "name", "firstName", "lastName", "birthday"]
    )
    # Group (account) traits are about the account, kept in clear, except these personal keys (a contact's email or
    # phone), pseudonymised as ``pii_traits`` are; ``name`` is the account's name (docs/privacy.md, groups).
    group_pii_traits: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["email", "phone", "address", "firstName", "lastName", "birthday"]
    )
    anonymize_ip: bool = True
    # How long the ingestion errors (what a refused message got wrong: field and problem, never its ids or values)
    # are kept for the dashboard, in days; purged hourly with the failed events past quality.failed_events_keep_days
    # (docs/privacy.md, retention).
    ingest_errors_keep_days: float = Field(default=30.0, gt=0)
    # Consent applied when an event and the consent log say nothing about a purpose.
    default_consent: Literal["granted", "denied"] = "granted"
    session_timeout_s: int = 30 * 60
    affinity_half_life_days: float = 14.0
    # The count windows profiles summarise (features.counts.<n>d); daily counts are kept for the longest, which is
    # also the longest window a rule may count over (PERTINENT_COUNT_WINDOWS_DAYS=1,7,30,90,365). Longer windows
    # keep more per profile: about 10 bytes per event name and day with events.
    count_windows_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [1, 7, 30])
    limits: Limits = Field(default_factory=Limits)
    # recommendation serving: served model, caches, business rules, scheduled retraining
    # (PERTINENT_RECOMMEND__MODEL, PERTINENT_RECOMMEND__RETRAIN_INTERVAL_S, ... or [recommend] in the TOML file)
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)
    # segments: real-time evaluation, time sweep, size snapshots, retraining (PERTINENT_SEGMENTS__SWEEP_INTERVAL_S=60,
    # ... or [segments] in the TOML file)
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig)
    # decisions: attribution window and conversion events, document cache, background writer
    # (PERTINENT_DECIDE__ATTRIBUTION_WINDOW_S, ... or [decide] in the TOML file; see decide/config.py)
    decide: DecideConfig = Field(default_factory=DecideConfig)
    # IP geolocation into context.location, before the IP is anonymised (PERTINENT_GEO__ENABLED=false,
    # PERTINENT_GEO__MMDB_PATH=/srv/dbip-city-lite.mmdb, or [geo] in the TOML file; docs/integrations.md)
    geo: GeoConfig = Field(default_factory=GeoConfig)
    # webhooks fed with events, traits and segment entries/exits (PERTINENT_DESTINATIONS__WEBHOOKS='[{"url": ...}]'
    # or [[destinations.webhooks]] in the TOML file; docs/integrations.md)
    destinations: DestinationsConfig = Field(default_factory=DestinationsConfig)
    # data quality: normalisation at ingestion, deduplication, outliers, imputation (PERTINENT_QUALITY__PHONE_REGION,
    # ... or [quality] in the TOML file; see quality/config.py and docs/data-quality.md)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    # predictive traits: horizons, training cutoffs, scheduled refits (PERTINENT_PREDICT__REFIT_INTERVAL_S, ... or
    # [predict] in the TOML file; see predictions/config.py)
    predict: PredictConfig = Field(default_factory=PredictConfig)
    # fairness audit: sensitive traits, minimum group size, confidence level ([fairness]; fairness/config.py)
    fairness: FairnessConfig = Field(default_factory=FairnessConfig)
    log_level: str = "info"
    # Whether ``pertinent serve`` runs the scheduled jobs (segment sweep, size snapshots, refits, retraining) in
    # its own processes. The embedded default does; in a cluster the API nodes set PERTINENT_RUN_JOBS=false and
    # ``pertinent worker`` runs them (each job runs once across the cluster either way: ``storage/claims.py``).
    run_jobs: bool = True
    # Redis for a cluster (redis://host:6379/0): login limits shared by every node and cross-node invalidation
    # (an erasure or consent withdrawal on one node reaches the others' caches). Unset: one node, in process.
    redis_url: str | None = None
    # With redis_url: how long the hot store (storage/hot.py) keeps each decision input of /v1/decide and
    # /v1/recommendations in Redis (identities, profiles, memberships, first exposures). It bounds how stale an
    # entry can be when a write could not reach Redis. 0 turns the hot store off (serving reads SQL).
    hot_store_ttl_s: float = Field(default=3600.0, ge=0)
    # Pages on these origins may call the API from the browser (CORS); "*" = any site (the write key is
    # public anyway; admin calls need the Bearer admin key, never a cookie).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    # Serve the demo shop at /demo/ (``pertinent demo`` turns it on).
    demo_site: bool = False
    # Addresses or CIDR networks of the reverse proxies in front of the server: only from them are
    # X-Forwarded-For, -Proto and -Host believed (the dashboard's Secure cookie, login limits, form origin
    # check; ``pertinent serve`` gives the same list to uvicorn). Empty: no proxy is trusted.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Identity verification (docs/api.md): a browser call naming a userId proves it with
    # user_hash = hex HMAC-SHA256(identity_secret, userId), computed by the site's server. ``pertinent serve``
    # generates a secret when none is set (keys.json). Verification is required when a secret is set, unless
    # require_identity_verification=false (the migration path: docs/privacy.md).
    identity_secret: str | None = None
    require_identity_verification: bool | None = None
    # With identity verification on, what becomes of a write-key message that names only a userId, without its
    # proof (context.userHash): "store" (Segment's way: a server library using the write key) keeps it on that
    # user's profile; "refuse" refuses it naming context.userHash, so the public key writes to no user without
    # proof (docs/privacy.md). Messages with an anonymousId, proven ones and the admin key's are unaffected.
    unproven_user_events: Literal["store", "refuse"] = "store"

    @property
    def hot_store(self) -> bool:
        """Whether this process serves through the Redis hot store (``storage/hot.py``): a Redis URL and a TTL
        above 0. The one place that decides it: the services, ``pertinent serve`` and the database's hot-store
        mark (``storage/deployment.py``) all ask here.

        >>> Settings(redis_url="redis://r/0").hot_store, Settings().hot_store
        (True, False)
        >>> Settings(redis_url="redis://r/0", hot_store_ttl_s=0).hot_store
        False
        """
        return bool(self.redis_url) and self.hot_store_ttl_s > 0

    @property
    def identity_verification(self) -> bool:
        """Whether browser calls (write key) naming a user id need a valid ``user_hash``.

        >>> Settings(identity_secret="s").identity_verification, Settings().identity_verification
        (True, False)
        >>> Settings(identity_secret="s", require_identity_verification=False).identity_verification
        False
        """
        if self.require_identity_verification is not None:
            return self.require_identity_verification
        return bool(self.identity_secret)

    @model_validator(mode="after")
    def _refusal_needs_verification(self) -> Settings:
        """``unproven_user_events=refuse`` means nothing with verification turned off: said at startup.

        >>> Settings(unproven_user_events="refuse", require_identity_verification=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
          Value error, unproven_user_events=refuse needs identity verification...
        """
        if self.unproven_user_events == "refuse" and self.require_identity_verification is False:
            raise ValueError(
                "unproven_user_events=refuse needs identity verification, which "
                "PERTINENT_REQUIRE_IDENTITY_VERIFICATION=false turns off"
            )
        return self

    @field_validator(
        "pseudonym_keys",
        "pii_traits",
        "cors_origins",
        "trusted_proxies",
        "group_pii_traits",
        "count_windows_days",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("count_windows_days")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        """Whole days from 1 to 3660, at least one; kept sorted and unique.

        >>> Settings(count_windows_days="90, 7,1,30,7").count_windows_days
        [1, 7, 30, 90]
        """
        if not value or any(not 1 <= int(v) <= MAX_COUNT_DAYS for v in value):
            raise ValueError(f"give one or more whole days from 1 to {MAX_COUNT_DAYS}")
        return sorted({int(v) for v in value})

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """Each entry an IP address or CIDR network (``10.0.0.0/8``), so a typo fails at startup."""
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or CIDR network: {entry!r}") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("PERTINENT_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pertinent.db').as_posix()}"

    def require_keys(self) -> None:
        missing = [name for name in ("write_key", "admin_key") if not getattr(self, name)]
        if missing:
            names = ", ".join(f"PERTINENT_{m.upper()}" for m in missing)
            raise ValueError(f"{names} must be set (make demo generates them)")
        if not self.pseudonym_keys:
            raise ValueError("PERTINENT_PSEUDONYM_KEYS must hold at least one HMAC key")


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and PERTINENT_CONFIG TOML), then apply overrides."""
    return Settings(**overrides)
