"""Segment HTTP API: /v1/track, identify, page, screen, group, alias and batch.

Bodies are parsed by hand (orjson) rather than by FastAPI so that size limits, malformed JSON and
per-message validation errors all get the same clear 4xx shape, and a batch keeps its valid events.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from pertinent.api.deps import ServicesDep, check_write_key, write_key_of
from pertinent.api.errors import ApiError
from pertinent.api.responses import JSON
from pertinent.events.schema import MESSAGE_TYPES

router = APIRouter(prefix="/v1", tags=["collect"])
_datetime = TypeAdapter(datetime)


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body without letting a small bomb expand past ``limit``."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ApiError(
            400, "invalid_request", f"body: not valid gzip ({exc})", [{"field": "body", "message": "not valid gzip"}]
        ) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(
            413,
            "payload_too_large",
            f"body: over the {limit}-byte limit once decompressed",
            [{"field": "body", "message": f"over the {limit}-byte limit once decompressed"}],
        )
    return out


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            "payload_too_large",
            f"body: {declared} bytes is over the {limit}-byte limit",
            [{"field": "body", "message": f"over the {limit}-byte limit"}],
        )
    if declared and declared.isdigit():
        body = await request.body()  # within the limit, checked above
    else:  # chunked upload: count as it arrives
        buffer = bytearray()
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) > limit:
                raise ApiError(
                    413,
                    "payload_too_large",
                    f"body: over the {limit}-byte limit",
                    [{"field": "body", "message": f"over the {limit}-byte limit"}],
                )
        body = bytes(buffer)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        body = _gunzip(body, limit)
    if not body:
        raise ApiError(
            400, "invalid_request", "body: empty; expected a JSON object", [{"field": "body", "message": "empty"}]
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"body: malformed JSON ({exc})",
            [{"field": "body", "message": f"malformed JSON: {exc}"}],
        ) from None


def _respond(result: Any) -> JSON:
    body = result.to_json()
    status = 200 if result.accepted or not result.errors else 400
    if status == 400:
        first = result.errors[0]
        body.update(code="invalid_request", message=f"{first['field']}: {first['message']}")
    return JSON(body, status)


async def _single(request: Request, services: Any, type_: str) -> JSON:
    raw = await read_json(request, services.settings.limits.max_event_bytes)
    key = write_key_of(request, raw.get("writeKey") if isinstance(raw, dict) else None)
    check_write_key(services, key)
    result = await run_in_threadpool(services.ingest.ingest, [raw], type_)
    return _respond(result)


def _make(type_: str) -> Any:
    async def endpoint(request: Request, services: ServicesDep) -> JSON:
        return await _single(request, services, type_)

    endpoint.__name__ = f"collect_{type_}"
    endpoint.__doc__ = f"Segment `{type_}` call."
    return endpoint


for _type in MESSAGE_TYPES:
    router.add_api_route(f"/{_type}", _make(_type), methods=["POST"], name=f"collect_{_type}")


@router.post("/batch", name="collect_batch")
async def batch(request: Request, services: ServicesDep) -> JSON:
    """Segment `batch` call: `{"batch": [...], "sentAt"?, "context"?}`. Valid messages are kept."""
    limits = services.settings.limits
    raw = await read_json(request, limits.max_batch_bytes)
    if not isinstance(raw, dict):
        raise ApiError(
            400,
            "invalid_request",
            "body: must be a JSON object with a 'batch' list",
            [{"field": "body", "message": "must be a JSON object"}],
        )
    check_write_key(services, write_key_of(request, raw.get("writeKey")))
    items = raw.get("batch")
    if not isinstance(items, list):
        raise ApiError(
            400,
            "invalid_request",
            "batch: required, must be a list of messages",
            [{"field": "batch", "message": "required, must be a list"}],
        )
    if len(items) > limits.max_batch_events:
        raise ApiError(
            413,
            "payload_too_large",
            f"batch: {len(items)} messages is over the limit of {limits.max_batch_events}",
            [{"field": "batch", "message": "too many messages"}],
        )
    sent_at = None
    if raw.get("sentAt") is not None:
        try:
            sent_at = _datetime.validate_python(raw["sentAt"])
        except ValidationError:
            raise ApiError(
                400,
                "invalid_request",
                "sentAt: not a valid ISO-8601 timestamp",
                [{"field": "sentAt", "message": "not a valid ISO-8601 timestamp"}],
            ) from None
    context = raw.get("context") if isinstance(raw.get("context"), dict) else None
    oversized = {
        i: f"message over the {limits.max_event_bytes}-byte limit"
        for i, item in enumerate(items)
        if len(orjson.dumps(item)) > limits.max_event_bytes
    }
    result = await run_in_threadpool(services.ingest.ingest, items, None, None, sent_at, context, "batch", oversized)
    return _respond(result)
