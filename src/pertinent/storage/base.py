"""The storage contract: the rows stored, a transaction (``Tx``) and a backend (``Store``).

A service holds a :class:`Store` and opens ``store.transaction()`` (``write=False`` for a read-only one) or, on
the serving path, ``store.reader()``. ``Tx`` is the union of the per-area protocols of
:mod:`pertinent.storage.protocols`; a function that works on one area types its transaction on that area's
protocol, not on ``Tx``, so its signature says what it touches and a test can pass a small fake:

======================  =========================================================================
``IdentityRepo``        identity resolution and stitching (``profiles.identity``)
``EventRepo``           ingestion, training reads, ingest errors (``events``, ``recommend``)
``ProfileRepo``         profile reads and writes, keyset pages (``profiles``, ``segments``)
``ConsentRepo``         the consent log (``events`` ingest, ``privacy``)
``AuditRepo``           the audit log of administrative actions (``privacy``)
``ItemRepo``            the item catalogue (``recommend``, ``browser``)
``DocumentRepo``        versioned configuration documents (``decide``, ``segments``)
``MembershipRepo``      segment members, history and sizes (``segments``)
``DecisionRepo``        decisions and attributed outcomes (``decide``)
``AnalyticsQueries``    aggregate reads of the dashboard and its KPI page (``dashboard``)
``ErasureRepo``         deleting everything about a person (``privacy``)
``SuppressionRepo``     pseudonyms of erased people, whose later data is dropped (``privacy``, ``events``)
``OutboxRepo``          destinations' outbox and dead-letter list (``destinations``)
``QualityRepo``         tracking plans, failed events, outlier flags, duplicate candidates (``quality``)
``ServingReader``       the four reads of ``/v1/decide`` and ``/v1/recommendations``: what
                        ``Store.reader()`` yields (every ``Tx`` is one too)
======================  =========================================================================

Code that needs several areas declares a protocol of its own inheriting them
(``class MergeTx(IdentityRepo, EventRepo, ConsentRepo, Protocol): ...``); every ``Tx`` satisfies it.
Adding a storage method: declare it in its area's protocol, implement it in ``sql_tx.SqlTx`` (or the area's
``sql_*`` part), override it in ``sql_sqlite.SqliteTx`` only for a measured SQLite fast path, and cover it in
``tests/storage/test_storage_contract.py``, which every backend passes (SQLite and PostgreSQL).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pertinent.storage.protocols import (
    AnalyticsQueries,
    AuditRepo,
    ConsentRepo,
    DecisionRepo,
    DeploymentRepo,
    DocumentRepo,
    ErasureRepo,
    EventRepo,
    GroupRepo,
    IdentityRepo,
    ItemRepo,
    JobClaimRepo,
    MembershipRepo,
    OutboxRepo,
    ProfileRepo,
    QualityRepo,
    ServingReader,
    SuppressionRepo,
)


@dataclass(slots=True)
class EventRow:
    message_id: str
    type: str
    event: str | None
    profile_id: str
    timestamp: float
    received_at: float
    personalize: bool
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None  # as sent: {"All": false} opts the event out of destinations
    group_id: str | None = None  # a group call's account id
    previous_id: str | None = None  # an alias's previousId, as its identity key (a pseudonym)
    # The three JSON fields already encoded, when the caller has them (ingest encodes them before taking the
    # write lock); backends may use them instead of encoding again.
    encoded: tuple[str | None, str | None, str | None] | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class GroupRow:
    """A group (account): its traits and when it was first and last written."""

    group_id: str
    traits: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True, frozen=True)
class GroupMemberRow:
    """A profile's membership of a group, since a group call linked them."""

    group_id: str
    profile_id: str
    joined_at: float


@dataclass(slots=True)
class ProfileRow:
    profile_id: str
    traits: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    consent: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True, frozen=True)
class IdentityRow:
    key: str
    kind: str  # "user" | "anonymous"
    profile_id: str
    created_at: float


@dataclass(slots=True, frozen=True)
class ConsentRow:
    profile_id: str
    purpose: str
    granted: bool
    source: str
    at: float


@dataclass(slots=True, frozen=True)
class IngestErrorRow:
    """One rejected message (or request) as recorded by ingestion."""

    at: float
    endpoint: str
    field: str | None
    message: str


@dataclass(slots=True, frozen=True)
class AuditRow:
    """One change to what the engine does: when (``at``), who (``actor``: ``admin_key``, ``dashboard``,
    ``cli:<user>``, ``system:<job>``...), what kind of change (``action``: ``block.put``, ``erase``...), on what
    (``subject``), the state before and after it (JSON values) and anything else (``detail``). ``id`` is set on the
    rows read back (it orders them; a page's cursor is the last id seen)."""

    at: float
    actor: str
    action: str
    subject: str | None = None
    detail: dict[str, Any] | None = None
    before: Any = None
    after: Any = None
    id: int | None = None


