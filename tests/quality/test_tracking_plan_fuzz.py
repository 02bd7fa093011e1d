"""Tracking plans under hostile schemas, on both backends: whatever is uploaded is stored and applied, or refused
with a 400 naming ``schema...``; a stored plan never makes an event answer 500 nor costs a neighbour."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.common import ADMIN

PLANS = "/v1/quality/tracking-plans"


@pytest.mark.parametrize(
    ("schema", "field", "fragment"),
    [  # accepted before, then every event logged a failure and the plan checked nothing
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "schema.properties.a.$ref", "nothing"),
        ({"$ref": "#/nope"}, "schema.$ref", "nothing"),
        ({"$ref": "#"}, "schema", "without end"),
        (
            {"$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}},
            "schema",
            "without end",
        ),
    ],
)
def test_a_schema_no_event_could_be_checked_against_is_refused_by_name(
    any_client, schema: dict[str, Any], field: str, fragment: str
) -> None:
    r = any_client.post(PLANS, json={"event": "E", "schema": schema, "mode": "block"}, headers=ADMIN)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == field and fragment in r.json()["errors"][0]["message"], r.text


def test_references_that_resolve_are_kept_and_applied(any_client) -> None:
    schema = {
        "type": "object",
        "$defs": {"money": {"type": "number", "minimum": 0}, "tree": {"type": "object", "properties": {
            "child": {"$ref": "#/$defs/tree"}}}},  # recursive, but through the instance: it ends
        "properties": {"total": {"$ref": "#/$defs/money"}, "tree": {"$ref": "#/$defs/tree"}},
    }  # fmt: skip
    assert (
        any_client.post(PLANS, json={"event": "E", "schema": schema, "mode": "block"}, headers=ADMIN).status_code == 200
    )
    ok = {"type": "track", "userId": "u", "event": "E", "properties": {"total": 3, "tree": {"child": {}}}}
    bad = {**ok, "properties": {"total": -1}}
    answer = any_client.post("/v1/batch", json={"batch": [ok, bad]}).json()
    assert answer["stored"] == 1 and answer["errors"][0]["field"] == "batch[1].properties.total", answer


finite = st.floats(allow_nan=False, allow_infinity=False)
json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | finite | st.text(max_size=10)
keywords = st.sampled_from(
    ["type", "properties", "required", "$ref", "$defs", "items", "pattern", "minimum", "enum", "const", "allOf",
     "anyOf", "not", "if", "then", "additionalProperties", "format", "$id", "$schema", "maxLength", "multipleOf"]
) | st.text(max_size=6)  # fmt: skip
schemas = st.recursive(
    json_leaf
    | st.floats()  # NaN and infinity too: FastAPI's parser reads them in a schema
    | st.sampled_from(["object", "string", "#", "#/$defs/a", "#/properties", "(", "^a+$", "http://x/"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keywords, inner, max_size=4),
    max_leaves=10,
)
hostile = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@hostile
@given(schema=schemas, mode=st.sampled_from(["allow", "flag", "block"]), properties=st.dictionaries(
    st.sampled_from(["a", "total", "x", "properties"]), json_leaf, max_size=3))  # fmt: skip
def test_any_schema_is_stored_or_refused_by_name_and_events_never_fail(any_client, schema, mode, properties) -> None:
    body = json.dumps({"event": "F", "schema": schema, "mode": mode})
    r = any_client.post(PLANS, content=body, headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code != 200:
        assert all(e["field"].startswith(("schema", "body")) for e in r.json()["errors"]), r.text
        return
    ok = {"type": "track", "userId": "u", "event": "Other"}
    maybe = {"type": "track", "userId": "u", "event": "F", "properties": properties}
    answer = any_client.post("/v1/batch", json={"batch": [ok, maybe, ok]}).json()
    assert answer["stored"] >= 2 and answer["stored"] + answer["rejected"] == 3, answer
    assert any_client.get("/v1/quality/report", headers=ADMIN).status_code == 200
