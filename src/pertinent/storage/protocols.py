"""The storage protocol by area: one small Protocol per kind of data, which :class:`pertinent.storage.base.Tx`
composes. A function that touches one area types its transaction on that area's protocol (``tx: IdentityRepo``),
so its signature says what it reads and writes, and a test can hand it a small fake.

The row dataclasses live in :mod:`pertinent.storage.base` (imported here for annotations only: ``base`` imports
this module to compose ``Tx``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pertinent.storage.base import (
        AuditRow,
        ConsentRow,
        DecisionRow,
        DedupCandidateRow,
        DeliveryRow,
        DocumentRow,
        EventRow,
        FailedEventRow,
        GroupMemberRow,
        GroupRow,
        IdentityRow,
        IngestErrorRow,
        ItemRow,
        MembershipChange,
        OutcomeRow,
        ProfileRow,
        QualityCountRow,
        QualityFlagRow,
        SuppressionRow,
        TrackingPlanRow,
    )


class IdentityRepo(Protocol):
    """Identities: keyed (HMAC) user and anonymous ids, each pointing at one profile."""

    def get_identities(self, keys: Iterable[str]) -> dict[str, IdentityRow]: ...
    def put_identities(self, rows: Sequence[IdentityRow]) -> None: ...
    def repoint_identities(self, from_profile: str, to_profile: str) -> None: ...
    def identities_of(self, profile_id: str) -> list[IdentityRow]: ...
    def rename_identity(self, old_key: str, new_key: str) -> None: ...


class EventRepo(Protocol):
    """Stored events (ingestion writes them, training reads them) and the ingest errors recorded beside them."""

    def insert_events(self, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        """Insert rows whose (profile_id, message_id) is new; return those pairs actually inserted.

        A messageId is unique per person, not globally: a client's resend resolves to the same person (identity
        merges move events along), while two people's events that happen to share an id are both kept.
        """
        ...

    def repoint_events(self, from_profile: str, to_profile: str) -> int: ...
    def events_of(self, profile_id: str, limit: int | None = None) -> list[EventRow]: ...
    def count_events(self) -> int: ...
    def iter_events(
        self,
        event_type: str = "track",
        limit: int | None = None,
        batch_size: int = 5000,
        names: Sequence[str] | None = None,
    ) -> Iterator[EventRow]:
        """Events of one type (and, given ``names``, only those event names), newest first, at most ``limit``."""
        ...

    def iter_events_after(
        self, after_id: int = 0, received_since: float = 0.0, batch_size: int = 5000
    ) -> Iterator[tuple[int, EventRow]]:
        """(insertion id, event) of the events stored after ``after_id`` (received at or after
        ``received_since``), in insertion order: the watermark of incremental exports."""
        ...

    def iter_event_properties(
        self, names: Sequence[str], limit: int | None = None, batch_size: int = 5000
    ) -> Iterator[tuple[str, str, float, dict[str, Any] | None]]:
        """(profile_id, event, timestamp, properties) of the track events named ``names``, newest first, at most
        ``limit``: what training and popularity read (the other JSON columns are not decoded)."""
        ...

    def record_ingest_errors(self, endpoint: str, errors: Sequence[Mapping[str, str]]) -> None: ...
    def purge_ingest_errors(self, before: float) -> int:
        """Delete the ingestion errors recorded before ``before`` (their retention); how many."""
        ...


class ProfileRepo(Protocol):
    """Profiles (traits, computed state, consent) and the keyset pages that segment evaluation walks."""

    def get_profiles(self, ids: Iterable[str], for_update: bool = False) -> dict[str, ProfileRow]: ...
    def lock_profiles(self, ids: Iterable[str], now: float) -> dict[str, ProfileRow]:
        """The profiles, with empty ones created for unknown ids, locked until the transaction ends."""
        ...

    def put_profiles(self, rows: Sequence[ProfileRow]) -> None: ...
    def delete_profile(self, profile_id: str) -> None: ...
    def count_profiles(self) -> int: ...
    def iter_profiles(self, batch_size: int = 1000) -> Iterator[ProfileRow]: ...
    def profile_versions(self, profile_ids: Iterable[str], lock: bool = False) -> dict[str, float]:
        """``updated_at`` of each existing profile; ``lock`` holds the rows until the transaction ends (PostgreSQL)."""
        ...

    def profiles_after(self, after: str | None, limit: int) -> list[ProfileRow]:
        """Up to ``limit`` profiles in profile_id order, starting after ``after`` (keyset pages, short transactions)."""
        ...

    def profiles_in_ranges(
        self, ranges: Sequence[tuple[Sequence[str], float, float]], updated_since: float, after: str | None, limit: int
    ) -> list[ProfileRow]:
        """As ``profiles_after``, only profiles updated at or after ``updated_since`` or with a number in ``state``
        at a path (``("rfm", "last_purchase")``) within one of the ``(path, low, high)`` ranges (inclusive)."""
        ...


class ConsentRepo(Protocol):
    """The consent log: every recorded choice, per profile and purpose."""

    def append_consent(self, rows: Sequence[ConsentRow]) -> None: ...
    def consent_of(self, profile_id: str) -> list[ConsentRow]: ...
    def repoint_consent(self, from_profile: str, to_profile: str) -> None: ...


class AuditRepo(Protocol):
    """The audit log of administrative actions."""

    def append_audit(self, row: AuditRow) -> None:
        """Append a row (its ``id`` is ignored: the store numbers rows in the order they are written)."""
        ...

    def audit_entries(
        self,
        subject: str | None = None,
        limit: int = 100,
        *,
        action: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
        before_id: int | None = None,
    ) -> list[AuditRow]:
        """Up to ``limit`` rows, newest first (by id), with their ids. Filters: ``subject`` exactly; ``action`` itself
        or any action under it (``block`` matches ``block.put``); ``actor`` itself or any actor of that kind
        (``cli`` matches ``cli:ann``); ``since <= at < until``; ``id < before_id`` (the next page)."""
        ...

    def delete_audit_entries(self, subject: str, actions: Sequence[str]) -> int:
        """Delete the rows about ``subject`` of these actions (erasure); return how many went."""
        ...


class ItemRepo(Protocol):
    """The item catalogue."""

    def upsert_items(self, rows: Sequence[ItemRow]) -> None: ...
    def get_items(self, ids: Iterable[str]) -> dict[str, ItemRow]: ...
    def iter_items(self, batch_size: int = 1000) -> Iterator[ItemRow]: ...
    def delete_items(self, ids: Iterable[str]) -> int: ...
    def count_items(self) -> int: ...


class DocumentRepo(Protocol):
    """Versioned configuration documents (segment definitions, content blocks, slots, experiments...)."""

    def put_document(self, kind: str, doc_id: str, body: dict[str, Any], now: float) -> DocumentRow:
        """Create or replace a document; the version goes up by one and the old one stays in the history."""
        ...

    def create_document(self, kind: str, doc_id: str, body: dict[str, Any], now: float) -> DocumentRow | None:
        """``put_document`` for an id that has no document only: None when it has one (also when a concurrent
        transaction created it first)."""
        ...

    def get_document(self, kind: str, doc_id: str) -> DocumentRow | None: ...
    def list_documents(self, kind: str) -> list[DocumentRow]: ...
    def delete_document(self, kind: str, doc_id: str, now: float) -> bool: ...
    def document_history(self, kind: str, doc_id: str) -> list[DocumentRow]: ...
    def documents_version(self) -> int:
        """A number that grows with every document change of any kind (0 when none): a cheap cache check."""
        ...


class MembershipRepo(Protocol):
    """Segment membership: current members, the entry/exit history and sizes over time."""

    def apply_membership_changes(self, changes: Sequence[MembershipChange]) -> list[MembershipChange]:
        """Add/remove current members, changes applied in order. Idempotent: only changes that take effect (entry of a
        non-member, exit of a member) are applied, recorded in the history and returned, also when two transactions
        apply the same change concurrently."""
        ...

    def merge_segment_members(self, source: str, target: str, at: float) -> None:
        """Identity stitching: ``source``'s memberships move to ``target`` (keeping their entry time) unless it already
        has them (then ``source`` exits, recorded at ``at``); ``source``'s history is repointed to ``target``."""
        ...

    def segments_of(self, profile_ids: Iterable[str]) -> dict[str, dict[str, float]]:
        """profile_id -> {segment_id: entered_at} for each profile with at least one segment."""
        ...

    def segment_members(self, segment_id: str, after: str | None = None, limit: int = 100) -> list[tuple[str, float]]:
        """Current members as (profile_id, entered_at), ordered by profile_id, starting after ``after``."""
        ...

    def count_segment_members(self) -> dict[str, int]: ...
    def membership_history(
        self, segment_id: str | None = None, profile_id: str | None = None, since: float = 0.0, limit: int | None = 1000
    ) -> list[MembershipChange]:
        """Entries and exits in time order; ``limit=None`` for all of them."""
        ...

    def record_segment_sizes(self, sizes: Mapping[str, int], at: float) -> None: ...
    def segment_sizes(self, segment_id: str, since: float = 0.0) -> list[tuple[float, int]]: ...
    def clear_segment(self, segment_id: str) -> int:
        """Forget a deleted segment: members, history and sizes; return the members removed."""
        ...


