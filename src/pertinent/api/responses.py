"""JSON responses serialised with orjson (fast, handles numpy scalars and datetimes)."""

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSON(JSONResponse):
    """A ``JSONResponse`` (so that FastAPI documents the routes' ``response_model`` in /openapi.json: for other
    response classes it writes ``{"type": "string"}``) rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
