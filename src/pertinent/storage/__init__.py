"""Storage backends. Core code talks to :class:`pertinent.storage.base.Store` and, through its transactions, to
the per-area protocols of :mod:`pertinent.storage.protocols` (``base`` says which to type a service on);
the SQL adapter (SQLite, PostgreSQL) lives here too."""

from pertinent.storage.base import Store, Tx
from pertinent.storage.factory import open_store

__all__ = ["Store", "Tx", "open_store"]