class DecisionRepo(Protocol):
    """Decisions served to slots and the outcomes (clicks, conversions) attributed to them."""

    def insert_decisions(self, rows: Sequence[DecisionRow]) -> None: ...
    def get_decisions(self, ids: Iterable[str]) -> dict[str, DecisionRow]: ...
    def recent_decisions(self, profile_id: str, since: float) -> list[DecisionRow]:
        """The profile's decisions at or after ``since``, newest first."""
        ...

    def iter_decisions(
        self,
        slot: str | None = None,
        since: float = 0.0,
        until: float | None = None,
        batch_size: int = 5000,
        experiment: str | None = None,
    ) -> Iterator[DecisionRow]:
        """Decisions in ``[since, until)``, optionally of one slot and/or one experiment, oldest first."""
        ...

    def first_exposures(self, profile_id: str, experiments: Iterable[str]) -> dict[str, DecisionRow]:
        """The profile's earliest decision per experiment (sticky assignment), for the experiments it has."""
        ...

    def insert_outcomes(self, rows: Sequence[OutcomeRow]) -> int:
        """Insert outcomes not yet recorded for their (message_id, decision_id); return how many were new."""
        ...

    def outcomes_of(self, decision_ids: Iterable[str]) -> list[OutcomeRow]: ...
    def repoint_decisions(self, from_profile: str, to_profile: str) -> None: ...


