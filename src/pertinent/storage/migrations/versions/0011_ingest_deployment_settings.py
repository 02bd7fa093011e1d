"""Deployment settings: what the database records about how it is served (e.g. "behind a Redis hot store").

Revision ID: 0011_ingest_deployment
Revises: 0007_quality
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_ingest_deployment"
down_revision = "0007_quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deployment_settings")