@dataclass(slots=True)
class ItemRow:
    """One catalogue item. Availability bounds are epoch seconds (UTC) or None (open-ended)."""

    item_id: str
    title: str = ""
    text: str = ""
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    available_from: float | None = None
    available_until: float | None = None
    updated_at: float = 0.0


@dataclass(slots=True, frozen=True)
class DocumentRow:
    """One configuration document (a segment definition, content block, slot, experiment...) at one version."""

    kind: str
    doc_id: str
    version: int
    body: dict[str, Any] | None  # None only in history: the document was deleted at this version
    created_at: float
    updated_at: float


@dataclass(slots=True, frozen=True)
class MembershipChange:
    """A profile entering (``entered=True``) or leaving a segment at time ``at``."""

    segment_id: str
    profile_id: str
    entered: bool
    at: float


@dataclass(slots=True)
class DecisionRow:
    """What a slot showed to a profile, why (rule/experiment/bandit/recommender/default) and with what propensity."""

    decision_id: str
    profile_id: str
    slot: str
    variant: str | None
    reason: str
    at: float
    experiment: str | None = None
    propensity: float | None = None
    detail: dict[str, Any] | None = None


@dataclass(slots=True, frozen=True)
class OutcomeRow:
    """An event attributed to a decision (a click, a conversion), at most once per (message_id, decision_id)."""

    decision_id: str
    profile_id: str
    kind: str
    message_id: str
    at: float
    value: float | None = None


@dataclass(slots=True, frozen=True)
class SuppressionRow:
    """An erased person's pseudonymised identifier: an identity key (``user``, ``anonymous``) or a ``profile`` id."""

    key: str
    kind: str
    at: float


@dataclass(slots=True)
class DeliveryRow:
    """A message waiting in a destination's outbox (``status`` pending, due at ``next_at``) or given up on after
    ``attempts`` tries (``dead``: the dead-letter list). ``id`` is set by the store."""

    destination: str
    kind: str
    profile_id: str
    payload: dict[str, Any]
    status: str = "pending"
    attempts: int = 0
    next_at: float = 0.0
    created_at: float = 0.0
    last_error: str | None = None
    id: int | None = None


@dataclass(slots=True, frozen=True)
class TrackingPlanRow:
    """A tracking plan entry: the JSON Schema of an event's properties and the mode (allow, flag, block)."""

    event: str
    schema: dict[str, Any]
    mode: str
    updated_at: float


@dataclass(slots=True, frozen=True)
class QualityCountRow:
    """How many values of a field were normalised / unparseable / in violation / blocked, for an event name."""

    kind: str
    event: str
    field: str
    n: int
    updated_at: float


@dataclass(slots=True, frozen=True)
class FailedEventRow:
    """An event blocked by the tracking plan, kept whole (``payload``) with its ``errors`` until replayed."""

    at: float
    event: str | None
    user_key: str | None
    anonymous_key: str | None
    errors: list[dict[str, Any]]
    payload: dict[str, Any]
    replayed_at: float | None = None
    id: int | None = None


@dataclass(slots=True, frozen=True)
class QualityFlagRow:
    """A profile flagged as an outlier or a bot: its anomaly score and why."""

    profile_id: str
    score: float
    reasons: list[str]
    at: float


@dataclass(slots=True, frozen=True)
class DedupCandidateRow:
    """Two profiles that may be one person (``profile_a < profile_b``), the match score (0-100) and status."""

    profile_a: str
    profile_b: str
    score: float
    reasons: dict[str, float]
    status: str
    at: float
    decided_at: float | None = None
    id: int | None = None


class Tx(
    IdentityRepo,
    EventRepo,
    ProfileRepo,
    ConsentRepo,
    AuditRepo,
    ItemRepo,
    DocumentRepo,
    MembershipRepo,
    DecisionRepo,
    AnalyticsQueries,
    ErasureRepo,
    SuppressionRepo,
    JobClaimRepo,
    DeploymentRepo,
    GroupRepo,
    OutboxRepo,
    QualityRepo,
    Protocol,
):
    """One unit of work: every area's methods; everything done through it commits or rolls back together."""


class Store(Protocol):
    """A storage backend: hands out transactions, knows its own name and lifecycle."""

    backend: str

    def transaction(self, write: bool = True) -> AbstractContextManager[Tx]:
        """A transaction; ``write=False`` opens a read-only one (a snapshot on SQLite, no row locks)."""
        ...

    def reader(self) -> AbstractContextManager[ServingReader]:
        """A read transaction for the serving path (a backend may serve it on a cheaper connection)."""
        ...

    def migrate(self) -> None: ...
    def purge_deleted(self) -> None:
        """After an erasure: make deleted rows unrecoverable from the backend's own files, where it keeps copies."""
        ...

    def close(self) -> None: ...
