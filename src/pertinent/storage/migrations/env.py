"""Alembic environment: runs on the engine handed over by pertinent.storage.migrate."""

from alembic import context

from pertinent.storage.tables import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
