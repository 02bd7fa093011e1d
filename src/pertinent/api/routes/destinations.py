"""Destinations (admin key): the configured webhooks, their outbox and dead-letter list, replay.

* ``GET /v1/destinations``: each webhook with its pending and dead deliveries
* ``GET /v1/destinations/{name}/deliveries?status=dead&after=&limit=``: a page of the outbox (dead letters by default)
* ``POST /v1/destinations/{name}/replay`` ``{"ids": [..]}`` (or no body: every dead letter): pending again, due now
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.destinations.models import DeliveryPage, DestinationList, Replayed
from pertinent.privacy.audit import ADMIN_KEY

router = APIRouter(prefix="/v1", tags=["destinations"], dependencies=[AdminAuth])
Name = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="the webhook's name")


class ReplayRequest(BaseModel):
    ids: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, max_length=10_000, description="the dead deliveries to replay; absent: all of this destination's"
    )


@router.get("/destinations", response_model=DestinationList)
async def list_destinations(services: ServicesDep) -> DestinationList:
    """The configured webhooks with how many deliveries are pending and dead."""
    return await run_in_threadpool(services.destinations.statuses)


@router.get("/destinations/{name}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    services: ServicesDep,
    name: str = Name,
    status: Literal["pending", "dead"] = Query("dead", description="dead letters (default) or pending deliveries"),
    after: int = Query(0, ge=0, le=2**62, description="the next_after of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
) -> DeliveryPage:
    """A page of a webhook's outbox: by default its dead-letter list, with each message and its last error."""
    return await run_in_threadpool(services.destinations.deliveries, name, status, after, limit)


@router.post("/destinations/{name}/replay", response_model=Replayed)
async def replay(
    services: ServicesDep, name: str = Name, body: Annotated[ReplayRequest | None, Body()] = None
) -> Replayed:
    """Make dead deliveries pending again (the background runner delivers them from now on); audited."""
    ids = body.ids if body is not None else None
    return await run_in_threadpool(services.destinations.replay, name, ids, ADMIN_KEY)
