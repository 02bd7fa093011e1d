"""Model versions (admin key): ``GET /v1/models``, ``POST /v1/models/{name}/promote``, ``.../rollback`` and
``.../resume``: which version every node serves, each change audited (``model.promote``...)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from pertinent.api.body import read_model
from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.api.openapi import json_body, schema_of
from pertinent.privacy.audit import ADMIN_KEY
from pertinent.recommend.promotion import ModelList, Promotion

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[AdminAuth])

MAX_BODY = 4 * 1024  # {"version": "v12"}
ModelName = Path(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=2, max_length=16, pattern=r"^v[0-9]+$", description="v1, v2, ...")


@router.get("/models", response_model=ModelList)
async def list_models(services: ServicesDep) -> ModelList:
    """Every saved model: its versions with their metrics, the version served, and whether it is pinned."""
    return await run_in_threadpool(services.models.list)


@router.post(
    "/models/{name}/promote",
    response_model=Promotion,
    openapi_extra=json_body(schema_of(PromoteBody), "The version to serve."),
)
async def promote_model(request: Request, services: ServicesDep, name: str = ModelName) -> Promotion:
    """Serve this version on every node (pinned: retraining adds versions without serving them)."""
    body = await read_model(request, PromoteBody, MAX_BODY)
    return await run_in_threadpool(services.models.promote, name, body.version, ADMIN_KEY)


@router.post("/models/{name}/rollback", response_model=Promotion)
async def rollback_model(services: ServicesDep, name: str = ModelName) -> Promotion:
    """Serve the version served before the current one (pinned)."""
    return await run_in_threadpool(services.models.rollback, name, ADMIN_KEY)


@router.post("/models/{name}/resume", response_model=Promotion)
async def resume_model(services: ServicesDep, name: str = ModelName) -> Promotion:
    """Serve the newest version again, and each new one as retraining saves it."""
    return await run_in_threadpool(services.models.resume, name, ADMIN_KEY)
