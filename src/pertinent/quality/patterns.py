"""The regular expressions of tracking plans, run with RE2: a plan's ``pattern`` and ``patternProperties`` are
written by whoever uploads the plan and run on every ingested event, so they go through an engine whose time is
linear in the input (``google-re2``), never through Python's backtracking ``re``, where ``^(a+)+$`` against
``'aaaa…a!'`` takes exponential time and would stall ingestion.

jsonschema has no documented way to swap its regex engine (python-jsonschema/jsonschema#1142), so
:data:`Re2Validator` is Draft 2020-12 extended with the three keywords that run a schema's regexes
(``pattern``, ``patternProperties``, ``additionalProperties``) and :data:`FORMATS` is its format checker with
``regex`` checked by RE2. A pattern RE2 cannot compile (backreferences, lookarounds) is refused when the plan is
saved (:func:`engine_problems`), and so is ``unevaluatedProperties`` in a schema that has ``patternProperties``
(jsonschema finds the evaluated properties with ``re`` there).

>>> v = Re2Validator({"properties": {"sku": {"pattern": "^(a+)+$"}}})
>>> [e.message[-24:] for e in v.iter_errors({"sku": "a" * 40 + "!"})]
["does not match '^(a+)+$'"]
>>> engine_problems({"properties": {"sku": {"pattern": "(a)\\\\1"}}})[0]["field"]
'schema.properties.sku.pattern'
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is said to the uploader, not written to stderr by the C++ library
MAX_PROBLEMS = 20


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (raises ``re2.error`` for what RE2 cannot run in linear time)."""
    return re2.compile(pattern, _OPTIONS)


def problem(pattern: str) -> str | None:
    """Why RE2 cannot run ``pattern``; None when it can.

    >>> problem("(?<=a)b")
    'invalid perl operator: (?<='
    >>> problem("^[a-z]+$") is None
    True
    """
    try:
        compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "cannot be compiled"
        return (reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason))[:200]
    except UnicodeEncodeError:
        return "holds a lone surrogate"
    return None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (JSON Schema patterns are not anchored), in linear time."""
    regex = compiled(pattern)
    try:
        return regex.search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate: UTF-8 cannot carry it, so it is matched as U+FFFD
        return regex.search("".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)) is not None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, allowed: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [k for k in instance if k not in properties and not any(search(p, k) for p in patterns)]
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        names = ", ".join(repr(k) for k in sorted(extras))
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            regexes = ", ".join(repr(p) for p in sorted(patterns))
            yield ValidationError(f"{names} {verb} not match any of the regexes: {regexes}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")


def _is_regex(instance: object) -> bool:
    return not isinstance(instance, str) or bool(compiled(instance))


def _formats() -> FormatChecker:
    """Draft 2020-12's format checker with ``regex`` checked by RE2."""
    checker = FormatChecker(formats=())
    for name, (check, raises) in Draft202012Validator.FORMAT_CHECKER.checkers.items():
        checker.checks(name, raises)(check)
    checker.checks("regex", raises=(re2.error, UnicodeEncodeError))(_is_regex)
    return checker


FORMATS = _formats()
Re2Validator: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
    format_checker=FORMATS,
)


def _nodes(schema: Any, root: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every object in ``schema`` with its place (data positions too: a ``$ref`` may point into them)."""
    stack: list[tuple[Any, str]] = [(schema, root)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            yield value, where
            stack += [(v, f"{where}.{k}") for k, v in reversed(value.items())]
        elif isinstance(value, list):
            stack += [(v, f"{where}[{i}]") for i, v in reversed(list(enumerate(value)))]


def engine_problems(schema: Any, root: str = "schema") -> list[dict[str, str]]:
    """What in ``schema`` RE2 cannot run, each naming its JSON path: a ``pattern`` or ``patternProperties``
    key it cannot compile; ``unevaluatedProperties`` next to ``patternProperties``.

    >>> engine_problems({"patternProperties": {"^(?!x)": {}}})[0]["field"]
    'schema.patternProperties.^(?!x)'
    >>> engine_problems({"patternProperties": {"^a": {}}, "unevaluatedProperties": False})[0]["field"]
    'schema.unevaluatedProperties'
    """
    out: list[dict[str, str]] = []
    has_patterns, unevaluated = False, None
    for node, where in _nodes(schema, root):
        places = [(f"{where}.pattern", node["pattern"])] if isinstance(node.get("pattern"), str) else []
        keyed = node.get("patternProperties")
        if isinstance(keyed, dict):
            has_patterns = has_patterns or bool(keyed)
            places += [(f"{where}.patternProperties.{k}", k) for k in keyed]
        if unevaluated is None and "unevaluatedProperties" in node:
            unevaluated = f"{where}.unevaluatedProperties"
        for field, pattern in places:
            reason = problem(pattern)
            if reason:
                message = (
                    f"{pattern[:100]!r} is not a regular expression RE2 can run ({reason}); patterns run with RE2, "
                    "in linear time, which has no backreferences or lookarounds"
                )
                out.append({"field": field, "message": message})
    if has_patterns and unevaluated:
        message = "is not supported next to patternProperties (patterns run with RE2): use additionalProperties"
        out.append({"field": unevaluated, "message": message})
    return out[:MAX_PROBLEMS]
