"""Errors of the decision service, each naming the field at fault (routes turn them into 4xx JSON).

>>> str(InvalidConfig([{"field": "rules[0].then.variant", "message": "unknown variant 'x'"}]))
"rules[0].then.variant: unknown variant 'x'"
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pertinent import errors
from pertinent.errorpath import json_path
from pertinent.errors import DomainError, InvalidInput


class DecideError(DomainError):
    """An error of the decision service (a :class:`pertinent.errors.DomainError`)."""


class InvalidConfig(DecideError, InvalidInput):
    """A block, slot or experiment (or a request) that does not validate."""


class NotFound(DecideError, errors.NotFound):
    """An unknown slot, block or experiment."""


class Conflict(DecideError, errors.Conflict):
    """A change that would break something else (e.g. deleting a block a slot shows)."""


def field_errors(exc: ValidationError, data: Any = None, prefix: str = "") -> list[dict[str, str]]:
    """A pydantic error as ``[{"field": "a.b[0].c", "message": ...}]`` (one entry per distinct path).

    >>> from pydantic import BaseModel
    >>> class M(BaseModel):
    ...     n: int
    >>> try:
    ...     M.model_validate({"n": "x"})
    ... except ValidationError as e:
    ...     field_errors(e, {"n": "x"})
    [{'field': 'n', 'message': 'Input should be a valid integer, unable to parse string as an integer'}]
    """
    seen: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        path = json_path(tuple(err.get("loc", ())), data)
        field = f"{prefix}.{path}" if prefix and path else (prefix or path or "body")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") in ("union_tag_not_found", "union_tag_invalid"):
            msg = str(err.get("msg"))
        msgs = seen.setdefault(field, [])
        if msg not in msgs:
            msgs.append(msg)
    return [{"field": f, "message": " or ".join(m)[:500]} for f, m in seen.items()]
