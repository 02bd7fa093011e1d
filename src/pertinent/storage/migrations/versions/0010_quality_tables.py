"""Data quality: tracking plans, quality counts, failed events, outlier flags, duplicate candidates.

Revision ID: 0007_quality
Revises: 0007_destinations_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_quality"
down_revision = "0007_destinations_outbox"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tracking_plans",
        sa.Column("event", sa.String(200), primary_key=True),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "quality_counts",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("event", sa.String(200), primary_key=True),
        sa.Column("field", sa.String(200), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "failed_events",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("event", sa.String(200)),
        sa.Column("user_key", sa.String(64)),
        sa.Column("anonymous_key", sa.String(64)),
        sa.Column("errors", sa.JSON, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("replayed_at", sa.Double),
    )
    op.create_index("ix_failed_events_user_key", "failed_events", ["user_key"])
    op.create_index("ix_failed_events_anonymous_key", "failed_events", ["anonymous_key"])
    op.create_table(
        "quality_flags",
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
    )
    op.create_table(
        "dedup_candidates",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("profile_a", sa.String(64), nullable=False),
        sa.Column("profile_b", sa.String(64), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("decided_at", sa.Double),
    )
    op.create_index("ix_dedup_pair", "dedup_candidates", ["profile_a", "profile_b"], unique=True)
    op.create_index("ix_dedup_b", "dedup_candidates", ["profile_b"])


def downgrade() -> None:
    for name in ("dedup_candidates", "quality_flags", "failed_events", "quality_counts", "tracking_plans"):
        op.drop_table(name)
