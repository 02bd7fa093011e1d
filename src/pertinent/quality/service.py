"""The data-quality service: tracking plans, failed events and their replay, outlier and bot flags, imputation of
missing traits, duplicate candidates with their review, and the quality report (docs/data-quality.md).

Stores: ``tracking_plans`` and ``quality_counts`` (nothing personal); ``failed_events``, ``quality_flags`` and
``dedup_candidates`` (personal: the privacy service's export and erasure cover them); inferred
traits live in the profile's state (``state["inferred"]``), so export and erasure of the profile cover them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from pertinent.errors import InvalidInput, NotFound
from pertinent.events.merge import merge_into
from pertinent.events.service import IngestService
from pertinent.privacy.audit import SYSTEM, Actor, record
from pertinent.profiles.features import ProfileConfig
from pertinent.quality import impute, matching, outliers
from pertinent.quality.config import QualityConfig
from pertinent.quality.features import behaviour, rate_features
from pertinent.quality.models import (
    Count,
    DedupCandidate,
    DedupScan,
    FailedEvent,
    Imputation,
    OutlierFlag,
    OutlierScan,
    QualityReport,
    Replay,
    TrackingPlan,
    TrackingPlanIn,
    TraitImputation,
)
from pertinent.quality.tracking import schema_problems
from pertinent.runtime.limits import fields_problem
from pertinent.storage.base import DedupCandidateRow, ProfileRow, QualityFlagRow, Store, TrackingPlanRow

PAGE = 1000
RETENTION_EVERY_S = 3600.0  # how often the stores of refused messages are purged of what is past its retention
FLAG_TTL_S = 30.0  # how long the flagged set is cached in a process
INFERRED = "inferred"  # the key of inferred traits in a profile's state


def _failed(r: Any) -> FailedEvent:
    return FailedEvent(id=r.id, at=r.at, event=r.event, errors=r.errors, payload=r.payload, replayed_at=r.replayed_at)


def _candidate(r: DedupCandidateRow) -> DedupCandidate:
    assert r.id is not None
    return DedupCandidate(**{k: v for k, v in asdict(r).items()})


def stated(value: Any) -> bool:
    """Whether a trait value is stated in clear (not empty, not a pseudonym)."""
    if value is None or value == "" or isinstance(value, dict | list):
        return False
    return not (isinstance(value, str) and value.startswith("h_") and len(value) == 34)


class QualityService:
    def __init__(self, store: Store, config: QualityConfig, ingest: IngestService, profile_config: ProfileConfig):
        self.store = store
        self.config = config
        self.ingest = ingest
        self.profile_config = profile_config
        self.profiles_changed: Callable[[Sequence[ProfileRow]], None] | None = None  # segments, set by Services
        self._flagged: frozenset[str] = frozenset()
        self._flagged_at = float("-inf")
        self._lock = threading.Lock()

    def start(self, jobs: Any) -> None:
        """Schedule the periodic scan on the server's job runner (``quality.scan_interval_s``; 0 = never) and,
        always, the hourly purge of failed events and ingestion errors past their retention."""
        jobs.every("quality-scan", self.config.scan_interval_s, self.scheduled)
        jobs.every("retention", RETENTION_EVERY_S, lambda: self.purge_expired(Actor.system("retention")))

    def scheduled(self) -> None:
        """Outliers first (imputation leaves flagged profiles out), then imputation, duplicates, and failed events
        past their retention."""
        actor = Actor.system("quality")
        self.scan_outliers(actor)
        self.impute(actor)
        self.find_duplicates(actor)
        self.purge_expired(actor)

    def purge_expired(self, actor: Actor = SYSTEM, now: float | None = None) -> dict[str, int]:
        """Delete the failed events older than ``failed_events_keep_days`` and the ingestion errors older than
        ``ingest_errors_keep_days`` (audited when any went); how many of each."""
        now = time.time() if now is None else now
        keep_errors = self.ingest.settings.ingest_errors_keep_days
        with self.store.transaction() as tx:
            purged = {
                "failed_events": tx.purge_failed_events(now - self.config.failed_events_keep_days * 86400.0),
                "ingest_errors": tx.purge_ingest_errors(now - keep_errors * 86400.0),
            }
            for store, n in purged.items():
                if n:
                    record(tx, actor, f"{store}.purge", store, detail={"purged": n}, at=now)
        return purged

    # ================================================================ tracking plans
    def put_plan(self, plan: TrackingPlanIn, actor: Actor = SYSTEM) -> TrackingPlan:
        """Create or replace an event's plan; a schema that is not valid JSON Schema is refused naming the field."""
        stored = fields_problem({"event": plan.event, "schema": plan.schema_})  # NUL characters, nesting
        problems = [{"field": stored[0], "message": stored[1]}] if stored else schema_problems(plan.schema_)
        if problems:  # the event named in the message too: the CLI prints only the message
            first = problems[0]
            raise InvalidInput(problems, f"tracking plan of {plan.event[:200]!r}: {first['field']}: {first['message']}")
        now = time.time()
        row = TrackingPlanRow(plan.event, plan.schema_, plan.mode, now)
        with self.store.transaction() as tx:
            before = {r.event: r for r in tx.tracking_plans()}.get(plan.event)
            tx.put_tracking_plan(row)
            old = None if before is None else {"mode": before.mode, "schema": before.schema}
            record(tx, actor, "tracking_plan.put", f"tracking_plan:{plan.event}", before=old,
                   after={"mode": plan.mode, "schema": plan.schema_}, at=now)  # fmt: skip
        self.ingest.quality.invalidate()
        return TrackingPlan(event=row.event, schema_=row.schema, mode=row.mode, updated_at=row.updated_at)

    def plans(self) -> list[TrackingPlan]:
        with self.store.transaction(write=False) as tx:
            rows = tx.tracking_plans()
        return [TrackingPlan(event=r.event, schema_=r.schema, mode=r.mode, updated_at=r.updated_at) for r in rows]

    def delete_plan(self, event: str, actor: Actor = SYSTEM) -> bool:
        with self.store.transaction() as tx:
            if not tx.delete_tracking_plan(event):
                raise NotFound.of("event", "tracking plan", event)
            record(tx, actor, "tracking_plan.delete", f"tracking_plan:{event}", at=time.time())
        self.ingest.quality.invalidate()
        return True

    # ================================================================ failed events
    def failed(self, limit: int = 100, include_replayed: bool = False) -> list[FailedEvent]:
        with self.store.transaction(write=False) as tx:
            rows = tx.failed_events(limit, replayed=None if include_replayed else False)
        return [_failed(r) for r in rows]

    def replay(self, ids: Sequence[int] | None = None, actor: Actor = SYSTEM, limit: int = 1000) -> Replay:
        """Send failed events through ingestion again (after the plan or the sender was fixed). Those stored now
        are marked replayed; those the plan still blocks are kept (a new failed row replaces the old one)."""
        with self.store.transaction(write=False) as tx:
            rows = tx.failed_events(limit, ids=ids, replayed=False)
        if ids is not None and not rows:
            raise NotFound([{"field": "ids", "message": "no failed event waiting with these ids"}])
        rows = sorted(rows, key=lambda r: r.id or 0)
        # An event sent without a messageId replays with one of its failed row: replays at once (each reads the
        # waiting rows before any marks them) or after a crash store it once, as a client's retries are.
        payloads = [{**r.payload, "messageId": r.payload.get("messageId") or f"failed-{r.id}"} for r in rows]
        result = self.ingest.ingest(payloads, prefix="batch", actor=actor, trusted=True)
        refused = {e.get("index") for e in result.errors}
        now = time.time()
        done = [r.id for r in rows if r.id is not None]  # blocked again: a new row holds it
        with self.store.transaction() as tx:
            tx.mark_failed_replayed(done, now)
            record(tx, actor, "failed_events.replay", "failed_events",
                   detail={"replayed": len(rows), "refused": len(refused)}, at=now)  # fmt: skip
        return Replay(
            replayed=len(rows), accepted=len(rows) - len(refused), still_failing=len(refused), errors=result.errors
        )

    # ================================================================ outliers and bots
    def scan_outliers(self, actor: Actor = SYSTEM) -> OutlierScan:
        """Flag anomalous profiles (hard caps, IsolationForest over rate features); replaces the previous flags."""
        rows: list[dict[str, float | str]] = []
        with self.store.transaction(write=False) as tx:
            for p in tx.iter_profiles(PAGE):
                if p.state.get("events_total"):
                    rows.append({"id": p.profile_id, **rate_features(p.state)})
        cfg = self.config
        settings = outliers.OutlierSettings(
            cfg.max_events_per_day, cfg.max_events_per_session, cfg.outlier_contamination
        )
        flags = outliers.detect(rows, settings)
        now = time.time()
        stored = [QualityFlagRow(f.profile_id, f.score, f.reasons, now) for f in flags]
        with self.store.transaction() as tx:
            tx.replace_quality_flags(stored)
            record(tx, actor, "quality.outliers", "quality_flags",
                   detail={"profiles": len(rows), "flagged": len(stored)}, at=now)  # fmt: skip
        with self._lock:
            self._flagged, self._flagged_at = frozenset(f.profile_id for f in flags), time.monotonic()
        message = "" if len(rows) >= outliers.MIN_PROFILES else "too few profiles for IsolationForest: caps only"
        return OutlierScan(
            profiles=len(rows),
            flagged=len(stored),
            flags=[OutlierFlag(**asdict(r)) for r in stored[:100]],
            message=message,
        )

    def flagged_profiles(self, fresh: bool = False) -> frozenset[str]:
        """The profiles flagged as outliers or bots: keep them out of training sets and KPIs."""
        with self._lock:
            if fresh or time.monotonic() - self._flagged_at > FLAG_TTL_S:
                with self.store.transaction(write=False) as tx:
                    self._flagged = frozenset(f.profile_id for f in tx.quality_flags())
                self._flagged_at = time.monotonic()
            return self._flagged

    def is_flagged_outlier(self, profile_id: str) -> bool:
        """Whether the latest outlier scan flagged the profile (cached for ``FLAG_TTL_S``)."""
        return profile_id in self.flagged_profiles()

    # ================================================================ imputation
    def impute(self, actor: Actor = SYSTEM) -> Imputation:
        """Infer the configured demographic traits a profile does not state (KNN over behaviour), as
        ``state["inferred"][trait] = {"value", "confidence", "at"}``; stated traits are never touched, and a trait
        stated since an earlier run drops its inferred value. Flagged outliers neither teach nor get values."""
        flagged = self.flagged_profiles(fresh=True)
        traits = self.config.impute_traits
        feats: dict[str, dict[str, float]] = {}
        values: dict[str, dict[str, str]] = {t: {} for t in traits}
        with self.store.transaction(write=False) as tx:
            for p in tx.iter_profiles(PAGE):
                if p.profile_id in flagged or not p.state.get("events_total"):
                    continue
                feats[p.profile_id] = behaviour(p.state)
                for t in traits:
                    if stated(p.traits.get(t)):
                        values[t][p.profile_id] = str(p.traits[t])
        fits = []
        inferred: dict[str, dict[str, Any]] = {}
        now = time.time()
        for t in traits:
            known = {pid: (feats[pid], v) for pid, v in values[t].items()}
            missing = {pid: f for pid, f in feats.items() if pid not in values[t]}
            fit = impute.infer_trait(known, missing, self.config.impute_neighbors, t)
            fits.append(fit)
            for pid, (value, confidence) in fit.inferred.items():
                inferred.setdefault(pid, {})[t] = {"value": value, "confidence": confidence, "at": now}
        changed = self._write_inferred(inferred, set(feats), traits)
        with self.store.transaction() as tx:
            detail = {"profiles": len(feats), "inferred": {f.trait: len(f.inferred) for f in fits}}
            record(tx, actor, "quality.impute", "profiles", detail=detail, at=now)
        if changed and self.profiles_changed is not None:
            self.profiles_changed(changed)
        return Imputation(
            profiles=len(feats),
            traits=[
                TraitImputation(
                    trait=f.trait,
                    labelled=f.labelled,
                    inferred=len(f.inferred),
                    accuracy=f.accuracy,
                    baseline=f.baseline,
                    message=f.message,
                )
                for f in fits
            ],
        )

    def _write_inferred(
        self, inferred: dict[str, dict[str, Any]], seen: set[str], traits: list[str]
    ) -> list[ProfileRow]:
        changed: list[ProfileRow] = []
        ids = sorted(seen)
        for i in range(0, len(ids), PAGE):
            with self.store.transaction() as tx:
                rows = tx.get_profiles(ids[i : i + PAGE], for_update=True)
                put = []
                for pid, row in rows.items():
                    old = row.state.get(INFERRED) or {}
                    new = {k: v for k, v in old.items() if k not in traits}  # other traits' values stay
                    new.update({k: v for k, v in inferred.get(pid, {}).items() if not stated(row.traits.get(k))})
                    if new != old and row.state:
                        if new:
                            row.state[INFERRED] = new
                        else:
                            row.state.pop(INFERRED, None)
                        put.append(row)
                tx.put_profiles(put)
                changed += put
        return changed

    # ================================================================ duplicates
    def find_duplicates(self, actor: Actor = SYSTEM) -> DedupScan:
        """List pairs of profiles that may be one person (score >= ``match_threshold``) for review; merge those
        at or above ``auto_merge_threshold`` at once (each merge audited)."""
        records = []
        with self.store.transaction(write=False) as tx:
            for p in tx.iter_profiles(PAGE):
                if p.traits:
                    records.append(matching.record(p.profile_id, p.traits))
        pairs = matching.candidates(records, self.config.match_threshold)
        now = time.time()
        rows = [DedupCandidateRow(p.a, p.b, p.score, p.reasons, "pending", now) for p in pairs]
        with self.store.transaction() as tx:
            new = tx.add_dedup_candidates(rows)
            record(tx, actor, "quality.dedup_scan", "dedup_candidates",
                   detail={"profiles": len(records), "found": len(pairs), "new": new}, at=now)  # fmt: skip
        merged = 0
        for c in self.candidates(status="pending", limit=100_000):
            if c.score >= self.config.auto_merge_threshold or self._equal_known(c):
                try:
                    self.decide(c.id, "accept", actor, auto=True)
                    merged += 1
                except NotFound:  # one side went away (merged or erased) since the scan
                    continue
        return DedupScan(profiles=len(records), found=len(pairs), new=new, merged=merged)

    def _equal_known(self, c: DedupCandidate) -> bool:
        """Two known users with the same normalised email or phone, when ``merge_equal_identifiers`` is on."""
        known = c.profile_a.startswith("u_") and c.profile_b.startswith("u_")
        exact = c.score >= 100.0 and set(c.reasons) <= set(matching.EXACT)
        return self.config.merge_equal_identifiers and known and exact

    def candidates(self, status: str | None = "pending", limit: int = 500) -> list[DedupCandidate]:
        with self.store.transaction(write=False) as tx:
            return [_candidate(r) for r in tx.dedup_candidates(status, limit)]

    def decide(self, candidate_id: int, decision: str, actor: Actor = SYSTEM, auto: bool = False) -> DedupCandidate:
        """Accept (merge the two profiles into the known or older one) or reject a candidate; audited."""
        if decision not in ("accept", "reject"):
            raise InvalidInput.field("decision", "must be 'accept' or 'reject'")
        now = time.time()
        changed: list[ProfileRow] = []
        with self.store.transaction() as tx:
            c = tx.get_dedup_candidate(candidate_id)
            if c is None:
                raise NotFound.of("id", "duplicate candidate", str(candidate_id))
            # claimed while pending: of two reviewers at once, the second waits here and finds it decided
            if c.status != "pending" or not tx.set_dedup_status(
                candidate_id, "rejected" if decision == "reject" else "merged", now, only_pending=True
            ):
                status = (tx.get_dedup_candidate(candidate_id) or c).status
                raise InvalidInput.field("id", f"candidate {candidate_id} is already {status}")
            if decision == "reject":
                record(tx, actor, "identity.dedup_reject", c.profile_a, before=[c.profile_a, c.profile_b],
                       detail={"score": c.score}, at=now)  # fmt: skip
            else:
                rows = tx.get_profiles([c.profile_a, c.profile_b], for_update=True)
                if len(rows) < 2:  # merged or erased since the scan
                    raise NotFound([{"field": "id", "message": "one of the two profiles no longer exists"}])
                a, b = rows[c.profile_a], rows[c.profile_b]
                src, dst = sorted((a, b), key=lambda r: (not r.profile_id.startswith("u_"), r.created_at))[::-1]
                merge_into(tx, src, dst, now, self.profile_config)
                tx.put_profiles([dst])
                for other in tx.dedup_candidates_of(src.profile_id):  # the merged profile's other pairs: the next
                    if other.status == "pending" and other.id != candidate_id:  # scan lists them with the survivor
                        tx.set_dedup_status(other.id or 0, "stale", now)
                detail = {"via": "dedup", "score": c.score, "auto": auto, "reasons": c.reasons}
                record(tx, actor, "identity.merge", dst.profile_id, before=[src.profile_id, dst.profile_id],
                       after=dst.profile_id, detail=detail, at=now)  # fmt: skip
                changed = [dst]
            done = tx.get_dedup_candidate(candidate_id)
        if changed and self.profiles_changed is not None:
            self.profiles_changed(changed)
        assert done is not None
        return _candidate(done)

    # ================================================================ report, export
    def report(self) -> QualityReport:
        """Duplicate candidates, flagged outliers, violations, failed events and normalisation counts."""
        with self.store.transaction(write=False) as tx:
            counts = tx.quality_counts()
            flags = tx.quality_flags()
            pending = tx.dedup_candidates("pending", 500)
            failed = tx.count_failed_events()
            plans = [p.event for p in tx.tracking_plans()]

        def listed(kinds: tuple[str, ...]) -> list[Count]:
            return [Count(kind=c.kind, event=c.event, field=c.field, n=c.n) for c in counts if c.kind in kinds]

        return QualityReport(
            duplicate_candidates=[_candidate(r) for r in pending],
            outliers=[OutlierFlag(**asdict(f)) for f in flags[:1000]],
            outliers_total=len(flags),
            violations=listed(("violation", "blocked")),
            normalisation=listed(("normalised", "unparseable")),
            failed_events=failed,
            tracking_plans=plans,
        )
