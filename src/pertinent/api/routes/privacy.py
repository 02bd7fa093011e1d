"""Privacy: consent (write key, for banners) and erasure/export (admin key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

import pertinent.api.convertors  # noqa: F401  (registers {user_id:id})
from pertinent.api.body import read_model
from pertinent.api.deps import AdminAuth, ServicesDep, WriteRole, user_hash_of
from pertinent.api.ids import NOT_BLANK, NotBlank
from pertinent.api.openapi import json_body, schema_of
from pertinent.privacy.audit import ADMIN_KEY
from pertinent.privacy.models import Erasure, UserExport

router = APIRouter(prefix="/v1", tags=["privacy"])
UserId = Annotated[str, Path(min_length=1, max_length=256), NOT_BLANK]


class ConsentRequest(BaseModel):
    userId: NotBlank = Field(default=None, min_length=1, max_length=256)
    anonymousId: NotBlank = Field(default=None, min_length=1, max_length=256)
    purposes: dict[Annotated[str, Field(min_length=1, max_length=64)], bool] = Field(min_length=1)
    timestamp: datetime | None = Field(
        None,
        description="when the visitor chose (ISO-8601; UTC without an offset): the latest statement per purpose "
        "wins; from 2000-01-01 to one day after the server's time",
    )
    userHash: str | None = Field(
        None,
        max_length=128,
        description="with userId and the write key: hex HMAC-SHA256(identity secret, userId) from your server "
        "(or the X-User-Hash header)",
    )

    @field_validator("purposes")
    @classmethod
    def _storable(cls, purposes: dict[str, bool]) -> dict[str, bool]:
        if any("\x00" in purpose for purpose in purposes):  # PostgreSQL's text cannot hold it: a 500 there
            raise ValueError("a purpose contains a NUL character (\\u0000), which cannot be stored")
        return purposes

    @model_validator(mode="after")
    def _identity(self) -> ConsentRequest:
        if not self.userId and not self.anonymousId:
            raise ValueError("userId: userId or anonymousId is required")
        return self


class ConsentResponse(BaseModel):
    """The consent in force per purpose after the change."""

    success: bool
    consent: dict[str, bool]


@router.post(
    "/consent",
    response_model=ConsentResponse,
    responses={403: {"description": "userHash missing"}},
    openapi_extra=json_body(schema_of(ConsentRequest), "Consent per purpose for a user id or an anonymous id."),
)
async def set_consent(request: Request, services: ServicesDep, role: WriteRole) -> ConsentResponse:
    """Record consent per purpose (e.g. from a consent banner). With the write key, a ``userId`` needs its
    ``userHash`` (403 without); an ``anonymousId`` alone needs none. The body is read as a message is (at most
    ``limits.max_event_bytes``, gzip or deflate)."""
    body = await read_model(request, ConsentRequest, services.settings.limits.max_event_bytes)
    at = None
    if body.timestamp is not None:
        stamp = body.timestamp if body.timestamp.tzinfo else body.timestamp.replace(tzinfo=UTC)
        at = stamp.timestamp()
    consent = await run_in_threadpool(
        lambda: services.privacy.set_consent(
            body.purposes,
            body.userId,
            body.anonymousId,
            "api",
            at,
            "admin" if role == "admin" else "write_key",
            user_hash=user_hash_of(request, body.userHash),
            trusted=role == "admin",
        )
    )
    return ConsentResponse(success=True, consent=consent)


@router.get(
    "/users/{user_id:id}/export", dependencies=[AdminAuth], response_model=UserExport, response_model_exclude_unset=True
)
async def export_user(services: ServicesDep, user_id: UserId) -> UserExport:
    """Everything stored about a user (right of access / portability)."""
    return await run_in_threadpool(services.privacy.export, user_id, ADMIN_KEY)


@router.delete("/users/{user_id:id}", dependencies=[AdminAuth], response_model=Erasure)
async def erase_user(services: ServicesDep, user_id: UserId) -> Erasure:
    """Erase everything about a user (right to erasure); an audit entry records it."""
    return await run_in_threadpool(services.privacy.erase, user_id, ADMIN_KEY)
