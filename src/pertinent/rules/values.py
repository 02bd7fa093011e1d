"""JSON values as rules see them: equality, comparison with an operator, lookups along a path of keys.

The interpreted path (``ConditionBase.check``) calls :func:`compare`; the compiled path binds the operator and the
expected value once (:func:`comparison`, :func:`int_comparison`) and calls the result per profile.

>>> compare("gte", 3, 2), comparison("gte", 2)(3), int_comparison("ne", 2)(3)
(True, True, True)
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from typing import Any, Literal
from zoneinfo import ZoneInfo

DAY = 86400.0
# The longest count window a rule may name at all. Profiles keep daily counts for the configured windows
# (``count_windows_days``: 30 days unless configured); saving a rule checks it against those (rules/windows.py).
MAX_WINDOW_DAYS = 3660

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists"]
OrderOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def is_number(x: Any) -> bool:
    """A JSON number (int or float, not bool)."""
    return isinstance(x, int | float) and not isinstance(x, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: numbers compare by value (1 == 1.0), anything else only within its type
    (``True`` is not 1, ``"1"`` is not 1).

    >>> json_equal(1, 1.0), json_equal(True, 1), json_equal("a", "a")
    (True, False, True)
    """
    same: bool  # JSON values compare to a bool
    if isinstance(a, bool) or isinstance(b, bool):
        same = type(a) is type(b) and a == b
    elif is_number(a) and is_number(b):
        same = a == b  # int and float compare exactly, without overflow
    else:
        same = type(a) is type(b) and a == b
    return same


def compare(op: str, actual: Any, expected: Any) -> bool:
    """Compare an observed value with a condition's value. A missing (``None``) value matches only
    ``exists: false`` and ``ne``; values of different kinds are never ordered.

    >>> compare("gt", 5, 3), compare("gt", "5", 3), compare("in", "fr", ["fr", "de"]), compare("ne", None, 1)
    (True, False, True, True)
    """
    if op == "exists":
        return (actual is not None) == (True if expected is None else bool(expected))
    if actual is None:
        return op == "ne"
    if op == "eq":
        return json_equal(actual, expected)
    if op == "ne":
        return not json_equal(actual, expected)
    if op == "in":
        return isinstance(expected, list) and any(json_equal(actual, e) for e in expected)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        if isinstance(actual, list):
            return any(json_equal(a, expected) for a in actual)
        if isinstance(actual, dict):
            return isinstance(expected, str) and expected in actual
        return False
    if (is_number(actual) and is_number(expected)) or (isinstance(actual, str) and isinstance(expected, str)):
        return ORDER_OPS[op](actual, expected)
    return False


def comparison(op: str, expected: Any) -> Callable[[Any], bool]:
    """``compare(op, actual, expected)`` with ``op`` and ``expected`` bound; ordering a number against a number
    (the common case: thresholds on features) skips the generic dispatch. JSON numbers are exactly int and float.

    >>> comparison("lt", 3)(2.5), comparison("lt", 3)(True), comparison("in", ["a"])("a")
    (True, False, True)
    """
    if op in ORDER_OPS and is_number(expected):
        fn = ORDER_OPS[op]
        return lambda actual: (type(actual) is int or type(actual) is float) and fn(actual, expected)
    return lambda actual: compare(op, actual, expected)


def int_comparison(op: str, expected: int) -> Callable[[int], bool]:
    """A comparison of a count (an int, never missing) with ``expected`` (``eq``, ``ne`` or an order)."""
    if op in ORDER_OPS:
        fn = ORDER_OPS[op]
        return lambda n: fn(n, expected)
    if op == "eq":
        return lambda n: json_equal(n, expected)
    return lambda n: not json_equal(n, expected)


def is_scalar(v: Any) -> bool:
    """null, a string, a boolean or a finite number."""
    return v is None or isinstance(v, str | bool) or (is_number(v) and math.isfinite(v))


def check_value(op: str, value: Any) -> Any:
    """``value`` if it suits ``op`` (raises ``ValueError`` with the message users see otherwise)."""
    if op == "exists":
        if value is not None and not isinstance(value, bool):
            raise ValueError("'exists' takes true, false or no value")
    elif op == "in":
        if not isinstance(value, list) or not value or not all(is_scalar(v) for v in value):
            raise ValueError("'in' takes a non-empty list of strings, numbers, booleans or null")
    elif op in ORDER_OPS:
        if not ((is_number(value) and math.isfinite(value)) or isinstance(value, str)):
            raise ValueError(f"'{op}' takes a finite number or a string")
    elif op == "contains":
        if value is None or not is_scalar(value):
            raise ValueError("'contains' takes a string, number or boolean")
    elif not is_scalar(value):
        raise ValueError(f"'{op}' takes a string, finite number, boolean or null")
    return value


def lookup(root: Any, path: list[str]) -> Any:
    """The value at a path of keys (digits index lists) in parsed JSON; None where the path stops.

    >>> lookup({"a": [{"b": 2}]}, ["a", "0", "b"]), lookup({"a": 1}, ["a", "b"])
    (2, None)
    """
    cur = root
    for key in path:
        if isinstance(cur, dict):
            cur = cur.get(key)
        elif isinstance(cur, list) and key.isdigit() and int(key) < len(cur):
            cur = cur[int(key)]
        else:
            return None
        if cur is None:
            return None
    return cur


def event_names(event: str | list[str]) -> tuple[str, ...]:
    """The event names of a condition field that takes one name or a list."""
    return (event,) if isinstance(event, str) else tuple(event)


@functools.lru_cache(maxsize=512)
def time_zone(name: str) -> ZoneInfo | None:
    """The IANA time zone of that name, or None when unknown (cached)."""
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for odd keys, OSError, ...
        return None
