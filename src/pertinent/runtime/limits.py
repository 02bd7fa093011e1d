"""What client input must satisfy before it is stored, on every backend: JSON that PostgreSQL and orjson can hold,
and event times inside a sane window.

* **No NUL character** (U+0000) in any string or object key: PostgreSQL's ``text`` and ``jsonb`` cannot hold it
  (SQLite can, but both backends answer the same).
* **No lone UTF-16 surrogate** (``"\\ud800"`` without its pair) in any string or key: no UTF-8 text can hold one,
  so neither database can; and **no number beyond a double's range** (``1e309``): JSON readers make it infinity,
  which JSON cannot write back. Both reach here only from :func:`pertinent.api.body.read_json`'s salvaging parse,
  so that a batch that holds one such message loses that message alone.
* **At most** :data:`MAX_DEPTH` **levels of nesting** in one field: orjson reads 1024 levels but writes only 254,
  and no real property, trait or attribute needs more than a handful.
* **Event times** between :data:`EARLIEST_TIME` (1970-01-01T00:00:00Z) and :data:`MAX_FUTURE_S` (24 hours) after
  the time the message is received: every reader (Python ``datetime``, both databases, the dashboard) represents
  that window, historic imports (MovieLens starts in 1995) fit in it, and a client whose clock runs up to a
  time zone ahead is still accepted.

>>> json_problem({"a": [1, {"b": "x\\x00y"}]}, "properties")
('properties.a[1].b', 'contains a NUL character (\\\\u0000), which cannot be stored')
>>> deep: object = 1
>>> for _ in range(MAX_DEPTH + 1):
...     deep = [deep]
>>> json_problem(deep, "traits")
('traits', 'nested deeper than 64 levels')
>>> json_problem({"fine": [[[]]]}, "context") is None
True
>>> time_problem(4102444800.0, received_at=1700000000.0)
'must be between 1970-01-01T00:00:00Z and 24 hours after the message is received'
"""

from __future__ import annotations

import math
from typing import Any

import orjson

MAX_DEPTH = 64
EARLIEST_TIME = 0.0  # 1970-01-01T00:00:00Z
MAX_FUTURE_S = 24 * 3600.0

NUL_VALUE = "contains a NUL character (\\u0000), which cannot be stored"
NUL_KEY = "has a key containing a NUL character (\\u0000), which cannot be stored"
SURROGATE_VALUE = "contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff), which cannot be stored"
SURROGATE_KEY = "has a key containing a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff), which cannot be stored"
NOT_FINITE = "is a number beyond the range of a double (about 1.8e308), which cannot be stored"
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
TIME_WINDOW = "must be between 1970-01-01T00:00:00Z and 24 hours after the message is received"

_Found = tuple[list[str | int], str]


class OutOfRange(float):
    """A JSON number beyond a double's range, as :func:`pertinent.api.body.read_json`'s salvaging parse reads it:
    infinity, of a type orjson refuses to write, so that :func:`fields_problem` looks at the values one by one."""


def _surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (which UTF-8 cannot encode)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _string_problem(text: str, nul: str, surrogate: str) -> str | None:
    if "\x00" in text:
        return nul
    return surrogate if _surrogate(text) else None


def _walk(value: Any, depth: int) -> _Found | None:
    """The path (innermost first) and problem of the first bad value inside ``value``, at nesting ``depth``."""
    if isinstance(value, str):
        problem = _string_problem(value, NUL_VALUE, SURROGATE_VALUE)
        return None if problem is None else ([], problem)
    if isinstance(value, float):
        return None if math.isfinite(value) else ([], NOT_FINITE)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return [], TOO_DEEP
        for k, v in value.items():
            key_problem = _string_problem(k, NUL_KEY, SURROGATE_KEY) if isinstance(k, str) else None
            if key_problem is not None:
                return [], key_problem
            if isinstance(v, str | dict | list | float):
                found = _walk(v, depth + 1)
                if found is not None:
                    found[0].append(str(k))
                    return found
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            return [], TOO_DEEP
        for i, v in enumerate(value):
            if isinstance(v, str | dict | list | float):
                found = _walk(v, depth + 1)
                if found is not None:
                    found[0].append(i)
                    return found
    return None


def json_problem(value: Any, field: str) -> tuple[str, str] | None:
    """The first reason ``value`` (parsed JSON, the content of ``field``) cannot be stored: ``(path, problem)``,
    the path naming the bad string's place under ``field`` (nesting that is too deep is named by ``field``), or
    ``None`` when it can be stored. Recursion stops at :data:`MAX_DEPTH`, so any parsed JSON is safe to check."""
    found = _walk(value, 0)
    if found is None:
        return None
    parts, problem = found
    if problem == TOO_DEEP:
        return field, problem
    path = field
    for part in reversed(parts):  # (no key on the path holds a NUL or a surrogate: those are found at its parent)
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += "." + (part if len(part) <= 64 else part[:61] + "...")
    return path, problem


def fields_problem(obj: dict[str, Any], prefix: str = "") -> tuple[str, str] | None:
    """:func:`json_problem` for each field of a JSON object (each field may nest :data:`MAX_DEPTH` levels), its
    paths starting with ``prefix`` (e.g. ``"batch[2]."``).

    >>> fields_problem({"ok": 1, "name": "a\\x00b"}, "items[3].")
    ('items[3].name', 'contains a NUL character (\\\\u0000), which cannot be stored')
    >>> fields_problem({"a\\x00": 1}, "items[3].")
    ('items[3]', 'has a key containing a NUL character (\\\\u0000), which cannot be stored')
    """
    try:  # the common case, at C speed: orjson writes U+0000 as \u0000, and fewer brackets than the limit
        encoded = orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)  # cannot nest deeper than it
    except orjson.JSONEncodeError:  # (deeper than orjson writes, or a value it cannot: look at each one)
        encoded = b""
    if encoded and b"\\u0000" not in encoded and encoded.count(b"{") + encoded.count(b"[") <= MAX_DEPTH:
        return None
    for key, value in obj.items():
        key_problem = _string_problem(key, NUL_KEY, SURROGATE_KEY) if isinstance(key, str) else None
        if key_problem is not None:
            return prefix.rstrip(".") or "body", key_problem
        found = json_problem(value, f"{prefix}{key}")
        if found is not None:
            return found
    return None


def time_problem(ts: float, received_at: float) -> str | None:
    """Why the event time ``ts`` (epoch seconds) is refused, or ``None`` when it is inside the window."""
    if EARLIEST_TIME <= ts <= received_at + MAX_FUTURE_S:
        return None
    return TIME_WINDOW
