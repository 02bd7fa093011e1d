"""Segment HTTP API: /v1/track, identify, page, screen, group, alias, batch and import (batch's other name).

analytics.js (``@segment/analytics-next``) posts to the first letter of each type instead (``{apiHost}/t``,
``/i``, ``/p``, ``/s``, ``/g``, ``/a``) and, in batching mode, to ``/b``: those short paths are served by the same
handlers (docs/analytics-js.md, moving from Segment).

Bodies are parsed by hand (orjson) rather than by FastAPI so that size limits, malformed JSON and
per-message validation errors all get the same clear 4xx shape, and a batch keeps its valid events.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from pertinent.api import request_bodies
from pertinent.api.body import read_json
from pertinent.api.deps import ServicesDep, check_write_key, client_address, write_key_of
from pertinent.api.errors import ApiError, ErrorResponse
from pertinent.api.openapi import error_responses
from pertinent.api.responses import JSON
from pertinent.events.schema import MESSAGE_TYPES, Time, validation_errors
from pertinent.events.service import IngestResult
from pertinent.privacy.audit import ADMIN_KEY, WRITE_KEY
from pertinent.services import Services

router = APIRouter(prefix="/v1", tags=["collect"])
_time: TypeAdapter[Any] = TypeAdapter(Time)


class MessageError(BaseModel):
    """A refused message: its index in a batch (batch calls only), the field at fault and the problem."""

    index: int | None = None
    field: str
    message: str


class IngestResponse(BaseModel):
    """What happened to a request's messages (``IngestResult.to_json``). A 400 (every message refused) adds
    ``code`` and ``message`` naming the first error; a 403 when every refusal was for want of identity proof
    (``context.userHash``). ``suppressed``: messages about an erased person, dropped. Documentation only: the
    routes send this JSON themselves."""

    success: bool
    received: int
    accepted: int
    stored: int
    duplicates: int
    skipped_no_consent: int
    suppressed: int
    rejected: int
    errors: list[MessageError]
    code: str | None = None
    message: str | None = None


COLLECT_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {
        "model": IngestResponse | ErrorResponse,
        "description": "Every message refused (the counts and each message's errors), or a body that is not JSON",
    },
    403: {
        "model": IngestResponse,
        "description": "Every message refused for want of proof of its user id (`context.userHash`)",
    },
    **error_responses(401),
}


def _encoded_size(item: Any) -> int:
    """The size of a message as JSON; 0 when orjson cannot write it (nested deeper than 254 levels: validation
    refuses it by name)."""
    try:
        return len(orjson.dumps(item))
    except orjson.JSONEncodeError:
        return 0


def _respond(result: IngestResult) -> JSON:
    body = result.to_json()
    status = 200 if result.accepted or not result.errors else 400
    if status == 400:
        first = result.errors[0]
        forbidden = result.forbidden == result.rejected  # every refusal: an unproven identity
        status = 403 if forbidden else 400
        body.update(
            code="forbidden" if forbidden else "invalid_request", message=f"{first['field']}: {first['message']}"
        )
    return JSON(body, status)


def _client_ip(request: Request, services: Services) -> str | None:
    """The client's address (a trusted proxy's ``X-Forwarded-For`` believed): ``context.ip`` when a message has
    none, as Segment's collector fills it. None when it is not an IP address (a test client, a Unix socket)."""
    address = client_address(request, services.dashboard.proxies)
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


async def _single(request: Request, services: Services, type_: str) -> JSON:
    raw = await read_json(request, services.settings.limits.max_event_bytes, salvage=True)
    key = write_key_of(request, raw.get("writeKey") if isinstance(raw, dict) else None)
    trusted = check_write_key(services, key) == "admin"
    actor = ADMIN_KEY if trusted else WRITE_KEY  # identity merges are audited under it
    ip = _client_ip(request, services)
    result = await run_in_threadpool(services.ingest.ingest, [raw], type_, actor=actor, trusted=trusted, client_ip=ip)
    return _respond(result)


