"""The served model's saved versions, as serving and privacy reach them: the newest version when it differs from
the one served, and the personal data that saved versions hold (export, erasure).

Versions live in a :class:`~pertinent.recommend.registry.ModelRegistry` (``<data_dir>/models``) under the
configured model's name. ``erased`` lists the profiles erased while this process runs: the popularity ranking is
recomputed without them, and scheduled retraining erases them again from a version whose training read their
events before the erasure (``Retrainer``).

>>> import tempfile
>>> from pertinent.recommend.config import RecommendConfig
>>> versions = ModelVersions(ModelRegistry(tempfile.mkdtemp()), RecommendConfig(model="ease"))
>>> versions.newer_than(None) is None, versions.forget_user("p1")
(True, 0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pertinent.recommend.registry import ModelRegistry

if TYPE_CHECKING:
    from pertinent.recommend.base import Recommender
    from pertinent.recommend.config import RecommendConfig


class ModelVersions:
    """The versions of ``config.model`` (read on each call: the service's config) in ``registry``."""

    def __init__(self, registry: ModelRegistry, config: RecommendConfig) -> None:
        self.registry = registry
        self.config = config
        self.erased: list[str] = []  # profile ids erased while this process runs (append-only)

    def newer_than(self, version: str | None) -> tuple[str | None, Recommender] | None:
        """The newest version and its loaded model when ``latest`` names another version than ``version``, else
        None (one small file read)."""
        name = self.config.model
        if not self.registry.has_newer(name, version):
            return None
        newest = self.registry.latest_version(name)
        return newest, self.registry.load(name, newest or "latest")

    def user_rows(self, user_id: str) -> list[dict[str, Any]]:
        """What the saved versions of every model hold about a user (data export)."""
        return self.registry.user_rows(user_id)

    def forget_user(self, user_id: str) -> int:
        """Erase a user from every saved version of every model; returns how many versions held them."""
        return self.registry.forget_user(user_id)
