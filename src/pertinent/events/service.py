"""Event ingestion: validate, normalise, pseudonymise, store once, update profiles.

A request's messages are validated and prepared (timestamps, pseudonyms, PII, JSON encoding, consent and
context parsing) without any lock; then they are stored and applied to profiles in one transaction,
shared with whatever other requests are waiting (group commit, see group_commit.py). Each message gets
its own outcome (stored, duplicate, no consent), so every caller still gets an exact answer.

A valid event is never dropped because of an invalid neighbour: each message is validated on its own,
and invalid ones are reported with their index, field and problem.

Two rules protect people from whoever holds the public write key (docs/privacy.md):

* identity verification: a message naming a ``userId`` proves it with ``context.userHash`` (or comes with the
  admin key). Without the proof a message that has an ``anonymousId`` is taken as anonymous (the userId is not
  used: nothing is added to, linked to or merged into the user's profile); one with only a ``userId`` (a server
  library with the write key) is stored on the user's profile, but its consent statement is not recorded (it
  still limits the message itself), or, with ``unproven_user_events=refuse``, is refused naming
  ``context.userHash``; an ``alias`` is refused (403);
* suppression: the messages of an erased person's identifiers are dropped and counted (``suppressed``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pertinent.events.group_commit import GroupCommit
from pertinent.events.guards import Blocked, ids_of, left_empty, unsuppressed
from pertinent.events.merge import merge_into
from pertinent.events.normalise import anonymize_ip, epoch, event_time
from pertinent.events.prepare import PREVIOUS_HASH, USER_HASH, Prepared, Preparer
from pertinent.events.schema import Alias, validate_message
from pertinent.privacy.audit import WRITE_KEY, Actor
from pertinent.privacy.audit import record as audit_record
from pertinent.privacy.consent import effective, statement_at, supersedes
from pertinent.privacy.pseudonym import Pseudonymizer
from pertinent.profiles.context import parse_context
from pertinent.profiles.features import ProfileConfig, ProfileEvent, apply_event
from pertinent.profiles.groups import GroupCall, record_group_calls
from pertinent.profiles.identity import IdentityResolver
from pertinent.quality.ingest import IngestQuality
from pertinent.settings import Settings
from pertinent.storage.base import ConsentRow, EventRow, ProfileRow, Store
from pertinent.storage.protocols import (
    AuditRepo,
    ConsentRepo,
    DecisionRepo,
    EventRepo,
    GroupRepo,
    IdentityRepo,
    MembershipRepo,
    OutboxRepo,
    ProfileRepo,
    QualityRepo,
    SuppressionRepo,
)


@dataclass
class IngestResult:
    """What happened to a request's messages."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped_no_consent: int = 0
    suppressed: int = 0  # dropped: about an erased person (counted as accepted, as Segment's suppression does)
    rejected: int = 0
    forbidden: int = 0  # of the rejected: refused for want of identity proof (a 403 when nothing was accepted)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.stored + self.duplicates + self.skipped_no_consent + self.suppressed

    def to_json(self) -> dict[str, Any]:
        return {
            "success": not self.errors,
            "received": self.received,
            "accepted": self.accepted,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "skipped_no_consent": self.skipped_no_consent,
            "suppressed": self.suppressed,
            "rejected": self.rejected,
            "errors": self.errors,
        }


@dataclass(slots=True)
class Committed:
    """What one ingest transaction changed, handed to listeners after it commits (see ``IngestService.subscribe``).

    ``merged`` lists (removed profile, surviving profile) pairs from identity stitching.
    """

    at: float
    events: list[EventRow] = field(default_factory=list)
    profiles: dict[str, ProfileRow] = field(default_factory=dict)
    merged: list[tuple[str, str]] = field(default_factory=list)
    messages: dict[tuple[str, str], Any] = field(default_factory=dict)  # each stored event's message (for hooks)


log = logging.getLogger("pertinent.ingest")
LINK = "link or merge identities"  # what an unproven alias may not do
WRITE = "write to a user (PERTINENT_UNPROVEN_USER_EVENTS=refuse)"  # what an unproven userId-only message may not


