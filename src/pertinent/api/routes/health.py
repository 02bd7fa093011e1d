"""Liveness/readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from pertinent.api.deps import ServicesDep
from pertinent.services import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(services: ServicesDep) -> Health:
    """200 when the server is ready (storage answers)."""
    return await run_in_threadpool(services.health)
