"""Initial schema: events, profiles, identities, consent log, audit log, ingest errors.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(200), nullable=False, unique=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("event", sa.String(200)),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.Column("personalize", sa.Boolean, nullable=False),
        sa.Column("properties", sa.JSON),
        sa.Column("traits", sa.JSON),
        sa.Column("context", sa.JSON),
    )
    op.create_index("ix_events_profile_ts", "events", ["profile_id", "timestamp"])
    op.create_table(
        "profiles",
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("traits", sa.JSON, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("consent", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "identities",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_identities_profile_id", "identities", ["profile_id"])
    op.create_table(
        "consent_log",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
    )
    op.create_index("ix_consent_log_profile_id", "consent_log", ["profile_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64)),
        sa.Column("detail", sa.JSON),
    )
    op.create_table(
        "ingest_errors",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("field", sa.String(200)),
        sa.Column("message", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("ingest_errors", "audit_log", "consent_log", "identities", "profiles", "events"):
        op.drop_table(name)
