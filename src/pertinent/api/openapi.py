"""The OpenAPI document (``/openapi.json``) as the routes really answer.

FastAPI documents what it parses and validates itself. Pertinent's routes do part of that by hand (bodies read
by :func:`pertinent.api.body.read_json`, keys checked in the lean endpoints, query strings validated as one
model), so :func:`finish` completes the document FastAPI builds:

* every refusal is the one error shape (:class:`~pertinent.api.errors.ErrorResponse`): a 400 on every route in
  place of FastAPI's 422 (which the API never sends), 401/403 on the routes that need a key, 404 on the routes
  that name something in their path; routes declare the others (409, 413, 415) with :func:`error_responses` (a
  refusal declared with a description only gets the error shape too);
* the keys: ``writeKey`` (HTTP Basic) and ``adminKey`` (Bearer) security schemes, per route from its
  dependencies or from :data:`WRITE_KEY`, :data:`SITE_KEY` and :data:`ADMIN_KEY` given as ``openapi_extra``;
* request bodies FastAPI does not know (:func:`json_body`), whose models' schemas are added to the components.

>>> responses = error_responses(404, 409)
>>> sorted(responses), responses[409]["model"].__name__
([404, 409], 'ErrorResponse')
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, TypeAdapter

from pertinent.api import deps
from pertinent.api.errors import ErrorResponse

COMPONENTS = "#/components/schemas/"
_PLACEHOLDER = "__body__"  # refs of json_body schemas until finish() names their components
_BODY_DEFS: dict[str, dict[str, Any]] = {}  # the components json_body schemas refer to, by model name

DESCRIPTIONS = {
    400: "Invalid request: the body, query or path is malformed or fails validation (each field at fault named)",
    401: "Missing or invalid key (`authorization`)",
    403: "A Bearer token that is not the admin key",
    404: "Unknown resource (the field names which), or a path that names none",
    409: "Conflicts with the current state (in use elsewhere, already exists, too little data)",
    413: "Body over the size limit (as sent, streamed or decompressed)",
    415: "Body in an unsupported Content-Encoding (gzip and identity are read)",
}
SECURITY_SCHEMES = {
    "writeKey": {
        "type": "http",
        "scheme": "basic",
        "description": "The public write key as the username, empty password (Segment's convention); collection "
        "routes also read `writeKey` from the body. The admin key is accepted in its place.",
    },
    "adminKey": {"type": "http", "scheme": "bearer", "description": "The admin key."},
}
WRITE_KEY: dict[str, Any] = {"security": [{"writeKey": []}]}  # routes that check the write key themselves (collection)
SITE_KEY: dict[str, Any] = {
    "security": [{"writeKey": []}, {"adminKey": []}]
}  # the lean site routes: write or admin key
ADMIN_KEY: dict[str, Any] = {"security": [{"adminKey": []}]}
_BY_DEPENDENCY: dict[Callable[..., Any], dict[str, Any]] = {
    deps.require_admin: ADMIN_KEY,
    deps.require_site_or_admin: SITE_KEY,
    deps.require_write_key: WRITE_KEY,
}


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One documented refusal (for ``responses=``): the error shape with its description."""
    return {"model": ErrorResponse, "description": description or DESCRIPTIONS[status]}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Documented refusals for a route's ``responses=``."""
    return {status: error_response(status) for status in statuses}


def _error_ref(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": COMPONENTS + "ErrorResponse"}}},
    }


def schema_of(source: Any) -> dict[str, Any]:
    """The JSON Schema of a type (a pydantic model, a union, ``list[Model]``...) as it validates input, its
    models as components (named when the document is finished)."""
    schema = TypeAdapter(source).json_schema(mode="validation", ref_template=COMPONENTS + _PLACEHOLDER + "{model}")
    defs = schema.pop("$defs", {})
    if isinstance(source, type) and issubclass(source, BaseModel):
        defs[source.__name__] = schema
        schema = {"$ref": COMPONENTS + _PLACEHOLDER + source.__name__}
    for name, definition in defs.items():
        known = _BODY_DEFS.setdefault(name, definition)
        if known != definition:
            raise ValueError(f"two request body models are named {name}: rename one")
    return schema


