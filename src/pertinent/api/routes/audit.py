"""The audit log (admin key): ``GET /v1/audit``, every recorded change to what the engine does, newest first.

Filters: ``kind`` (``block`` finds ``block.put`` and ``block.delete``; ``block.put`` only those), ``subject``
(``block:hero``, ``item:sku-1``, ``model:default``, a profile id), ``actor`` (``cli`` finds ``cli:ann``),
``since``/``until`` (epoch seconds, ``since <= at < until``); ``limit`` entries a page, the next page with
``cursor=<next_cursor>``.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from pertinent.api.deps import AdminAuth, ServicesDep
from pertinent.privacy.audit import MAX_PAGE, AuditPage

router = APIRouter(prefix="/v1", tags=["audit"], dependencies=[AdminAuth])

_NAME = r"^[A-Za-z0-9_.:@-]+$"  # kinds and actors as recorded (block.put, cli:ann)
_EPOCH_MAX = 253402300799.0  # 9999-12-31T23:59:59Z


@router.get("/audit", response_model=AuditPage)
async def audit_log(
    services: ServicesDep,
    kind: str | None = Query(None, min_length=1, max_length=64, pattern=_NAME, description="block, block.put..."),
    subject: str | None = Query(None, min_length=1, max_length=300, description="block:hero, item:sku, a profile id"),
    actor: str | None = Query(None, min_length=1, max_length=64, pattern=_NAME, description="admin_key, cli..."),
    since: float | None = Query(None, ge=0, le=_EPOCH_MAX, description="epoch seconds: at or after"),
    until: float | None = Query(None, ge=0, le=_EPOCH_MAX, description="epoch seconds: before"),
    cursor: str | None = Query(None, max_length=18, pattern=r"^[0-9]+$", description="next_cursor of a page"),
    limit: int = Query(100, ge=1, le=MAX_PAGE, description=f"entries per page (at most {MAX_PAGE})"),
) -> AuditPage:
    """Who changed what, when, and the state before and after: segments, slots, blocks, experiments, items,
    models, keys (by fingerprint), settings, identity merges (pseudonymous profile ids), erasures, logins."""
    return await run_in_threadpool(services.audit.page, kind, subject, actor, since, until, cursor, limit)
