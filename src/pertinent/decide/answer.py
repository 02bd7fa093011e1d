"""What ``GET /v1/decide`` answers: a plain dict typed as :class:`Decision` (the hot path serialises it as built,
without a model in between; FastAPI documents the route from these types)."""

from __future__ import annotations

import os
import time
from typing import Any, NotRequired

from typing_extensions import TypedDict


class ShownBlock(TypedDict):
    """The block a decision shows: its type and content (a product list's items included)."""

    type: str
    content: dict[str, Any]


class DecisionReason(TypedDict):
    """Why: ``kind`` is rule, experiment, bandit, recommender or default; ``detail`` explains it.
    ``template_error``: the block's template failed to render (its line and kind of error): ``html`` is the
    block's fallback (null without one)."""

    kind: str
    detail: str
    template_error: NotRequired[str]


class ExperimentExposure(TypedDict):
    """The experiment a decision enrolled the user in (``sticky``: the variant of an earlier exposure)."""

    id: str
    variant: str
    variation_index: int
    sticky: bool


class Decision(TypedDict):
    """The answer of ``GET /v1/decide``: send ``decision_id`` back with clicks (``properties.decision_id``).
    ``html`` is the block rendered by its template (null without one); ``variant`` is null for a list filled
    by the recommender. ``degraded`` (only then: ``storage``): the database was unreachable, so the slot's default
    was served to nobody in particular and the decision was not logged."""

    decision_id: str
    slot: str
    variant: str | None
    block: ShownBlock
    html: str | None
    reason: DecisionReason
    experiment: ExperimentExposure | None
    propensity: float
    degraded: NotRequired[str]


def new_decision_id() -> str:
    """32 hex characters: the time in milliseconds (12), then 80 random bits. Time first, so that the decisions
    table's primary key grows at its end instead of at a random page per decision (a random id made every stored
    decision dearer on SQLite: docs/benchmarks.md); the random part keeps ids unguessable.

    >>> a, b = new_decision_id(), new_decision_id()
    >>> len(a), a != b, a[:8] <= b[:8]
    (32, True, True)
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
