"""Which model version every node serves: list, promote, roll back and resume auto-promotion, each audited.

The registry's ``latest`` pointer (a shared folder) is what every node serves; nodes notice a change on their
next check (``recommend.model_check_s``) and at once through the invalidation bus (``Services`` publishes
``model.promoted``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from pertinent.errors import DomainError, InvalidInput, NotFound
from pertinent.privacy.audit import SYSTEM, Actor, record
from pertinent.recommend.registry import InvalidModelName, ModelRegistry, RegistryError
from pertinent.storage.base import Store


class ModelVersionInfo(BaseModel):
    version: str
    kind: str | None = None
    created_at: str | None = None
    served: bool
    metrics: dict[str, float] = {}


class ModelInfo(BaseModel):
    name: str
    served: str | None
    newest: str | None
    pinned: bool  # an operator chose the served version: retraining adds versions without serving them
    versions: list[ModelVersionInfo]


class ModelList(BaseModel):
    models: list[ModelInfo]


class Promotion(BaseModel):
    name: str
    before: str | None
    served: str
    pinned: bool


class UnknownModel(NotFound):
    def __init__(self, message: str, field: str = "version") -> None:
        super().__init__([{"field": field, "message": message}], f"{field}: {message}")


def _refusal(exc: RegistryError) -> DomainError:
    """The registry's refusal as the domain's, from its type and field (never its message): a bad name is a 400,
    an unknown model or version a 404."""
    if isinstance(exc, InvalidModelName):
        return InvalidInput.field(exc.field, exc.reason)
    return UnknownModel(exc.reason, exc.field)


def _flat_metrics(metrics: dict[str, object]) -> dict[str, float]:
    """The numeric headline metrics of a version (holdout metrics flattened), for the list."""
    out: dict[str, float] = {}
    holdout = metrics.get("holdout")
    source = holdout.get("metrics", {}) if isinstance(holdout, dict) else {}
    for key, value in {**metrics, **(source if isinstance(source, dict) else {})}.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    return out


class ModelPromotions:
    def __init__(self, store: Store, registry: ModelRegistry) -> None:
        self.store = store
        self.registry = registry
        self.on_change: list[Callable[[str], None]] = []  # told the model name after a promotion

    def list(self) -> ModelList:
        models = []
        for name in self.registry.names():
            served = self.registry.latest_version(name)
            versions = []
            for version in self.registry.versions(name):
                try:
                    meta = self.registry.meta(name, version)
                    metrics = _flat_metrics(self.registry.metrics(name, version))
                except (OSError, ValueError):
                    meta, metrics = {}, {}
                created = meta.get("created_at")
                versions.append(
                    ModelVersionInfo(
                        version=version,
                        kind=meta.get("kind"),
                        created_at=datetime.fromtimestamp(float(created), UTC).isoformat() if created else None,
                        served=version == served,
                        metrics=metrics,
                    )
                )
            pinned = bool(self.registry.promotions(name)["pinned"])
            models.append(
                ModelInfo(
                    name=name,
                    served=served,
                    newest=self.registry.newest_version(name),
                    pinned=pinned,
                    versions=versions,
                )
            )
        return ModelList(models=models)

    def _known(self, name: str) -> None:
        try:
            known = name in self.registry.names()
        except RegistryError as exc:
            raise _refusal(exc) from None
        if not known:
            raise UnknownModel(f"no saved model {name!r}", "name")

    def _done(self, name: str, action: str, before: str | None, after: str, actor: Actor, pinned: bool) -> Promotion:
        with self.store.transaction() as tx:
            record(tx, actor, action, f"model:{name}", before={"version": before}, after={"version": after})
        for hook in self.on_change:
            hook(name)
        return Promotion(name=name, before=before, served=after, pinned=pinned)

    def promote(self, name: str, version: str, actor: Actor = SYSTEM) -> Promotion:
        self._known(name)
        try:
            before = self.registry.promote(name, version, by=str(actor))
        except RegistryError as exc:
            raise _refusal(exc) from None
        return self._done(name, "model.promote", before, version, actor, True)

    def rollback(self, name: str, actor: Actor = SYSTEM) -> Promotion:
        self._known(name)
        try:
            before, after = self.registry.rollback(name, by=str(actor))
        except RegistryError as exc:
            raise _refusal(exc) from None
        return self._done(name, "model.rollback", before, after, actor, True)

    def resume(self, name: str, actor: Actor = SYSTEM) -> Promotion:
        self._known(name)
        before = self.registry.latest_version(name)
        try:  # a model folder without any saved version (its first training stopped before saving): 404, not 500
            after = self.registry.resume(name, by=str(actor))
        except RegistryError as exc:
            raise _refusal(exc) from None
        return self._done(name, "model.resume", before, after, actor, False)
