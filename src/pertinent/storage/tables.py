"""Table definitions shared by every SQL backend (SQLite, PostgreSQL).

Times are stored as float seconds since the Unix epoch (UTC): portable, fast to compare,
and what pandas/Spark read without conversion. User identifiers never appear in clear:
``identities.key`` is a keyed HMAC and ``profile_id`` is an opaque id derived from it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
_Id = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("message_id", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("event", String(200)),
    Column("profile_id", String(64), nullable=False),
    Column("timestamp", Double, nullable=False),
    Column("received_at", Double, nullable=False),
    Column("personalize", Boolean, nullable=False),
    Column("properties", JSON),
    Column("traits", JSON),
    Column("context", JSON),
    # migration 0007_ecoproto_groups: what the Segment message carried besides its payload. ``integrations`` as sent
    # (``{"All": false}`` opts the event out of destinations); a group call's account id; an alias's previousId as
    # its identity key (a pseudonym, like every user id here).
    Column("integrations", JSON),
    Column("group_id", String(256)),
    Column("previous_id", String(64)),
    Index("ix_events_profile_ts", "profile_id", "timestamp"),
    # A messageId is stored once per person. Keyed by person first, a batch's new entries land on the few index
    # pages of the people it is about, rather than one random page per event (migration 0004).
    Index("ux_events_profile_message", "profile_id", "message_id", unique=True),
)

profiles = Table(
    "profiles",
    metadata,
    Column("profile_id", String(64), primary_key=True),
    Column("traits", JSON, nullable=False),
    Column("state", JSON, nullable=False),
    Column("consent", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("profile_id", String(64), nullable=False, index=True),
    Column("created_at", Double, nullable=False),
)

consent_log = Table(
    "consent_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("profile_id", String(64), nullable=False, index=True),
    Column("purpose", String(64), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("source", String(32), nullable=False),
    Column("at", Double, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(300)),  # a profile id, or a kind and id of what changed (block:hero, item:sku-1)
    Column("detail", JSON),
    Column("before", JSON),  # the state before the change (a document's previous body...); secrets by fingerprint
    Column("after", JSON),
    Index("ix_audit_log_subject", "subject", "id"),
    Index("ix_audit_log_action", "action", "id"),
    Index("ix_audit_log_at", "at"),
)

ingest_errors = Table(
    "ingest_errors",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("endpoint", String(32), nullable=False),
    Column("field", String(200)),
    Column("message", Text, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("item_id", String(200), primary_key=True),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("available_from", Double),
    Column("available_until", Double),
    Column("updated_at", Double, nullable=False),
)

# Configuration kept as data (segment definitions, content blocks, slots, experiments, ...): one current row per
# (kind, doc_id), every version kept in document_history (body NULL marks a deletion).
documents = Table(
    "documents",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("doc_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

document_history = Table(
    "document_history",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("doc_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", JSON),
    Column("at", Double, nullable=False),
    Index("ix_document_history_doc", "kind", "doc_id", "version"),
)

# Segment membership: who is in each segment now, every entry/exit, and sizes over time.
segment_members = Table(
    "segment_members",
    metadata,
    Column("segment_id", String(200), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("entered_at", Double, nullable=False),
    Index("ix_segment_members_profile", "profile_id"),
)

segment_history = Table(
    "segment_history",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("segment_id", String(200), nullable=False),
    Column("profile_id", String(64), nullable=False),
    Column("entered", Boolean, nullable=False),
    Column("at", Double, nullable=False),
    Index("ix_segment_history_segment_at", "segment_id", "at"),
    Index("ix_segment_history_profile", "profile_id"),
)

segment_sizes = Table(
    "segment_sizes",
    metadata,
    Column("segment_id", String(200), primary_key=True),
    Column("at", Double, primary_key=True),
    Column("size", Integer, nullable=False),
)

# Decisions served to a slot (with the propensity of the chosen variant) and the outcomes attributed to them.
decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("profile_id", String(64), nullable=False),
    Column("slot", String(200), nullable=False),
    Column("variant", String(200)),
    Column("reason", String(16), nullable=False),
    Column("experiment", String(200)),
    Column("propensity", Double),
    Column("detail", JSON),
    Column("at", Double, nullable=False),
    Index("ix_decisions_profile_at", "profile_id", "at"),
    Index("ix_decisions_slot_at", "slot", "at"),
)

decision_outcomes = Table(
    "decision_outcomes",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("decision_id", String(64), nullable=False),
    Column("profile_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("value", Double),
    Column("message_id", String(200), nullable=False),
    Column("at", Double, nullable=False),
    Index("ux_decision_outcomes_msg", "message_id", "decision_id", unique=True),
    Index("ix_decision_outcomes_decision", "decision_id"),
    Index("ix_decision_outcomes_profile", "profile_id"),
)

# Erasure's suppression list (Segment's "delete and suppress"): the pseudonymised identifiers (identity keys, HMACs)
# and profile ids of erased people, whose later events are dropped and for whom nothing is created again.
# Scheduled jobs: each runs once across every process sharing the database (``runtime/jobs.py``). A claim
# holds a lease; a holder that dies is taken over when its lease ends, and ``fence`` (bumped at every claim)
# keeps a holder that lost its lease from recording anything.
job_claims = Table(
    "job_claims",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("last_run", Double, nullable=False),
    Column("holder", String(128), nullable=False),
    Column("lease_until", Double, nullable=False),
    Column("fence", BigInteger, nullable=False),
    Column("state", JSON, nullable=True),
)

# What the database records about how it is served (``storage/deployment.py``): e.g. that a Redis hot store fronts
# it, so that a process started without Redis refuses to write behind its back. Nothing personal. Migration
# 0011_ingest_deployment.
deployment_settings = Table(
    "deployment_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # user | anonymous | profile
    Column("at", Double, nullable=False),
)

# Groups (accounts, Segment's ``group`` call): their traits, about the account and kept in clear except the personal
# keys of ``group_pii_traits``; and their members, the profiles that a group call linked to them (personal data:
# exported with the person and erased with them). Migration 0007_ecoproto_groups.
groups = Table(
    "groups",
    metadata,
    Column("group_id", String(256), primary_key=True),
    Column("traits", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(256), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("joined_at", Double, nullable=False),
    Index("ix_group_members_profile", "profile_id"),
)

# Destinations' durable outbox (destinations/): one row per message to deliver to one destination (a webhook),
# written in the transaction that stores the event or applies the segment change, deleted once delivered.
# status: pending (due at next_at) | dead (gave up after max attempts: the dead-letter list, replayable).
# Per-person data (the payload names the user): covered by export and erasure (privacy/service.py).
destination_outbox = Table(
    "destination_outbox",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("destination", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # track | page | screen | identify | group | alias | segment
    Column("profile_id", String(64), nullable=False, index=True),
    Column("payload", JSON, nullable=False),
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_error", Text),
    Index("ix_destination_outbox_due", "status", "next_at"),
)

# data quality (docs/data-quality.md) ---------------------------------------------------------------------------
tracking_plans = Table(  # per event name: a JSON Schema for its properties and what a violation does
    "tracking_plans",
    metadata,
    Column("event", String(200), primary_key=True),
    Column("schema", JSON, nullable=False),
    Column("mode", String(8), nullable=False),  # allow | flag | block
    Column("updated_at", Double, nullable=False),
)

quality_counts = Table(  # normalisations, unparseable values and tracking-plan violations, per event and field
    "quality_counts",
    metadata,
    Column("kind", String(16), primary_key=True),  # normalised | unparseable | violation | blocked
    Column("event", String(200), primary_key=True),
    Column("field", String(200), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
)

failed_events = Table(  # events a tracking plan blocked: kept whole for inspection and replay (personal data)
    "failed_events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("event", String(200)),
    Column("user_key", String(64)),  # pseudonyms of the ids, for export and erasure
    Column("anonymous_key", String(64)),
    Column("errors", JSON, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("replayed_at", Double),
    Index("ix_failed_events_user_key", "user_key"),
    Index("ix_failed_events_anonymous_key", "anonymous_key"),
)

quality_flags = Table(  # profiles flagged as outliers or bots (kept out of training sets and KPIs)
    "quality_flags",
    metadata,
    Column("profile_id", String(64), primary_key=True),
    Column("score", Double, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("at", Double, nullable=False),
)

dedup_candidates = Table(  # pairs of profiles that may be one person, and the reviewer's decision
    "dedup_candidates",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("profile_a", String(64), nullable=False),
    Column("profile_b", String(64), nullable=False),
    Column("score", Double, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("status", String(12), nullable=False),  # pending | merged | rejected | stale (one side merged away)
    Column("at", Double, nullable=False),
    Column("decided_at", Double),
    Index("ix_dedup_pair", "profile_a", "profile_b", unique=True),
    Index("ix_dedup_b", "profile_b"),
)
