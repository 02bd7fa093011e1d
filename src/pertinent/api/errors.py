"""One JSON error shape for every 4xx/5xx: ``{"success": false, "code", "message", "errors": [...]}``.

``code`` and ``message`` are what Segment's client libraries read from an error response.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pertinent.api.responses import JSON
from pertinent.errors import DomainError
from pertinent.events.schema import split_field
from pertinent.storage.availability import RETRY_AFTER_S, is_unavailable

log = logging.getLogger("pertinent.api")


class FieldError(BaseModel):
    """One problem: the field at fault (a JSON path such as ``batch[2].event``, or ``body``, ``authorization``)."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer (the refused collection and catalogue writes add their counts to it)."""

    success: Literal[False] = False
    code: str = Field(description="machine-readable: invalid_request, unauthorized, not_found, conflict...")
    message: str = Field(description="the first problem, as `field: message`")
    errors: list[FieldError] = Field(description="every problem found (may be empty)")


class ApiError(DomainError):
    """A refusal decided by the HTTP layer itself (keys, sessions, bodies), with its status and code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            errors or [{"field": "body", "message": message}], message, status=status, code=code, headers=headers
        )
        self.errors = errors or []


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"success": False, "code": code, "message": message, "errors": errors or []}


def api_error_response(exc: DomainError) -> JSON:
    return JSON(error_body(exc.code, exc.message, exc.errors), exc.status, headers=exc.headers)


def unexpected_response(exc: Exception) -> JSON:
    """A 503 with Retry-After when the database is away (nothing of the request was stored: clients retry), else
    a 500 for a bug (never user input), logged with its traceback."""
    if is_unavailable(exc):
        log.warning("storage unavailable: %s", exc.__class__.__name__)
        body = error_body("unavailable", "storage: unavailable for now; nothing was stored, retry later")
        return JSON(body, 503, headers={"Retry-After": str(RETRY_AFTER_S)})
    log.exception("unhandled error", exc_info=exc)
    return JSON(error_body("internal_error", "internal server error"), 500)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (the ``Allow`` of a 405): FastAPI's router names only the first
    route that matched the path (``GET`` where the path also takes ``PUT`` and ``DELETE``)."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    path = path.removeprefix(root) if root else path
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= route.methods
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSON:
        return api_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSON:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
            field, msg = split_field(".".join(loc), e.get("msg", "invalid"))
            errors.append({"field": field or "body", "message": msg})
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return JSON(error_body("invalid_request", f"{first['field']}: {first['message']}", errors), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSON:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(request))
            errors = [{"field": "method", "message": f"{request.method} is not allowed here; allowed: {allow}"}]
            body = error_body(code, f"method: {request.method} is not allowed here; allowed: {allow}", errors)
            return JSON(body, 405, headers={**(exc.headers or {}), "Allow": allow})
        return JSON(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSON:  # a bug, never user input
        return unexpected_response(exc)