def _make(type_: str) -> Callable[[Request, Services], Awaitable[JSON]]:
    async def endpoint(request: Request, services: ServicesDep) -> JSON:
        return await _single(request, services, type_)

    endpoint.__name__ = f"collect_{type_}"
    endpoint.__doc__ = f"Segment `{type_}` call."
    return endpoint


for _type in MESSAGE_TYPES:
    router.add_api_route(
        f"/{_type}",
        _make(_type),
        methods=["POST"],
        name=f"collect_{_type}",
        response_model=IngestResponse,
        responses=COLLECT_RESPONSES,
        openapi_extra=request_bodies.MESSAGES[_type],
    )
    router.add_api_route(  # analytics.js's short path: /v1/t for track, /v1/i for identify...
        f"/{_type[0]}",
        _make(_type),
        methods=["POST"],
        name=f"collect_{_type}_short",
        summary=f"Segment `{_type}` call at analytics.js's short path",
        response_model=IngestResponse,
        responses=COLLECT_RESPONSES,
        openapi_extra=request_bodies.MESSAGES[_type],
    )


@router.post(
    "/batch",
    name="collect_batch",
    response_model=IngestResponse,
    responses=COLLECT_RESPONSES,
    openapi_extra=request_bodies.BATCH,
)
@router.post(
    "/b",
    name="collect_batch_short",
    summary="Segment `batch` call at analytics.js's short path (batching delivery)",
    response_model=IngestResponse,
    responses=COLLECT_RESPONSES,
    openapi_extra=request_bodies.BATCH,
)
async def batch(request: Request, services: ServicesDep) -> JSON:
    """Segment `batch` call: `{"batch": [...], "sentAt"?, "context"?}`. Valid messages are kept.

    Limited in bytes only, as Segment's API is: the body (500 KB, 413 naming the limit) and each message (32 KB: that
    message alone is refused, with its index); any number of messages fits."""
    return await _batch(request, services)


@router.post(
    "/import",
    name="collect_import",
    response_model=IngestResponse,
    responses=COLLECT_RESPONSES,
    openapi_extra=request_bodies.BATCH,
)
async def import_(request: Request, services: ServicesDep) -> JSON:
    """Segment `import` call (where Segment's Ruby library posts its batches): the same as `/v1/batch`."""
    return await _batch(request, services)


async def _batch(request: Request, services: Services) -> JSON:
    limits = services.settings.limits
    raw = await read_json(request, limits.max_batch_bytes, salvage=True)  # one odd message fails alone
    if not isinstance(raw, dict):
        raise ApiError(
            400,
            "invalid_request",
            "body: must be a JSON object with a 'batch' list",
            [{"field": "body", "message": "must be a JSON object"}],
        )
    trusted = check_write_key(services, write_key_of(request, raw.get("writeKey"))) == "admin"
    items = raw.get("batch")
    if not isinstance(items, list):
        raise ApiError(
            400,
            "invalid_request",
            "batch: required, must be a list of messages",
            [{"field": "batch", "message": "required, must be a list"}],
        )
    sent_at = None
    if raw.get("sentAt") is not None:
        try:
            sent_at = _time.validate_python(raw["sentAt"])
        except ValidationError as exc:
            problem = validation_errors(exc)[0]["message"]
            raise ApiError(
                400,
                "invalid_request",
                f"sentAt: not a valid ISO-8601 timestamp ({problem})",
                [{"field": "sentAt", "message": f"not a valid ISO-8601 timestamp ({problem})"}],
            ) from None
    context = raw.get("context") if isinstance(raw.get("context"), dict) else None
    oversized = {
        i: f"message over the {limits.max_event_bytes}-byte limit"
        for i, item in enumerate(items)
        if _encoded_size(item) > limits.max_event_bytes
    }
    result = await run_in_threadpool(
        services.ingest.ingest,
        items,
        None,
        None,
        sent_at,
        context,
        "batch",
        oversized,
        actor=ADMIN_KEY if trusted else WRITE_KEY,
        trusted=trusted,
        client_ip=_client_ip(request, services),
    )
    return _respond(result)
