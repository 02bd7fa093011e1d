"""Profiles: ``GET /v1/profiles/{user_id}`` (admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

import pertinent.api.convertors  # noqa: F401  (registers {user_id:id})
from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.api.ids import NOT_BLANK
from pertinent.errors import NotFound
from pertinent.profiles.models import Profile

router = APIRouter(prefix="/v1", tags=["profiles"], dependencies=[AdminAuth])

UserId = Annotated[
    str, Path(min_length=1, max_length=256, description="userId (or anonymousId) as sent in events"), NOT_BLANK
]


@router.get("/profiles/{user_id:id}", response_model=Profile)
async def get_profile(services: ServicesDep, user_id: UserId) -> Profile:
    """A user's real-time profile: traits, features, segments and consent."""
    profile = await run_in_threadpool(services.profiles.get, user_id)
    if profile is None:
        raise NotFound([{"field": "user_id", "message": "unknown user"}], f"user_id: no profile for '{user_id}'")
    return profile
