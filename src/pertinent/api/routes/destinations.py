"""Destinations (admin key): the configured webhooks, their outbox and dead-letter list, replay.

* ``GET /v1/destinations``: each webhook with its pending and dead deliveries
* ``GET /v1/destinations/{name}/deliveries?status=dead&after=&limit=``: a page of the outbox (dead letters by default)
* ``POST /v1/destinations/{name}/replay`` ``{"ids": [..]}`` (or no body: every dead letter): pending again, due now
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pertinent.api.body import read_json, validate_body
from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.api.openapi import json_body, schema_of
from pertinent.destinations.models import DeliveryPage, DestinationList, Replayed
from pertinent.privacy.audit import ADMIN_KEY

router = APIRouter(prefix="/v1", tags=["destinations"], dependencies=[AdminAuth])
MAX_BODY = 256 * 1024  # at most 10,000 ids
Name = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="the webhook's name")


class ReplayRequest(BaseModel):
    ids: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, max_length=10_000, description="the dead deliveries to replay; absent: all of this destination's"
    )


REPLAY_BODY = json_body(schema_of(ReplayRequest), "The dead deliveries to replay; no body: all of them.")
REPLAY_BODY["requestBody"]["required"] = False


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


@router.post("/destinations/{name}/replay", response_model=Replayed, openapi_extra=REPLAY_BODY)
async def replay(request: Request, services: ServicesDep, name: str = Name) -> Replayed:
    """Make dead deliveries pending again (the background runner delivers them from now on); audited."""
    raw = await read_json(request, MAX_BODY, optional=True)
    ids = validate_body(ReplayRequest, raw).ids if raw is not None else None
    return await run_in_threadpool(services.destinations.replay, name, ids, ADMIN_KEY)
