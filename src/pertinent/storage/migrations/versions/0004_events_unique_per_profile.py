"""A messageId is unique per person: the events' unique index becomes (profile_id, message_id).

The global unique index on message_id put each new event on a random index page (message ids are random
UUIDs), about one extra 4 KiB page written per event; keyed by person first, a batch's entries share the pages
of the few people it is about. See docs/benchmarks.md (ingest). On SQLite the events table is rebuilt (batch
mode): 8.6 s for 968k events.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# SQLite's unique constraint from 0001 has no name; batch mode names it through this convention to drop it.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("events", naming_convention=_NAMES, recreate="always") as batch:
            batch.drop_constraint("uq_events_message_id", type_="unique")
    else:
        op.drop_constraint("events_message_id_key", "events", type_="unique")
    op.create_index("ux_events_profile_message", "events", ["profile_id", "message_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_events_profile_message", table_name="events")
    sqlite = op.get_context().dialect.name == "sqlite"
    with op.batch_alter_table("events") as batch:  # the names upgrade() finds on each backend
        batch.create_unique_constraint("uq_events_message_id" if sqlite else "events_message_id_key", ["message_id"])
