"""Liveness/readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from pertinent.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(services: ServicesDep) -> dict[str, Any]:
    """200 when the server is ready (storage answers)."""

    def check() -> int:
        with services.store.transaction(write=False) as tx:
            return tx.count_profiles()

    await run_in_threadpool(check)
    return {"status": "ok", "backend": services.store.backend}
