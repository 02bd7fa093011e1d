"""Pick the storage backend from the database URL (the edge of the system)."""

from __future__ import annotations

from pertinent.runtime.files import private_dir
from pertinent.settings import Settings
from pertinent.storage.sql import SqlStore


def open_store(settings: Settings, migrate: bool = True) -> SqlStore:
    """Open the store named by the settings, creating the data directory and schema when needed."""
    url = settings.resolved_database_url()
    if url.startswith("sqlite") and not url.startswith("sqlite://:memory:") and url != "sqlite://":
        private_dir(settings.data_dir)
    store = SqlStore(url)
    if migrate:
        store.migrate()
    return store
