"""/openapi.json says what the API does: a valid OpenAPI 3.1 document, every JSON route with its answer's model,
the one error shape as the 400 (never FastAPI's 422, which the API does not send), the keys each route needs, the
bodies the routes read themselves, and 405 answers that name every method of the path."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from starlette.responses import JSONResponse

from pertinent.api.app import create_app
from pertinent.api.errors import ErrorResponse
from pertinent.api.openapi import finish
from pertinent.services import Services
from tests.support.common import ADMIN

NOT_JSON = (HTMLResponse, FileResponse, RedirectResponse, PlainTextResponse)
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
READ_BY_HAND = [  # routes that read their JSON body themselves (read_json): FastAPI cannot see these bodies
    ("/v1/track", "post"),
    ("/v1/identify", "post"),
    ("/v1/page", "post"),
    ("/v1/screen", "post"),
    ("/v1/group", "post"),
    ("/v1/alias", "post"),
    ("/v1/batch", "post"),
    ("/v1/items", "post"),
    ("/v1/segments", "post"),
    ("/v1/segments/preview", "post"),
    ("/v1/segments/{segment_id}", "put"),
    ("/v1/blocks/{doc_id}", "put"),
    ("/v1/slots/{doc_id}", "put"),
    ("/v1/experiments/{doc_id}", "put"),
]


@pytest.fixture
def app(sqlite_services: Services) -> FastAPI:
    return create_app(sqlite_services.settings, services=sqlite_services)


@pytest.fixture
def doc(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]


def json_routes_without_model(app: FastAPI) -> list[str]:
    """Routes answering JSON whose answer has no declared model (FastAPI would document it as anything)."""
    missing = []
    for route in iter_route_contexts(app.routes):
        response_class = getattr(route, "response_class", None)
        if response_class is None:  # not an API route (the docs pages, /openapi.json)
            continue
        response_class = getattr(response_class, "value", response_class)  # FastAPI's DefaultPlaceholder
        if not issubclass(response_class, NOT_JSON) and route.response_model is None:
            missing.append(f"{sorted(route.methods or [])} {route.path}")
    return missing


def body_validator(doc: dict[str, Any], path: str, method: str) -> Draft202012Validator:
    schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]})


def test_every_json_route_declares_its_response_model(app: FastAPI) -> None:
    assert json_routes_without_model(app) == []
    bare = FastAPI()

    @bare.get("/undocumented")
    async def undocumented() -> JSONResponse:
        return JSONResponse({"a": 1})

    @bare.get("/page", response_class=HTMLResponse)
    async def page() -> str:
        return "<p>"

    assert json_routes_without_model(bare) == ["['GET'] /undocumented"]  # the check catches one


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator", reason="make install-dev installs it")
    assert doc["openapi"].startswith("3.1")
    validator.validate(doc)


def test_object_answers_are_documented_as_objects(doc: dict[str, Any]) -> None:
    for path, method, op in operations(doc):
        for status, response in op["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:
                assert schema.get("type") != "string" and schema != {}, (path, method, status, schema)
    assert doc["paths"]["/pertinent.js"]["get"]["responses"]["200"]["content"] == {
        "text/javascript": {"schema": {"type": "string"}}
    }


def test_400_is_the_error_shape_and_422_is_gone(doc: dict[str, Any]) -> None:
    for path, method, op in operations(doc):
        assert "422" not in op["responses"], (path, method)
        schema = op["responses"]["400"]["content"]["application/json"]["schema"]
        assert schema == ERROR_REF or ERROR_REF in schema.get("anyOf", []), (path, method, schema)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    error = doc["components"]["schemas"]["ErrorResponse"]
    assert set(error["required"]) == {"code", "message", "errors"}


def test_validation_errors_answer_the_documented_400(client: TestClient, doc: dict[str, Any]) -> None:
    error = Draft202012Validator({**ERROR_REF, "components": doc["components"]})
    answers = [
        client.get("/v1/segments/vip/members", params={"limit": 0}, headers=ADMIN),  # FastAPI's query validation
        client.post("/v1/consent", json={"purposes": {}}),  # FastAPI's body validation
        client.get("/v1/decide", params={"slot": "home"}),  # the lean route's own query validation
        client.put("/v1/blocks/b", content=b"{", headers=ADMIN),  # read_json
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert list(error.iter_errors(answer.json())) == [], answer.json()


def test_keys_are_documented_per_route(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["writeKey"]["scheme"] == "basic" and schemes["adminKey"]["scheme"] == "bearer"
    admin, write, site = [{"adminKey": []}], [{"writeKey": []}], [{"writeKey": []}, {"adminKey": []}]
    expected = {  # (security, 403: a Bearer token that is not the admin key, or a user id without its proof)
        ("/v1/blocks/{doc_id}", "put"): (admin, True),
        ("/v1/segments", "post"): (admin, True),
        ("/v1/profiles/{user_id}", "get"): (admin, True),
        ("/v1/track", "post"): (write, True),
        ("/v1/batch", "post"): (write, True),
        ("/v1/consent", "post"): (write, True),
        ("/v1/decide", "get"): (site, True),
        ("/v1/recommendations", "get"): (site, True),
        ("/v1/catalog", "get"): (site, True),
    }
    for (path, method), (security, forbidden) in expected.items():
        op = doc["paths"][path][method]
        assert op["security"] == security, (path, method)
        assert "401" in op["responses"] and ("403" in op["responses"]) == forbidden, (path, method)
        if forbidden:
            schema = op["responses"]["403"]["content"]["application/json"]["schema"]
            assert schema in (ERROR_REF, {"$ref": "#/components/schemas/IngestResponse"}), (path, method)
    for public in ("/healthz", "/pertinent.js"):
        assert "security" not in doc["paths"][public]["get"] and "401" not in doc["paths"][public]["get"]["responses"]


def test_other_refusals_are_documented_where_routes_answer_them(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert "404" in paths["/v1/decide"]["get"]["responses"]  # unknown slot
    assert "404" in paths["/v1/blocks/{doc_id}"]["get"]["responses"]
    assert "409" in paths["/v1/blocks/{doc_id}"]["delete"]["responses"]  # shown by a slot
    assert "409" in paths["/v1/experiments/{doc_id}"]["delete"]["responses"]
    assert "409" in paths["/v1/segments"]["post"]["responses"]  # id taken, too little data
    assert "409" not in paths["/v1/slots/{doc_id}"]["delete"]["responses"]  # nothing depends on a slot
    for path, method in READ_BY_HAND:
        assert {"413", "415"} <= set(paths[path][method]["responses"]), (path, method)


def test_bodies_read_by_hand_are_documented(doc: dict[str, Any]) -> None:
    for path, method in READ_BY_HAND:
        body = doc["paths"][path][method].get("requestBody")
        assert body is not None and body["required"] is True, (path, method)
        assert body["content"]["application/json"]["schema"], (path, method)
    block = body_validator(doc, "/v1/blocks/{doc_id}", "put")
    assert block.is_valid({"id": "hero", "type": "headline", "content": {"title": "Spring"}})
    assert not block.is_valid({"id": "hero", "type": "headline", "content": {"subtitle": "no title"}})
    assert not block.is_valid({"id": "hero", "type": "banner"})
    segment = body_validator(doc, "/v1/segments", "post")
    assert segment.is_valid({"template": "frequent_buyers", "params": {"min_orders": 3}})
    assert segment.is_valid({"id": "rfm", "name": "RFM", "kind": "rfm"})
    assert not segment.is_valid({"template": "no_such_template"})
    batch = body_validator(doc, "/v1/batch", "post")
    assert batch.is_valid({"batch": [{"type": "track", "event": "E", "userId": "u"}]})
    assert not batch.is_valid({"batch": [{"event": "E", "userId": "u"}]})  # a batch's messages name their type
    items = body_validator(doc, "/v1/items", "post")
    assert items.is_valid({"items": [{"item_id": "mug", "title": "Mug"}]})
    assert not items.is_valid({"items": [{"item_id": "mug", "colour": "red"}]})


def test_body_models_named_like_answer_models_keep_their_own_schema(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    ml = doc["paths"]["/v1/segments"]["post"]["requestBody"]["content"]["application/json"]["schema"]["anyOf"][2]
    fitted = schemas[ml["$ref"].rsplit("/", 1)[1]]["properties"]["fitted"]
    refs = {s.get("$ref") for s in fitted.get("anyOf", [fitted])}
    assert "#/components/schemas/MlFit-Input" in refs  # the answer's MlFit differs (its defaults are required)
    assert "MlFit" in schemas


def test_finish_leaves_fastapis_document_untouched(app: FastAPI) -> None:
    built = FastAPI.openapi(app)
    finish(built, app.routes)
    assert any("422" in op["responses"] for _, _, op in operations(built))  # finish works on a copy


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/blocks/hero", "DELETE, GET, PUT"),
        ("/v1/segments/vip", "DELETE, GET, PUT"),
        ("/v1/items/mug", "DELETE, GET"),
        ("/v1/track", "POST"),
        ("/v1/segments", "GET, POST"),
    ],
)
def test_405_names_every_method_of_the_path(client: TestClient, path: str, allowed: str) -> None:
    r = client.patch(path, headers=ADMIN)
    assert r.status_code == 405
    assert r.headers["allow"] == allowed
    assert r.json()["code"] == "method_not_allowed" and r.json()["errors"][0]["field"] == "method"


def test_405_on_every_documented_path(client: TestClient, doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        concrete = path.replace("{", "").replace("}", "")  # {doc_id} -> doc_id: a valid id of every kind
        r = client.request("PATCH", concrete, headers=ADMIN)
        assert r.status_code == 405, (path, r.status_code)
        allow = set(r.headers["allow"].split(", "))
        assert {m.upper() for m in item} <= allow and "PATCH" not in allow, (path, allow)
        ErrorResponse.model_validate(r.json())
