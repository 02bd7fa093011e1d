"""One JSON error shape for every 4xx/5xx: ``{"success": false, "code", "message", "errors": [...]}``.

``code`` and ``message`` are what Segment's client libraries read from an error response.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import ORJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("pertinent.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors = errors or []
        self.headers = headers


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"success": False, "code": code, "message": message, "errors": errors or []}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> ORJSONResponse:
        return ORJSONResponse(error_body(exc.code, exc.message, exc.errors), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> ORJSONResponse:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
            errors.append({"field": ".".join(loc) or "body", "message": e.get("msg", "invalid")})
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return ORJSONResponse(error_body("invalid_request", f"{first['field']}: {first['message']}", errors), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ORJSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> ORJSONResponse:  # a bug, never user input
        log.exception("unhandled error", exc_info=exc)
        return ORJSONResponse(error_body("internal_error", "internal server error"), 500)
