"""The ASGI application factory.

>>> from pertinent.settings import Settings
>>> app = create_app(Settings(database_url="sqlite://", write_key="w", admin_key="a", pseudonym_keys=["k"]))
>>> sorted(app.openapi()["paths"])[:4]
['/healthz', '/v1/alias', '/v1/batch', '/v1/consent']
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pertinent import __version__
from pertinent.api import errors
from pertinent.api.responses import JSON
from pertinent.api.routes import collect, health, privacy, profiles, recommend
from pertinent.profiles.context import parse_user_agent
from pertinent.services import Services
from pertinent.settings import Settings, load_settings


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. Services are built at startup (lifespan) unless given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.build(settings or load_settings())
        parse_user_agent("Mozilla/5.0")  # load the user-agent rules now, not on the first request
        logging.getLogger("pertinent").info("storage backend: %s", app.state.services.store.backend)
        retrainer = app.state.services.recommend.start_retraining()  # None unless retrain_interval_s > 0
        try:
            yield
        finally:
            if retrainer is not None:
                retrainer.stop(timeout=5.0)
            if owned:
                app.state.services.close()

    app = FastAPI(title="Pertinent", version=__version__, lifespan=lifespan,
                  default_response_class=JSON)
    errors.install(app)
    for module in (health, collect, profiles, privacy, recommend):
        app.include_router(module.router)
    return app
