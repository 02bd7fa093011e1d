"""Query strings validated as one pydantic model (the lean GET routes), and that model as OpenAPI parameters.

FastAPI validates separate ``Query`` parameters one by one, which cost more than a cached recommendation
(docs/benchmarks.md); these helpers keep the same 400 answer naming the field.

>>> from pydantic import BaseModel
>>> class Q(BaseModel):
...     k: int = 10
>>> [p["name"] for p in query_docs(Q)]
['k']
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from pertinent.api.errors import ApiError
from pertinent.errorpath import field_errors

M = TypeVar("M", bound=BaseModel)


def validate_query(model: type[M], request: Request) -> M:
    """The request's query as ``model``; a 400 naming the first bad field otherwise."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = field_errors(exc)
        raise ApiError(400, "invalid_request", f"{errors[0]['field']}: {errors[0]['message']}", errors) from None


def query_docs(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as OpenAPI parameters (for routes that validate their query as one model)."""
    schema = model.model_json_schema()
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "description": prop.get("description", ""),
            "schema": {k: v for k, v in prop.items() if k not in ("description", "title")},
        }
        for name, prop in schema["properties"].items()
    ]


def comma_list(value: str | None, name: str) -> list[str]:
    """A comma-separated query parameter as stripped values (none when absent); a 400 naming ``name`` for an
    empty value.

    >>> comma_list(" a, b ", "ids"), comma_list(None, "ids")
    (['a', 'b'], [])
    >>> comma_list("a,,b", "ids")
    Traceback (most recent call last):
    pertinent.api.errors.ApiError: ids: empty value in comma-separated list
    """
    if value is None:
        return []
    parts = [p.strip() for p in value.split(",")]
    if any(not p for p in parts):
        raise ApiError(
            400,
            "invalid_request",
            f"{name}: empty value in comma-separated list",
            [{"field": name, "message": "empty value in comma-separated list"}],
        )
    return parts
