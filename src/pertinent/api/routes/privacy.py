"""Privacy: consent (write key, for banners) and erasure/export (admin key)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

import pertinent.api.convertors  # noqa: F401  (registers {user_id:id})
from pertinent.api.deps import AdminAuth, ServicesDep, WriteAuth
from pertinent.api.errors import ApiError
from pertinent.privacy.service import UnknownUser

router = APIRouter(prefix="/v1", tags=["privacy"])
UserId = Path(min_length=1, max_length=256)


class ConsentRequest(BaseModel):
    userId: str | None = Field(default=None, min_length=1, max_length=256)
    anonymousId: str | None = Field(default=None, min_length=1, max_length=256)
    purposes: dict[Annotated[str, Field(min_length=1, max_length=64)], bool] = Field(min_length=1)
    timestamp: datetime | None = None

    @model_validator(mode="after")
    def _identity(self) -> ConsentRequest:
        if not self.userId and not self.anonymousId:
            raise ValueError("userId: userId or anonymousId is required")
        return self


@router.post("/consent", dependencies=[WriteAuth])
async def set_consent(services: ServicesDep, body: Annotated[ConsentRequest, Body()]) -> dict[str, Any]:
    """Record consent per purpose (e.g. from a consent banner)."""
    at = body.timestamp.timestamp() if body.timestamp else None
    consent = await run_in_threadpool(
        services.privacy.set_consent, body.purposes, body.userId, body.anonymousId, "api", at, "write_key"
    )
    return {"success": True, "consent": consent}


def _unknown(user_id: str) -> ApiError:
    return ApiError(
        404, "not_found", f"user_id: no data for '{user_id}'", [{"field": "user_id", "message": "unknown user"}]
    )


@router.get("/users/{user_id:id}/export", dependencies=[AdminAuth])
async def export_user(services: ServicesDep, user_id: str = UserId) -> dict[str, Any]:
    """Everything stored about a user (right of access / portability)."""
    try:
        return await run_in_threadpool(services.privacy.export, user_id)
    except UnknownUser:
        raise _unknown(user_id) from None


@router.delete("/users/{user_id:id}", dependencies=[AdminAuth])
async def erase_user(services: ServicesDep, user_id: str = UserId) -> dict[str, Any]:
    """Erase everything about a user (right to erasure); an audit entry records it."""
    try:
        return await run_in_threadpool(services.privacy.erase, user_id)
    except UnknownUser:
        raise _unknown(user_id) from None
