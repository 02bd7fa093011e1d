"""Groups (accounts) and their members; events keep integrations, a group call's groupId and an alias's previousId.

Revision ID: 0007_ecoproto_groups
Revises: 0007_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_ecoproto_groups"
down_revision = "0007_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("integrations", sa.JSON, nullable=True))
        batch.add_column(sa.Column("group_id", sa.String(256), nullable=True))
        batch.add_column(sa.Column("previous_id", sa.String(64), nullable=True))
    op.create_table(
        "groups",
        sa.Column("group_id", sa.String(256), primary_key=True),
        sa.Column("traits", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(256), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("joined_at", sa.Double, nullable=False),
    )
    op.create_index("ix_group_members_profile", "group_members", ["profile_id"])


def downgrade() -> None:
    op.drop_index("ix_group_members_profile", "group_members")
    op.drop_table("group_members")
    op.drop_table("groups")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("previous_id")
        batch.drop_column("group_id")
        batch.drop_column("integrations")
