"""What the destinations service returns (the admin API and the CLI show these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Delivery(_Result):
    """One outbox row: a message waiting for its destination (``pending``) or given up on (``dead``)."""

    id: int
    destination: str
    kind: str
    profile_id: str
    status: Literal["pending", "dead"]
    attempts: int
    next_at: float
    created_at: float
    last_error: str | None = None
    payload: dict[str, Any]


class DeliveryPage(_Result):
    """Outbox rows by id; ``next_after``: pass it as ``after`` for the next page (None: no more)."""

    deliveries: list[Delivery]
    next_after: int | None = None


class DestinationStatus(_Result):
    """A configured destination and its outbox."""

    name: str
    url: str
    pending: int = 0
    dead: int = 0


class DestinationList(_Result):
    destinations: list[DestinationStatus]


class Replayed(_Result):
    """Dead deliveries made pending again (delivered by the background runner from now on)."""

    destination: str
    requeued: int = Field(ge=0)


class DeliveryRound(_Result):
    """What one delivery pass did."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
