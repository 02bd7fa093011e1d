"""What the dashboard shows, behind one facade the routes call: :class:`DashboardService`.

Each page is built by its module in :mod:`pertinent.dashboard.pages` (``build(store, window, ...)``); the
facade holds what lives between requests (the last ML report, the KPI pages and event values kept, the login
limiter) and what the composition root wires in: ``segment_names`` (the segment service) and
``experiment_results`` (the decide service's analysis). The dashboard imports neither service.

>>> from pertinent.settings import Settings
>>> from pertinent.services import Services
>>> svc = Services.build(Settings(database_url="sqlite://", write_key="w", admin_key="a", pseudonym_keys=["k"]))
>>> svc.store.migrate()
>>> page = svc.dashboard.overview("24h", now=86400.0 * 20000)
>>> page.events_in_window, page.profiles, page.anchored_to_newest
(0, 0, False)
>>> svc.close()
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from pertinent.dashboard.auth import SESSION_MAX_AGE_S
from pertinent.dashboard.forwarded import TrustedProxies
from pertinent.dashboard.login_limiter import LoginLimiter
from pertinent.dashboard.pages import experiments as experiments_page
from pertinent.dashboard.pages import fairness as fairness_page
from pertinent.dashboard.pages import kpis as kpis_page
from pertinent.dashboard.pages import models as models_page
from pertinent.dashboard.pages import overview as overview_page
from pertinent.dashboard.pages import recommendations as recommendations_page
from pertinent.dashboard.pages import segments as segments_page
from pertinent.dashboard.pages.common import SegmentNames, Span, parse_window, segment_labels, window_span
from pertinent.dashboard.pages.experiments import ExperimentResults, ExperimentsPage
from pertinent.dashboard.pages.fairness import FairnessPage
from pertinent.dashboard.pages.kpis import KpisPage
from pertinent.dashboard.pages.models import ModelsPage
from pertinent.dashboard.pages.overview import Overview
from pertinent.dashboard.pages.recommendations import RecommendationsPage
from pertinent.dashboard.pages.segments import ML_SAMPLE, MlReport, SegmentsPage
from pertinent.dashboard.sessions import Sessions
from pertinent.dashboard.shared_login_limiter import SharedLoginLimiter
from pertinent.kpis import KpiConfig
from pertinent.runtime.cache import TTLCache
from pertinent.storage.base import AuditRow

if TYPE_CHECKING:
    from collections.abc import Callable

    from pertinent.dashboard.event_values import EventValues
    from pertinent.fairness.service import FairnessService
    from pertinent.predictions.service import PredictionService
    from pertinent.profiles.features import ProfileConfig
    from pertinent.profiles.models import Profile
    from pertinent.recommend.registry import ModelRegistry
    from pertinent.settings import Settings
    from pertinent.storage.base import Store, Tx

log = logging.getLogger("pertinent.dashboard")

KPI_CACHE_TTL_S = 30.0  # a computed KPI page is shown again for this long while nothing new is stored
AUDIT_CACHE_TTL_S = 300.0  # the models and fairness pages (features of every profile): kept while nothing changes


def kpi_config_from(settings: Settings) -> KpiConfig:
    """The KPI definitions that agree with the rest of the settings: the profiles' session timeout and the
    click and conversion events the decide service attributes.

    >>> from pertinent.settings import Settings
    >>> cfg = kpi_config_from(Settings(session_timeout_s=600, decide={"conversion_events": {"Signed Up": None}}))
    >>> cfg.session_timeout_s, cfg.conversion_events, "Slot Clicked" in cfg.click_events
    (600.0, ['Signed Up'], True)
    """
    base = KpiConfig()
    decide = getattr(settings, "decide", None)
    clicks = list(dict.fromkeys([*base.click_events, *(getattr(decide, "click_events", None) or [])]))
    conversions = list(getattr(decide, "conversion_events", None) or base.conversion_events)
    return KpiConfig(
        session_timeout_s=float(settings.session_timeout_s), click_events=clicks, conversion_events=conversions
    )


class DashboardService:
    """Everything the dashboard shows (see the module example).

    >>> DashboardService.parse_window("7d")[0]
    604800.0
    """

    parse_window = staticmethod(parse_window)

    def __init__(
        self,
        store: Store,
        settings: Settings,
        profile_config: ProfileConfig,
        registry: ModelRegistry,
        served_model: str,
        kpi_config: KpiConfig | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.profile_config = profile_config
        self.registry = registry
        self.served_model = served_model
        self.kpi_config = kpi_config or kpi_config_from(settings)
        # The decide service's analysis of one experiment (every run, its own metrics); set by Services.build.
        # Without it (or for experiments it does not know) results come from the window's decisions.
        self.experiment_results: ExperimentResults | None = None
        # membership id -> (definition id, readable name), from the segment service (ML and RFM definitions
        # have one membership id per fitted segment); without it, names come from the segment documents.
        self.segment_names: SegmentNames | None = None
        # failed logins to the dashboard, per client address and overall (shared by the nodes with Redis)
        self.login_limiter: LoginLimiter | SharedLoginLimiter = LoginLimiter()
        self.sessions = Sessions(store, SESSION_MAX_AGE_S)  # in the database: a logout ends them in every process
        self.proxies = TrustedProxies(getattr(settings, "trusted_proxies", None) or [])
        self._ml: MlReport | None = None
        self._ml_lock = threading.Lock()
        self._kpi_pages: TTLCache[KpisPage] = TTLCache(KPI_CACHE_TTL_S)
        self._event_values: dict[str, EventValues] = {}  # window -> event values kept for the KPI page
        self._kpi_lock = threading.Lock()
        # the predictive traits and the fairness audit (set by Services.build; pages say so when absent)
        self.prediction_service: PredictionService | None = None
        self.fairness_service: FairnessService | None = None
        self.profile_lookup: Callable[[str], Profile | None] | None = None  # the profile service's get
        self._audit_pages: TTLCache[Any] = TTLCache(AUDIT_CACHE_TTL_S)
        self._audit_lock = threading.Lock()

    def span(self, window: str, now: float | None = None, events: bool = True) -> Span:
        """The window ending now, or at the newest event when nothing that recent was stored."""
        return window_span(self.store, window, now, events)

    # ------------------------------------------------------------------------------------------------ pages
    def overview(self, window: str = "24h", now: float | None = None) -> Overview:
        return overview_page.build(self.store, window, now=now, default_consent=self.settings.default_consent)

    def segments(self, window: str = "30d", now: float | None = None) -> SegmentsPage:
        return segments_page.build(self.store, window, now=now, names=self.segment_names, ml=self._ml)

    def run_ml_report(self, max_profiles: int = ML_SAMPLE) -> MlReport:
        """Cluster (a sample of) the stored profiles and keep the report for the segments page."""
        with self._ml_lock:
            self._ml = segments_page.run_ml_report(
                self.store,
                default_consent=self.settings.default_consent,
                profile_config=self.profile_config,
                max_profiles=max_profiles,
            )
            return self._ml

    def recommendations(self, window: str = "7d", now: float | None = None) -> RecommendationsPage:
        return recommendations_page.build(
            self.store,
            window,
            now=now,
            registry=self.registry,
            served_model=self.served_model,
            config=self.kpi_config,
        )

    def experiments(self, window: str = "30d", now: float | None = None) -> ExperimentsPage:
        return experiments_page.build(
            self.store, window, now=now, config=self.kpi_config, results=self.experiment_results
        )

    def kpis(self, window: str = "7d", now: float | None = None) -> KpisPage:
        """The KPI and drift page; the same page again for ``KPI_CACHE_TTL_S`` while nothing new is stored."""
        parse_window(window)
        with self.store.transaction(write=False) as tx:
            key = (window, now, tx.dashboard_version())
        page = self._kpi_pages.get(key)
        if page is None:
            with self._kpi_lock:
                page = self._kpi_pages.get(key)  # another request may have computed it meanwhile
                if page is None:
                    page = self._compute_kpis(window, now)
                    self._kpi_pages.put(key, page)
        return page

    def _kept(self, name: str, window: str, now: float | None, compute: Any) -> Any:
        parse_window(window)
        with self.store.transaction(write=False) as tx:
            p = self.prediction_service
            versions = p.versions() if p is not None else {}
            key = (name, window, now, tx.dashboard_version(), tuple(sorted(versions.items())))
        page = self._audit_pages.get(key)
        if page is None:
            with self._audit_lock:
                page = self._audit_pages.get(key)
                if page is None:
                    page = compute()
                    self._audit_pages.put(key, page)
        return page

    def models(self, window: str = "30d", now: float | None = None) -> ModelsPage:
        """Predictive-trait models, their drift, and the recommender's hit rate over time, with alerts."""

        def compute() -> ModelsPage:
            p = self.prediction_service
            at = now if now is not None else time.time()
            return models_page.build(
                self.store,
                window,
                now=now,
                predictive=p.models() if p is not None else [],
                drift=p.drift(at) if p is not None and p.versions() else [],
                registry=self.registry,
                served_model=self.served_model,
                attribution_s=self.settings.decide.attribution_window_s,
            )

        page: ModelsPage = self._kept("models", window, now, compute)
        return page

    def profile(self, user_id: str | None) -> Profile | None:
        """A profile as ``GET /v1/profiles/{id}`` shows it (predicted traits with their model versions)."""
        if not user_id or self.profile_lookup is None:
            return None
        return self.profile_lookup(user_id)

    def fairness(self, window: str = "30d", now: float | None = None) -> FairnessPage:
        """The fairness audit of the window's decisions and of the predictive traits."""
        compute = lambda: fairness_page.build(self.store, window, now=now, fairness=self.fairness_service)  # noqa: E731
        page: FairnessPage = self._kept("fairness", window, now, compute)
        return page

    def _compute_kpis(self, window: str, now: float | None) -> KpisPage:
        return kpis_page.build(
            self.store, window, now=now, config=self.kpi_config, kept=self._event_values, names=self.segment_names
        )

    def _segment_labels(self, tx: Tx) -> dict[str, tuple[str, str]]:
        """membership id -> (definition id, name), as the pages name segments."""
        return segment_labels(tx, self.segment_names)

    def clear_cache(self) -> None:
        """Forget computed KPI pages and the event values kept for them (the next load reads everything)."""
        with self._kpi_lock:
            self._kpi_pages.clear()
            self._event_values.clear()

    # ------------------------------------------------------------------------------------------------ login
    def log_in(self, client: str) -> str:
        """Open a session for a correct login (audited); returns its id, for the cookie."""
        sid = self.sessions.open(client)
        self.audit_login("dashboard_login", client)
        return sid

    def log_out(self, sid: str | None, client: str) -> None:
        """End a session (audited when one was open)."""
        if sid is not None and self.sessions.close(sid):
            self.audit_login("dashboard_logout", client)

    def audit_login(self, action: str, client: str, wait_s: float | None = None) -> None:
        """Record a dashboard login or failed login in the audit log (a failed write is only logged: it must
        not turn a login answer into an error)."""
        detail: dict[str, Any] = {"client": client[:100]}
        if wait_s:
            detail["retry_after_s"] = round(wait_s, 1)
        try:
            with self.store.transaction() as tx:
                tx.append_audit(AuditRow(time.time(), "dashboard", action, None, detail))
        except Exception:
            log.warning("could not audit %s", action, exc_info=True)
