"""JSON paths for validation errors, shared by every API that names the bad field.

>>> json_path(("rules", 0, "segment", "then", "variant"), {"rules": [{"type": "x"}]})
'rules[0].segment.then.variant'
>>> json_path(("rule", "and", "conditions", 1, "days"), {"rule": {"type": "and", "conditions": [{}, {}]}})
'rule.conditions[1].days'
"""

from __future__ import annotations

from typing import Any


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
