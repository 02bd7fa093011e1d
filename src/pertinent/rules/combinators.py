"""``and``, ``or`` and ``not``: the combinators of the rule language, written once.

Each language (profile rules in ``rules.language``, slot targeting in ``rules.targeting``) subclasses them only to
say which union of conditions their children are drawn from (pydantic validates children against it).

>>> from pertinent.rules.language import AndRule, NotRule, OrRule
>>> from pertinent.rules.conditions.profile import ConsentCondition
>>> rule = AndRule(conditions=[ConsentCondition(purpose="analytics"),
...                            NotRule(condition=OrRule(conditions=[ConsentCondition(purpose="personalization")]))])
>>> rule.describe()
'all of (consent analytics granted; not (any of (consent personalization granted)))'
>>> sorted(rule.triggers()), rule.time_bounds().timed
(['consent'], False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pertinent.rules.base import Check, ConditionBase, Explanation, TimeBounds
from pertinent.rules.facts import Facts
from pertinent.rules.view import ConditionView


def _child(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


class And(ConditionBase):
    """All conditions hold."""

    type: Literal["and"] = "and"
    reads_profile: ClassVar[bool] = False  # its conditions may
    if TYPE_CHECKING:
        conditions: Sequence[ConditionBase]  # declared by each language with its union

    def holds(self, v: ConditionView) -> bool:
        return all(c.holds(v) for c in self.conditions)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        return self.holds(v), None

    def describe(self) -> str:
        return "all of (" + "; ".join(c.describe() for c in self.conditions) + ")"

    def compile(self) -> Check:
        parts = tuple(c.compile() for c in self.conditions)

        def all_of(f: Facts) -> bool:
            for p in parts:
                if not p(f):
                    return False
            return True

        return all_of

    def triggers(self) -> frozenset[str]:
        return frozenset[str]().union(*(c.triggers() for c in self.conditions))

    def time_bounds(self) -> TimeBounds:
        out = TimeBounds()
        for c in self.conditions:
            out = out | c.time_bounds()
        return out

    def parts(self) -> tuple[ConditionBase, ...]:
        return tuple(self.conditions)

    def explain(self, v: ConditionView, path: str = "") -> Explanation:
        kids = tuple(c.explain(v, _child(path, f"conditions[{i}]")) for i, c in enumerate(self.conditions))
        return Explanation(path, "all of", all(k.held for k in kids), None, kids)


class Or(ConditionBase):
    """At least one condition holds."""

    type: Literal["or"] = "or"
    reads_profile: ClassVar[bool] = False  # its conditions may
    if TYPE_CHECKING:
        conditions: Sequence[ConditionBase]  # declared by each language with its union

    def holds(self, v: ConditionView) -> bool:
        return any(c.holds(v) for c in self.conditions)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        return self.holds(v), None

    def describe(self) -> str:
        return "any of (" + "; ".join(c.describe() for c in self.conditions) + ")"

    def compile(self) -> Check:
        parts = tuple(c.compile() for c in self.conditions)

        def any_of(f: Facts) -> bool:
            for p in parts:
                if p(f):
                    return True
            return False

        return any_of

    def triggers(self) -> frozenset[str]:
        return frozenset[str]().union(*(c.triggers() for c in self.conditions))

    def time_bounds(self) -> TimeBounds:
        out = TimeBounds()
        for c in self.conditions:
            out = out | c.time_bounds()
        return out

    def parts(self) -> tuple[ConditionBase, ...]:
        return tuple(self.conditions)

    def explain(self, v: ConditionView, path: str = "") -> Explanation:
        kids = tuple(c.explain(v, _child(path, f"conditions[{i}]")) for i, c in enumerate(self.conditions))
        return Explanation(path, "any of", any(k.held for k in kids), None, kids)


class Not(ConditionBase):
    """The condition does not hold."""

    type: Literal["not"] = "not"
    reads_profile: ClassVar[bool] = False  # its conditions may
    if TYPE_CHECKING:
        condition: ConditionBase  # declared by each language with its union

    def holds(self, v: ConditionView) -> bool:
        return not self.condition.holds(v)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        return self.holds(v), None

    def describe(self) -> str:
        return f"not ({self.condition.describe()})"

    def compile(self) -> Check:
        inner = self.condition.compile()
        return lambda f: not inner(f)

    def triggers(self) -> frozenset[str]:
        return self.condition.triggers()

    def time_bounds(self) -> TimeBounds:
        return self.condition.time_bounds()

    def parts(self) -> tuple[ConditionBase, ...]:
        return (self.condition,)

    def explain(self, v: ConditionView, path: str = "") -> Explanation:
        kid = self.condition.explain(v, _child(path, "condition"))
        return Explanation(path, "not", not kid.held, None, (kid,))
