"""The ASGI application factory.

>>> from pertinent.settings import Settings
>>> app = create_app(Settings(database_url="sqlite://", write_key="w", admin_key="a", pseudonym_keys=["k"]))
>>> {'/healthz', '/v1/batch', '/v1/consent', '/pertinent.js'} <= set(app.openapi()["paths"])
True
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from pertinent import __version__
from pertinent.api import errors, openapi
from pertinent.api.errors import ApiError
from pertinent.api.responses import JSON
from pertinent.api.routes import (
    analyticsjs,
    audit,
    collect,
    dashboard,
    decide,
    destinations,
    groups,
    health,
    models,
    privacy,
    profiles,
    quality,
    recommend,
    segments,
    site,
)
from pertinent.errors import DomainError
from pertinent.profiles.context import parse_user_agent
from pertinent.runtime.limits import NUL_VALUE
from pertinent.services import Services
from pertinent.settings import Settings, load_settings

COLLECTOR_THRESHOLDS = (50_000, 20, 20)  # the cyclic collector's generations, in a server (``tune_collector``)

Endpoint = Callable[[Request], Awaitable[Response]]


class PertinentApp(FastAPI):
    """FastAPI with a fast lane for the hot GET endpoints (``/v1/decide``, ``/v1/recommendations``).

    A GET to one of them without an ``Origin`` header goes straight to its endpoint function, skipping
    FastAPI's telemetry check, the middleware stack and route matching: together they cost more than a
    decision's own work (docs/benchmarks.md). Errors get the same JSON answers as on the full stack. Cross-site
    calls (``Origin``: CORS headers needed), other methods and every other path take the full stack, where the
    same endpoints are documented FastAPI routes.

    >>> app = PertinentApp()
    >>> app.fast_lane
    {}
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_lane: dict[str, Endpoint] = {}
        self._openapi_built: dict[str, Any] | None = None  # FastAPI's document, and the finished one from it
        self._openapi_finished: dict[str, Any] = {}

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document completed by :func:`pertinent.api.openapi.finish` (the error shape, keys and the
        bodies the routes read themselves); built once per set of routes, as FastAPI's own."""
        built = super().openapi()
        if built is not self._openapi_built:
            self._openapi_finished = openapi.finish(built, self.routes)
            self._openapi_built = built
        return self._openapi_finished

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            await _nul_refusal(scope)(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "GET":
            endpoint = self.fast_lane.get(scope["path"])
            if endpoint is not None and not any(name == b"origin" for name, _ in scope["headers"]):
                scope["app"] = self
                try:
                    response = await endpoint(Request(scope, receive))
                except DomainError as exc:
                    response = errors.api_error_response(exc)
                except Exception as exc:
                    response = errors.unexpected_response(exc)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _nul_refusal(scope: Scope) -> Response:
    """A 400 naming where the path or query holds a NUL character: no stored id, name or key can hold one
    (PostgreSQL refuses it), so a lookup by one is refused up front, on both backends, before it reaches a store.

    >>> import orjson
    >>> answer = _nul_refusal({"path": "/v1/catalog", "query_string": b"k=5&ids=a%00b"})
    >>> answer.status_code, orjson.loads(answer.body)["errors"][0]["field"]
    (400, 'ids')
    >>> orjson.loads(_nul_refusal({"path": "/v1/decide", "query_string": b"=%00"}).body)["errors"][0]["field"]
    'query'
    """
    field = "path"
    if "\x00" not in scope["path"]:
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        # a parameter without a usable name (empty, or holding the NUL itself) is named as "query"
        field = next((k if k and "\x00" not in k else "query" for k, v in pairs if "\x00" in k + v), "query")
    problem = [{"field": field, "message": NUL_VALUE}]
    return errors.api_error_response(ApiError(400, "invalid_request", f"{field}: {NUL_VALUE}", problem))


def tune_collector() -> None:
    """The server's cyclic garbage collector, once its services are up (``create_app``'s lifespan, when it owns
    them; an embedding process keeps its own settings)."""
    # Everything loaded so far (modules, services) lives as long as the server: keep it out of the cyclic
    # collector, whose full passes over it stalled requests (docs/benchmarks.md).
    gc.freeze()
    # A request allocates thousands of short-lived containers, so the default young-generation threshold
    # (700) ran a collection several times per request; a higher one saves ingest CPU (docs/benchmarks.md).
    # Cycles are still collected.
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. Services are built at startup (lifespan) unless given."""
    config = services.settings if services is not None else settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.build(config)
        parse_user_agent("Mozilla/5.0")  # load the user-agent rules now, not on the first request
        logging.getLogger("pertinent").info("storage backend: %s", app.state.services.store.backend)
        retrainer = None
        if owned:  # the server's own services: segment sweep, size snapshots, retraining on their schedule
            # keys rotated or settings changed since the last start: audited (keys by fingerprint)
            app.state.services.audit.record_configuration(app.state.services.settings)
            if config.run_jobs:  # off on the API nodes of a cluster: `pertinent worker` runs them
                retrainer = app.state.services.start_jobs()
            tune_collector()
        else:  # services handed in (tests, embedding): retraining on its schedule, if one is set
            retrainer = app.state.services.recommend.start_retraining()
        try:
            yield
        finally:
            if retrainer is not None:
                retrainer.stop(timeout=5.0)
            if owned:
                app.state.services.close()

    # FastAPI's native OpenTelemetry off: we configure no provider, and checking for one costs time per request
    app = PertinentApp(
        title="Pertinent",
        version=__version__,
        lifespan=lifespan,
        default_response_class=JSON,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    dashboard.install(app)  # security headers on every /dashboard response
    if config.cors_origins:  # pages on other sites call the API with the public write key
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST"],
            # X-Retry-Count: analytics.js's retries (refused at the preflight, a retried event would be lost)
            allow_headers=["Authorization", "Content-Type", "Content-Encoding", "X-User-Hash", "X-Retry-Count"],
            # analytics.js waits as long as a 429 says; pages may tell a default served while storage is away
            expose_headers=["Retry-After", "X-Pertinent-Degraded"],
            max_age=600,
        )
    for module in (
        decide,
        health,
        collect,
        profiles,
        groups,
        privacy,
        recommend,
        site,
        dashboard,
        segments,
        audit,
        destinations,
        quality,
    ):
        app.include_router(module.router)
    app.include_router(analyticsjs.router)  # GET /v1/projects/{writeKey}/settings, for analytics.js
    app.include_router(models.router)  # model versions: list, promote, roll back (admin)
    app.include_router(decide.admin)
    app.fast_lane.update(
        {"/v1/decide": decide.decide_endpoint, "/v1/recommendations": recommend.recommendations_endpoint}
    )
    return app
