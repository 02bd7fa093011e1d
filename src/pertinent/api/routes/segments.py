"""Segments (admin key): definitions (rule, RFM, ML), preview, members, history and sizes.

* ``GET /v1/segments`` · ``POST /v1/segments`` · ``GET /v1/segments/templates`` · ``POST /v1/segments/preview``
* ``GET|PUT|DELETE /v1/segments/{segment_id}`` · ``POST /v1/segments/{segment_id}/retrain`` (RFM and ML)
* ``GET /v1/segments/{segment_id}/members?cursor=&limit=`` · ``/history?since=&limit=`` · ``/sizes?since=``

``segment_id`` is a definition id, or for RFM and ML definitions one of their segments (``rfm:champions``,
``clusters:3``). Validation errors name the bad part of the definition (``rule.conditions[1].window_days``); the
service's errors (``SegmentError``, ``UnknownSegment``) are domain errors answered by the API's one handler.
Definitions and previews hold only the keys of their kind: they are sent with ``response_model_exclude_unset``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from pertinent.api import request_bodies
from pertinent.api.body import read_json
from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.api.ids import NOT_BLANK
from pertinent.api.openapi import error_response
from pertinent.privacy.audit import ADMIN_KEY
from pertinent.segments.results import (
    SegmentDeleted,
    SegmentHistory,
    SegmentList,
    SegmentMembers,
    SegmentPreview,
    SegmentSizes,
    SegmentTemplates,
    SegmentView,
)

MAX_BODY = 256 * 1024
router = APIRouter(prefix="/v1", tags=["segments"], dependencies=[AdminAuth])
SegmentId = Annotated[
    str,
    Path(min_length=1, max_length=201, description="a definition id, or one of its segments (rfm:champions)"),
    NOT_BLANK,
]
FitMode = Query(
    "sync",
    description="RFM/ML: fit in the request (sync) or in a background job (background: 202, "
    "then ``fit`` is running, done or failed with ``fit_error``)",
)
FITTING: dict[int | str, dict[str, Any]] = {
    202: {"model": SegmentView, "description": "stored; an RFM/ML fit is running in the background"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: error_response(409, "The id is taken, or too little data to fit an RFM or ML definition")
}


@router.get("/segments", response_model=SegmentList, response_model_exclude_unset=True)
def list_segments(services: ServicesDep) -> SegmentList:
    """Every segment definition (rule, RFM, ML) with its current size."""
    return services.segments.list()


@router.post(
    "/segments",
    status_code=201,
    response_model=SegmentView,
    response_model_exclude_unset=True,
    responses={**FITTING, **CONFLICT},
    openapi_extra=request_bodies.SEGMENT,
)
async def create_segment(
    request: Request, response: Response, services: ServicesDep, fit: Literal["sync", "background"] = FitMode
) -> SegmentView:
    """Create a definition: ``{"id", "name", "rule": {...}}``, ``{"template": "frequent_buyers", "params": {...}}``,
    ``{"id", "name", "kind": "rfm"}`` or ``{"id", "name", "kind": "ml", "config": {...}}``. It is back-filled over the
    stored profiles in the background (``backfill: running``)."""
    body = await read_json(request, MAX_BODY)
    out = await run_in_threadpool(services.segments.create, body, fit=fit, actor=ADMIN_KEY)
    if out.fit == "running":
        response.status_code = 202
    return out


@router.get("/segments/templates", response_model=SegmentTemplates)
async def list_templates(services: ServicesDep) -> SegmentTemplates:
    """Ready-made rule segments and their parameters (use with ``{"template": ..., "params": {...}}``)."""
    return SegmentTemplates(templates=services.segments.templates())


@router.post(
    "/segments/preview",
    response_model=SegmentPreview,
    response_model_exclude_unset=True,
    responses=CONFLICT,
    openapi_extra=request_bodies.SEGMENT,
)
async def preview_segment(
    request: Request, services: ServicesDep, sample: int = Query(10, ge=0, le=1000, description="members to sample")
) -> SegmentPreview:
    """Size and a sample of members of a definition over the stored profiles, without saving it. RFM and ML
    definitions are fitted first (nothing is saved, no model either) and also get per-segment sizes and samples
    and their fitted thresholds or clusters; too little data is a 409 naming ``kind``."""
    body = await read_json(request, MAX_BODY)
    return await run_in_threadpool(services.segments.preview, body, sample=sample)


@router.get("/segments/{segment_id}", response_model=SegmentView, response_model_exclude_unset=True)
def get_segment(services: ServicesDep, segment_id: SegmentId) -> SegmentView:
    return services.segments.get(segment_id)


@router.put(
    "/segments/{segment_id}",
    response_model=SegmentView,
    response_model_exclude_unset=True,
    responses={**FITTING, **CONFLICT},
    openapi_extra=request_bodies.SEGMENT,
)
async def replace_segment(
    request: Request,
    response: Response,
    services: ServicesDep,
    segment_id: SegmentId,
    fit: Literal["sync", "background"] = FitMode,
) -> SegmentView:
    """Replace a definition (a new version; the previous ones stay in the document history) and back-fill it."""
    body = await read_json(request, MAX_BODY)
    out = await run_in_threadpool(services.segments.replace, segment_id, body, fit=fit, actor=ADMIN_KEY)
    if out.fit == "running":
        response.status_code = 202
    return out


@router.delete("/segments/{segment_id}", response_model=SegmentDeleted)
def delete_segment(services: ServicesDep, segment_id: SegmentId) -> SegmentDeleted:
    """Delete a definition with its members, history and sizes."""
    return services.segments.delete(segment_id, ADMIN_KEY)


@router.post(
    "/segments/{segment_id}/retrain", response_model=SegmentView, response_model_exclude_unset=True, responses=CONFLICT
)
def retrain_segment(services: ServicesDep, segment_id: SegmentId) -> SegmentView:
    """Refit an RFM or ML definition on the current profiles now (ML segment ids stay stable)."""
    return services.segments.retrain(segment_id, ADMIN_KEY)


@router.get("/segments/{segment_id}/members", response_model=SegmentMembers)
def segment_members(
    services: ServicesDep,
    segment_id: SegmentId,
    cursor: str | None = Query(None, min_length=1, max_length=200, description="next_cursor of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
) -> SegmentMembers:
    """Current members (profile ids and entry times), ``limit`` at a time."""
    return services.segments.members(segment_id, cursor, limit)


@router.get("/segments/{segment_id}/history", response_model=SegmentHistory)
def segment_history(
    services: ServicesDep,
    segment_id: SegmentId,
    since: float = Query(0.0, ge=0, allow_inf_nan=False, description="epoch seconds"),
    limit: int = Query(1000, ge=1, le=10_000),
) -> SegmentHistory:
    """Entries and exits, oldest first."""
    return services.segments.history(segment_id, since, limit)


@router.get("/segments/{segment_id}/sizes", response_model=SegmentSizes)
def segment_sizes(
    services: ServicesDep,
    segment_id: SegmentId,
    since: float = Query(0.0, ge=0, allow_inf_nan=False, description="epoch seconds"),
) -> SegmentSizes:
    """Sizes over time (periodic snapshots) and the current size."""
    return services.segments.sizes(segment_id, since)
