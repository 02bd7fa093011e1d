"""Request bodies read by hand (orjson) under a size limit, gzip included, with the same 4xx answers everywhere.

Routes that take JSON bodies use :func:`read_json` rather than FastAPI's body parsing, so size limits, gzip
bombs and malformed JSON all get one clear error shape.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from fastapi import Request

from pertinent.api.errors import ApiError

__all__ = ["read_json"]


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
    """The parsed JSON body (any JSON value); 413 over ``limit`` bytes (declared, streamed or decompressed), 400 if
    empty, not valid gzip or malformed."""
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
