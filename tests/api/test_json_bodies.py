"""Every JSON body the API takes is read the one way (api/body.py): under a size limit (413, documented), compressed
or not (gzip and deflate undone, other codings a 415), and a malformed one is a 400 ``invalid_json`` naming
``body`` — on every route, including the public ``/v1/consent`` of the write key. Routes that let FastAPI parse
their body themselves read any size (a 40 MB consent statement was parsed whole) and answered a gzipped or
malformed one ``There was an error parsing the body`` with no field named."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.common import ADMIN

BIG = 8 * 1024 * 1024  # over every body limit of the API (the catalogue's, 5 MiB, is the largest)
MALFORMED = b'{"a": '


def operations_with_a_body(client: TestClient) -> list[tuple[str, str, bool, list[str]]]:
    """(method, path with its parameters filled, whether it takes the admin key, the statuses it documents) of every
    documented operation that takes a JSON body."""
    doc = client.get("/openapi.json").json()
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if "application/json" not in op.get("requestBody", {}).get("content", {}):
                continue
            filled = path.replace("{candidate_id}", "1")
            for name in ("segment_id", "doc_id", "name"):
                filled = filled.replace("{" + name + "}", "x1")
            admin = any("adminKey" in option for option in op.get("security", []))
            out.append((method.upper(), filled, admin, sorted(op["responses"])))
    return out


def send(client: TestClient, method: str, path: str, admin: bool, body: bytes, **headers: str) -> Any:
    extra = {**(ADMIN if admin else {}), "Content-Type": "application/json", **headers}
    return client.request(method, path, content=body, headers=extra)


def test_every_operation_with_a_json_body_is_found(any_client: TestClient) -> None:
    paths = {path for _, path, _, _ in operations_with_a_body(any_client)}
    assert {"/v1/consent", "/v1/batch", "/v1/quality/tracking-plans", "/v1/models/x1/promote"} <= paths


def test_a_body_over_the_limit_is_a_413_naming_the_body_on_every_route(any_client: TestClient) -> None:
    padding = b'{"pad": "' + b"x" * BIG + b'"}'
    failures = []
    for method, path, admin, documented in operations_with_a_body(any_client):
        r = send(any_client, method, path, admin, padding)
        if r.status_code != 413 or r.json()["errors"][0]["field"] != "body" or "413" not in documented:
            failures.append(f"{method} {path}: {r.status_code} {r.text[:120]} (documents {documented})")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("coding", ["", "gzip"])
def test_malformed_json_is_a_400_naming_the_body_on_every_route(any_client: TestClient, coding: str) -> None:
    body = gzip.compress(MALFORMED) if coding else MALFORMED
    headers = {"Content-Encoding": coding} if coding else {}
    failures = []
    for method, path, admin, _ in operations_with_a_body(any_client):
        r = send(any_client, method, path, admin, body, **headers)
        if r.status_code != 400 or r.json()["code"] != "invalid_json" or r.json()["errors"][0]["field"] != "body":
            failures.append(f"{method} {path}: {r.status_code} {r.text[:160]}")
    assert not failures, "\n".join(failures)


def test_an_encoding_that_cannot_be_undone_is_a_415_on_every_route(any_client: TestClient) -> None:
    failures = []
    for method, path, admin, _ in operations_with_a_body(any_client):
        r = send(any_client, method, path, admin, b"{}", **{"Content-Encoding": "br"})
        if r.status_code != 415 or r.json()["errors"][0]["field"] != "content-encoding":
            failures.append(f"{method} {path}: {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)


def test_a_gzipped_consent_statement_is_read(any_client: TestClient) -> None:
    body = gzip.compress(b'{"anonymousId": "dev-1", "purposes": {"personalization": false}}')
    r = any_client.post("/v1/consent", content=body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["consent"]["personalization"] is False


def test_consent_fields_are_still_named(any_client: TestClient) -> None:
    r = any_client.post("/v1/consent", json={"anonymousId": "dev-1", "purposes": {"personalization": "maybe"}})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "purposes.personalization", r.text
    r = any_client.post("/v1/consent", json={"purposes": {"analytics": True}})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "userId", r.text
    r = any_client.post("/v1/consent", json=["not", "an", "object"])
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body", r.text
