"""Tracking plans (like Segment Protocols): per event name, a JSON Schema for the event's properties and a mode.
The plan named ``identify`` (:data:`IDENTIFY`) checks the traits of identify calls instead (a trait of the wrong
type is then named ``traits.<trait>``).

* ``allow``: the event is stored; violations are counted per event and field;
* ``flag``: stored and counted, and the stored event carries the fields at fault in ``context.violations``;
* ``block``: not stored; kept whole in the failed-events store, to be inspected and replayed.

A schema is checked as JSON Schema (Draft 2020-12) when it is uploaded: one that is not valid JSON Schema is
refused, naming the field at fault. Its regular expressions run with RE2, in linear time (``patterns.py``): one
that RE2 cannot run (a backreference, a lookaround) is refused there too.

>>> plan = compile_plan("Order Completed", {"type": "object", "required": ["total"],
...     "properties": {"total": {"type": "number"}}}, "block")
>>> plan.violations({"total": "12"})
[{'field': 'properties.total', 'message': "the value is not of type 'number'"}]
>>> plan.violations({})
[{'field': 'properties.total', 'message': "'total' is a required property"}]
>>> schema_problems({"type": "objet"})[0]["field"]
'schema.type'
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from pertinent.quality.patterns import FORMATS, Re2Validator, engine_problems

Mode = Literal["allow", "flag", "block"]
MODES: tuple[str, ...] = ("allow", "flag", "block")
log = logging.getLogger("pertinent.quality")
MAX_ERRORS = 20  # violations reported per event
IDENTIFY = "identify"  # the plan of identify calls: a schema of their traits


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


def _remote_ref(node: Any, path: str) -> tuple[str, str] | None:
    """The first ``$ref`` (or ``$dynamicRef``) that points outside the schema: never fetched (offline, and no
    request to a host of the uploader's choosing)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                return f"{path}.{key}", "only references inside the schema ('#/...') are allowed"
            found = _remote_ref(value, f"{path}.{key}")
            if found:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _remote_ref(value, f"{path}[{i}]")
            if found:
                return found
    return None


def schema_problems(schema: Any) -> list[dict[str, str]]:
    """Why ``schema`` is not a valid JSON Schema (each problem naming ``schema.<path>``); empty when it is.

    >>> schema_problems({"properties": {"a": {"$ref": "https://example.com/s.json"}}})[0]["field"]
    'schema.properties.a.$ref'
    """
    if not isinstance(schema, dict):
        return [{"field": "schema", "message": "must be a JSON object (a JSON Schema)"}]
    try:  # what the database cannot hold (found by the API fuzzer: an integer beyond 64 bits was a 500)
        orjson.dumps(schema)
    except (TypeError, orjson.JSONEncodeError) as exc:
        return [{"field": "schema", "message": f"cannot be stored: {str(exc)[:200]}"}]
    remote = _remote_ref(schema, "schema")
    if remote:
        return [{"field": remote[0], "message": remote[1]}]
    engine = engine_problems(schema)
    if engine:
        return engine
    try:  # the meta-schema's "format": "regex" checked by RE2, the engine the plan's patterns will run with
        Draft202012Validator.check_schema(schema, format_checker=FORMATS)
    except SchemaError as exc:
        where = _path(exc.path)
        return [{"field": f"schema.{where}" if where else "schema", "message": exc.message[:300]}]
    if schema.get("type", "object") not in ("object", ["object"]):
        return [{"field": "schema.type", "message": "the properties of an event are an object: type must be 'object'"}]
    return _unusable(schema)


def _local_refs(node: Any, path: str) -> list[tuple[str, str]]:
    """Every ``$ref`` inside the schema (``#...``) with its place; none when a nested ``$id`` moves the base."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(node, path, 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, dict):
            if depth and "$id" in value:
                return []  # a reference is then relative to that id: leave it to the validator
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                out.append((f"{where}.$ref", ref))
            stack += [(v, f"{where}.{k}", depth + 1) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    return out


def _unusable(schema: dict[str, Any]) -> list[dict[str, str]]:
    """A valid schema that no event could be checked against: a ``$ref`` to nowhere, or one that refers to itself
    without end (found by fuzzing: accepted, then every event logged a failure and the plan checked nothing).

    >>> _unusable({"properties": {"a": {"$ref": "#/$defs/missing"}}})[0]["field"]
    'schema.properties.a.$ref'
    >>> _unusable({"$ref": "#"})[0]["message"]
    'refers to itself without end'
    """
    resolver = Registry().resolver_with_root(DRAFT202012.create_resource(schema))
    for where, ref in sorted(_local_refs(schema, "schema")):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            return [{"field": where, "message": f"'{ref[:100]}' points to nothing in the schema"}]
    validator = Re2Validator(schema)
    properties = schema.get("properties")
    sample = {name: None for name in properties} if isinstance(properties, dict) else {}
    try:
        for instance in ({}, sample):
            for _ in validator.iter_errors(instance):
                pass
    except RecursionError:
        return [{"field": "schema", "message": "refers to itself without end"}]
    except Exception as exc:  # noqa: BLE001 - whatever stops the schema applying, said at upload, not per event
        return [{"field": "schema", "message": f"cannot be applied: {str(exc)[:200]}"}]
    return []


def _fields(error: ValidationError, root: str) -> list[str]:
    base = _path(error.absolute_path)
    prefix = f"{root}.{base}" if base else root
    if error.validator == "required" and isinstance(error.instance, dict):
        required: Any = error.validator_value
        missing = [k for k in required if k not in error.instance]
        return [f"{prefix}.{k}" for k in missing] or [prefix]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema: Any = error.schema
        allowed = set(schema.get("properties", {}) if isinstance(schema, dict) else ())
        extra = [k for k in error.instance if k not in allowed]
        return [f"{prefix}.{k}" for k in extra[:5]] or [prefix]
    return [prefix]


@dataclass(frozen=True)
class CompiledPlan:
    """One event's plan, ready to validate properties (``validator`` None: a plan stored before its patterns were
    refused, which checks nothing)."""

    event: str
    mode: Mode
    validator: Any

    def violations(self, properties: dict[str, Any], root: str = "properties") -> list[dict[str, str]]:
        """The violations of ``properties`` (field named under ``root``, message), at most ``MAX_ERRORS``."""
        out: list[dict[str, str]] = []
        if self.validator is None:
            return out
        try:
            errors = sorted(self.validator.iter_errors(properties), key=lambda e: list(map(str, e.absolute_path)))
        except Exception:  # a plan that cannot be applied (a reference it cannot resolve) never fails ingestion
            log.warning("tracking plan of %r could not be applied", self.event, exc_info=True)
            return []
        for error in errors:
            message = without_value(error)
            message = message if len(message) <= 300 else message[:297] + "..."
            out += [{"field": field, "message": message} for field in _fields(error, root)]
            if len(out) >= MAX_ERRORS:
                break
        return out[:MAX_ERRORS]


def without_value(error: Any) -> str:
    """A violation's message without the value that broke it (jsonschema quotes it first, or last after "does not
    allow"): messages are kept in the failed-events and ingestion-error stores and shown on the dashboard, where an
    email or a name in clear must not go (a trait's value is pseudonymised, its message must not undo it).

    >>> class E: message, instance = "'ann@example.com' does not match '^x'", "ann@example.com"
    >>> without_value(E)
    "the value does not match '^x'"
    >>> E.message, E.instance = "False schema does not allow 3", 3
    >>> without_value(E)
    'False schema does not allow the value'
    >>> E.message, E.instance = "'total' is a required property", {}
    >>> without_value(E)
    "'total' is a required property"
    """
    message, shown = str(error.message), repr(error.instance)
    if message.startswith(shown):
        return "the value" + message[len(shown) :]
    if message.endswith(" " + shown):
        return message[: -len(shown)] + "the value"
    return message


@functools.lru_cache(maxsize=256)
def _not_applied(event: str, field: str, message: str) -> None:
    """Said once per process and problem, not at every reload of the plans."""
    log.warning("tracking plan of %r not applied: %s: %s", event, field, message)


def compile_plan(event: str, schema: dict[str, Any], mode: str) -> CompiledPlan:
    """A checked schema compiled (call :func:`schema_problems` first). A plan stored before RE2 ran its patterns
    and holding one RE2 cannot run checks nothing (logged), rather than run it with a backtracking engine."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    problems = engine_problems(schema)
    if problems:
        _not_applied(event, problems[0]["field"], problems[0]["message"])
        return CompiledPlan(event, mode, None)  # type: ignore[arg-type]
    return CompiledPlan(event, mode, Re2Validator(schema))  # type: ignore[arg-type]
