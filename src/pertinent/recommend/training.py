"""Training from stored events: track events with product ids become an :class:`Interactions` frame, a model is
evaluated on a per-user random holdout, trained on everything and saved as a new registry version.

``pertinent train`` and scheduled retraining (``Retrainer``) call :func:`train_from_store`.

>>> product_ids({"product_id": 7})
['7']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pertinent.evaluation import evaluate, random_holdout
from pertinent.privacy.audit import SYSTEM, Actor, record
from pertinent.recommend.interactions import InteractionConfig, Interactions
from pertinent.recommend.items import catalogue_from_rows
from pertinent.recommend.models import make_model
from pertinent.recommend.registry import ModelRegistry
from pertinent.storage.base import Store


def product_ids(props: dict[str, Any] | None) -> list[str]:
    """Product ids of an event: ``properties.product_id`` or ``properties.products[].product_id``.

    >>> product_ids({"products": [{"product_id": 1}, {"sku": "x"}, {"product_id": "b"}]})
    ['1', 'b']
    """
    if not props:
        return []
    products = props.get("products")
    items = [p for p in products if isinstance(p, dict)] if isinstance(products, list) else [props]
    out = []
    for p in items:
        pid = p.get("product_id")
        if isinstance(pid, str | int) and not isinstance(pid, bool) and str(pid):
            out.append(str(pid)[:200])
    return out


def interaction_events(config: InteractionConfig) -> list[str]:
    """The track events that can become interactions (positive weight); others (exposures, impressions...)
    are not even read."""
    return sorted(name for name, w in config.event_weights.items() if w > 0)


def interactions_from_store(
    store: Store,
    max_events: int | None = None,
    config: InteractionConfig | None = None,
    on_event: Callable[[int], None] | None = None,
) -> Interactions:
    """Track events with product ids -> an Interactions frame (user = profile id), weighted by ``config``."""
    import pandas as pd

    config = config or InteractionConfig()
    users: list[str] = []
    items: list[str] = []
    names: list[str] = []
    stamps: list[float] = []
    n = 0
    interactions = interaction_events(config)
    with store.transaction(write=False) as tx:
        for profile_id, name, timestamp, properties in tx.iter_event_properties(interactions, limit=max_events):
            n += 1
            if on_event is not None and n % 1000 == 0:
                on_event(1000)
            for pid in product_ids(properties):
                users.append(profile_id)
                items.append(pid)
                names.append(name)
                stamps.append(timestamp)
    if on_event is not None:
        on_event(n % 1000)
    frame = pd.DataFrame({"user": users, "item": items, "event": names, "timestamp": stamps})
    data = Interactions.from_frame(frame, event_col="event", timestamp_col="timestamp", config=config)
    return data


@dataclass(frozen=True)
class TrainResult:
    """What ``train_from_store`` produced: the saved version, its metrics and the data size."""

    version: str | None
    model: str
    n_users: int
    n_items: int
    n_interactions: int
    metrics: dict[str, Any]
    message: str = ""


def train_from_store(
    store: Store,
    data_dir: str | Path,
    model: str = "default",
    max_events: int | None = None,
    seed: int = 42,
    k: int = 10,
    progress: Callable[[str, int | None], None] | None = None,
    events_seen: int | None = None,
    config: dict[str, Any] | None = None,
    actor: Actor = SYSTEM,
) -> TrainResult:
    """Train ``model`` on stored events, evaluate it on a per-user random holdout, save it to the registry (the new
    version is served at once: audited as ``model.train`` under ``actor``, the version it replaces before).

    Returns a result with ``version=None`` and a message (no exception) when there is nothing to learn.
    The version's meta records ``events_seen`` (the stored event count; counted here unless given).
    ``config`` is the model's config as a dict (e.g. ``{"hybrid": {"content": {"encoder": "embedding"}}}``).
    """
    step = progress or (lambda _label, _n: None)
    recommender = make_model(model, config)  # ValueError names an unknown kind or bad field before any work
    if events_seen is None:
        with store.transaction(write=False) as tx:
            events_seen = tx.count_events()
    step("reading events", None)
    data = interactions_from_store(store, max_events, on_event=lambda n: step("reading events", n))
    if data.n_items == 0 or data.matrix.nnz == 0:
        return TrainResult(None, model, 0, 0, 0, {}, "no track events with product ids to learn from")
    with store.transaction(write=False) as tx:
        rows = list(tx.iter_items())
    catalogue = catalogue_from_rows(rows) if rows else None
    metrics: dict[str, Any] = {}
    message = ""
    step("evaluating on a random holdout", None)
    try:
        split = random_holdout(data, 0.2, seed, min_interactions=5)
        if len(split.test_users):
            held = make_model(model, config).fit(split.train, catalogue)
            result = evaluate(held, split, k=k)
            metrics = {"holdout": result.to_dict()}
            message = result.message
        else:
            message = "no user has 5 interactions: not evaluated"
    except ValueError as exc:  # thin data: train anyway, report why there are no metrics
        message = f"not evaluated: {exc}"
    step("training", None)
    recommender.fit(data, catalogue)
    report = getattr(recommender, "report", None)
    if report:
        metrics["report"] = report
    meta = {
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": int(data.matrix.nnz),
        "max_events": max_events,
        "events_seen": events_seen,
    }
    registry = ModelRegistry.for_data_dir(data_dir)
    previous = registry.latest_version(model)
    version = registry.save(model, recommender, metrics=metrics, meta=meta)
    holdout = metrics.get("holdout") or {}
    with store.transaction() as tx:
        record(
            tx,
            actor,
            "model.train",
            f"model:{model}",
            before={"version": previous} if previous else None,
            after={"version": version, "config": config or {}, **meta},
            detail={"holdout": holdout.get("metrics"), "message": message or None},
        )
    return TrainResult(version, model, data.n_users, data.n_items, int(data.matrix.nnz), metrics, message)
