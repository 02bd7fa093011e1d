"""SegmentService: segment definitions (rule, RFM, ML) stored as documents, kept current in real time.

A thin facade over the parts, which share one :class:`~.context.SegmentContext` (storage, settings, clock):

* ``documents.py`` -- definitions as versioned documents (``definitions.py``) and the API's view of them;
* ``active.py`` -- definitions compiled for evaluation, the active ones re-read every ``reload_interval_s``;
* ``membership.py`` -- evaluating profiles and writing membership changes, fed by the real-time evaluator
  (``realtime.py``) that ingestion calls through :meth:`SegmentService.on_commit`; back-fills and reconcile;
* ``sweep.py`` -- the periodic time sweep (people leave "frequent buyers" when they stop buying, without a new
  event) and size snapshots;
* ``fitting.py`` -- RFM thresholds and ML models fitted when saved, on demand and on the retraining schedule (ML
  models versioned under ``<data dir>/segment_models``, ids kept stable across retrains);
* ``preview.py`` and ``queries.py`` -- previews of unsaved definitions; members, history and sizes.

Saving a definition back-fills it over all stored profiles in the background; profiles without personalisation
consent are in no segment.

>>> import tempfile
>>> from pertinent.services import Services
>>> from pertinent.settings import Settings
>>> svc = Services.build(Settings(data_dir=tempfile.mkdtemp(), write_key="w", admin_key="a", pseudonym_keys=["k"]))
>>> svc.segments.create({"id": "fr", "name": "French", "rule": {"type": "context", "field": "country",
...                      "op": "eq", "value": "FR"}}, backfill="sync").version
1
>>> _ = svc.ingest.ingest([{"type": "track", "event": "Product Viewed", "userId": "ana",
...                         "context": {"locale": "fr-FR"}}])
>>> svc.segments.wait_idle()
True
>>> [s.id for s in svc.profiles.get("ana").segments]
['fr']
>>> svc.close()
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pertinent.privacy.audit import SYSTEM, Actor
from pertinent.profiles.features import ProfileConfig
from pertinent.runtime.jobs import JobRunner
from pertinent.segments.active import ActiveDefinitions, Names
from pertinent.segments.config import SegmentsConfig
from pertinent.segments.context import SegmentContext
from pertinent.segments.definitions import Definition, RuleDefinition, TemplateInfo, templates_catalogue
from pertinent.segments.documents import DefinitionDocuments
from pertinent.segments.fitting import Fitter
from pertinent.segments.membership import Membership
from pertinent.segments.model_store import ModelStore
from pertinent.segments.preview import Previewer
from pertinent.segments.queries import MembershipQueries
from pertinent.segments.results import (
    Backfill,
    EvaluatorStats,
    ProfileExport,
    ProfileSegment,
    SegmentDeleted,
    SegmentHistory,
    SegmentList,
    SegmentMembers,
    SegmentPreview,
    SegmentSizes,
    SegmentView,
    Totals,
)
from pertinent.segments.sweep import Sweeper
from pertinent.settings import Settings
from pertinent.storage.base import MembershipChange, ProfileRow, Store
from pertinent.storage.claims import StoreClaims
from pertinent.storage.protocols import MembershipRepo

RECONCILE_STATE = "segments.reconcile"  # the job state holding when the last scheduled reconcile started
# a profile updated this long before the last reconcile is read again: its real-time evaluation (or a node's
# queue) may have been in flight while that reconcile read it
RECONCILE_SLACK_S = 120.0

BackfillMode = Literal["background", "sync", "none"]
FitMode = Literal["sync", "background"]
_BACKFILL_STATE: dict[BackfillMode, Backfill] = {"sync": "done", "background": "running", "none": "skipped"}


class SegmentService:
    """Segment definitions, membership queries and the machinery that keeps memberships current (the module
    docstring shows it with ingestion).

    >>> import tempfile
    >>> from pertinent.profiles.features import ProfileConfig
    >>> from pertinent.settings import Settings
    >>> from pertinent.storage.sql import SqlStore
    >>> store = SqlStore("sqlite://"); store.migrate()
    >>> service = SegmentService(store, Settings(data_dir=tempfile.mkdtemp()), ProfileConfig())
    >>> service.create({"template": "new_visitors"}, backfill="none").time_based
    True
    >>> service.preview({"template": "new_visitors"}).size
    0
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        profile_config: ProfileConfig,
        config: SegmentsConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        config = config or settings.segments.model_copy(deep=True)
        self.ctx = ctx = SegmentContext(store, settings, profile_config, config, clock)
        self.models = ModelStore(settings.data_dir / "segment_models", keep=config.keep_model_versions)
        self.documents = DefinitionDocuments(ctx)
        self.definitions = ActiveDefinitions(ctx, self.documents, self.models)
        self.membership = Membership(ctx, self.definitions)
        self.sweeper = Sweeper(ctx, self.definitions, self.membership)
        self.fitting = Fitter(ctx, self.documents, self.definitions, self.membership, self.models)
        self.previews = Previewer(ctx, self.documents, self.membership, self.fitting)
        self.queries = MembershipQueries(ctx, self.documents)
        self.evaluator = self.membership.evaluator
        self.jobs = JobRunner(StoreClaims(store), lambda: ctx.clock(), "pertinent-segments-jobs")
        self._started = False

    # the parts share the context: setting the clock here moves every part
    @property
    def clock(self) -> Callable[[], float]:
        return self.ctx.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.ctx.clock = clock

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def profile_config(self) -> ProfileConfig:
        return self.ctx.profile_config

    @property
    def config(self) -> SegmentsConfig:
        return self.ctx.config

    # ------------------------------------------------------------------------------ lifecycle
    def on_commit(self, committed: Any) -> None:
        """Ingest listener: queue the changed profiles for the real-time evaluator (quick)."""
        self.membership.on_commit(committed)

    def profiles_changed(self, rows: Sequence[ProfileRow]) -> None:
        """Queue profiles changed outside ingestion (a consent call) for real-time re-evaluation."""
        self.membership.profiles_changed(rows)

    def start(self) -> None:
        """Start the periodic tasks (sweep, size snapshots, retraining) -- the server calls this."""
        if self._started:
            return
        self._started = True
        c = self.config
        self.jobs.every("sweep", c.sweep_interval_s, self.sweep)
        self.jobs.every("sizes", c.sizes_interval_s, self.snapshot_sizes)
        self.jobs.every("retrain", c.retrain_interval_s, self.retrain_due)
        self.jobs.every("reconcile", c.reconcile_interval_s, self.reconcile_recent)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until queued real-time work and background jobs are done (tests, CLI); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = deadline - time.monotonic()
            if (
                self.jobs.wait_idle(left)
                and self.evaluator.wait_idle(max(deadline - time.monotonic(), 0.0))
                and self.jobs.wait_idle(0.0)
            ):  # a job may have queued real-time work and vice versa
                return True
        return False

    def close(self) -> None:
        self.jobs.close()
        self.evaluator.close()

    def stats(self) -> EvaluatorStats:
        return self.membership.stats()

    # ------------------------------------------------------------------------------ definitions
    def list(self) -> SegmentList:
        """Every definition (rule, RFM, ML) with its current sizes."""
        return self.documents.list()

    def get(self, definition_id: str) -> SegmentView:
        return self.documents.get(definition_id)

    def templates(self) -> builtins.list[TemplateInfo]:
        return templates_catalogue()

    def create(
        self, data: Any, backfill: BackfillMode = "background", fit: FitMode = "sync", actor: Actor = SYSTEM
    ) -> SegmentView:
        """Validate and store a new definition (fitting RFM/ML first), then back-fill it over stored profiles.
        ``fit="background"``: an RFM/ML definition is stored unfitted (in no segment) and fitted, then
        back-filled, by a background job; its ``fit`` says ``running``, ``done`` or ``failed`` (``fit_error``)."""
        return self._save(self.documents.parse(data), backfill, create=True, fit=fit, actor=actor)

    def replace(
        self,
        definition_id: str,
        data: Any,
        backfill: BackfillMode = "background",
        fit: FitMode = "sync",
        actor: Actor = SYSTEM,
    ) -> SegmentView:
        """Store a new version of a definition and back-fill it (``fit`` as in ``create``)."""
        return self._save(self.documents.parse(data, definition_id), backfill, create=False, fit=fit, actor=actor)

    def _save(
        self, definition: Definition, backfill: BackfillMode, create: bool, fit: FitMode, actor: Actor
    ) -> SegmentView:
        later = fit == "background" and not isinstance(definition, RuleDefinition)
        row = self.documents.put(definition if later else self.fitting.fit(definition), create, actor)
        self.definitions.invalidate()
        definition_id, version = row.doc_id, row.version
        if later:  # fitted (then back-filled unless "none") by a background job
            self.jobs.submit(
                f"fit {definition_id}", lambda: self.fitting.fit_stored(definition_id, version, backfill, actor)
            )
        elif backfill == "sync":
            self.backfill(definition_id)
        elif backfill == "background":
            self.jobs.submit(f"backfill {definition_id}", lambda: self.backfill(definition_id))
        view = self.documents.describe(row, self.documents.sizes())
        if later and backfill != "none":
            return view.with_backfill("after the fit")
        return view.with_backfill(_BACKFILL_STATE[backfill])

    def delete(self, definition_id: str, actor: Actor = SYSTEM) -> SegmentDeleted:
        """Delete a definition: its members, history and sizes go with it (and its ML models)."""
        removed = self.documents.delete(definition_id, actor)
        self.models.remove(definition_id)
        self.definitions.invalidate()
        return SegmentDeleted(id=definition_id, deleted=True, members_removed=removed)

    def preview(self, data: Any, sample: int | None = None, now: float | None = None) -> SegmentPreview:
        """What a definition would hold over the stored profiles, without saving anything (``preview.py``)."""
        return self.previews.preview(data, sample, now)

    def retrain(self, definition_id: str, actor: Actor = SYSTEM) -> SegmentView:
        """Refit an RFM or ML definition now, save it as a new version and back-fill it (``fitting.py``)."""
        return self.fitting.retrain(definition_id, actor)

    def retrain_due(self) -> builtins.list[str]:
        """Retrain every RFM/ML definition whose last fit is older than ``retrain_interval_s``."""
        return self.fitting.retrain_due()

    # ------------------------------------------------------------------------------ evaluation
    def names(self, fresh: bool = False) -> Names:
        """membership id -> (definition id, readable name) for every stored definition (``fresh``: re-read now)."""
        return self.definitions.names(fresh)

    def evaluate_and_write(
        self,
        rows: Mapping[str, ProfileRow],
        reason: str = "realtime",
        only: Sequence[str] | None = None,
        timed_only: bool = False,
        now: float | None = None,
        changes: Mapping[str, set[str]] | None = None,
    ) -> builtins.list[MembershipChange]:
        """Evaluate ``rows`` and apply their membership changes (``membership.Membership.evaluate_and_write``)."""
        return self.membership.evaluate_and_write(rows, reason, only, timed_only, now, changes)

    def backfill(self, definition_id: str, now: float | None = None) -> Totals:
        """Evaluate one definition over every stored profile (after it was saved)."""
        return self.membership.backfill(definition_id, now)

    def reconcile(self, now: float | None = None) -> Totals:
        """Evaluate every active definition over every stored profile (repairs anything missed)."""
        return self.membership.reconcile(now)

    def reconcile_recent(self, now: float | None = None) -> Totals:
        """The scheduled reconcile: profiles updated since the last one (with a margin) are evaluated again, so
        memberships converge after a node died with profiles queued for real-time evaluation. The first run
        (nothing recorded) evaluates every profile."""
        now = self.ctx.now(now)
        with self.store.transaction(write=False) as tx:
            last = (tx.job_state(RECONCILE_STATE) or {}).get("at")
        since = None if not isinstance(last, int | float) else float(last) - RECONCILE_SLACK_S
        totals = self.membership.reconcile(now, updated_since=since)
        with self.store.transaction() as tx:
            tx.put_job_state(RECONCILE_STATE, {"at": now})
        return totals

    def sweep(self, now: float | None = None) -> Totals:
        """Re-check profiles against the definitions that change with time alone (``sweep.py``)."""
        return self.sweeper.sweep(now)

    def snapshot_sizes(self, now: float | None = None) -> dict[str, int]:
        """Record the current member counts (sizes over time)."""
        return self.sweeper.snapshot_sizes(now)

    # ------------------------------------------------------------------------------ membership queries
    def members(self, segment_id: str, cursor: str | None = None, limit: int = 100) -> SegmentMembers:
        return self.queries.members(segment_id, cursor, limit)

    def history(self, segment_id: str, since: float = 0.0, limit: int = 1000) -> SegmentHistory:
        return self.queries.history(segment_id, since, limit)

    def sizes(self, segment_id: str, since: float = 0.0) -> SegmentSizes:
        return self.queries.sizes(segment_id, since)

    def of_profile(
        self, tx: MembershipRepo, profile_id: str, names: Mapping[str, tuple[str, str]]
    ) -> builtins.list[ProfileSegment]:
        """A profile's current segments (``names`` from :meth:`names`, called before the transaction)."""
        return self.queries.of_profile(tx, profile_id, names)

    def export_rows(self, tx: MembershipRepo, profile_id: str, names: Mapping[str, tuple[str, str]]) -> ProfileExport:
        """Everything segmentation keeps about a profile, for the data export."""
        return self.queries.export_rows(tx, profile_id, names)

    # ------------------------------------------------------------------------------ personal data in models
    def user_rows(self, profile_id: str) -> builtins.list[dict[str, Any]]:
        """What the saved ML segment models hold about a profile (data export)."""
        return self.models.user_rows(profile_id)

    def forget_user(self, profile_id: str) -> int:
        """Erase a profile from the saved ML segment models' training rows."""
        return self.models.forget(profile_id)
