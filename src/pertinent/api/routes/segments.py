"""Segments (admin key): definitions (rule, RFM, ML), preview, members, history and sizes.

* ``GET /v1/segments`` · ``POST /v1/segments`` · ``GET /v1/segments/templates`` · ``POST /v1/segments/preview``
* ``GET|PUT|DELETE /v1/segments/{segment_id}`` · ``POST /v1/segments/{segment_id}/retrain`` (RFM and ML)
* ``GET /v1/segments/{segment_id}/members?cursor=&limit=`` · ``/history?since=&limit=`` · ``/sizes?since=``

``segment_id`` is a definition id, or for RFM and ML definitions one of their segments (``rfm:champions``,
``clusters:3``). Validation errors name the bad part of the definition (``rule.conditions[1].window_days``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.api.errors import ApiError
from pertinent.api.responses import JSON
from pertinent.api.routes.collect import read_json
from pertinent.segments.service import SegmentError, UnknownSegment

MAX_BODY = 256 * 1024
router = APIRouter(prefix="/v1", tags=["segments"], dependencies=[AdminAuth])
SegmentId = Path(min_length=1, max_length=201, description="a definition id, or one of its segments (rfm:champions)")


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except SegmentError as e:
        raise ApiError(e.status, e.code, str(e), e.errors) from None
    except UnknownSegment as e:
        raise ApiError(
            404,
            "not_found",
            f"segment_id: no segment '{e.args[0]}'",
            [{"field": "segment_id", "message": "unknown segment"}],
        ) from None


@router.get("/segments")
async def list_segments(services: ServicesDep) -> dict[str, Any]:
    """Every segment definition (rule, RFM, ML) with its current size."""
    return {"segments": await _call(services.segments.list)}


FitMode = Query(
    "sync",
    description="RFM/ML: fit in the request (sync) or in a background job (background: 202, "
    "then ``fit`` is running, done or failed with ``fit_error``)",
)


@router.post("/segments", status_code=201)
async def create_segment(request: Request, services: ServicesDep, fit: Literal["sync", "background"] = FitMode) -> JSON:
    """Create a definition: ``{"id", "name", "rule": {...}}``, ``{"template": "frequent_buyers", "params": {...}}``,
    ``{"id", "name", "kind": "rfm"}`` or ``{"id", "name", "kind": "ml", "config": {...}}``. It is back-filled over the
    stored profiles in the background (``backfill: running``)."""
    body = await read_json(request, MAX_BODY)
    out = await _call(services.segments.create, body, fit=fit)
    return JSON(out, 202 if out.get("fit") == "running" else 201)


@router.get("/segments/templates")
async def list_templates(services: ServicesDep) -> dict[str, Any]:
    """Ready-made rule segments and their parameters (use with ``{"template": ..., "params": {...}}``)."""
    return {"templates": services.segments.templates()}


@router.post("/segments/preview")
async def preview_segment(
    request: Request, services: ServicesDep, sample: int = Query(10, ge=0, le=1000, description="members to sample")
) -> dict[str, Any]:
    """Size and a sample of members of a definition over the stored profiles, without saving it. RFM and ML
    definitions are fitted first (nothing is saved, no model either) and also get per-segment sizes and samples
    and their fitted thresholds or clusters; too little data is a 409 naming ``kind``."""
    body = await read_json(request, MAX_BODY)
    return await _call(services.segments.preview, body, sample=sample)


@router.get("/segments/{segment_id}")
async def get_segment(services: ServicesDep, segment_id: str = SegmentId) -> dict[str, Any]:
    return await _call(services.segments.get, segment_id)


@router.put("/segments/{segment_id}")
async def replace_segment(
    request: Request, services: ServicesDep, segment_id: str = SegmentId, fit: Literal["sync", "background"] = FitMode
) -> JSON:
    """Replace a definition (a new version; the previous ones stay in the document history) and back-fill it."""
    body = await read_json(request, MAX_BODY)
    out = await _call(services.segments.replace, segment_id, body, fit=fit)
    return JSON(out, 202 if out.get("fit") == "running" else 200)


@router.delete("/segments/{segment_id}")
async def delete_segment(services: ServicesDep, segment_id: str = SegmentId) -> dict[str, Any]:
    """Delete a definition with its members, history and sizes."""
    return await _call(services.segments.delete, segment_id)


@router.post("/segments/{segment_id}/retrain")
async def retrain_segment(services: ServicesDep, segment_id: str = SegmentId) -> dict[str, Any]:
    """Refit an RFM or ML definition on the current profiles now (ML segment ids stay stable)."""
    return await _call(services.segments.retrain, segment_id)


@router.get("/segments/{segment_id}/members")
async def segment_members(
    services: ServicesDep,
    segment_id: str = SegmentId,
    cursor: str | None = Query(None, min_length=1, max_length=200, description="next_cursor of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Current members (profile ids and entry times), ``limit`` at a time."""
    return await _call(services.segments.members, segment_id, cursor, limit)


@router.get("/segments/{segment_id}/history")
async def segment_history(
    services: ServicesDep,
    segment_id: str = SegmentId,
    since: float = Query(0.0, ge=0, allow_inf_nan=False, description="epoch seconds"),
    limit: int = Query(1000, ge=1, le=10_000),
) -> dict[str, Any]:
    """Entries and exits, oldest first."""
    return await _call(services.segments.history, segment_id, since, limit)


@router.get("/segments/{segment_id}/sizes")
async def segment_sizes(
    services: ServicesDep,
    segment_id: str = SegmentId,
    since: float = Query(0.0, ge=0, allow_inf_nan=False, description="epoch seconds"),
) -> dict[str, Any]:
    """Sizes over time (periodic snapshots) and the current size."""
    return await _call(services.segments.sizes, segment_id, since)
