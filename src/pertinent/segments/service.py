"""SegmentService: segment definitions (rule, RFM, ML) stored as documents, kept current in real time.

* Definitions are versioned documents of kind ``segment`` (``definitions.py``). Saving one back-fills it over all
  stored profiles in the background; RFM thresholds and ML models are fitted when saved and on the retraining
  schedule (ML models versioned under ``<data dir>/segment_models``, ids kept stable across retrains).
* Ingestion calls :meth:`SegmentService.on_commit` after each commit; the :class:`~.realtime.Evaluator` thread
  re-evaluates the changed profiles against every active definition and writes the changes in batches.
* A periodic sweep re-checks the definitions that change with time alone, so people leave "frequent buyers" when
  they stop buying, without a new event; sizes are snapshotted periodically.
* Profiles without personalisation consent are in no segment.

Writes are safe with several threads and worker processes: each batch is evaluated outside any lock, then in one
write transaction the profiles' versions (``updated_at``, rows locked on PostgreSQL) and the definitions' versions
are compared with what was evaluated -- profiles or definitions that moved meanwhile are evaluated again from the
fresh rows -- and the difference with the current memberships is applied with
``Tx.apply_membership_changes``, which records only changes that take effect (idempotent).

>>> import tempfile
>>> from pertinent.services import Services
>>> from pertinent.settings import Settings
>>> svc = Services.build(Settings(data_dir=tempfile.mkdtemp(), write_key="w", admin_key="a", pseudonym_keys=["k"]))
>>> svc.segments.create({"id": "fr", "name": "French", "rule": {"type": "context", "field": "country",
...                      "op": "eq", "value": "FR"}}, backfill="sync")["version"]
1
>>> _ = svc.ingest.ingest([{"type": "track", "event": "Product Viewed", "userId": "ana",
...                         "context": {"locale": "fr-FR"}}])
>>> svc.segments.wait_idle()
True
>>> [s["id"] for s in svc.profiles.get("ana")["segments"]]
['fr']
>>> svc.close()
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy.exc import OperationalError

from pertinent.privacy.consent import effective
from pertinent.profiles.features import DAY, ProfileConfig
from pertinent.rules import (
    ALL,
    Check,
    Moment,
    RuleError,
    TimeBounds,
    compile_rule,
    depends_on_time,
    time_bounds,
    triggers,
)
from pertinent.rules.facts import TIMESTAMP_PATHS
from pertinent.runtime.jobs import JobRunner
from pertinent.segments.compiled import Facts
from pertinent.segments.config import SegmentsConfig
from pertinent.segments.definitions import (
    MlDefinition,
    MlFit,
    MlSegment,
    RfmDefinition,
    RfmFit,
    RuleDefinition,
    SegmentDefinitionAdapter,
    owner_of,
    parse_definition,
    sub_segment_id,
    templates_catalogue,
)
from pertinent.segments.model_store import ModelStore
from pertinent.segments.realtime import Evaluator, pages
from pertinent.segments.rfm import SEGMENT_LABELS, SEGMENT_ORDER, rfm_segment
from pertinent.settings import Settings
from pertinent.storage.base import DocumentRow, MembershipChange, ProfileRow, Store, Tx

log = logging.getLogger("pertinent.segments")
KIND = "segment"
RFM_READS = frozenset({"purchase"})  # RFM values change with purchases (and with time: the sweep)
ML_READS = frozenset({"seen"})  # ML features include days since last seen: any event changes them


class SegmentError(ValueError):
    """Bad input: ``errors`` name each bad part (``field``) and the problem; ``status`` is the HTTP status.

    >>> SegmentError("id: taken", [RuleError("id", "already exists")], status=409).errors
    [{'field': 'id', 'message': 'already exists'}]
    """

    def __init__(
        self, message: str, errors: Sequence[RuleError] = (), status: int = 400, code: str = "invalid_segment"
    ) -> None:
        super().__init__(message)
        self.errors = [{"field": e.path or "body", "message": e.message} for e in errors]
        self.status = status
        self.code = code


class UnknownSegment(LookupError):
    """No definition (or segment of a definition) has this id.

    >>> UnknownSegment("vip").args[0]
    'vip'
    """


@dataclass
class Active:
    """One definition prepared for evaluation: ``members(row, facts)`` gives the membership ids it puts the
    profile in; ``timed`` says whether that can change with time alone.

    >>> a = Active("all", 1, "rule", "Everyone", False, lambda row, facts: ["all"])
    >>> a.members(ProfileRow("p1"), None)
    ['all']
    """

    id: str
    version: int
    kind: str
    name: str
    timed: bool
    members: Callable[[ProfileRow, Facts], list[str]]
    names: dict[str, str] = field(default_factory=dict)  # membership id -> readable name
    check: Check | None = None  # a rule definition's compiled rule (the fast path)
    triggers: frozenset[str] = frozenset({ALL})  # what it reads (``compiled.triggers``)
    bounds: TimeBounds = TimeBounds(always=True)  # when time alone can change it (``compiled.TimeBounds``)


UPDATED_SLACK_S = 600.0  # a narrowed sweep also re-reads profiles updated this long before the last sweep


@dataclass(frozen=True)
class _Since:
    """The profiles a sweep re-reads after an earlier complete one (``Tx.profiles_in_ranges``)."""

    ranges: list[tuple[tuple[str, ...], float, float]]
    updated_since: float


class _Plan:
    """The membership changes of a batch of profiles, computed against the definitions and memberships visible in
    a transaction: definitions whose version moved, or profiles changed since they were read, are evaluated again
    from the transaction's view (``lock``: the profile rows stay locked until it ends, on PostgreSQL).

    With ``touched`` (profile id -> what its update changed, see ``compiled.event_changes``) a profile is evaluated
    only against the definitions that read something that changed; its other memberships are left as they are."""

    def __init__(
        self,
        service: SegmentService,
        rows: dict[str, ProfileRow],
        moment: Moment,
        only: Sequence[str] | None,
        timed_only: bool,
        touched: Mapping[str, set[str]] | None,
    ) -> None:
        self.service, self.rows, self.moment, self.only, self.timed_only = service, rows, moment, only, timed_only
        self.touched = touched
        self._subsets: dict[frozenset[str], list[Active]] = {}
        self.definitions = self._pick(service.active())
        self.versions = {d.id: d.version for d in self.definitions}
        self.desired = {pid: self._want(pid, row) for pid, row in rows.items()}

    def _pick(self, defs: list[Active]) -> list[Active]:
        self._subsets = {}
        return [d for d in defs if (self.only is None or d.id in self.only) and (not self.timed_only or d.timed)]

    def definitions_for(self, pid: str) -> list[Active]:
        changed = None if self.touched is None else self.touched.get(pid)
        if changed is None or ALL in changed:
            return self.definitions
        key = frozenset(changed)
        subset = self._subsets.get(key)
        if subset is None:
            subset = self._subsets[key] = [d for d in self.definitions if ALL in d.triggers or d.triggers & key]
        return subset

    def _want(self, pid: str, row: ProfileRow) -> set[str]:
        return self.service.memberships(row, self.definitions_for(pid), self.moment)

    def changes(self, tx: Tx, rows: Mapping[str, ProfileRow], lock: bool) -> list[MembershipChange]:
        service = self.service
        seen = tx.profile_versions(rows, lock=lock)
        fresh = self._pick(service.active(service._documents(tx)))
        if {d.id: d.version for d in fresh} != self.versions:  # a definition changed meanwhile
            self.definitions, self.versions = fresh, {d.id: d.version for d in fresh}
            self.desired = {pid: self._want(pid, row) for pid, row in self.rows.items()}
        moved = [pid for pid, at in seen.items() if at != self.rows[pid].updated_at]
        for pid, row in tx.get_profiles(moved).items():  # changed since read: evaluate the stored row
            self.rows[pid] = row
            self.desired[pid] = self._want(pid, row)
        current = tx.segments_of(seen)
        now = self.moment.now
        out: list[MembershipChange] = []
        for pid in seen:  # profiles gone (erased, merged away) are skipped
            owned = {d.id for d in self.definitions_for(pid)}
            have = {s for s in current.get(pid, ()) if owner_of(s) in owned}
            want = self.desired[pid]
            out += [MembershipChange(s, pid, False, now) for s in sorted(have - want)]
            out += [MembershipChange(s, pid, True, now) for s in sorted(want - have)]
        return out


def rfm_values(row: ProfileRow, now: float) -> tuple[float, float, float] | None:
    """(-recency in days, frequency, monetary) of an identified buyer, else None (RFM describes customers).

    >>> rfm_values(ProfileRow("u_1", state={"rfm": {"frequency": 2, "monetary": 50.0, "last_purchase": 0.0}}),
    ...            now=86400.0 * 3)
    (-3.0, 2.0, 50.0)
    """
    rfm = row.state.get("rfm") if isinstance(row.state, dict) else None
    if not row.profile_id.startswith("u_") or not isinstance(rfm, dict):
        return None
    frequency, last = rfm.get("frequency") or 0, rfm.get("last_purchase")
    if frequency <= 0 or last is None:
        return None
    return -(now - float(last)) / DAY, float(frequency), float(rfm.get("monetary") or 0.0)


def rfm_score(value: float, cuts: Sequence[float]) -> int:
    """1 + how many thresholds lie below the value (equal values get equal scores).

    >>> [rfm_score(v, [10, 20, 30, 40]) for v in (5, 10, 11, 45)]
    [1, 1, 2, 5]
    """
    return int(np.searchsorted(np.asarray(cuts), value, side="left")) + 1


class SegmentService:
    """Segment definitions, membership queries and the machinery that keeps memberships current (the module
    docstring shows it with ingestion).

    >>> import tempfile
    >>> from pertinent.profiles.features import ProfileConfig
    >>> from pertinent.settings import Settings
    >>> from pertinent.storage.sql import SqlStore
    >>> store = SqlStore("sqlite://"); store.migrate()
    >>> service = SegmentService(store, Settings(data_dir=tempfile.mkdtemp()), ProfileConfig())
    >>> service.create({"template": "new_visitors"}, backfill="none")["time_based"]
    True
    >>> service.preview({"template": "new_visitors"})["size"]
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
        self.store = store
        self.settings = settings
        self.profile_config = profile_config
        self.config = config or settings.segments.model_copy(deep=True)
        self.clock = clock
        self.models = ModelStore(settings.data_dir / "segment_models", keep=self.config.keep_model_versions)
        self.evaluator = Evaluator(self, self.config.batch_max_profiles)
        self.jobs = JobRunner(settings.data_dir / "segment_claims", lambda: self.clock(), "pertinent-segments-jobs")
        self._compiled: dict[tuple[str, int], Active] = {}
        self._invalid: set[tuple[str, int]] = set()
        self._names: dict[str, tuple[str, str]] = {}
        self._active: tuple[float, list[Active]] | None = None
        self._started = False

    # ------------------------------------------------------------------------------ lifecycle
    def on_commit(self, committed: Any) -> None:
        """Ingest listener: queue the changed profiles for the real-time evaluator (quick)."""
        self.evaluator.on_commit(committed)

    def profiles_changed(self, rows: Sequence[ProfileRow]) -> None:
        """Queue profiles changed outside ingestion (a consent call) for real-time re-evaluation."""
        if self.config.realtime and rows:
            self.evaluator.enqueue({r.profile_id: r for r in rows}, time.time())

    def start(self) -> None:
        """Start the periodic tasks (sweep, size snapshots, retraining) -- the server calls this."""
        if self._started:
            return
        self._started = True
        c = self.config
        self.jobs.every("sweep", c.sweep_interval_s, self.sweep)
        self.jobs.every("sizes", c.sizes_interval_s, self.snapshot_sizes)
        self.jobs.every("retrain", c.retrain_interval_s, self.retrain_due)

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

    # ------------------------------------------------------------------------------ definitions
    def _documents(self, tx: Tx) -> list[DocumentRow]:
        return tx.list_documents(KIND)

    def _prepare(self, doc: DocumentRow) -> Active | None:
        key = (doc.doc_id, doc.version)
        active = self._compiled.get(key)
        if active is not None:
            return active
        if key in self._invalid:
            return None
        try:
            definition = SegmentDefinitionAdapter.validate_python(doc.body)
        except Exception as e:
            self._invalid.add(key)
            log.warning("stored segment definition %s v%s is not valid; not evaluated: %s", doc.doc_id, doc.version, e)
            return None
        if isinstance(definition, RuleDefinition):
            active = self._prepare_rule(definition, doc.version)
        elif isinstance(definition, RfmDefinition):
            active = self._prepare_rfm(definition, doc.version)
        else:
            active = self._prepare_ml(definition, doc.version)
        if active is not None:
            self._compiled = {k: v for k, v in self._compiled.items() if k[0] != doc.doc_id}
            self._compiled[key] = active
        return active

    def _prepare_rule(self, d: RuleDefinition, version: int) -> Active:
        check: Check = compile_rule(d.rule)
        ids = [d.id]
        none: list[str] = []
        return Active(
            d.id,
            version,
            "rule",
            d.name,
            depends_on_time(d.rule),
            lambda row, facts: ids if check(facts) else none,
            {d.id: d.name},
            check,
            triggers(d.rule),
            time_bounds(d.rule),
        )

    def _prepare_rfm(self, d: RfmDefinition, version: int) -> Active:
        fit = d.fitted
        names = {sub_segment_id(d.id, key): SEGMENT_LABELS[key] for key in SEGMENT_ORDER}
        if fit is None:
            return Active(
                d.id,
                version,
                "rfm",
                d.name,
                True,
                lambda row, facts: [],
                names,
                triggers=RFM_READS,
                bounds=TimeBounds(),
            )
        cuts = (np.asarray(fit.recency), np.asarray(fit.frequency))

        def members(row: ProfileRow, facts: Facts) -> list[str]:
            values = rfm_values(row, facts.moment.now)
            if values is None:
                return []
            r = int(np.searchsorted(cuts[0], values[0], side="left")) + 1
            f = int(np.searchsorted(cuts[1], values[1], side="left")) + 1
            return [sub_segment_id(d.id, rfm_segment(r, f))]

        # the R score moves only as the days since the last purchase pass a cut (cuts are of -days: rfm_values)
        bounds = TimeBounds(spans=frozenset(("last_purchase", -float(c) * DAY) for c in fit.recency))
        return Active(d.id, version, "rfm", d.name, True, members, names, triggers=RFM_READS, bounds=bounds)

    def _prepare_ml(self, d: MlDefinition, version: int, model: Any = None) -> Active | None:
        """``model``: the fitted model when it is not saved (preview); else loaded by the fit's version."""
        fit = d.fitted
        if fit is None:
            return Active(d.id, version, "ml", d.name, True, lambda row, facts: [], {})
        try:
            model = self.models.load(d.id, fit.model_version) if model is None else model
        except (OSError, ValueError):
            log.exception("model v%s of ML segments %s cannot be loaded", fit.model_version, d.id)
            return None
        from pertinent.profiles.frame import profile_features

        names = {sub_segment_id(d.id, s.key): s.name for s in fit.segments}
        cfg = self.profile_config

        def members(row: ProfileRow, facts: Facts) -> list[str]:
            if not row.state:
                return []
            label = model.assign(profile_features(row, facts.moment.now, cfg))
            return [] if label < 0 else [sub_segment_id(d.id, label)]

        return Active(d.id, version, "ml", d.name, True, members, names, triggers=ML_READS)

    def active(self, docs: Iterable[DocumentRow] | None = None) -> list[Active]:
        """The active definitions, prepared; re-read from storage every ``reload_interval_s`` (other workers
        may change them) unless ``docs`` are given."""
        if docs is None:
            cached = self._active
            if cached is not None and time.monotonic() - cached[0] < self.config.reload_interval_s:
                return cached[1]
            with self.store.transaction(write=False) as tx:
                docs = self._documents(tx)
        out = []
        names: dict[str, tuple[str, str]] = {}
        for doc in docs:
            if doc.body is None:
                continue
            active = self._prepare(doc)
            if active is None:  # not evaluated, but still named (e.g. a document written by hand)
                names[doc.doc_id] = (doc.doc_id, str(doc.body.get("name") or doc.doc_id))
                continue
            names.update({sid: (active.id, name) for sid, name in active.names.items()})
            if doc.body.get("active", True):
                out.append(active)
        self._active = (time.monotonic(), out)
        self._names = names
        return out

    def has_active(self) -> bool:
        """Whether any definition is active, from the copy at most ``reload_interval_s`` old: like a changed
        definition, one saved by another worker reaches this worker's real-time evaluation within that time."""
        return bool(self.active())

    def names(self, fresh: bool = False) -> dict[str, tuple[str, str]]:
        """membership id -> (definition id, readable name) for every stored definition; ``fresh`` re-reads the
        definitions now instead of using the copy at most ``reload_interval_s`` old."""
        if fresh:
            self._active = None
        self.active()
        return dict(self._names)

    # ------------------------------------------------------------------------------ evaluation
    def consent_allows(self, row: ProfileRow) -> dict[str, bool] | None:
        consent = effective(row.consent, self.settings.default_consent)
        return consent if consent["personalization"] else None

    def memberships(self, row: ProfileRow, definitions: Sequence[Active], moment: Moment) -> set[str]:
        """The membership ids ``row`` belongs to among ``definitions`` at ``moment``."""
        consent = self.consent_allows(row)
        if consent is None:
            return set()
        facts = Facts(row.state, row.traits, consent, moment, self.profile_config)
        out: set[str] = set()
        try:
            for d in definitions:
                if d.check is not None:
                    if d.check(facts):
                        out.add(d.id)
                else:
                    out.update(d.members(row, facts))
            return out
        except Exception:  # one broken definition must not stop the others: find it, skip it
            out = set()
            for d in definitions:
                try:
                    out.update(d.members(row, facts))
                except Exception:
                    log.exception("segment %s failed on profile %s", d.id, row.profile_id)
            return out

    def evaluate_and_write(
        self,
        rows: Mapping[str, ProfileRow],
        reason: str = "realtime",
        only: Sequence[str] | None = None,
        timed_only: bool = False,
        now: float | None = None,
        changes: Mapping[str, set[str]] | None = None,
    ) -> list[MembershipChange]:
        """Evaluate ``rows`` against the active definitions (``only`` these ids; ``timed_only``: those that
        change with time; ``changes``: per profile what changed, to evaluate only the definitions reading it) and
        apply the membership differences. Returns the changes that took effect.

        The difference is first computed in a read transaction (no write lock): most batches change nothing and
        stop there. The profiles with changes are then checked again and written in one write transaction."""
        if not rows:
            return []
        plan = _Plan(self, dict(rows), Moment(self.clock() if now is None else now), only, timed_only, changes)
        if not plan.definitions and only is None and not timed_only:
            self._active = None  # no segment known here: make sure with a fresh read before skipping the write
            if not self.active():
                return []
            plan = _Plan(self, dict(rows), plan.moment, only, timed_only, changes)
        with self.store.transaction(write=False) as tx:
            changes = plan.changes(tx, plan.rows, lock=False)
        if not changes:
            return []
        todo = {c.profile_id: plan.rows[c.profile_id] for c in changes}
        for attempt in range(5):
            try:
                with self.store.transaction() as tx:
                    return tx.apply_membership_changes(plan.changes(tx, todo, lock=True))
            except OperationalError as e:  # deadlock / serialisation failure / busy database: try again
                if attempt == 4:
                    raise
                log.info("segment write (%s) retried after: %s", reason, e)
                time.sleep(0.05 * (attempt + 1))
        return []  # pragma: no cover

    def _over_all_profiles(
        self,
        only: Sequence[str] | None = None,
        timed_only: bool = False,
        now: float | None = None,
        since: _Since | None = None,
    ) -> dict[str, int]:
        """Evaluate the definitions over every stored profile, or only over those ``since`` selects."""
        totals = {"profiles": 0, "entered": 0, "exited": 0}

        def fetch(after: str | None, n: int) -> list[ProfileRow]:
            with self.store.transaction(write=False) as tx:
                if since is not None:
                    return tx.profiles_in_ranges(since.ranges, since.updated_since, after, n)
                return tx.profiles_after(after, n)

        for page in pages(fetch, lambda r: r.profile_id, self.config.page_size):
            applied = self.evaluate_and_write(
                {r.profile_id: r for r in page}, reason="sweep", only=only, timed_only=timed_only, now=now
            )
            totals["profiles"] += len(page)
            totals["entered"] += sum(c.entered for c in applied)
            totals["exited"] += sum(not c.entered for c in applied)
        return totals

    def backfill(self, definition_id: str, now: float | None = None) -> dict[str, int]:
        """Evaluate one definition over every stored profile (after it was saved)."""
        self._active = None
        totals = self._over_all_profiles(only=[definition_id], now=now)
        log.info("segment %s back-filled: %s", definition_id, totals)
        return totals

    def reconcile(self, now: float | None = None) -> dict[str, int]:
        """Evaluate every active definition over every stored profile (repairs anything missed, e.g. profiles
        queued in a process that was killed)."""
        self._active = None
        totals = self._over_all_profiles(now=now)
        log.info("segments reconciled: %s", totals)
        return totals

    def sweep(self, now: float | None = None) -> dict[str, int]:
        """Re-check profiles against the definitions that change with time alone (time-based exits and entries
        without a new event).

        After a complete sweep over the same definitions (recorded in ``segment_claims/last_sweep.json``), only
        the profiles time can have moved since are read: those updated since, and those whose timestamps put a
        definition's threshold between the two sweeps (``compiled.TimeBounds``). Every profile is read when a
        definition changes with local time, decaying features or ML clusters, when a UTC midnight passed and a
        definition counts events in day windows, when the definitions changed, or with real-time evaluation off
        (then events are only seen here)."""
        self._active = None
        timed = [d for d in self.active() if d.timed]
        if not timed:
            return {"profiles": 0, "entered": 0, "exited": 0}
        now = self.clock() if now is None else now
        totals = self._over_all_profiles(timed_only=True, now=now, since=self._since_last_sweep(timed, now))
        self._record_sweep(timed, now)
        log.info("segment sweep: %s", totals)
        return totals

    def _sweep_record(self) -> Any:
        return self.settings.data_dir / "segment_claims" / "last_sweep.json"

    def _since_last_sweep(self, timed: Sequence[Active], now: float) -> _Since | None:
        """What to re-read since the last complete sweep over ``timed``; None: every profile."""
        try:
            last = json.loads(self._sweep_record().read_text())
            at, definitions = float(last["at"]), [tuple(d) for d in last["definitions"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not self.config.realtime or definitions != sorted((d.id, d.version) for d in timed) or not at <= now:
            return None
        bounds = TimeBounds()
        for d in timed:
            bounds = bounds | d.bounds
        if bounds.always or (bounds.midnight and int(at // DAY) != int(now // DAY)):
            return None
        # a threshold ts + seconds crossed in [at, now] (a second's slack either side): ts in [at - s, now - s]
        ranges = [
            (TIMESTAMP_PATHS[name], at - seconds - 1.0, now - seconds + 1.0) for name, seconds in sorted(bounds.spans)
        ]
        # profiles updated since (and a while before: the real-time evaluator may have written a result computed
        # a moment before the last sweep over the sweep's own, for a profile updated just before it)
        return _Since(ranges, at - UPDATED_SLACK_S)

    def _record_sweep(self, timed: Sequence[Active], now: float) -> None:
        record = self._sweep_record()
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            tmp = record.with_suffix(".tmp")
            tmp.write_text(json.dumps({"at": now, "definitions": sorted((d.id, d.version) for d in timed)}))
            tmp.replace(record)
        except OSError:  # the next sweep reads every profile
            log.warning("cannot record the sweep under %s", record.parent, exc_info=True)

    def snapshot_sizes(self, now: float | None = None) -> dict[str, int]:
        """Record the current member counts (sizes over time). Snapshots are aligned on the configured interval,
        so two workers taking the same one store it once."""
        now = self.clock() if now is None else now
        step = self.config.sizes_interval_s
        at = math.floor(now / step) * step if step > 0 else now
        active = self.active()
        owned = {a.id for a in active}
        names = {sid for a in active for sid in a.names}
        with self.store.transaction() as tx:
            sizes = {s: n for s, n in tx.count_segment_members().items() if owner_of(s) in owned}
            sizes.update({sid: 0 for sid in names if sid not in sizes})  # empty segments are sized 0
            tx.record_segment_sizes(sizes, at)
        return sizes

    # ------------------------------------------------------------------------------ fitting RFM and ML
    def _rows(self) -> Iterable[ProfileRow]:
        def fetch(after: str | None, n: int) -> list[ProfileRow]:
            with self.store.transaction(write=False) as tx:
                return tx.profiles_after(after, n)

        for page in pages(fetch, lambda r: r.profile_id, self.config.page_size):
            yield from (r for r in page if self.consent_allows(r) is not None)

    def fit_rfm(self, d: RfmDefinition, now: float | None = None) -> RfmDefinition:
        now = self.clock() if now is None else now
        values = np.array([v for r in self._rows() if (v := rfm_values(r, now)) is not None]).reshape(-1, 3)
        if len(values) < 5:
            raise SegmentError(
                f"RFM needs at least 5 identified buyers among the stored profiles, found {len(values)}",
                [RuleError("kind", "not enough customers to fit RFM thresholds")],
                status=409,
                code="not_enough_data",
            )
        q = [0.2, 0.4, 0.6, 0.8]
        fit = RfmFit(
            recency=np.quantile(values[:, 0], q).tolist(),
            frequency=np.quantile(values[:, 1], q).tolist(),
            monetary=np.quantile(values[:, 2], q).tolist(),
            customers=len(values),
            fitted_at=now,
        )
        return d.model_copy(update={"fitted": fit, "fit_error": None})

    def fit_ml(self, d: MlDefinition, now: float | None = None) -> MlDefinition:
        """Discover segments on the stored profiles and save the model (ids matched to the previous one)."""
        now = self.clock() if now is None else now
        fitted, model = self._discover_ml(d, now)
        version = self.models.save(d.id, model)
        return fitted.model_copy(update={"fitted": fitted.fitted.model_copy(update={"model_version": version})})

    def _discover_ml(self, d: MlDefinition, now: float) -> tuple[MlDefinition, Any]:
        """(the definition with its fit, model version 0: not saved yet, the fitted model)."""
        from pertinent.profiles.frame import features_frame
        from pertinent.segments.ml import FeatureError, discover

        frame = features_frame(self._rows(), self.settings.default_consent, self.profile_config, now=now)
        if frame.empty:
            raise SegmentError(
                "no stored profiles with personalisation consent to learn segments from",
                [RuleError("kind", "no profiles to train on")],
                status=409,
                code="not_enough_data",
            )
        previous = self.models.latest(d.id)
        try:
            found = discover(frame, d.config, previous=previous)
        except FeatureError as e:
            raise SegmentError(str(e), [RuleError("config.features", str(e))]) from None
        if not found.ok or found.model is None:
            raise SegmentError(
                found.report.message, [RuleError("config", found.report.message)], status=409, code="not_enough_data"
            )
        report = found.report
        fit = MlFit(
            model_version=0,
            k=report.k,
            profiles=report.n_profiles,
            features=list(report.features),
            selection=report.selection,
            stability_ari=report.stability_ari,
            fitted_at=now,
            segments=[
                MlSegment(key=s.id, name=s.name, size=s.size, share=s.share, description=s.description)
                for s in report.segments
            ],
        )
        return d.model_copy(update={"fitted": fit, "fit_error": None}), found.model

    def _fit(self, definition: Any) -> Any:
        if isinstance(definition, RfmDefinition):
            return self.fit_rfm(definition)
        if isinstance(definition, MlDefinition):
            return self.fit_ml(definition)
        return definition

    def retrain(self, definition_id: str) -> dict[str, Any]:
        """Refit an RFM or ML definition on the current profiles (ML ids matched to the previous model), save it
        as a new version and back-fill the new assignment."""
        doc = self._get_doc(definition_id)
        definition = SegmentDefinitionAdapter.validate_python(doc.body)
        if isinstance(definition, RuleDefinition):
            raise SegmentError(
                f"{definition_id} is a rule segment: nothing to retrain",
                [RuleError("kind", "only rfm and ml segments are trained")],
            )
        fitted = self._fit(definition)
        with self.store.transaction() as tx:
            row = tx.put_document(KIND, definition_id, fitted.model_dump(mode="json"), self.clock())
        self.backfill(definition_id)
        return self._describe(row, self._sizes())

    def retrain_due(self) -> list[str]:
        """Retrain every RFM/ML definition whose last fit is older than ``retrain_interval_s``."""
        done = []
        interval = self.config.retrain_interval_s
        with self.store.transaction(write=False) as tx:
            docs = self._documents(tx)
        for doc in docs:
            body = doc.body or {}
            fitted = body.get("fitted") or {}
            if (
                body.get("kind") in ("rfm", "ml")
                and body.get("active", True)
                and self.clock() - float(fitted.get("fitted_at") or 0.0) >= interval
            ):
                try:
                    self.retrain(doc.doc_id)
                    done.append(doc.doc_id)
                except SegmentError as e:
                    log.warning("scheduled retraining of %s skipped: %s", doc.doc_id, e)
        return done

    # ------------------------------------------------------------------------------ CRUD
    def _parse(self, data: Any, segment_id: str | None = None) -> Any:
        definition, errors = parse_definition(data, segment_id)
        if errors:
            first = errors[0]
            raise SegmentError(f"{first.path or 'body'}: {first.message}", errors)
        return definition

    def _get_doc(self, definition_id: str) -> DocumentRow:
        with self.store.transaction(write=False) as tx:
            doc = tx.get_document(KIND, definition_id)
        if doc is None or doc.body is None:
            raise UnknownSegment(definition_id)
        return doc

    def _sizes(self) -> dict[str, int]:
        with self.store.transaction(write=False) as tx:
            return tx.count_segment_members()

    def _describe(self, doc: DocumentRow, sizes: Mapping[str, int]) -> dict[str, Any]:
        body = dict(doc.body or {})
        out = {**body, "version": doc.version, "created_at": doc.created_at, "updated_at": doc.updated_at}
        kind = body.get("kind", "rule")
        if kind == "rule":
            out["size"] = sizes.get(doc.doc_id, 0)
            try:
                out["time_based"] = depends_on_time(RuleDefinition.model_validate(body).rule)
            except Exception:  # pragma: no cover - stored definitions were validated
                out["time_based"] = None
            return out
        if kind == "rfm":
            subs = [(sub_segment_id(doc.doc_id, k), SEGMENT_LABELS[k]) for k in SEGMENT_ORDER]
        else:
            fitted = body.get("fitted") or {}
            subs = [(sub_segment_id(doc.doc_id, s["key"]), s["name"]) for s in fitted.get("segments", [])]
        out["fit"] = "done" if body.get("fitted") else "failed" if body.get("fit_error") else "running"
        out["segments"] = [{"id": sid, "name": name, "size": sizes.get(sid, 0)} for sid, name in subs]
        out["size"] = sum(s["size"] for s in out["segments"])
        out["time_based"] = True
        return out

    def list(self) -> list[dict[str, Any]]:
        """Every definition (rule, RFM, ML) with its current sizes."""
        with self.store.transaction(write=False) as tx:
            docs = self._documents(tx)
            sizes = tx.count_segment_members()
        return [self._describe(d, sizes) for d in docs]

    def get(self, definition_id: str) -> dict[str, Any]:
        return self._describe(self._get_doc(definition_id), self._sizes())

    def _save(
        self,
        definition: Any,
        backfill: Literal["background", "sync", "none"],
        create: bool,
        fit: Literal["sync", "background"] = "sync",
    ) -> dict[str, Any]:
        later = fit == "background" and not isinstance(definition, RuleDefinition)
        definition = definition if later else self._fit(definition)
        body = definition.model_dump(mode="json")
        now = self.clock()
        with self.store.transaction() as tx:
            exists = tx.get_document(KIND, definition.id) is not None
            if create and exists:
                raise SegmentError(
                    f"id: a segment '{definition.id}' already exists (PUT replaces it)",
                    [RuleError("id", "already exists")],
                    status=409,
                    code="conflict",
                )
            if not create and not exists:
                raise UnknownSegment(definition.id)
            row = tx.put_document(KIND, definition.id, body, now)
        self._active = None
        if later:  # fitted (then back-filled unless "none") by a background job
            version = row.version
            self.jobs.submit(f"fit {definition.id}", lambda: self._fit_stored(definition.id, version, backfill))
        elif backfill == "sync":
            self.backfill(definition.id)
        elif backfill == "background":
            self.jobs.submit(f"backfill {definition.id}", lambda: self.backfill(definition.id))
        out = self._describe(row, self._sizes())
        out["backfill"] = (
            "after the fit"
            if later and backfill != "none"
            else {"sync": "done", "background": "running", "none": "skipped"}[backfill]
        )
        return out

    def _fit_stored(self, definition_id: str, version: int, backfill: str) -> None:
        """The background fit of a saved RFM/ML definition: a new version with the fit (then back-filled), or with
        ``fit_error`` when the data cannot be fitted; nothing when the definition changed meanwhile."""
        try:
            doc = self._get_doc(definition_id)
        except UnknownSegment:  # deleted meanwhile
            return
        if doc.version != version:
            return
        definition = SegmentDefinitionAdapter.validate_python(doc.body)
        try:
            fitted = self._fit(definition)
        except SegmentError as e:
            fitted = definition.model_copy(update={"fit_error": str(e)})
        with self.store.transaction() as tx:
            current = tx.get_document(KIND, definition_id)
            if current is None or current.version != version:
                return
            tx.put_document(KIND, definition_id, fitted.model_dump(mode="json"), self.clock())
        self._active = None
        if fitted.fitted is not None and backfill != "none":
            self.backfill(definition_id)

    def create(
        self,
        data: Any,
        backfill: Literal["background", "sync", "none"] = "background",
        fit: Literal["sync", "background"] = "sync",
    ) -> dict[str, Any]:
        """Validate and store a new definition (fitting RFM/ML first), then back-fill it over stored profiles.
        ``fit="background"``: an RFM/ML definition is stored unfitted (in no segment) and fitted, then
        back-filled, by a background job; its ``fit`` says ``running``, ``done`` or ``failed`` (``fit_error``)."""
        return self._save(self._parse(data), backfill, create=True, fit=fit)

    def replace(
        self,
        definition_id: str,
        data: Any,
        backfill: Literal["background", "sync", "none"] = "background",
        fit: Literal["sync", "background"] = "sync",
    ) -> dict[str, Any]:
        """Store a new version of a definition and back-fill it (``fit`` as in ``create``)."""
        return self._save(self._parse(data, definition_id), backfill, create=False, fit=fit)

    def delete(self, definition_id: str) -> dict[str, Any]:
        """Delete a definition: its members, history and sizes go with it (and its ML models)."""
        now = self.clock()
        with self.store.transaction() as tx:
            doc = tx.get_document(KIND, definition_id)
            if doc is None:
                raise UnknownSegment(definition_id)
            ids = {definition_id} | {sid for sid in tx.count_segment_members() if owner_of(sid) == definition_id}
            ids |= {d["id"] for d in self._describe(doc, {}).get("segments", [])}
            removed = sum(tx.clear_segment(sid) for sid in sorted(ids))
            tx.delete_document(KIND, definition_id, now)
        self.models.remove(definition_id)
        self._active = None
        return {"id": definition_id, "deleted": True, "members_removed": removed}

    def preview(self, data: Any, sample: int | None = None, now: float | None = None) -> dict[str, Any]:
        """What a definition would hold over the stored profiles, without saving anything: ``size``,
        ``evaluated`` and a random ``sample`` of member profile ids. RFM and ML definitions are fitted first (the
        ML model is not saved) and also get ``segments`` (id, name, size, sample each) and their ``fitted``
        thresholds or clusters."""
        definition = self._parse({"id": "preview", "name": "preview", **data} if isinstance(data, dict) else data)
        now = self.clock() if now is None else now
        sample = self.config.preview_sample if sample is None else sample
        out: dict[str, Any] = {"as_of": now}
        if isinstance(definition, RuleDefinition):
            active = self._prepare_rule(definition, 0)
            out["rule"] = definition.rule.model_dump(mode="json")
        elif isinstance(definition, RfmDefinition):
            definition = self.fit_rfm(definition, now)
            active = self._prepare_rfm(definition, 0)
        else:
            definition, model = self._discover_ml(definition, now)
            active = self._prepare_ml(definition, 0, model)  # type: ignore[assignment]
        assert active is not None
        moment = Moment(now)
        rng = random.Random(0)
        evaluated = 0
        sizes: dict[str, int] = dict.fromkeys(active.names, 0)
        picked: dict[str, list[str]] = {sid: [] for sid in active.names}
        for row in self._rows():
            evaluated += 1
            for sid in self.memberships(row, [active], moment):  # reservoir sampling per segment
                sizes[sid] = sizes.get(sid, 0) + 1
                chosen = picked.setdefault(sid, [])
                if len(chosen) < sample:
                    chosen.append(row.profile_id)
                elif sample > 0 and (j := rng.randrange(sizes[sid])) < sample:
                    chosen[j] = row.profile_id
        out.update(size=sum(sizes.values()), evaluated=evaluated, time_based=active.timed)
        if isinstance(definition, RuleDefinition):
            out["sample"] = sorted(picked.get(definition.id, []))
            return out
        out["sample"] = sorted(
            rng.sample(
                [p for ids in picked.values() for p in ids], min(sample, sum(len(ids) for ids in picked.values()))
            )
        )
        out["segments"] = [
            {"id": sid, "name": name, "size": sizes.get(sid, 0), "sample": sorted(picked.get(sid, []))}
            for sid, name in active.names.items()
        ]
        out["fitted"] = definition.fitted.model_dump(mode="json", exclude={"model_version"})  # type: ignore[union-attr]
        return out

    def templates(self) -> list[dict[str, Any]]:
        return templates_catalogue()

    # ------------------------------------------------------------------------------ membership queries
    def _check_membership_id(self, segment_id: str) -> None:
        doc = self._get_doc(owner_of(segment_id))
        described = self._describe(doc, {})
        if "segments" in described and segment_id == doc.doc_id:
            subs = ", ".join(s["id"] for s in described["segments"]) or "none yet"
            raise SegmentError(
                f"segment_id: {segment_id} holds several segments; name one of them ({subs})",
                [RuleError("segment_id", f"name one of {subs}")],
            )
        if segment_id != doc.doc_id and segment_id not in {s["id"] for s in described.get("segments", [])}:
            raise UnknownSegment(segment_id)

    def members(self, segment_id: str, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
        """Current members (profile ids, entry times), ``limit`` at a time; ``next_cursor`` continues."""
        self._check_membership_id(segment_id)
        with self.store.transaction(write=False) as tx:
            rows = tx.segment_members(segment_id, after=cursor, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "segment_id": segment_id,
            "members": [{"profile_id": p, "entered_at": at} for p, at in rows],
            "next_cursor": rows[-1][0] if more else None,
        }

    def history(self, segment_id: str, since: float = 0.0, limit: int = 1000) -> dict[str, Any]:
        """Entries and exits, oldest first, from ``since``."""
        self._check_membership_id(segment_id)
        with self.store.transaction(write=False) as tx:
            changes = tx.membership_history(segment_id, since=since, limit=limit)
        return {
            "segment_id": segment_id,
            "entries": sum(c.entered for c in changes),
            "exits": sum(not c.entered for c in changes),
            "changes": [
                {"profile_id": c.profile_id, "change": "entered" if c.entered else "exited", "at": c.at}
                for c in changes
            ],
        }

    def sizes(self, segment_id: str, since: float = 0.0) -> dict[str, Any]:
        """Snapshotted sizes over time, plus the current size."""
        self._check_membership_id(segment_id)
        with self.store.transaction(write=False) as tx:
            points = tx.segment_sizes(segment_id, since=since)
            current = tx.count_segment_members().get(segment_id, 0)
        return {
            "segment_id": segment_id,
            "current": current,
            "as_of": self.clock(),
            "sizes": [{"at": at, "size": n} for at, n in points],
        }

    def of_profile(self, tx: Tx, profile_id: str, names: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
        """A profile's current segments: id, name, definition and entry time (for the profile view). ``names``
        comes from :meth:`names`, called before the transaction."""
        mine = tx.segments_of([profile_id]).get(profile_id, {})
        if not mine:
            return []
        return [
            {"id": sid, "name": names.get(sid, (owner_of(sid), sid))[1], "definition": owner_of(sid), "entered_at": at}
            for sid, at in sorted(mine.items(), key=lambda kv: (kv[1], kv[0]))
        ]

    def export_rows(self, tx: Tx, profile_id: str, names: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
        """Everything segmentation keeps about a profile, for the data export."""
        return {
            "current": self.of_profile(tx, profile_id, names),
            "history": [
                {"segment_id": c.segment_id, "change": "entered" if c.entered else "exited", "at": c.at}
                for c in tx.membership_history(profile_id=profile_id, limit=None)
            ],
        }

    # ------------------------------------------------------------------------------ personal data in models
    def user_rows(self, profile_id: str) -> list[dict[str, Any]]:
        """What the saved ML segment models hold about a profile (data export)."""
        return self.models.user_rows(profile_id)

    def forget_user(self, profile_id: str) -> int:
        """Erase a profile from the saved ML segment models' training rows."""
        return self.models.forget(profile_id)

    def stats(self) -> dict[str, Any]:
        """Real-time evaluator counters: profiles processed, queue length, lag from commit to written (s)."""
        lags = sorted(self.evaluator.lags)

        def q(p: float) -> float | None:
            return lags[min(int(p * len(lags)), len(lags) - 1)] if lags else None

        return {
            "processed": self.evaluator.processed,
            "pending": self.evaluator.pending(),
            "lag_p50_s": q(0.5),
            "lag_p99_s": q(0.99),
        }
