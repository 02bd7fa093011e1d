"""Groups (accounts): ``GET /v1/groups/{group_id}`` (admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

import pertinent.api.convertors  # noqa: F401  (registers {group_id:id})
from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.api.ids import NOT_BLANK
from pertinent.api.openapi import error_responses
from pertinent.profiles.groups import Group

router = APIRouter(prefix="/v1", tags=["profiles"], dependencies=[AdminAuth])

GroupId = Annotated[str, Path(min_length=1, max_length=256, description="groupId as sent in group calls"), NOT_BLANK]


@router.get("/groups/{group_id:id}", response_model=Group, responses=error_responses(401, 404))
async def get_group(services: ServicesDep, group_id: GroupId) -> Group:
    """A group (account): its traits, its member count and its first members (pseudonymous profile ids)."""
    return await run_in_threadpool(services.groups.get, group_id)
