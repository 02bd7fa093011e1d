"""Job claims: which scheduled job last ran when, held by whom, with a fencing token (runs once per cluster).

Revision ID: 0007_jobs
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_jobs"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_claims",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("last_run", sa.Double, nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("lease_until", sa.Double, nullable=False),
        sa.Column("fence", sa.BigInteger, nullable=False),
        sa.Column("state", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("job_claims")
