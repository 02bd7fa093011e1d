"""Data quality (admin key): the quality report, tracking plans, failed events and their replay, outlier scans,
imputation and the duplicate review list (docs/data-quality.md).

* ``GET /v1/quality/report``
* ``GET|POST /v1/quality/tracking-plans`` · ``DELETE /v1/quality/tracking-plans/{event}``
* ``GET /v1/quality/failed-events`` · ``POST /v1/quality/failed-events/replay``
* ``GET /v1/quality/outliers`` · ``POST /v1/quality/outliers/scan`` · ``POST /v1/quality/impute``
* ``GET /v1/quality/duplicates`` · ``POST /v1/quality/duplicates/scan`` · ``POST /v1/quality/duplicates/{id}``
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from pertinent.api.body import read_model
from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.api.openapi import error_responses, json_body, schema_of
from pertinent.privacy.audit import ADMIN_KEY
from pertinent.quality.models import (
    DedupCandidate,
    DedupDecision,
    DedupScan,
    FailedEvent,
    Imputation,
    OutlierFlag,
    OutlierScan,
    QualityReport,
    Replay,
    ReplayIn,
    TrackingPlan,
    TrackingPlanIn,
)

router = APIRouter(prefix="/v1/quality", tags=["quality"], dependencies=[AdminAuth])
MAX_PLAN_BODY = 256 * 1024  # a tracking plan: the JSON Schema of an event's properties
MAX_BODY = 64 * 1024  # the other bodies: at most 1000 ids, or one decision


@router.get("/report", response_model=QualityReport)
async def report(services: ServicesDep) -> QualityReport:
    """Duplicate candidates, flagged outliers, tracking-plan violations, failed events, normalisation counts."""
    return await run_in_threadpool(services.quality.report)


@router.get("/tracking-plans", response_model=list[TrackingPlan])
async def list_plans(services: ServicesDep) -> list[TrackingPlan]:
    """Every event's tracking plan."""
    return await run_in_threadpool(services.quality.plans)


@router.post(
    "/tracking-plans",
    response_model=TrackingPlan,
    openapi_extra=json_body(schema_of(TrackingPlanIn), "An event's tracking plan."),
)
async def put_plan(request: Request, services: ServicesDep) -> TrackingPlan:
    """Create or replace an event's plan: ``{"event", "schema": <JSON Schema of properties>, "mode"}`` (``allow``,
    ``flag`` or ``block``). A schema that is not valid JSON Schema is a 400 naming ``schema.<field>``."""
    plan = await read_model(request, TrackingPlanIn, MAX_PLAN_BODY)
    return await run_in_threadpool(services.quality.put_plan, plan, ADMIN_KEY)


@router.delete("/tracking-plans/{event}", response_model=bool)
async def delete_plan(services: ServicesDep, event: str = Path(min_length=1, max_length=200)) -> bool:
    """Remove an event's plan (404 when it has none)."""
    return await run_in_threadpool(services.quality.delete_plan, event, ADMIN_KEY)


@router.get("/failed-events", response_model=list[FailedEvent])
async def failed_events(
    services: ServicesDep,
    limit: int = Query(100, ge=1, le=1000),
    include_replayed: bool = Query(False, description="also those already replayed"),
) -> list[FailedEvent]:
    """Events the tracking plan blocked, newest first, with the violations that blocked them."""
    return await run_in_threadpool(services.quality.failed, limit, include_replayed)


@router.post(
    "/failed-events/replay",
    response_model=Replay,
    responses=error_responses(404),
    openapi_extra=json_body(schema_of(ReplayIn), "The failed events to replay."),
)
async def replay(request: Request, services: ServicesDep) -> Replay:
    """Send failed events through ingestion again (``{"ids": [...]}``, or ``{}`` for every waiting one)."""
    body = await read_model(request, ReplayIn, MAX_BODY)
    return await run_in_threadpool(services.quality.replay, body.ids, ADMIN_KEY)


@router.get("/outliers", response_model=list[OutlierFlag])
async def outliers(services: ServicesDep) -> list[OutlierFlag]:
    """Profiles flagged as outliers or bots by the latest scan, the strangest first (at most 1000; kept out of KPIs
    and training sets)."""
    return (await run_in_threadpool(services.quality.report)).outliers


@router.post("/outliers/scan", response_model=OutlierScan)
async def scan_outliers(services: ServicesDep) -> OutlierScan:
    """Scan every profile (hard caps, IsolationForest); replaces the previous flags."""
    return await run_in_threadpool(services.quality.scan_outliers, ADMIN_KEY)


@router.post("/impute", response_model=Imputation)
async def impute(services: ServicesDep) -> Imputation:
    """Infer missing demographic traits (``inferred.*``, with a confidence); stated traits are never touched."""
    return await run_in_threadpool(services.quality.impute, ADMIN_KEY)


@router.get("/duplicates", response_model=list[DedupCandidate])
async def duplicates(
    services: ServicesDep,
    status: Literal["pending", "merged", "rejected", "stale", "all"] = Query("pending"),
    limit: int = Query(500, ge=1, le=5000),
) -> list[DedupCandidate]:
    """The duplicate review list (best score first)."""
    return await run_in_threadpool(services.quality.candidates, None if status == "all" else status, limit)


@router.post("/duplicates/scan", response_model=DedupScan)
async def scan_duplicates(services: ServicesDep) -> DedupScan:
    """Find duplicate candidates; those at or above the auto-merge threshold are merged (audited)."""
    return await run_in_threadpool(services.quality.find_duplicates, ADMIN_KEY)


@router.post(
    "/duplicates/{candidate_id}",
    response_model=DedupCandidate,
    openapi_extra=json_body(schema_of(DedupDecision), "The reviewer's decision."),
)
async def decide(request: Request, services: ServicesDep, candidate_id: int = Path(ge=1, le=2**62)) -> DedupCandidate:
    """Accept (merge the two profiles, audited as ``identity.merge``) or reject a candidate."""
    body = await read_model(request, DedupDecision, MAX_BODY)
    return await run_in_threadpool(services.quality.decide, candidate_id, body.decision, ADMIN_KEY)
