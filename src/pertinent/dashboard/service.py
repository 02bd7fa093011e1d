"""What the dashboard pages show, read from the store and the model registry (routes call only this).

Each page has one method returning a plain dataclass the template renders; thin or missing data gives
empty lists and messages, never an exception.

Windows end *now* — or, when the store holds no event that recent (an imported history, the demo's
synthetic month), at the newest event, and the page says so.

>>> from pertinent.settings import Settings
>>> from pertinent.services import Services
>>> svc = Services.build(Settings(database_url="sqlite://", write_key="w", admin_key="a", pseudonym_keys=["k"]))
>>> svc.store.migrate()
>>> page = DashboardService.from_services(svc).overview("24h", now=86400.0 * 20000)
>>> page.events_in_window, page.profiles, page.anchored_to_newest
(0, 0, False)
>>> svc.close()
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pertinent.dashboard import charts
from pertinent.dashboard.auth import LoginLimiter
from pertinent.dashboard.kpi_cache import EventValues, PageCache
from pertinent.kpis import OTHER, KpiConfig, KpiEvents, KpiResult, kpis_by_group
from pertinent.privacy.consent import PURPOSES
from pertinent.profiles.features import finite_number
from pertinent.storage.base import DecisionRow, IngestErrorRow, Store

if TYPE_CHECKING:
    from pertinent.drift import DriftResult
    from pertinent.profiles.features import ProfileConfig
    from pertinent.recommend.registry import ModelRegistry
    from pertinent.services import Services
    from pertinent.settings import Settings

log = logging.getLogger("pertinent.dashboard")

Window = Literal["1h", "24h", "7d", "30d"]
# window -> (seconds, chart bucket seconds)
WINDOWS: dict[str, tuple[float, float]] = {
    "1h": (3600.0, 60.0),
    "24h": (86400.0, 900.0),
    "7d": (7 * 86400.0, 3 * 3600.0),
    "30d": (30 * 86400.0, 12 * 3600.0),
}
MAX_EVENTS = 300_000  # events read for KPIs and drift per request (the page says when it was cut)
MAX_DECISIONS = 300_000
ML_SAMPLE = 5_000  # profiles clustered for the ML segment report


def when(ts: float | None) -> str:
    """A UTC time for people.

    >>> when(0.0)
    '1970-01-01 00:00 UTC'
    """
    return "–" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Span:
    """The window a page shows: [since, until), and whether it was moved back to the newest event.

    >>> Span("1h", 0.0, 3600.0, 60.0, anchored_to_newest=True).note.startswith("No events in the last 1h")
    True
    """

    window: str
    since: float
    until: float
    bucket_s: float
    anchored_to_newest: bool

    @property
    def note(self) -> str:
        if not self.anchored_to_newest:
            return ""
        return (
            f"No events in the last {self.window}: showing the {self.window} up to the newest event "
            f"({when(self.until)})."
        )


# --------------------------------------------------------------------------------------------- page data
@dataclass(frozen=True)
class ConsentRate:
    """Recorded choices for one purpose and the share of profiles for whom it is granted (default included).

    >>> ConsentRate("analytics", granted=3, denied=1, unset=6, effective_rate=0.9).effective_rate
    0.9
    """

    purpose: str
    granted: int
    denied: int
    unset: int
    effective_rate: float | None  # share of profiles for whom the purpose is granted, default included


@dataclass(frozen=True)
class Overview:
    """The overview page (see the module example)."""

    span: Span
    events_total: int
    events_in_window: int
    events_per_minute: float | None
    active_profiles: int
    profiles: int
    consent: list[ConsentRate]
    default_consent: str
    ingest_errors_24h: int
    ingest_errors_total: int
    recent_errors: list[IngestErrorRow]
    rate_chart: charts.LineChart

    @property
    def anchored_to_newest(self) -> bool:
        return self.span.anchored_to_newest


@dataclass(frozen=True)
class SegmentRow:
    """One segment in the table: members now, entries and exits in the window.

    >>> SegmentRow("vip", "VIP", "vip", size=4, entries=5, exits=1).entries - 1
    4
    """

    segment_id: str
    name: str
    definition: str  # the definition it belongs to (an ML or RFM definition has one segment per cluster)
    size: int
    entries: int
    exits: int


@dataclass(frozen=True)
class StoredMl:
    """A stored ML segment definition as last fitted (the segment service keeps them as documents).

    >>> _stored_ml("c", {"name": "Clusters", "fitted": {"k": 2, "segments": [{"name": "Big", "share": 0.25}]}}).k
    2
    """

    definition: str
    name: str
    k: int
    profiles: int
    fitted_at: float | None
    stability_ari: float | None
    share_bars: list[charts.Bar]
    segments: list[dict[str, Any]]  # key, name, size, share, description


@dataclass(frozen=True)
class SegmentsPage:
    """The segments page: table, size and flow charts, ML reports (``DashboardService.segments``)."""

    span: Span
    segments: list[SegmentRow]
    sizes_chart: charts.LineChart
    entries_chart: charts.LineChart
    exits_chart: charts.LineChart
    ml: dict[str, Any] | None  # the last ML segment report (SegmentationReport.to_dict()) with computed_at
    ml_share_bars: list[charts.Bar]
    message: str = ""
    stored_ml: list[StoredMl] | None = None


@dataclass(frozen=True)
class ModelVersion:
    """One saved model version with its offline metrics.

    >>> ModelVersion("default", "v2", "ease", 0.0, {"ndcg@10": 0.3}, latest=True, served=True).metrics["ndcg@10"]
    0.3
    """

    name: str
    version: str
    kind: str
    created_at: float | None
    metrics: dict[str, float]
    latest: bool
    served: bool


@dataclass(frozen=True)
class OnlineCtr:
    """Click-through of one model version online: ``clicked`` of ``impressions`` (lists shown, or decisions)
    were clicked at least once; ``ctr`` is their share with a 95% Wilson interval, None without impressions.
    ``clicks`` counts every click (one impression may have several).

    >>> OnlineCtr("default", "v1", impressions=0, clicks=2, ctr=None, ci_low=None, ci_high=None).ctr is None
    True
    """

    model: str
    version: str
    impressions: int
    clicks: int
    ctr: float | None
    ci_low: float | None
    ci_high: float | None
    clicked: int = 0


@dataclass(frozen=True)
class RecommendationsPage:
    """The recommendations page (``DashboardService.recommendations``)."""

    span: Span
    versions: list[ModelVersion]
    metric_names: list[str]
    metric_chart: charts.LineChart
    online: list[OnlineCtr]
    decisions: list[OnlineCtr]
    message: str = ""


@dataclass(frozen=True)
class VariantRow:
    """Units of one variant and each metric's mean per unit (a rate for conversion metrics).

    >>> VariantRow("b", 250, {"click": 0.2}).rates["click"]
    0.2
    """

    variant: str
    units: int
    rates: dict[str, float | None]


@dataclass(frozen=True)
class ComparisonRow:
    """One treatment vs the control on one metric: lift with its CI, adjusted p-value, chance to win.

    >>> ComparisonRow("click", "b", 0.1, -0.02, 0.22, 0.11, 0.93, False, "").chance_to_win
    0.93
    """

    metric: str
    treatment: str
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    chance_to_win: float | None
    significant: bool
    message: str
    variance_reduction: float | None = None  # CUPED: share of the variance the pre-period covariate removed


@dataclass(frozen=True)
class ExperimentResult:
    """One experiment on the page: variants, comparisons, SRM check and the lift chart (see
    :func:`result_from_report`).

    >>> r = ExperimentResult("e", "running", "a", [], [], False, None, "", charts.interval_chart([]),
    ...                      kinds={"revenue": "continuous"})
    >>> r.is_rate("click"), r.is_rate("revenue")
    (True, False)
    """

    key: str
    status: str
    control: str
    variants: list[VariantRow]
    comparisons: list[ComparisonRow]
    srm_flagged: bool
    srm_p: float | None
    srm_message: str
    lift_chart: charts.IntervalChart
    message: str = ""
    kinds: dict[str, str] | None = None  # metric -> "conversion" (rates) or "continuous" (means)

    def is_rate(self, metric: str) -> bool:
        return (self.kinds or {}).get(metric, "conversion") == "conversion"

    @property
    def cuped(self) -> bool:
        """Whether any comparison is CUPED-adjusted."""
        return any(c.variance_reduction is not None for c in self.comparisons)


@dataclass(frozen=True)
class BanditShares:
    """A bandit slot: decisions, arm shares over time (chart) and in the latest period.

    >>> BanditShares("pdp.recs", 10, charts.line_chart({}), {"a": 0.3, "b": 0.7}).latest["b"]
    0.7
    """

    slot: str
    decisions: int
    chart: charts.LineChart
    latest: dict[str, float]


@dataclass(frozen=True)
class ExperimentsPage:
    """The slots and experiments page (``DashboardService.experiments``)."""

    span: Span
    experiments: list[ExperimentResult]
    bandits: list[BanditShares]
    message: str = ""


@dataclass(frozen=True)
class KpiRow:
    """KPIs of one group: all profiles, a segment or an experiment variant.

    >>> from pertinent.kpis import KpiResult
    >>> KpiRow("all profiles", "all", KpiResult.empty("no events")).result.sessions
    0
    """

    group: str
    kind: str  # "all", "segment", "variant"
    result: KpiResult
    note: str = ""  # what the result's message says beyond the all-profiles row's (shown once, above)


@dataclass(frozen=True)
class DriftRow:
    """One feature's drift under every detector; ``alert`` when any detector alerts.

    >>> from pertinent.drift import PSI
    >>> DriftRow("device", "categorical", {"psi": PSI().compare(["a"] * 50, ["b"] * 50)}).alert
    True
    """

    feature: str
    kind: str
    results: dict[str, DriftResult]

    @property
    def alert(self) -> bool:
        return any(r.alert for r in self.results.values())


@dataclass(frozen=True)
class KpisPage:
    """The KPIs and drift page (``DashboardService.kpis``)."""

    span: Span
    rows: list[KpiRow]
    drift: list[DriftRow]
    drift_reference: tuple[float, float]
    alerts: list[str]
    truncated: bool
    message: str = ""

    @property
    def drift_thin(self) -> bool:
        """True when no feature had enough values in both windows to compare (the page says so once)."""
        return all(r.statistic is None for row in self.drift for r in row.results.values())


# ------------------------------------------------------------------------------------------------- service
def _label(value: Any) -> str | None:
    return str(value)[:100] if value not in (None, "") else None


def _number(value: Any) -> float | None:
    """A JSON field read as text (``iter_event_fields``) as a finite number, else None.

    >>> _number("12.5"), _number("abc"), _number(None), _number("nan")
    (12.5, None, None, None)
    """
    return finite_number(value)


# The JSON fields the drift section compares, read once per event and kept (``kpi_cache.EventValues``).
FIELD_PATHS = (
    ("properties", "category"),
    ("properties", "price"),
    ("properties", "revenue"),
    ("context", "device", "type"),
)
# Segment's "Experiment Viewed" (experiments run by another tool): experiment and variation, id or name
EXPOSURE_PATHS = (
    ("properties", "experiment_id"),
    ("properties", "experiment_name"),
    ("properties", "variation_id"),
    ("properties", "variation_name"),
)
EXPOSURE_EVENT = "Experiment Viewed"

# Features compared between the reference and the current window: (name, column, value of one raw value).
# Column None is the event's name (``event``, else its ``type``), i the i-th of FIELD_PATHS.
EVENT_FEATURES: tuple[tuple[str, int | None, Callable[[Any], Any]], ...] = (
    ("event name", None, lambda v: v),
    ("properties.category", 0, _label),
    ("properties.price", 1, _number),
    ("properties.revenue", 2, _number),
    ("context.device.type", 3, _label),
)
NUMBER_FIELDS = tuple(column for _name, column, value in EVENT_FEATURES if value is _number and column is not None)
KPI_CACHE_TTL_S = 30.0  # a computed KPI page is shown again for this long while nothing new is stored


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
    """Everything the dashboard shows. Build it with :meth:`from_services`.

    >>> DashboardService.parse_window("7d")[0]
    604800.0
    """

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
        # Without it (or for experiments it does not know) results come from the window's decisions here.
        self.experiment_results: Callable[[str], dict[str, Any]] | None = None
        # membership id -> (definition id, readable name), from the segment service (ML and RFM definitions
        # have one membership id per fitted segment); without it, names come from the segment documents.
        self.segment_names: Callable[[], dict[str, tuple[str, str]]] | None = None
        self._ml: dict[str, Any] | None = None
        self._ml_lock = threading.Lock()
        self._kpi_pages = PageCache(KPI_CACHE_TTL_S)
        self._event_values: dict[str, EventValues] = {}  # window -> event values kept for the KPI page
        self._kpi_lock = threading.Lock()
        self.login_limiter = LoginLimiter()  # failed logins to the dashboard, per client address and overall

    @classmethod
    def from_services(cls, services: Services) -> DashboardService:
        return cls(
            services.store,
            services.settings,
            services.ingest.profile_config,
            services.recommend.registry,
            services.recommend.config.model,
        )

    @staticmethod
    def parse_window(window: str) -> tuple[float, float]:
        if window not in WINDOWS:
            raise ValueError(f"window: must be one of {', '.join(WINDOWS)}")
        return WINDOWS[window]

    def span(self, window: str, now: float | None = None, events: bool = True) -> Span:
        """The window ending now, or at the newest event when nothing that recent was stored."""
        seconds, bucket = self.parse_window(window)
        now = time.time() if now is None else now
        until, anchored = now, False
        if events:
            with self.store.transaction(write=False) as tx:
                extent = tx.event_time_range()
            if extent is not None:
                newest = extent[1]
                if newest < now - seconds:
                    until, anchored = newest + 1e-3, True
                elif newest >= now:
                    until = newest + 1e-3
        return Span(window, until - seconds, until, bucket, anchored)

    # ------------------------------------------------------------------------------------------- overview
    def overview(self, window: str = "24h", now: float | None = None) -> Overview:
        now = time.time() if now is None else now
        span = self.span(window, now)
        with self.store.transaction(write=False) as tx:
            counts = tx.event_counts(span.since, span.until, span.bucket_s)
            active = tx.active_profiles(span.since, span.until)
            profiles = tx.count_profiles()
            events_total = tx.count_events()
            consent = tx.consent_counts()
            errors_24h = tx.count_ingest_errors(now - 86400.0)
            errors_total = tx.count_ingest_errors()
            recent = tx.recent_ingest_errors(10)
        in_window = sum(n for _, n in counts)
        per_minute = []
        for at, n in charts.fill_buckets(counts, span.since, span.until, span.bucket_s):
            covered = min(at + span.bucket_s, span.until) - max(at, span.since)  # the window's edges cut buckets
            if covered >= span.bucket_s / 4:  # a sliver of a bucket would be noise
                per_minute.append((at, n * 60.0 / covered))
        chart = charts.line_chart(
            {"events per minute": per_minute} if in_window else {},
            x_range=(span.since, span.until),
            title="Events per minute",
        )
        rates = []
        default_granted = self.settings.default_consent == "granted"
        for purpose in sorted(set(PURPOSES) | set(consent)):
            c = consent.get(purpose, {"granted": 0, "denied": 0})
            unset = max(profiles - c["granted"] - c["denied"], 0)
            granted = c["granted"] + (unset if default_granted else 0)
            rates.append(
                ConsentRate(purpose, c["granted"], c["denied"], unset, granted / profiles if profiles else None)
            )
        return Overview(
            span,
            events_total,
            in_window,
            in_window / ((span.until - span.since) / 60.0) if in_window else None,
            active,
            profiles,
            rates,
            self.settings.default_consent,
            errors_24h,
            errors_total,
            recent,
            chart,
        )

    # ------------------------------------------------------------------------------------------- segments
    def segments(self, window: str = "30d", now: float | None = None) -> SegmentsPage:
        span = self.span(window, now, events=False)  # membership changes happen in real time
        with self.store.transaction(write=False) as tx:
            names = self._segment_labels(tx)
            stored_ml = [
                _stored_ml(d.doc_id, d.body)
                for d in tx.list_documents("segment")
                if isinstance(d.body, dict) and d.body.get("kind") == "ml" and isinstance(d.body.get("fitted"), dict)
            ]
            sizes = tx.count_segment_members()
            flows = tx.membership_flows(span.since, span.until, span.bucket_s)
            ids = sorted(set(names) | set(sizes), key=lambda s: (-sizes.get(s, 0), s))
            history = {s: tx.segment_sizes(s, since=span.since) for s in ids[: charts.PALETTE_SIZE]}
        entries: dict[str, list[tuple[float, float]]] = defaultdict(list)
        exits: dict[str, list[tuple[float, float]]] = defaultdict(list)
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for seg, at, n_in, n_out in flows:
            entries[seg].append((at, n_in))
            exits[seg].append((at, n_out))
            totals[seg][0] += n_in
            totals[seg][1] += n_out
        rows = [
            SegmentRow(s, names.get(s, (s, s))[1], names.get(s, (s, s))[0], sizes.get(s, 0), totals[s][0], totals[s][1])
            for s in ids
        ]
        top = ids[: charts.PALETTE_SIZE]
        label = {r.segment_id: r.name for r in rows}
        window = (span.since, span.until)
        sizes_series = {label[s]: [(at, float(n)) for at, n in history[s]] for s in top if history.get(s)}
        ml = self._ml
        bars = []
        if ml and ml.get("ok"):
            bars = charts.bars([(seg["name"], seg["share"]) for seg in ml["segments"]], charts.fmt_percent)
        return SegmentsPage(
            span,
            rows,
            charts.line_chart(sizes_series, x_range=window, title="Segment sizes"),
            charts.line_chart({label[s]: entries[s] for s in top if s in entries}, x_range=window, title="Entries"),
            charts.line_chart({label[s]: exits[s] for s in top if s in exits}, x_range=window, title="Exits"),
            ml,
            bars,
            "" if rows else "No segments yet: define rule segments or run the ML report below.",
            stored_ml,
        )

    def _segment_labels(self, tx: Any) -> dict[str, tuple[str, str]]:
        """membership id -> (definition id, name): from the segment service when wired, else the documents."""
        if self.segment_names is not None:
            try:
                return dict(self.segment_names())
            except Exception:  # the documents still name every rule segment
                log.warning("segment names unavailable from the segment service", exc_info=True)
        return {d.doc_id: (d.doc_id, str((d.body or {}).get("name") or d.doc_id)) for d in tx.list_documents("segment")}

    def run_ml_report(self, max_profiles: int = ML_SAMPLE) -> dict[str, Any]:
        """Cluster (a sample of) the stored profiles and keep the report for the segments page."""
        from pertinent.profiles.frame import features_frame
        from pertinent.segments.ml import discover
        from pertinent.segments.pipeline import ClusteringConfig, SegmentationConfig
        from pertinent.segments.report import SegmentationReport

        with self._ml_lock:
            with self.store.transaction(write=False) as tx:
                frame = features_frame(tx.iter_profiles(), self.settings.default_consent, self.profile_config)
            if len(frame) > max_profiles:
                frame = frame.sample(max_profiles, random_state=0)
            if len(frame) < 10:
                report = SegmentationReport.empty(
                    f"needs at least 10 profiles with personalisation consent, got {len(frame)}"
                ).to_dict()
            else:
                config = SegmentationConfig(clustering=ClusteringConfig(k_range=(2, 6), seed=0))
                report = json.loads(json.dumps(discover(frame, config).report.to_dict(), default=_plain))
            report["computed_at"] = time.time()
            report["sampled"] = len(frame)
            self._ml = report
            return report

    # ------------------------------------------------------------------------------------ recommendations
    def recommendations(self, window: str = "7d", now: float | None = None) -> RecommendationsPage:
        span = self.span(window, now)
        versions = self._model_versions()
        served = [v for v in versions if v.name == self.served_model] or versions
        metric_names = sorted({k for v in served for k, val in v.metrics.items() if isinstance(val, float)})
        chart = charts.line_chart(
            {
                m: [(v.created_at or 0.0, v.metrics[m]) for v in served if m in v.metrics]
                for m in metric_names[: charts.PALETTE_SIZE]
            },
            title="Offline metrics by version",
        )
        clicks = [e for e in self.kpi_config.click_events if e.startswith("Recommendation")]
        views = [e for e in self.kpi_config.impression_events if e.startswith("Recommendation")]
        with self.store.transaction(write=False) as tx:
            rows = tx.iter_event_fields(
                span.since, span.until, RECOMMENDATION_PATHS, limit=MAX_EVENTS, names=clicks + views
            )
            online = online_click_through(
                ((event, *fields) for _p, type_, event, _t, *fields in rows if type_ == "track"), clicks, views
            )
            decisions = [d for d in self._decisions(tx, span) if d.reason in ("recommender", "recommendation")]
            outcomes = tx.outcomes_of([d.decision_id for d in decisions]) if decisions else []
        clicked = {o.decision_id for o in outcomes if self._outcome_metric(o.kind) == "click"}
        by_model: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for d in decisions:
            detail = d.detail or {}
            model = _label(detail.get("model")) or _label(detail.get("source")) or "unknown"
            key = (model, str(detail.get("model_version") or detail.get("version") or "–")[:40])
            by_model[key][0] += 1
            by_model[key][1] += d.decision_id in clicked
        decided = [_ctr(m, v, n, c) for (m, v), (n, c) in sorted(by_model.items())]
        message = "" if versions else "No trained model yet: run `pertinent train` (make demo does)."
        return RecommendationsPage(span, versions, metric_names, chart, online, decided, message)

    def _model_versions(self) -> list[ModelVersion]:
        out = []
        for name in self.registry.names():
            latest = self.registry.latest_version(name)
            for version in self.registry.versions(name)[-20:]:
                folder = self.registry.root / name / version
                meta = _read_json(folder / "meta.json")
                metrics = offline_metrics(_read_json(folder / "metrics.json"))
                out.append(
                    ModelVersion(
                        name,
                        version,
                        str(meta.get("kind", "?")),
                        _number(meta.get("created_at")),
                        metrics,
                        version == latest,
                        name == self.served_model and version == latest,
                    )
                )
        return out

    # ---------------------------------------------------------------------------------------- experiments
    def experiments(self, window: str = "30d", now: float | None = None) -> ExperimentsPage:
        span = self.span(window, now, events=False)
        with self.store.transaction(write=False) as tx:
            docs = {d.doc_id: d.body or {} for d in tx.list_documents("experiment")}
            decisions = self._decisions(tx, span)
            in_experiments = [d for d in decisions if d.experiment]
            outcomes = tx.outcomes_of([d.decision_id for d in in_experiments]) if in_experiments else []
        by_exp: dict[str, list[DecisionRow]] = defaultdict(list)
        for d in in_experiments:
            by_exp[d.experiment].append(d)  # type: ignore[index]
        kinds: dict[str, set[str]] = defaultdict(set)
        for o in outcomes:
            metric = self._outcome_metric(o.kind)
            if metric is not None:
                kinds[o.decision_id].add(metric)
        results = []
        for key in sorted(set(docs) | set(by_exp)):
            report = self._analysis(key) if key in docs else None
            if report is not None:
                status = str(report.get("status") or docs[key].get("status") or "")
                results.append(result_from_report(key, status, report))
            else:
                results.append(self._experiment(key, docs.get(key, {}), by_exp.get(key, []), kinds))
        bandits = self._bandits([d for d in decisions if d.reason == "bandit"])
        message = (
            ""
            if results or bandits
            else "No experiments yet: experiments and bandit slots appear here once /v1/decide has served them."
        )
        return ExperimentsPage(span, results, bandits, message)

    def _outcome_metric(self, kind: str) -> str | None:
        """An attributed outcome (its kind is the event name, e.g. "Slot Clicked") as "click" or "conversion"."""
        if kind == "click" or kind in self.kpi_config.click_events:
            return "click"
        if kind == "conversion" or kind in self.kpi_config.conversion_events:
            return "conversion"
        return None

    def _analysis(self, key: str) -> dict[str, Any] | None:
        if self.experiment_results is None:
            return None
        try:
            return self.experiment_results(key)
        except Exception:  # an experiment the decide service cannot analyse: fall back to the window's decisions
            log.warning("no analysis of experiment %s from the decide service", key, exc_info=True)
            return None

    def _experiment(
        self, key: str, doc: dict[str, Any], decisions: list[DecisionRow], kinds: dict[str, set[str]]
    ) -> ExperimentResult:
        from pertinent.experiments.analysis import MetricSpec, analyze
        from pertinent.experiments.stats import ProportionStats

        planned = [v for v in doc.get("variants", []) if isinstance(v, str)]
        units: dict[str, set[str]] = defaultdict(set)
        hits: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for d in decisions:
            variant = d.variant or "(none)"
            units[variant].add(d.profile_id)
            for kind in kinds.get(d.decision_id, ()):
                hits[variant][kind].add(d.profile_id)
        variants = planned + sorted(v for v in units if v not in planned)
        control = planned[0] if planned else (variants[0] if variants else "")
        metrics = ["click", "conversion"]
        rows = [
            VariantRow(v, len(units[v]), {m: len(hits[v][m]) / len(units[v]) if units[v] else None for m in metrics})
            for v in variants
        ]
        status = str(doc.get("status", "running" if decisions else "draft"))
        if len(variants) < 2 or not decisions:
            return ExperimentResult(
                key,
                status,
                control,
                rows,
                [],
                False,
                None,
                "",
                charts.interval_chart([]),
                "no decisions in the window yet" if not decisions else "only one variant seen",
            )
        data = {v: {m: ProportionStats(len(units[v]), len(hits[v][m])) for m in metrics} for v in variants}
        weights = doc.get("weights") if len(doc.get("weights") or []) == len(variants) else None
        if weights is not None and any(not isinstance(w, int | float) or w <= 0 for w in weights):
            weights = None
        report = analyze(data, control, [MetricSpec(name=m, kind="conversion") for m in metrics], weights=weights)
        return result_from_report(key, status, report.to_dict())

    @staticmethod
    def _bandits(decisions: list[DecisionRow]) -> list[BanditShares]:
        by_slot: dict[str, list[DecisionRow]] = defaultdict(list)
        for d in decisions:
            by_slot[d.slot].append(d)
        out = []
        for slot, rows in sorted(by_slot.items()):
            # buckets fitted to the decisions' own span: a bandit may have run for minutes or for months
            bucket = charts.time_bucket(min(d.at for d in rows), max(d.at for d in rows))
            counts: dict[float, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for d in rows:
                counts[math.floor(d.at / bucket) * bucket][d.variant or "(none)"] += 1
            arms = sorted({d.variant or "(none)" for d in rows})
            series = {arm: [(at, c[arm] / sum(c.values())) for at, c in sorted(counts.items())] for arm in arms}
            last = counts[max(counts)]
            out.append(
                BanditShares(
                    slot,
                    len(rows),
                    charts.line_chart(series, y_format=charts.fmt_percent, y_max=1.0, title=f"Arm shares in {slot}"),
                    {a: last[a] / sum(last.values()) for a in arms},
                )
            )
        return out

    @staticmethod
    def _decisions(tx: Any, span: Span) -> list[DecisionRow]:
        out = []
        for d in tx.iter_decisions(since=span.since, until=span.until):
            out.append(d)
            if len(out) >= MAX_DECISIONS:
                break
        return out

    # ----------------------------------------------------------------------------------------- KPIs, drift
    def clear_cache(self) -> None:
        """Forget computed KPI pages and the event values kept for them (the next load reads everything)."""
        with self._kpi_lock:
            self._kpi_pages.clear()
            self._event_values.clear()

    def kpis(self, window: str = "7d", now: float | None = None) -> KpisPage:
        """The KPI and drift page; the same page again for ``KPI_CACHE_TTL_S`` while nothing new is stored."""
        self.parse_window(window)
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

    def _compute_kpis(self, window: str, now: float | None) -> KpisPage:
        span = self.span(window, now)
        length = span.until - span.since
        reference = (span.since - length, span.since)
        cfg = self.kpi_config
        named = list(dict.fromkeys([*cfg.click_events, *cfg.impression_events, *cfg.conversion_events, EXPOSURE_EVENT]))
        with self.store.transaction(write=False) as tx:
            values = self._refresh_values(tx, window, reference[0])
            # profile ids change on identity merges, so what depends on them is read on each computation:
            # (current?, profile, events, newest time) grouped in SQL; page events of both windows and the
            # current window's click, impression, conversion and exposure events
            per_profile = tx.profile_event_counts(reference[0], span.since, span.until)
            named_rows = list(
                tx.iter_named_events(
                    reference[0],
                    span.since,
                    span.until,
                    cfg.page_types,
                    named,
                    EXPOSURE_EVENT,
                    EXPOSURE_PATHS,
                    limit=MAX_EVENTS,
                )
            )
            profile_ids = {p for current, p, *_ in per_profile if current}
            memberships = tx.segments_of(profile_ids) if profile_ids else {}
            labels = self._segment_labels(tx)
            decisions = [d for d in self._decisions(tx, span) if d.experiment]
        truncated = values.size >= MAX_EVENTS or len(named_rows) >= MAX_EVENTS
        current_rows = [row for row in named_rows if row[3] >= span.since]
        viewed = [row for row in current_rows if row[2] == EXPOSURE_EVENT]
        kpi_events = _kpi_events(current_rows, [(p, newest) for current, p, _n, newest in per_profile if current], cfg)
        groups: dict[str, dict[str, float]] = {"all profiles": dict.fromkeys(profile_ids, 0.0)}
        kinds = {"all profiles": "all"}
        for pid, segs in memberships.items():
            for seg in segs:
                name = f"segment: {labels.get(seg, (seg, seg))[1]}"
                groups.setdefault(name, {})[pid] = 0.0
                kinds[name] = "segment"
        for name, members in _exposures(decisions, viewed).items():
            groups[name] = members
            kinds[name] = "variant"
        results = kpis_by_group(kpi_events, groups, cfg)
        shared = set(results["all profiles"].message.split("; "))
        rows = [
            KpiRow(
                name,
                kinds[name],
                results[name],
                results[name].message
                if name == "all profiles"
                else "; ".join(p for p in results[name].message.split("; ") if p and p not in shared),
            )
            for name in groups
        ]
        drift = self._drift(values, reference, span, per_profile, named_rows)
        alerts = [
            f"{row.feature}: {r.detector} {charts.fmt_number(r.statistic)} > {charts.fmt_number(r.threshold)}"
            if r.detector != "ks"
            else f"{row.feature}: KS D={charts.fmt_number(r.statistic)}, p={charts.fmt_number(r.p_value)}"
            for row in drift
            for r in row.results.values()
            if r.alert
        ]
        message = "" if profile_ids else "No events in the window."
        return KpisPage(span, rows, drift, reference, alerts, truncated, message)

    def _refresh_values(self, tx: Any, window: str, since: float) -> EventValues:
        """The window's kept event values brought up to date: only events stored since the last read are read,
        all of them again when events were deleted (erasure) or an earlier start is asked for."""
        values = self._event_values.get(window)
        if values is not None and (
            since < values.since or tx.count_events_through(values.last_id) != values.events_seen
        ):
            values = None
        if values is None:
            values = self._event_values[window] = EventValues(since, len(FIELD_PATHS), NUMBER_FIELDS)
        values.drop_before(since)
        before = values.last_id
        values.extend(
            tx.iter_event_values(since, values.last_id, FIELD_PATHS, limit=MAX_EVENTS - values.size), limit=MAX_EVENTS
        )
        if values.last_id != before or not values.events_seen:
            values.events_seen = tx.count_events_through(values.last_id)
        return values

    def _drift(
        self,
        values: EventValues,
        reference: tuple[float, float],
        span: Span,
        per_profile: list[tuple[bool, str, int, float]],
        named_rows: list[tuple[Any, ...]],
    ) -> list[DriftRow]:
        from pertinent.drift import DETECTORS, make_detector

        detectors = [make_detector(name) for name in DETECTORS]
        ts = values.ts
        sides = ((ts >= reference[0]) & (ts < reference[1]), (ts >= span.since) & (ts < span.until))
        features: list[tuple[str, tuple[str, list[Any], list[Any]]]] = []
        for name, column, value in EVENT_FEATURES:
            codes, column_codes = (
                (values.names, values.name_codes)
                if column is None
                else (values.fields[column], values.field_codes(column))
            )
            ref = _counted(values.values_of(codes, column_codes, sides[0]), value)
            cur = _counted(values.values_of(codes, column_codes, sides[1], ordered=False), value)
            features.append((name, _prepared(ref, cur)))
        page_types = set(self.kpi_config.page_types)
        pages = Counter((ts >= span.since, p) for p, type_, _e, ts, *_ in named_rows if type_ in page_types)
        events = [[(float(n), 1) for current, _p, n, _t in per_profile if current is side] for side in (False, True)]
        features.append(("events per profile", _prepared(*events)))
        views = [
            [(float(pages[(side, p)]), 1) for current, p, _n, _t in per_profile if current is side]
            for side in (False, True)
        ]
        features.append(("page views per profile", _prepared(*views)))
        rows = []
        for name, prepared in features:
            results = {d.name: d.compare_prepared(*prepared) for d in detectors}
            kind = next(iter(results.values())).kind
            if kind != "numeric":
                results.pop("ks", None)
            rows.append(DriftRow(name, kind, results))
        return rows


def _counted(values: Iterable[tuple[Any, int]], value: Callable[[Any], Any]) -> list[tuple[Any, int]]:
    """(value, count) from (raw value, count) pairs: raw values read as the feature reads them (``_label``,
    ``_number``), missing ones dropped, equal ones merged where first seen.

    >>> _counted([("9.5", 2), ("x", 1), (9.5, 3)], _number)
    [(9.5, 5)]
    """
    out: dict[Any, int] = {}
    for raw, n in values:
        v = value(raw)
        if v is not None:
            out[v] = out.get(v, 0) + n
    return list(out.items())


def _prepared(reference: list[tuple[Any, int]], current: list[tuple[Any, int]]) -> tuple[str, list[Any], list[Any]]:
    """What ``drift.prepare`` gives for the expanded samples, from (value, count) pairs in first-seen order:
    numeric when both hold only numbers, else labels (the order of first appearance is kept, which is the
    order the categorical detectors rank ties in).

    >>> _prepared([("a", 2), ("b", 1)], [("b", 1)])
    ('categorical', ['a', 'a', 'b'], ['b'])
    >>> _prepared([(1.0, 2)], [])
    ('numeric', [1.0, 1.0], [])
    """
    numeric = all(isinstance(v, float) for v, _ in reference) and all(isinstance(v, float) for v, _ in current)

    def expand(pairs: list[tuple[Any, int]]) -> list[Any]:
        if numeric:
            return (
                np.repeat(
                    np.asarray([v for v, _ in pairs], dtype=float), np.asarray([n for _, n in pairs], dtype=np.int64)
                ).tolist()
                if pairs
                else []
            )
        out: list[Any] = []
        for v, n in pairs:
            out.extend([str(v)] * n)
        return out

    return ("numeric" if numeric else "categorical"), expand(reference), expand(current)


def _kpi_events(rows: Iterable[tuple[Any, ...]], newest: list[tuple[str, float]], config: KpiConfig) -> KpiEvents:
    """The events KPIs count: the window's page, click, impression and conversion events ((profile, type,
    event, time, ...) rows), plus one uncounted event per profile at its newest event, which keeps every
    profile with an event in the window (from any start time) in its groups as all its events would.

    >>> ev = _kpi_events([("a", "page", None, 1.0), ("a", "track", "Viewed", 2.0)], [("a", 3.0), ("b", 4.0)],
    ...                  KpiConfig())
    >>> ev.profile.tolist(), ev.kind.tolist(), ev.ts.tolist()
    (['a', 'a', 'b'], [1, 0, 0], [1.0, 3.0, 4.0])
    """
    counted = KpiEvents.from_records(((p, t, e, ts) for p, t, e, ts, *_ in rows if config.kind(t, e) != OTHER), config)
    extra = [(p, ts) for p, ts in newest if math.isfinite(ts)]
    profiles = np.empty(len(extra), dtype=object)
    profiles[:] = [p for p, _ in extra]
    return KpiEvents(
        np.concatenate([counted.profile, profiles]),
        np.concatenate([counted.kind, np.full(len(extra), OTHER, dtype=np.int8)]),
        np.concatenate([counted.ts, np.asarray([ts for _, ts in extra], dtype=np.float64)]),
    )


def _stored_ml(doc_id: str, body: dict[str, Any]) -> StoredMl:
    fitted = body["fitted"]
    segments = [s for s in fitted.get("segments") or [] if isinstance(s, dict)]
    bars = charts.bars(
        [(str(s.get("name", s.get("key"))), float(s.get("share") or 0.0)) for s in segments], charts.fmt_percent
    )
    return StoredMl(
        doc_id,
        str(body.get("name") or doc_id),
        int(fitted.get("k") or len(segments)),
        int(fitted.get("profiles") or 0),
        _number(fitted.get("fitted_at")),
        _number(fitted.get("stability_ari")),
        bars,
        segments,
    )


def result_from_report(key: str, status: str, report: dict[str, Any]) -> ExperimentResult:
    """An experiment's page section from an analysis report (``ExperimentReport.to_dict()`` shape, as the
    decide service's ``results`` returns it).

    >>> from pertinent.experiments.analysis import MetricSpec, analyze
    >>> from pertinent.experiments.stats import ProportionStats
    >>> data = {"a": {"buy": ProportionStats(1000, 100)}, "b": {"buy": ProportionStats(1000, 150)}}
    >>> report = analyze(data, "a", [MetricSpec(name="buy", kind="conversion")]).to_dict()
    >>> r = result_from_report("e", "running", report)
    >>> [(v.variant, v.units, v.rates["buy"]) for v in r.variants], r.comparisons[0].significant
    ([('a', 1000, 0.1), ('b', 1000, 0.15)], True)
    """
    units = report.get("units") or {}
    metrics = report.get("metrics") or []
    rows = [
        VariantRow(v, int(n), {m["name"]: (m.get("variants", {}).get(v) or {}).get("mean") for m in metrics})
        for v, n in units.items()
    ]
    comparisons = []
    for m in metrics:
        for treatment, c in (m.get("comparisons") or {}).items():
            lift, test, bayes = c.get("lift") or {}, c.get("test") or {}, c.get("bayesian") or {}
            comparisons.append(
                ComparisonRow(
                    m["name"],
                    treatment,
                    lift.get("relative_lift"),
                    lift.get("ci_low"),
                    lift.get("ci_high"),
                    c.get("p_value_adjusted", test.get("p_value")),
                    bayes.get("chance_to_win"),
                    bool(c.get("significant")),
                    lift.get("message") or test.get("message") or "",
                    c.get("variance_reduction"),
                )
            )
    srm = report.get("srm") or {}
    chart = charts.interval_chart([(f"{r.metric}: {r.treatment}", r.ci_low, r.lift, r.ci_high) for r in comparisons])
    return ExperimentResult(
        key,
        status,
        str(report.get("control", "")),
        rows,
        comparisons,
        bool(srm.get("flagged")),
        srm.get("p_value"),
        srm.get("message") or "",
        chart,
        str(report.get("message") or ""),
        {m["name"]: str(m.get("kind", "conversion")) for m in metrics},
    )


def _exposures(decisions: list[DecisionRow], viewed: list[tuple[Any, ...]]) -> dict[str, dict[str, float]]:
    """ "experiment: variant" -> {profile: first exposure time}, from decisions and "Experiment Viewed" events."""
    out: dict[str, dict[str, float]] = defaultdict(dict)

    def expose(experiment: Any, variant: Any, profile: str, at: float) -> None:
        name = f"{str(experiment)[:60]}: {str(variant)[:60]}"
        if at < out[name].get(profile, math.inf):
            out[name][profile] = at

    for d in decisions:
        expose(d.experiment, d.variant or "(none)", d.profile_id, d.at)
    for profile, _type, _name, at, experiment_id, experiment_name, variation_id, variation_name in viewed:
        experiment, variant = experiment_id or experiment_name, variation_id or variation_name
        if experiment is not None and variant is not None:
            expose(experiment, variant, profile, at)
    return dict(out)


def _ctr(model: str, version: str, shown: int, clicked: int, clicks: int | None = None) -> OnlineCtr:
    """``clicked`` of ``shown`` impressions as a rate with a 95% Wilson interval (scipy); None without
    impressions. ``clicks`` (every click, default ``clicked``) is only reported."""
    clicks = clicked if clicks is None else clicks
    k = min(clicked, shown)
    if shown <= 0:
        return OnlineCtr(model, version, shown, clicks, None, None, None, k)
    from scipy.stats import binomtest

    ci = binomtest(k, shown).proportion_ci(method="wilson")
    return OnlineCtr(model, version, shown, clicks, k / shown, float(ci.low), float(ci.high), k)


# What a recommendation list's impression ("Recommendations Viewed") and its clicks say (pertinent.js sends both).
RECOMMENDATION_PATHS = (
    ("properties", "model"),
    ("properties", "source"),
    ("properties", "version"),
    ("properties", "impression_id"),
)


def online_click_through(
    rows: Iterable[tuple[Any, ...]], click_events: Iterable[str], impression_events: Iterable[str]
) -> list[OnlineCtr]:
    """Click-through per model and version from (event, model, source, version, impression_id) rows.

    An impression is one list shown (an impression event); it counts as clicked when a click names its
    ``impression_id``, so one list clicked twice is still one clicked impression and the rate is a proportion
    with a Wilson interval. Clicks that name no impression (other senders) count as one clicked impression each;
    clicks naming an impression outside the rows (shown before the window) count as clicks only. Lists are
    keyed by ``model`` (else ``source``: ``popularity`` for the fallback) and ``version``.

    >>> rows = [("Recommendations Viewed", "default", "model", "v2", "i1"),
    ...         ("Recommendations Viewed", "default", "model", "v2", "i2"),
    ...         ("Recommendation Clicked", "default", "model", "v2", "i1"),
    ...         ("Recommendation Clicked", "default", "model", "v2", "i1"),
    ...         ("Recommendations Viewed", None, "popularity", None, "i3")]
    >>> [(r.model, r.version, r.impressions, r.clicks, r.clicked, r.ctr) for r in online_click_through(
    ...     rows, ["Recommendation Clicked"], ["Recommendations Viewed"])]
    [('default', 'v2', 2, 2, 1, 0.5), ('popularity', '–', 1, 0, 0, 0.0)]
    """
    click_names, view_names = set(click_events), set(impression_events)
    shown: dict[tuple[str, str], int] = defaultdict(int)
    shown_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    clicks: dict[tuple[str, str], int] = defaultdict(int)
    clicked_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    unlinked: dict[tuple[str, str], int] = defaultdict(int)
    for event, model, source, version, impression in rows:
        if event not in click_names and event not in view_names:
            continue
        key = (_label(model) or _label(source) or "unknown", str(version or "–")[:40])
        impression = _label(impression)
        if event in click_names:
            clicks[key] += 1
            if impression is None:
                unlinked[key] += 1
            else:
                clicked_ids[key].add(impression)
        else:
            shown[key] += 1
            if impression is not None:
                shown_ids[key].add(impression)
    return [
        _ctr(
            model,
            version,
            shown[(model, version)],
            len(clicked_ids[(model, version)] & shown_ids[(model, version)]) + unlinked[(model, version)],
            clicks[(model, version)],
        )
        for model, version in sorted(set(shown) | set(clicks))
    ]


def offline_metrics(doc: dict[str, Any]) -> dict[str, float]:
    """A model version's offline metrics as flat numbers: the top-level numbers of its ``metrics.json`` and the
    holdout evaluation ``pertinent train`` writes there (``{"holdout": {"k": 10, "metrics": {"ndcg": ...}}}``)
    as ``ndcg@10``.

    >>> offline_metrics({"holdout": {"k": 10, "metrics": {"ndcg": 0.25, "hit_rate": 0.5}}, "report": {"trials": []}})
    {'ndcg@10': 0.25, 'hit_rate@10': 0.5}
    >>> offline_metrics({"ndcg@10": 0.3, "note": "x", "bad": float("nan"), "flag": True})
    {'ndcg@10': 0.3}
    """

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    out = {str(k): float(v) for k, v in doc.items() if number(v)}
    holdout = doc.get("holdout")
    if isinstance(holdout, dict) and isinstance(holdout.get("metrics"), dict):
        k = holdout.get("k")
        suffix = f"@{k}" if isinstance(k, int) and not isinstance(k, bool) else ""
        for name, v in holdout["metrics"].items():
            if number(v):
                out.setdefault(f"{name}{suffix}", float(v))
    return out


def _read_json(path: Any) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
