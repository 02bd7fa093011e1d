"""Count windows a rule names, checked against how many days of daily counts profiles keep.

Profiles keep daily event counts for the longest of the configured count windows (``count_windows_days``, 30 days
unless configured); a rule counting over a longer window would silently see only part of it, so saving one is
refused, naming the field.

>>> from pertinent.rules.language import parse_rule
>>> rule, _ = parse_rule({"type": "or", "conditions": [
...     {"type": "event_count", "event": "buy", "window_days": 7, "value": 1},
...     {"type": "not", "condition": {"type": "did_and_not", "did": "a", "did_not": "b", "window_days": 90}}]})
>>> [(field, message.split(":")[0]) for field, message in too_long(rule, 30, "rule")]
[('rule.conditions[1].condition.window_days', 'at most 30 days')]
>>> too_long(rule, 90)
[]
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def too_long(cond: Any, limit: int, prefix: str = "") -> list[tuple[str, str]]:
    """(field path, message) of each ``window_days`` in a condition tree longer than ``limit`` days."""
    out: list[tuple[str, str]] = []
    if not isinstance(cond, BaseModel):
        return out
    for name in type(cond).model_fields:
        value = getattr(cond, name)
        where = _join(prefix, name)
        if name == "window_days" and isinstance(value, int) and value > limit:
            out.append(
                (where, f"at most {limit} days: profiles keep daily counts for {limit} days (count_windows_days)")
            )
        elif isinstance(value, BaseModel):
            out += too_long(value, limit, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                out += too_long(item, limit, f"{where}[{i}]")
    return out
