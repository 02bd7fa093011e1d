"""The audit log records the state before and after each change, and is read in filtered pages.

Columns ``before`` and ``after`` (JSON); ``subject`` widens to 300 characters (it names documents and items by
kind and id, ids of up to 200); indexes for the filters of ``GET /v1/audit``: by subject, by action (each with
the id that orders a page) and by time.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("before", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("after", sa.JSON(), nullable=True))
        batch.alter_column("subject", existing_type=sa.String(64), type_=sa.String(300), existing_nullable=True)
    op.create_index("ix_audit_log_subject", "audit_log", ["subject", "id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action", "id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_action", table_name="audit_log")
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("subject", existing_type=sa.String(300), type_=sa.String(64), existing_nullable=True)
        batch.drop_column("after")
        batch.drop_column("before")
