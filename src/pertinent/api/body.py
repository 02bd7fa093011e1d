"""Request bodies read by hand (orjson) under a size limit, compressed or not, with the same 4xx answers everywhere.

Routes that take JSON bodies use :func:`read_json` rather than FastAPI's body parsing, so size limits, compression
bombs and malformed JSON all get one clear error shape.

``Content-Encoding`` may be ``gzip`` (or ``x-gzip``), ``deflate`` (zlib-wrapped as RFC 9110 says, or the raw
deflate stream some clients send) or ``identity``; anything else (``br``, ``zstd``, several codings) is refused with
415 naming the header, never read as if uncompressed. The size limit applies to the decompressed body too.

``salvage=True`` (collection and the catalogue, where one bad message must not fail its neighbours) reads what
orjson refuses but the JSON grammar allows: a lone UTF-16 surrogate (``"\\ud800"``, which JavaScript's
``JSON.stringify`` writes for a string cut inside an emoji) and a number beyond a double's range (``1e309``, read
as :class:`~pertinent.runtime.limits.OutOfRange`); validation then refuses the message that holds it, by name.

>>> ok, cut = _salvage(b'[{"ok": 1}, {"s": "\\\\ud83d", "n": 1e309, "big": 123456789012345678901234567890}]')
>>> ok, cut["s"] == chr(0xD83D), cut["n"], cut["big"]
({'ok': 1}, True, inf, 1.2345678901234568e+29)

>>> import zlib
>>> [_decode(data, coding, 100) for data, coding in [(b"{}", ""), (zlib.compress(b"[1]"), "deflate")]]
[b'{}', b'[1]']
>>> _decode(b"...", "br", 100)
Traceback (most recent call last):
pertinent.api.errors.ApiError: content-encoding: 'br' is not supported; send gzip, deflate or identity
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from pertinent.api.errors import ApiError
from pertinent.runtime.limits import OutOfRange

__all__ = ["read_json", "read_model", "validate_body"]

log = logging.getLogger("pertinent.api")

_GZIP = 16 + zlib.MAX_WBITS  # a gzip header and trailer
_ZLIB = zlib.MAX_WBITS  # a zlib header and trailer
_RAW = -zlib.MAX_WBITS  # a bare deflate stream
SUPPORTED = "gzip, deflate"


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"body: over the {limit}-byte limit once decompressed",
        [{"field": "body", "message": f"over the {limit}-byte limit once decompressed"}],
    )


def _inflate(data: bytes, wbits: int, name: str, limit: int) -> bytes:
    """Decompress without letting a small bomb expand past ``limit`` (413); 400 if not valid or cut short."""
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ApiError(
            400,
            "invalid_request",
            f"body: not valid {name} ({exc})",
            [{"field": "body", "message": f"not valid {name}"}],
        ) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    if not inflater.eof:
        raise ApiError(
            400,
            "invalid_request",
            f"body: not valid {name} (the compressed stream is cut short)",
            [{"field": "body", "message": f"not valid {name}: cut short"}],
        )
    return out


def _coding(header: str) -> str:
    """The ``Content-Encoding`` this body has, normalised; 415 naming the header unless it is one we can undo."""
    coding = header.strip().lower()
    if coding in ("", "identity", "gzip", "x-gzip", "deflate"):
        return coding
    shown = repr(header.strip()[:40])
    raise ApiError(
        415,
        "unsupported_encoding",
        f"content-encoding: {shown} is not supported; send {SUPPORTED} or identity",
        [{"field": "content-encoding", "message": f"{shown} is not supported; send {SUPPORTED} or identity"}],
        headers={"Accept-Encoding": SUPPORTED},
    )


def _decode(body: bytes, header: str, limit: int) -> bytes:
    """The body undone of its ``Content-Encoding``."""
    coding = _coding(header)
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, _GZIP, "gzip", limit)
    if coding == "deflate":
        # RFC 9110's deflate is a zlib stream, but some clients send raw deflate: a zlib stream's first two bytes
        # are a multiple of 31 with compression method 8 (which a raw stream's rarely are: then it is tried raw).
        if len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0:
            try:
                return _inflate(body, _ZLIB, "deflate", limit)
            except ApiError as exc:
                if exc.status != 400:
                    raise
        return _inflate(body, _RAW, "deflate", limit)
    return body


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            "payload_too_large",
            f"body: {declared} bytes is over the {limit}-byte limit",
            [{"field": "body", "message": f"over the {limit}-byte limit"}],
        )
    if declared and declared.isdigit():
        return await request.body()  # within the limit, checked above
    buffer = bytearray()  # chunked upload: count as it arrives
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) > limit:
            raise ApiError(
                413,
                "payload_too_large",
                f"body: over the {limit}-byte limit",
                [{"field": "body", "message": f"over the {limit}-byte limit"}],
            )
    return bytes(buffer)


_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def _number(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else OutOfRange(value)


def _integer(text: str) -> int | float:
    """An integer as orjson reads it: a float beyond 64 bits (infinity beyond a double; Python reads at most 4300
    digits, and 310 are already beyond a double)."""
    if len(text.lstrip("-")) > 309:
        return OutOfRange("-inf" if text.startswith("-") else "inf")
    value = int(text)
    if _INT64_MIN <= value <= _UINT64_MAX:
        return value
    try:
        return float(value)
    except OverflowError:
        return OutOfRange("inf" if value > 0 else "-inf")


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _salvage(body: bytes) -> Any:
    """``body`` read by the standard library's parser (see the module's docstring); raises ValueError (or
    RecursionError) for what is malformed there too."""
    return json.loads(body.decode("utf-8"), parse_float=_number, parse_int=_integer, parse_constant=_not_json)


async def read_json(request: Request, limit: int, salvage: bool = False, optional: bool = False) -> Any:
    """The parsed JSON body (any JSON value); 413 over ``limit`` bytes (declared, streamed or decompressed), 415 for a
    ``Content-Encoding`` other than gzip, deflate or identity, 400 if empty, not valid compressed data or malformed.
    With ``salvage``, lone surrogates and out-of-range numbers are read for validation to refuse by name; with
    ``optional``, an empty body is ``None``.

    A client that disconnects before sending its whole body is logged (info) as such, and answered 400 (which
    nobody reads)."""
    encoding = request.headers.get("content-encoding", "")
    _coding(encoding)  # refused before the body is read
    try:
        body = await _read(request, limit)
    except ClientDisconnect:
        log.info("%s %s: the client disconnected before sending the whole body", request.method, request.url.path)
        raise ApiError(
            400,
            "client_disconnected",
            "body: the client disconnected before sending it whole",
            [{"field": "body", "message": "the client disconnected before sending it whole"}],
        ) from None
    body = _decode(body, encoding, limit)
    if not body and optional:
        return None
    if not body:
        raise ApiError(
            400, "invalid_request", "body: empty; expected a JSON object", [{"field": "body", "message": "empty"}]
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if salvage:
            try:
                return _salvage(body)
            except (ValueError, RecursionError):
                pass  # malformed for both parsers: orjson's message says where
        raise ApiError(
            400,
            "invalid_json",
            f"body: malformed JSON ({exc})",
            [{"field": "body", "message": f"malformed JSON: {exc}"}],
        ) from None


M = TypeVar("M", bound=BaseModel)


def validate_body(model: type[M], raw: Any) -> M:
    """A parsed body validated as ``model``; a 400 naming each field at fault (as FastAPI names them)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


async def read_model(request: Request, model: type[M], limit: int) -> M:
    """The body read by :func:`read_json` and validated as ``model``: the same 413, 415 and ``invalid_json`` answers
    as every other body, and a 400 naming each field at fault. FastAPI's own body parsing reads any size, takes a
    gzipped body for malformed and names no field then: routes read theirs with this (or :func:`read_json`), and
    document it with ``openapi_extra=json_body(schema_of(model), ...)``."""
    return validate_body(model, await read_json(request, limit))
