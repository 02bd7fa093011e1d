"""Comparisons of one value of the profile with a condition's value: traits and summarised features.

>>> c = FeatureCondition(path=["counts", "Order Completed", "7d"], op="gte", value=2)
>>> sorted(c.triggers()), c.time_bounds().midnight
(['event:Order Completed'], True)
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from pertinent.rules.base import ALL, Check, ConditionBase, Key, TimeBounds
from pertinent.rules.facts import SUMMARY_SOURCES
from pertinent.rules.values import Op, check_value, compare, comparison, lookup
from pertinent.rules.view import ConditionView

# What changes each top-level summary value (change tokens, see ``rules.base``).
HEAD_TRIGGERS = {
    "rfm": "purchase",
    "events_total": "counted",
    "sessions": "counted",
    "affinities": "counted",
    "recent_items": "counted",
    "first_seen": "seen",
    "last_seen": "seen",
    "days_since_last_seen": "seen",
    "context": "context",
}
# Summary values that change with time alone (no new event), as (head, key); and heads that never do.
TIMED_FEATURES = {
    ("rfm", "recency_days"),
    ("affinities", "category_strength"),
    ("affinities", "tag_strength"),
    ("engagement", "exit_pages"),  # the last page becomes an exit when the session times out
}
STILL_FEATURES = {"events_total", "sessions", "first_seen", "last_seen", "recent_items", "context"}


class Comparison(ConditionBase):
    """A comparison with ``op`` and ``value`` (checked to suit ``op``)."""

    op: Op
    value: Any = None

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        return check_value(op, value) if op else value

    def _say(self) -> str:
        return self.op if self.op == "exists" and self.value in (None, True) else f"{self.op} {self.value!r}"


class PathComparison(Comparison):
    """A comparison on a path of keys into one part of the view (``traits`` or ``features``)."""

    part: ClassVar[str]
    path: list[Key] = Field(min_length=1, max_length=8)

    @field_validator("path", mode="before")
    @classmethod
    def _one_key(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        actual = lookup(getattr(v, self.part), self.path)
        return compare(self.op, actual, self.value), actual

    def describe(self) -> str:
        return f"{self.type} {'.'.join(self.path)} {self._say()}"


class TraitCondition(PathComparison):
    """Compare a trait (a path of keys into ``traits``).

    >>> from pertinent.rules.explain import evaluate
    >>> c = TraitCondition(path=["plan"], op="in", value=["pro", "team"])
    >>> evaluate(c, {"traits": {"plan": "pro"}}, 0), evaluate(c, {"traits": {}}, 0)
    (True, False)
    """

    part: ClassVar[str] = "traits"
    type: Literal["trait"] = "trait"

    def compile(self) -> Check:
        path, test = list(self.path), comparison(self.op, self.value)
        return lambda f: test(lookup(f.traits, path))

    def triggers(self) -> frozenset[str]:
        return frozenset({"traits"})

    def time_bounds(self) -> TimeBounds:
        return TimeBounds()


class FeatureCondition(PathComparison):
    """Compare a summarised feature (a path of keys into ``features``, e.g. ``["rfm", "monetary"]``).

    >>> from pertinent.rules.explain import evaluate
    >>> c = FeatureCondition(path=["counts", "Order Completed", "total"], op="gte", value=2)
    >>> evaluate(c, {"features": {"counts": {"Order Completed": {"total": 3}}}}, 0)
    True
    """

    part: ClassVar[str] = "features"
    type: Literal["feature"] = "feature"

    def compile(self) -> Check:
        head, rest, test = self.path[0], list(self.path[1:]), comparison(self.op, self.value)
        if not rest:
            return lambda f: test(f.feature(head))
        return lambda f: test(lookup(f.feature(head), rest))

    def triggers(self) -> frozenset[str]:
        head = self.path[0]
        if head == "counts":
            return frozenset({f"event:{self.path[1]}" if len(self.path) > 1 else "counted"})
        return frozenset({HEAD_TRIGGERS.get(head, ALL)})

    def time_bounds(self) -> TimeBounds:
        head, rest = self.path[0], self.path[1:]
        if head not in SUMMARY_SOURCES or not rest:
            timed = head not in STILL_FEATURES  # unknown, or a whole part compared at once
        elif head == "counts":  # counts.<event>.total does not move with time; the windows do
            timed = len(rest) < 2 or rest[1] != "total"
        else:
            timed = (head, rest[0]) in TIMED_FEATURES
        if not timed:
            return TimeBounds()
        return TimeBounds(midnight=True) if head == "counts" and len(rest) >= 2 else TimeBounds(always=True)