class AnalyticsQueries(Protocol):
    """Aggregate reads for the dashboard and its KPI page: event times are ``timestamp``; windows are [since, until).

    (``pertinent.storage.sql_stats`` has the details.)
    """

    def event_counts(self, since: float, until: float, bucket_s: float = 60.0) -> list[tuple[float, int]]:
        """(bucket start, events) for each non-empty bucket of ``bucket_s`` seconds, oldest first."""
        ...

    def active_profiles(self, since: float, until: float) -> int:
        """How many distinct profiles have an event in the window."""
        ...

    def event_time_range(self) -> tuple[float, float] | None:
        """(oldest, newest) event time, or None without events."""
        ...

    def iter_events_between(
        self,
        since: float,
        until: float,
        types: Sequence[str] | None = None,
        limit: int | None = None,
        batch_size: int = 5000,
    ) -> Iterator[EventRow]:
        """Events in the window (optionally of these types), in insertion order, at most ``limit``."""
        ...

    def iter_event_fields(
        self,
        since: float,
        until: float,
        paths: Sequence[Sequence[str]] = (),
        limit: int | None = None,
        batch_size: int = 20_000,
        names: Sequence[str] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """(profile_id, type, event, timestamp, *one value per path) for events in the window (only events named
        in ``names`` when given), in insertion order: a slim read for analytics. A path is a JSON column and keys
        (``("context", "device", "type")``); values come back as text (numbers as their text), None if missing."""
        ...

    def iter_event_fields_after(
        self, after_id: int, paths: Sequence[Sequence[str]] = (), batch_size: int = 20_000
    ) -> Iterator[tuple[Any, ...]]:
        """(id, profile_id, type, event, timestamp, *one value per path) of the events with an id above
        ``after_id``, by id: what :meth:`iter_event_fields` reads, for a reader that keeps what it read and
        asks for the newer events only (the predictive traits' monitoring)."""
        ...

    def consent_counts(self) -> dict[str, dict[str, int]]:
        """purpose -> {"granted": n, "denied": n}: each profile's latest recorded choice per purpose."""
        ...

    def count_ingest_errors(self, since: float = 0.0) -> int: ...
    def recent_ingest_errors(self, limit: int = 20) -> list[IngestErrorRow]:
        """The newest recorded ingest errors, newest first."""
        ...

    def membership_flows(
        self, since: float, until: float, bucket_s: float = 86400.0
    ) -> list[tuple[str, float, int, int]]:
        """(segment_id, bucket start, entries, exits) per segment and non-empty bucket."""
        ...

    def dashboard_version(self) -> tuple[int, ...]:
        """Numbers that change whenever what the KPI page reads does (a cheap cache check)."""
        ...

    def count_events_through(self, last_id: int) -> int: ...
    def iter_event_values(
        self,
        since: float,
        after_id: int = 0,
        paths: Sequence[Sequence[str]] = (),
        limit: int | None = None,
        batch_size: int = 20_000,
    ) -> Iterator[Any]:
        """(id, type, event, timestamp, *values) of events after ``after_id`` from ``since`` on, by id."""
        ...

    def profile_event_counts(self, since: float, split: float, until: float) -> list[tuple[bool, str, int, float]]:
        """(current, profile_id, events, newest time) per profile and side of ``split``."""
        ...

    def iter_named_events(
        self,
        since: float,
        split: float,
        until: float,
        types: Sequence[str],
        names: Sequence[str],
        detail_name: str | None = None,
        paths: Sequence[Sequence[str]] = (),
        limit: int | None = None,
        batch_size: int = 20_000,
    ) -> Iterator[tuple[Any, ...]]:
        """Events of ``types`` in [since, until) and named in ``names`` in [split, until), by id."""
        ...


class ErasureRepo(Protocol):
    """The right to erasure: every row about one person, across all areas."""

    def erase_profile(self, profile_id: str) -> dict[str, int]:
        """Delete every row about a profile; return how many rows each table lost."""
        ...


class SuppressionRepo(Protocol):
    """Erasure's suppression list: pseudonymised identifiers (identity keys, profile ids) of erased people, never a
    raw id. Ingestion drops their later events; decisions and consent create nothing for them."""

    def suppress(self, rows: Sequence[SuppressionRow]) -> int:
        """Add identifiers to the list (one already there is kept as it is); return how many were new."""
        ...

    def suppressed(self, keys: Iterable[str]) -> set[str]:
        """The given identifiers that are on the list."""
        ...


class JobClaimRepo(Protocol):
    """Scheduled-job claims (``storage/claims.py``): a compare-and-set per job, with a lease and a fencing token."""

    def claim_job(
        self, name: str, interval_s: float, now: float, holder: str, lease_s: float
    ) -> tuple[int, dict[str, Any] | None] | None:
        """(fence, last holder's state) when ``name`` is due and its lease has ended; None otherwise."""
        ...

    def release_job(self, name: str, fence: int, now: float, state: dict[str, Any] | None) -> bool:
        """End the lease of the claim ``fence`` and keep ``state``; False when a later claim took over."""
        ...

    def renew_job(self, name: str, fence: int, lease_until: float) -> bool:
        """Extend the lease of the claim ``fence`` to ``lease_until``; False when a later claim took over."""
        ...

    def job_state(self, name: str) -> dict[str, Any] | None: ...
    def put_job_state(self, name: str, state: dict[str, Any] | None) -> None:
        """Record what a job keeps between runs (e.g. when the last complete sweep ended), claim or not."""
        ...


class DeploymentRepo(Protocol):
    """What the database records about how it is served (``storage/deployment.py``): one JSON value per name."""

    def deployment_setting(self, name: str) -> dict[str, Any] | None: ...
    def put_deployment_setting(self, name: str, value: dict[str, Any], at: float) -> None: ...
    def delete_deployment_setting(self, name: str) -> bool:
        """Remove the setting; False when there was none."""
        ...


class GroupRepo(Protocol):
    """Groups (accounts) and their members (profiles linked to them by a group call)."""

    def get_groups(self, ids: Iterable[str]) -> dict[str, GroupRow]: ...
    def put_groups(self, rows: Sequence[GroupRow]) -> None:
        """Create or replace groups (traits, updated_at; created_at is kept)."""
        ...

    def add_group_members(self, rows: Sequence[GroupMemberRow]) -> None:
        """Link profiles to groups; a link already there keeps its first ``joined_at``."""
        ...

    def group_members(self, group_id: str, limit: int | None = None) -> list[GroupMemberRow]:
        """The members of a group, earliest first."""
        ...

    def count_group_members(self, group_id: str) -> int: ...
    def groups_of(self, profile_id: str) -> list[GroupMemberRow]:
        """A profile's memberships, earliest first."""
        ...

    def repoint_group_members(self, from_profile: str, to_profile: str) -> None:
        """Identity stitching: ``from_profile``'s memberships move to ``to_profile`` (one per group, earliest kept)."""
        ...


class OutboxRepo(Protocol):
    """Destinations' durable outbox: messages to deliver, written in the transaction that produced them, claimed
    by one deliverer at a time, deleted once delivered, kept as ``dead`` (the dead-letter list) after the last try."""

    def enqueue_deliveries(self, rows: Sequence[DeliveryRow]) -> int:
        """Add pending deliveries; return how many."""
        ...

    def claim_deliveries(self, now: float, limit: int, lease_s: float) -> list[DeliveryRow]:
        """Up to ``limit`` pending deliveries due at ``now``, oldest first, pushed ``lease_s`` into the future so that
        no other deliverer takes them meanwhile (PostgreSQL: rows locked by another deliverer are skipped)."""
        ...

    def finish_deliveries(self, delivered: Iterable[int], retry: Sequence[DeliveryRow]) -> None:
        """Delete the ``delivered`` ids; store the new status, attempts, ``next_at`` and error of ``retry`` rows."""
        ...

    def deliveries(
        self, status: str | None = None, destination: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[DeliveryRow]:
        """Outbox rows by id after ``after_id`` (a keyset page), of one status and/or destination."""
        ...

    def requeue_deliveries(self, ids: Iterable[int] | None, destination: str | None, now: float) -> int:
        """Make dead deliveries pending again, due now with no attempts (``ids`` None: every dead one, of
        ``destination`` when given); return how many."""
        ...

    def repoint_deliveries(self, from_profile: str, to_profile: str) -> None:
        """Move a merged profile's outbox rows to the surviving profile."""
        ...

    def deliveries_of(self, profile_id: str) -> list[DeliveryRow]:
        """Every outbox row about a profile (export)."""
        ...

    def count_deliveries(self) -> dict[tuple[str, str], int]:
        """Rows per (destination, status)."""
        ...


class QualityRepo(Protocol):
    """Data quality (``quality``): tracking plans, counts of normalised values and violations, failed (blocked)
    events, outlier flags and duplicate candidates. Failed events, flags and candidates are personal data: export
    reads them and :meth:`erase_quality` deletes them."""

    def put_tracking_plan(self, row: TrackingPlanRow) -> None: ...
    def delete_tracking_plan(self, event: str) -> bool: ...
    def tracking_plans(self) -> list[TrackingPlanRow]: ...
    def bump_quality_counts(self, counts: Mapping[tuple[str, str, str], int], at: float) -> None:
        """Add to the (kind, event, field) counters."""
        ...

    def quality_counts(self) -> list[QualityCountRow]: ...
    def add_failed_events(self, rows: Sequence[FailedEventRow]) -> None: ...
    def failed_events(
        self, limit: int = 100, ids: Sequence[int] | None = None, replayed: bool | None = False
    ) -> list[FailedEventRow]:
        """Failed events, newest first (``replayed``: None = all; ``ids``: only these)."""
        ...

    def count_failed_events(self) -> int: ...
    def mark_failed_replayed(self, ids: Sequence[int], at: float) -> None: ...
    def purge_failed_events(self, before: float) -> int: ...
    def failed_events_of(self, keys: Iterable[str]) -> list[FailedEventRow]:
        """The failed events whose user or anonymous pseudonym is one of ``keys``."""
        ...

    def replace_quality_flags(self, rows: Sequence[QualityFlagRow]) -> None:
        """The flags of the latest outlier scan, replacing the previous ones."""
        ...

    def quality_flags(self, profile_ids: Iterable[str] | None = None) -> list[QualityFlagRow]: ...
    def add_dedup_candidates(self, rows: Sequence[DedupCandidateRow]) -> int:
        """Add new pairs (a pair already listed, whatever its status, is kept as it is); return how many."""
        ...

    def dedup_candidates(self, status: str | None = "pending", limit: int = 500) -> list[DedupCandidateRow]: ...
    def get_dedup_candidate(self, candidate_id: int) -> DedupCandidateRow | None: ...
    def set_dedup_status(self, candidate_id: int, status: str, at: float, only_pending: bool = False) -> bool:
        """Set a candidate's status; with ``only_pending``, only while it is still pending (a reviewer's claim:
        False when another decided it first). Whether a candidate changed."""
        ...

    def dedup_candidates_of(self, profile_id: str) -> list[DedupCandidateRow]: ...
    def erase_quality(self, profile_id: str, keys: Iterable[str]) -> dict[str, int]:
        """Delete a person's failed events (by pseudonym), outlier flag and duplicate candidates."""
        ...


class ServingReader(Protocol):
    """What ``Store.reader()`` serves: the four reads of ``/v1/decide`` and ``/v1/recommendations``.

    A backend may serve these on a cheaper connection than a transaction's (a plain read-only sqlite3 one);
    every ``Tx`` is a ``ServingReader`` too.
    """

    def get_identities(self, keys: Iterable[str]) -> dict[str, IdentityRow]: ...
    def get_profiles(self, ids: Iterable[str]) -> dict[str, ProfileRow]: ...
    def segments_of(self, profile_ids: Iterable[str]) -> dict[str, dict[str, float]]: ...
    def first_exposures(self, profile_id: str, experiments: Iterable[str]) -> dict[str, DecisionRow]: ...
