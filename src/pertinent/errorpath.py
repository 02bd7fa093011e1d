"""JSON paths for validation errors, shared by every API that names the bad field: :func:`json_path` for one
pydantic error location, :func:`field_errors` for a whole ``ValidationError`` as ``[{"field", "message"}]``
(the ``errors`` of a :class:`pertinent.errors.DomainError`).

>>> json_path(("rules", 0, "segment", "then", "variant"), {"rules": [{"type": "x"}]})
'rules[0].segment.then.variant'
>>> json_path(("rule", "and", "conditions", 1, "days"), {"rule": {"type": "and", "conditions": [{}, {}]}})
'rule.conditions[1].days'
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def json_path(loc: tuple[Any, ...], data: Any) -> str:
    """A JSON path from a pydantic error location, skipping the union tags pydantic inserts (found via the data)."""
    out = ""
    cur = data
    tagged = None  # the object whose union tag was already skipped (a field may be named like its tag)
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            cur = cur[part] if isinstance(cur, list) and 0 <= part < len(cur) else None
            continue
        if (
            isinstance(cur, dict)
            and cur is not tagged
            and part not in cur
            and part in (cur.get("type"), cur.get("kind"))
        ):
            tagged = cur
            continue  # the union member chosen by its tag
        if not isinstance(cur, dict) and cur is not None:
            continue  # a union member's label (e.g. "list[str]"), not a key
        out += f".{part}" if out else str(part)
        cur = cur.get(part) if isinstance(cur, dict) else None
    return out


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
