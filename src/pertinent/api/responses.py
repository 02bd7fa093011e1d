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


DEGRADED = "X-Pertinent-Degraded"  # a serving answer made without storage (value: what was away, ``storage``)


def served(body: Any) -> JSON:
    """A serving answer (``/v1/decide``, ``/v1/recommendations``, similar items) with ``X-Pertinent-Degraded``
    when it was made without storage (its ``degraded`` field: the slot's default or the popularity fallback).

    >>> served({"degraded": "storage"}).headers["x-pertinent-degraded"], DEGRADED in served({}).headers
    ('storage', False)
    """
    degraded = body.get("degraded") if isinstance(body, dict) else None
    return JSON(body, headers={DEGRADED: degraded} if degraded else None)
