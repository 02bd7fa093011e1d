"""Storage backends. Core code talks to :class:`pertinent.storage.base.Store`; adapters live here."""

from pertinent.storage.base import Store, Tx
from pertinent.storage.factory import open_store

__all__ = ["Store", "Tx", "open_store"]
