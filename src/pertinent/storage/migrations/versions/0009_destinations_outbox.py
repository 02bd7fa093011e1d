"""Destinations' durable outbox and dead-letter list (webhook deliveries, destinations/).

Revision ID: 0007_destinations_outbox
Revises: 0007_ecoproto_groups
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_destinations_outbox"
down_revision = "0007_ecoproto_groups"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "destination_outbox",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Double, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_destination_outbox_profile_id", "destination_outbox", ["profile_id"])
    op.create_index("ix_destination_outbox_due", "destination_outbox", ["status", "next_at"])


def downgrade() -> None:
    op.drop_table("destination_outbox")