class IngestTx(
    IdentityRepo,
    EventRepo,
    ProfileRepo,
    ConsentRepo,
    DecisionRepo,
    MembershipRepo,
    AuditRepo,
    SuppressionRepo,
    GroupRepo,
    OutboxRepo,
    QualityRepo,
    Protocol,
):
    """What an ingest transaction touches: identities, events, profiles, consent, groups, and on a merge the
    profile's decisions, segment and group memberships, and the audit log; the suppression list is read."""


@dataclass(slots=True)
class _Job:
    """One request's share of a group commit."""

    items: list[Prepared]
    result: IngestResult
    endpoint: str
    received_at: float
    where: str = ""  # the error fields' prefix ("batch")
    failed: list[Blocked] = field(default_factory=list)  # blocked by the tracking plan: kept, never lost


class IngestService:
    """Turns raw Segment messages into stored events and updated profiles."""

    def __init__(
        self, store: Store, settings: Settings, pseudo: Pseudonymizer, profile_config: ProfileConfig | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.pseudo = pseudo
        self.profile_config = profile_config or ProfileConfig(
            session_timeout_s=settings.session_timeout_s,
            affinity_half_life_days=settings.affinity_half_life_days,
            windows_days=settings.count_windows_days,
        )
        self._commits: GroupCommit[_Job] = GroupCommit(self._run_group, max_items=2000)
        self._listeners: list[Callable[[Committed], None]] = []
        self._tx_hooks: list[Callable[[IngestTx, Committed], None]] = []
        self.quality = IngestQuality(store, settings.quality)  # normalisation, tracking plan (docs/data-quality.md)
        self.preparer = Preparer(settings, pseudo, self.quality.identifier)  # per message, before the transaction
        self.identity = self.preparer.identity
        self.geo = self.preparer.geo
        self.scrub_traits = self.preparer.scrub_traits
        self.clean_context = self.preparer.clean_context

    def subscribe(self, listener: Callable[[Committed], None]) -> None:
        """Call ``listener`` after every ingest transaction commits (segments, attribution...).

        It runs on the committing thread, so it must be quick (hand the work to a queue); its errors are
        logged and never fail ingestion.
        """
        self._listeners.append(listener)

    def subscribe_in_transaction(self, hook: Callable[[IngestTx, Committed], None]) -> None:
        """Call ``hook`` in each ingest transaction, after its writes: what it writes commits with them (outbox)."""
        self._tx_hooks.append(hook)

    # -- the pipeline -----------------------------------------------------------
    def ingest(
        self,
        raws: list[Any],
        type_: str | None = None,
        received_at: float | None = None,
        batch_sent_at: datetime | None = None,
        batch_context: dict[str, Any] | None = None,
        prefix: str = "",
        rejected: dict[int, str] | None = None,
        actor: Actor = WRITE_KEY,
        trusted: bool = True,
        client_ip: str | None = None,
    ) -> IngestResult:
        """Validate and ingest messages. ``prefix`` names the list in error fields (e.g. ``batch``);
        ``rejected`` maps indices the caller already refused (e.g. oversized) to the reason; ``actor`` is who
        sends them (the identity merges they cause are audited under it); ``trusted``: user ids need no proof
        (in-process callers: the CLI, imports; over HTTP only the admin key). The write-key routes pass False.
        ``client_ip``: the request's client address, the ``context.ip`` of a message that has none (as Segment's
        collector does; a message with ``"ip": null`` keeps none), anonymised like a sent one."""
        received_at = time.time() if received_at is None else received_at
        result = IngestResult(received=len(raws))
        sent = epoch(batch_sent_at) if batch_sent_at else None
        prepared: list[Prepared] = []
        failed: list[Blocked] = []
        for i, raw in enumerate(raws):
            if batch_context and isinstance(raw, dict):
                ctx = raw.get("context")
                if ctx is None or isinstance(ctx, dict):
                    raw = {**raw, "context": {**batch_context, **(ctx or {})}}
            if client_ip and isinstance(raw, dict):
                ctx = raw.get("context")
                if ctx is None or (isinstance(ctx, dict) and "ip" not in ctx):
                    raw = {**raw, "context": {**(ctx or {}), "ip": client_ip}}
            where = f"{prefix}[{i}]." if prefix else ""
            if rejected and i in rejected:
                result.errors.append({"index": i, "field": where.rstrip(".") or "body", "message": rejected[i]})
                result.rejected += 1
                continue
            msg, errors = validate_message(raw, type_, where)
            if not errors:
                ts, problem = event_time(msg, received_at, sent)
                if problem is not None:
                    errors = [{"field": f"{where}{problem[0]}", "message": problem[1]}]
            if errors:
                result.rejected += 1
                for e in errors:
                    result.errors.append({"index": i, **e} if prefix else e)
                continue
            self.quality.normalise(msg)
            mode, violations = self.quality.check(msg)  # the tracking plan (flag mode marks the message)
            p = self.preparer.prepare(msg, received_at, ts)
            p.index = i
            if actor is not WRITE_KEY:
                p.actor = actor
            if not self.preparer.check_proof(p, trusted):
                to = LINK if isinstance(msg, Alias) else WRITE  # WRITE: unproven_user_events=refuse
                self._forbid(result, p, where, prefix, USER_HASH, "userId", to)
                continue
            if violations and mode == "block":  # kept in the failed-events store, reported as rejected
                ip = anonymize_ip if self.settings.anonymize_ip else None
                args = (p.verified, violations, received_at, self.pseudo, ip, self.scrub_traits)
                failed.append(Blocked(msg, self.quality.failed_row(raw, msg, *args)))
                result.rejected += 1
                result.errors += self.quality.blocked_errors(violations, i, where, bool(prefix))
                continue
            prepared.append(p)
        newest: dict[tuple[str | None, str | None], Prepared] = {}
        for p in prepared:  # only the newest context of a user survives in the profile: parse just that one
            key = (p.msg.userId, p.msg.anonymousId)
            if p.context and (key not in newest or p.timestamp >= newest[key].timestamp):
                newest[key] = p
        for p in newest.values():
            p.parsed_context = parse_context(p.context)
        job = _Job(prepared, result, prefix or (type_ or "batch"), received_at, prefix, failed)
        self._commits.submit(job, size=len(prepared))
        for p in prepared:
            if p.outcome == "stored":
                result.stored += 1
            elif p.outcome == "duplicate":
                result.duplicates += 1
            elif p.outcome == "suppressed":
                result.suppressed += 1
            elif p.outcome != "forbidden":  # counted with its error by _run_group
                result.skipped_no_consent += 1
        return result

    @staticmethod
    def _forbid(
        result: IngestResult, p: Prepared, where: str, prefix: str, proof: str, of: str, to: str = LINK
    ) -> None:
        p.outcome = "forbidden"
        result.rejected += 1
        result.forbidden += 1
        message = (
            f"a valid user_hash of {of} (hex HMAC-SHA256 with the identity secret, docs/api.md) is required to "
            f"{to} with the write key"
        )
        error = {"field": f"{where}context.{proof}", "message": message}
        result.errors.append({"index": p.index, **error} if prefix else error)

    def _run_group(self, jobs: list[_Job]) -> None:
        """One transaction for the messages of several concurrent requests (see group_commit.py)."""
        items = [p for job in jobs for p in job.items]
        committed = Committed(time.time())
        marks = [(job.result, len(job.result.errors), job.result.rejected, job.result.forbidden) for job in jobs]
        counts = self.quality.take_counts()
        try:
            with self.store.transaction() as tx:
                if items:
                    self._store(tx, items, committed)
                blocked = [b for job in jobs for b in job.failed]  # an erased person's are not kept either
                tx.add_failed_events([b.row for b in unsuppressed(tx, self.pseudo, blocked)] if blocked else [])
                tx.bump_quality_counts(counts, committed.at)
                for job in jobs:
                    for p in job.items:
                        if p.outcome == "forbidden":  # an alias merging another known person, unproven
                            self._forbid(
                                job.result,
                                p,
                                f"{job.where}[{p.index}]." if job.where else "",
                                job.where,
                                PREVIOUS_HASH,
                                "previousId",
                            )
                    if job.result.errors:
                        logged: list[dict[str, Any]] = [{"at": job.received_at, **e} for e in job.result.errors]
                        tx.record_ingest_errors(job.endpoint, logged)
        except BaseException:  # a failed try leaves the answers as they were: its jobs are run again (group_commit.py)
            self.quality.give_back(counts)
            for result, errors, rejected, forbidden in marks:
                del result.errors[errors:]
                result.rejected, result.forbidden = rejected, forbidden
            raise
        if self._listeners and (committed.events or committed.profiles):
            for listener in self._listeners:
                try:
                    listener(committed)
                except Exception:  # a listener must never fail ingestion
                    log.exception("ingest listener %r failed", listener)

    def _store(self, tx: IngestTx, items: list[Prepared], committed: Committed) -> None:
        """Resolve identities, store new events, update profiles; sets each item's ``outcome``."""
        now = committed.at
        resolver = IdentityResolver(tx, self.pseudo, now)
        for p in items:
            p.outcome = ""  # (a group that failed is run again: nothing from that try counts)
        items = unsuppressed(tx, self.pseudo, items)
        ids: set[tuple[str, str]] = set()
        for p in items:
            ids.update(ids_of(p.msg))
        resolver.preload(ids)
        stored_before = {row.profile_id for row in resolver.known.values()}  # profiles that exist already
        resolved = []
        cause: list[Prepared] = []  # the message behind each of resolver.merges
        for p in items:
            m = p.msg
            if isinstance(m, Alias):
                assert m.userId is not None  # the schema refuses an alias without userId
                if not p.verified_previous and resolver.merges_known(m.previousId, m.userId):
                    p.outcome = "forbidden"  # would merge another known person: needs their proof too
                    continue
                p.profile_id = resolver.alias(m.previousId, m.userId)
            elif not p.verified and m.anonymousId:  # a browser naming a user it did not prove: anonymous
                p.profile_id = resolver.resolve(None, m.anonymousId)
                p.verified = True  # it acts on its own device's profile only (its consent statement included)
            else:
                p.profile_id = resolver.resolve(m.userId, m.anonymousId)
            cause += [p] * (len(resolver.merges) - len(cause))
            resolved.append(p)
        items = resolved
        merge_sources = {src for src, _ in resolver.merges}
        for p in items:
            p.profile_id = resolver.final(p.profile_id)
        profiles = tx.lock_profiles({p.profile_id for p in items} | merge_sources, now)
        changed: dict[str, ProfileRow] = {}
        for (source, target), p in zip(resolver.merges, cause, strict=True):
            if self._merge_profiles(tx, profiles, resolver.final(source), source, target, now):
                into = resolver.final(target)
                committed.merged.append((source, into))
                known = source.startswith("u_")  # a known user's profile, not an anonymous visitor's
                detail = {"via": p.msg.type, "known_user": known}
                audit_record(
                    tx, p.actor, "identity.merge", into, before=[source, into], after=into, detail=detail, at=now
                )
            changed[resolver.final(target)] = profiles[resolver.final(target)]

        consent_rows: list[ConsentRow] = []
        rows: list[EventRow] = []
        keep: list[Prepared] = []
        in_force: dict[str, dict[str, bool]] = {}  # consent per profile, recomputed when a statement changes it
        default = self.settings.default_consent
        for p in items:
            profile = profiles[p.profile_id]
            stated = p.consent
            at = min(p.timestamp, p.received_at)  # a statement is never later than its arrival
            if stated and p.verified and self._record_consent(profile, stated, "event", at, now, consent_rows):
                changed[profile.profile_id] = profile
                in_force.pop(p.profile_id, None)
            consent = in_force.get(p.profile_id)
            if consent is None:
                consent = in_force[p.profile_id] = effective(profile.consent, default)
            if stated and not p.verified:  # unproven: it limits this message only, never the person's record
                consent = {k: v and stated.get(k, True) for k, v in consent.items()}
            if not consent["analytics"] and not consent["personalization"]:
                p.outcome = "no_consent"
                continue
            rows.append(
                EventRow(
                    message_id=p.message_id,
                    type=p.msg.type,
                    event=p.name,
                    profile_id=p.profile_id,
                    timestamp=p.timestamp,
                    received_at=p.received_at,
                    personalize=consent["personalization"],
                    properties=p.properties or None,
                    traits=p.traits or None,
                    context=p.context or None,
                    integrations=p.integrations,
                    group_id=p.group_id,
                    previous_id=p.previous_id,
                    encoded=p.encoded,
                )
            )
            if consent["personalization"]:
                keep.append(p)
        inserted = tx.insert_events(rows)
        if self._listeners or self._tx_hooks:
            fresh = set(inserted)
            sources = {(p.profile_id, p.message_id): p.msg for p in items} if self._tx_hooks else {}
            for r in rows:  # the first occurrence only, as for the outcomes below
                if (r.profile_id, r.message_id) in fresh:
                    committed.events.append(r)
                    fresh.discard((r.profile_id, r.message_id))
                    if sources:
                        committed.messages[(r.profile_id, r.message_id)] = sources[(r.profile_id, r.message_id)]
        for p in items:  # the first occurrence of a new id is stored; repeats (even in this group) are duplicates
            if p.outcome != "no_consent":
                key = (p.profile_id, p.message_id)
                p.outcome = "stored" if key in inserted else "duplicate"
                inserted.discard(key)
        apply = [p for p in keep if p.outcome == "stored"]
        kept = {id(p) for p in keep}
        calls = [
            GroupCall(p.group_id, p.profile_id, (p.traits or {}) if p.shared else {}, p.timestamp, id(p) in kept)
            for p in items
            if p.group_id is not None and p.outcome == "stored"
        ]
        newest: dict[str, Prepared] = {}  # only the newest context per profile survives: parse just that one
        for p in apply:
            if p.context and (p.profile_id not in newest or p.timestamp >= newest[p.profile_id].timestamp):
                newest[p.profile_id] = p
        for p in apply:
            profile = profiles[p.profile_id]
            if p.msg.type == "identify" and p.traits:
                profile.traits.update(p.traits)
            ctx = {}
            if newest.get(p.profile_id) is p:
                ctx = p.parsed_context if p.parsed_context is not None else parse_context(p.context)
            apply_event(
                profile.state, ProfileEvent(p.msg.type, p.name, p.timestamp, p.properties, ctx), self.profile_config
            )
            profile.updated_at = now
            changed[profile.profile_id] = profile

        def personalized(row: ProfileRow) -> bool:
            return effective(row.consent, default)["personalization"]

        changed.update(record_group_calls(tx, calls, profiles, now, personalized))  # after apply_event
        empty = left_empty(items, profiles, stored_before, resolver.final, self.settings.default_consent)
        for profile_id in empty:  # created by lock_profiles for a visitor who left nothing to keep
            tx.delete_profile(profile_id)
            changed.pop(profile_id, None)
        resolver.flush(skip_profiles=empty)
        tx.append_consent([r for r in consent_rows if r.profile_id not in empty])
        tx.put_profiles(list(changed.values()))
        committed.profiles = changed
        for hook in self._tx_hooks:  # in this transaction: what they write commits with the events
            hook(tx, committed)

    def _merge_profiles(
        self, tx: IngestTx, profiles: dict[str, ProfileRow], source_final: str, source: str, target: str, now: float
    ) -> bool:
        src = profiles.get(source)
        dst = profiles[target] if target in profiles else profiles[source_final]
        if src is None or src is dst:
            return False
        merge_into(tx, src, dst, now, self.profile_config)
        del profiles[source]
        return True

    def _record_consent(
        self,
        profile: ProfileRow,
        stated: dict[str, bool],
        source: str,
        at: float,
        now: float,
        out: list[ConsentRow],
    ) -> bool:
        """Record the purposes that change, and move a restated choice's time on (so that it orders statements
        arriving later); return whether the profile's consent changed at all. A statement older than the recorded
        one changes nothing."""
        current = profile.consent
        if all(
            p in current and current[p]["granted"] == g and at <= statement_at(current[p], now)
            for p, g in stated.items()
        ):
            return False  # a late copy of the choice in force
        was_personalized = effective(profile.consent, self.settings.default_consent)["personalization"]
        changed = False
        for purpose, granted in stated.items():
            record = profile.consent.get(purpose)
            if record is not None and not supersedes(at, record, now):
                continue  # an older statement arriving late does not override a newer decision
            if record is not None and record["granted"] == granted:
                if at > statement_at(record, now):  # the usual case: every event restates the choice in force
                    profile.consent[purpose] = {**record, "at": at}
                    changed = True
                continue
            profile.consent[purpose] = {"granted": granted, "at": at, "source": source}
            out.append(ConsentRow(profile.profile_id, purpose, granted, source, at))
            changed = True
        if was_personalized and not effective(profile.consent, self.settings.default_consent)["personalization"]:
            profile.state = {}  # withdrawing personalisation consent drops the behavioural profile
        return changed
