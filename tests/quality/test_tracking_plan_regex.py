"""The regular expressions of tracking plans run with RE2: a catastrophic pattern (``^(a+)+$``, which Python's ``re``
takes exponential time over on ``'aaa…a!'``) checks an adversarial event and answers; a pattern RE2 cannot run
(a backreference, a lookaround) is refused when the plan is saved, by the API and the CLI, naming the event and
the pattern's JSON path."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from typer.testing import CliRunner

from pertinent.cli import app
from pertinent.quality.patterns import Re2Validator, engine_problems, search
from pertinent.quality.tracking import compile_plan, schema_problems
from tests.support.common import ADMIN

PLANS = "/v1/quality/tracking-plans"
EVIL = "a" * 10_000 + "!"  # ^(a+)+$ over this with a backtracking engine: 2**10000 paths


def test_a_catastrophic_pattern_checks_an_adversarial_value_and_answers() -> None:
    plan = compile_plan("Signed Up", {"properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}, "block")
    assert plan.violations({"code": EVIL}) == [
        {"field": "properties.code", "message": "the value does not match '^(a+)+$'"}  # never the value itself
    ]
    assert plan.violations({"code": "a" * 10_000}) == []


def test_catastrophic_pattern_properties_check_adversarial_keys() -> None:
    schema = {"patternProperties": {"^(a+)+$": {"type": "integer"}}, "additionalProperties": False}
    plan = compile_plan("E", schema, "block")
    key = "a" * 5_000
    assert plan.violations({key: 1}) == []
    assert [v["field"] for v in plan.violations({key: "x"})] == [f"properties.{key}"]
    assert [v["field"] for v in plan.violations({key + "!": 1})] == [f"properties.{key}!"]
    short = "a" * 60 + "!"  # short enough for the message to be whole, long enough to stall ``re``
    assert plan.violations({short: 1}) == [
        {"field": f"properties.{short}", "message": f"{short!r} does not match any of the regexes: '^(a+)+$'"}
    ]


def test_property_names_and_additional_properties_use_the_same_engine() -> None:
    validator = Re2Validator({"propertyNames": {"pattern": "^(a|aa)+$"}, "additionalProperties": {"type": "string"}})
    errors = list(validator.iter_errors({"a" * 3_000 + "b": "v", "aa": 1}))
    assert sorted(e.validator for e in errors) == ["pattern", "type"]


def test_search_is_unanchored_and_reads_any_text() -> None:
    assert search("b+", "aaabbb") and not search("^b", "ab")
    assert search("x.y", "x\ud800y")  # a lone surrogate is matched as one character


def test_classes_and_anchors_read_as_in_ecma_262() -> None:
    """JSON Schema's dialect: ``\\d`` and ``\\w`` are ASCII, ``$`` is the end of the value (not before a final
    newline, as in Python's ``re``)."""
    assert not search("^\\d+$", "\u0663") and not search("^\\w+$", "\u00e9t\u00e9") and search("^\\w+$", "ete")
    assert not search("^a$", "a\n") and search("^a$", "a")


def test_an_api_upload_of_a_catastrophic_pattern_is_kept_and_events_are_checked(any_client) -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    r = any_client.post(PLANS, json={"event": "Signed Up", "schema": schema, "mode": "block"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    good = {"type": "track", "userId": "u", "event": "Signed Up", "properties": {"code": "aaaa"}}
    evil = {**good, "properties": {"code": EVIL}}
    answer = any_client.post("/v1/batch", json={"batch": [good, evil, good]}).json()
    assert answer["stored"] == 2, answer
    assert [e["field"] for e in answer["errors"]] == ["batch[1].properties.code"], answer


REFUSED = [
    ({"properties": {"sku": {"type": "string", "pattern": "^(\\w)\\1$"}}}, "schema.properties.sku.pattern"),
    ({"properties": {"sku": {"pattern": "^(?!test)"}}}, "schema.properties.sku.pattern"),
    ({"patternProperties": {"(?<=x)y": {}}}, "schema.patternProperties.(?<=x)y"),
    ({"$defs": {"c": {"pattern": "(?=a)"}}, "properties": {"c": {"$ref": "#/$defs/c"}}}, "schema.$defs.c.pattern"),
    ({"items": [{"pattern": "(a)\\1"}]}, "schema.items[0].pattern"),
    ({"patternProperties": {"^a": {}}, "unevaluatedProperties": False}, "schema.unevaluatedProperties"),
]


@pytest.mark.parametrize(("schema", "field"), REFUSED)
def test_what_re2_cannot_run_is_refused_naming_its_path(schema: dict[str, Any], field: str) -> None:
    assert schema_problems(schema)[0]["field"] == field


@pytest.mark.parametrize(("schema", "field"), REFUSED[:3])
def test_the_api_refuses_a_pattern_re2_cannot_run_naming_event_and_path(any_client, schema, field) -> None:
    r = any_client.post(PLANS, json={"event": "Order Completed", "schema": schema, "mode": "flag"}, headers=ADMIN)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["errors"][0]["field"] == field and "RE2" in body["errors"][0]["message"], body
    assert body["message"].startswith(f"tracking plan of 'Order Completed': {field}: "), body
    assert any_client.get(PLANS, headers=ADMIN).json() == []


def test_the_cli_refuses_a_pattern_re2_cannot_run_naming_event_and_path(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"type": "object", "properties": {"email": {"pattern": "^(?=.*@).+$"}}}))
    out = CliRunner().invoke(app, ["quality", "plan", "set", "Signed Up", str(plan), "--mode", "block"])
    assert out.exit_code == 2, out.output
    assert "tracking plan of 'Signed Up': schema.properties.email.pattern: " in out.output
    plan.write_text(json.dumps({"type": "object", "properties": {"email": {"pattern": "^[^@]+@.+$"}}}))
    assert CliRunner().invoke(app, ["quality", "plan", "set", "Signed Up", str(plan)]).exit_code == 0


def test_a_plan_stored_before_re2_with_a_pattern_it_cannot_run_checks_nothing(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pertinent.quality"):
        plan = compile_plan("Old", {"properties": {"a": {"pattern": "(a)\\1"}}}, "block")
        compile_plan("Old", {"properties": {"a": {"pattern": "(a)\\1"}}}, "block")  # the plans' next reload
    assert plan.violations({"a": "ab"}) == [] and "schema.properties.a.pattern" in caplog.text
    assert caplog.text.count("not applied") == 1


def test_patterns_re2_runs_are_kept() -> None:
    schema = {"properties": {"sku": {"pattern": "^[A-Z]{3}-\\d{4}$"}, "tag": {"pattern": "\\pL+"}},
              "patternProperties": {"^x-": {"type": "string"}}}  # fmt: skip
    assert schema_problems(schema) == [] and engine_problems(schema) == []
    plan = compile_plan("E", schema, "block")
    assert plan.violations({"sku": "ABC-1234", "tag": "été", "x-a": "b"}) == []
    assert [v["field"] for v in plan.violations({"sku": "abc", "x-a": 1})] == ["properties.sku", "properties.x-a"]