def json_body(
    schema: dict[str, Any],
    description: str,
    *,
    statuses: tuple[int, ...] = (413, 415),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body itself: the body's schema (from :func:`schema_of`),
    the refusals of reading it (413, 415) and anything else for the operation (``extra``: its keys...)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        },
        "responses": {str(status): _error_ref(status) for status in statuses},
        **(extra or {}),
    }


# ------------------------------------------------------------------------------------------------ finishing
def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _body_components(doc: dict[str, Any]) -> None:
    """Add the json_body models' schemas to the components, renamed ``Name-Input`` where FastAPI already has a
    different schema of that name (a response model), and point the placeholders at them."""
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    names = {name: name if name not in components else f"{name}-Input" for name in _BODY_DEFS}

    def rename(node: Any) -> Any:  # "$ref"s and discriminator mappings
        for obj in _walk(node):
            for key, ref in obj.items():
                if isinstance(ref, str) and ref.startswith(COMPONENTS + _PLACEHOLDER):
                    obj[key] = COMPONENTS + names[ref.removeprefix(COMPONENTS + _PLACEHOLDER)]
        return node

    defs = rename(copy.deepcopy(_BODY_DEFS))
    for name, definition in defs.items():
        if components.get(name) == definition:
            names[name] = name  # the same schema as the response model's: share it
    defs = rename(copy.deepcopy(_BODY_DEFS))
    for name, definition in defs.items():
        components.setdefault(names[name], definition)
    rename(doc["paths"])


def _security_of(route: Any) -> list[dict[str, list[str]]] | None:
    pending = list(route.dependant.dependencies) if route.dependant is not None else []
    while pending:
        dep = pending.pop()
        if dep.call in _BY_DEPENDENCY:
            return list(_BY_DEPENDENCY[dep.call]["security"])
        pending.extend(dep.dependencies)
    return None


def finish(doc: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """The document FastAPI built, completed as the module docstring says."""
    doc = copy.deepcopy(doc)
    _body_components(doc)
    components = doc["components"]
    components["schemas"].setdefault(
        "ErrorResponse", ErrorResponse.model_json_schema(ref_template=COMPONENTS + "{model}")
    )
    for name, schema in ErrorResponse.model_json_schema(ref_template=COMPONENTS + "{model}").get("$defs", {}).items():
        components["schemas"].setdefault(name, schema)
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    for route in iter_route_contexts(routes):
        path = route.path_format or ""
        if not getattr(route, "include_in_schema", False) or path not in doc["paths"]:
            continue
        for method in route.methods or ():
            operation = doc["paths"][path].get(method.lower())
            if operation is None:
                continue
            security = operation.get("security") or _security_of(route)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault("400", _error_ref(400))
            if security:
                operation["security"] = security
                responses.setdefault("401", _error_ref(401))
                if any("adminKey" in option for option in security):
                    responses.setdefault("403", _error_ref(403))
            if "{" in path:
                responses.setdefault("404", _error_ref(404))
            for status, response in responses.items():  # a refusal declared with a description only
                if status[0] in "45" and "content" not in response:
                    response.update(content=_error_ref(int(status))["content"])
            operation["responses"] = dict(sorted(responses.items()))
    used = {obj["$ref"] for obj in _walk(doc["paths"]) if isinstance(obj.get("$ref"), str)}
    for unused in ("HTTPValidationError", "ValidationError"):
        if COMPONENTS + unused not in used and not _referenced_by_components(doc, unused):
            components["schemas"].pop(unused, None)
    return doc


def _referenced_by_components(doc: dict[str, Any], name: str) -> bool:
    schemas = {k: v for k, v in doc["components"]["schemas"].items() if k not in ("HTTPValidationError", name)}
    return any(obj.get("$ref") == COMPONENTS + name for obj in _walk(schemas))
