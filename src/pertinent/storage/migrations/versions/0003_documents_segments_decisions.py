"""Configuration documents, segment membership (current, history, sizes), decisions and their outcomes.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("doc_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "document_history",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.JSON),
        sa.Column("at", sa.Double, nullable=False),
    )
    op.create_index("ix_document_history_doc", "document_history", ["kind", "doc_id", "version"])
    op.create_table(
        "segment_members",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("entered_at", sa.Double, nullable=False),
    )
    op.create_index("ix_segment_members_profile", "segment_members", ["profile_id"])
    op.create_table(
        "segment_history",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("segment_id", sa.String(200), nullable=False),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("entered", sa.Boolean, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
    )
    op.create_index("ix_segment_history_segment_at", "segment_history", ["segment_id", "at"])
    op.create_index("ix_segment_history_profile", "segment_history", ["profile_id"])
    op.create_table(
        "segment_sizes",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("at", sa.Double, primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("slot", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(200)),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("experiment", sa.String(200)),
        sa.Column("propensity", sa.Double),
        sa.Column("detail", sa.JSON),
        sa.Column("at", sa.Double, nullable=False),
    )
    op.create_index("ix_decisions_profile_at", "decisions", ["profile_id", "at"])
    op.create_index("ix_decisions_slot_at", "decisions", ["slot", "at"])
    op.create_table(
        "decision_outcomes",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
    )
    op.create_index("ux_decision_outcomes_msg", "decision_outcomes", ["message_id", "decision_id"], unique=True)
    op.create_index("ix_decision_outcomes_decision", "decision_outcomes", ["decision_id"])
    op.create_index("ix_decision_outcomes_profile", "decision_outcomes", ["profile_id"])


def downgrade() -> None:
    op.drop_table("decision_outcomes")
    op.drop_table("decisions")
    op.drop_table("segment_sizes")
    op.drop_table("segment_history")
    op.drop_table("segment_members")
    op.drop_table("document_history")
    op.drop_table("documents")
