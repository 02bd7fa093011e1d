"""Conditions on the person's groups (accounts): a trait of any group they belong to (``group.plan eq enterprise``).

A member's profile state carries its groups' traits (``state["groups"] = {group_id: traits}``, kept by
``profiles.groups``), so the condition reads the profile alone, on the serving path as in segments.

>>> c = GroupCondition(path=["plan"], op="eq", value="enterprise")
>>> sorted(c.triggers()), c.describe()
(['groups'], "group plan eq 'enterprise'")
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pertinent.rules.base import Check, TimeBounds
from pertinent.rules.conditions.comparisons import PathComparison
from pertinent.rules.facts import Facts
from pertinent.rules.values import comparison, lookup
from pertinent.rules.view import ConditionView

STATE_KEY = "groups"  # where the profile state keeps its groups' traits (profiles.groups.STATE_KEY)


def _traits_of(state: dict[str, Any]) -> list[Any]:
    groups = state.get(STATE_KEY)
    if not isinstance(groups, dict) or not groups:
        return [None]  # no group: compared as a missing value (``exists: false`` and ``ne`` hold)
    return [groups[g] for g in sorted(groups)]


class GroupCondition(PathComparison):
    """Compare a trait of the person's groups (a path of keys into a group's traits); holds when any of their groups
    matches (``match="any"``, the default) or every one does (``match="all"``). A person in no group is compared as a
    missing value: ``eq`` fails, ``ne`` and ``exists: false`` hold.

    >>> from pertinent.rules.explain import evaluate
    >>> c = GroupCondition(path=["plan"], op="eq", value="enterprise")
    >>> view = {"state": {"groups": {"acme": {"plan": "enterprise"}, "beta": {"plan": "free"}}}}
    >>> evaluate(c, view, 0), evaluate(c, {"state": {}}, 0)
    (True, False)
    >>> evaluate(GroupCondition(path=["plan"], op="eq", value="enterprise", match="all"), view, 0)
    False
    """

    part: ClassVar[str] = "state"
    type: Literal["group"] = "group"
    match: Literal["any", "all"] = "any"

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        values = [lookup(t, list(self.path)) for t in _traits_of(v.state)]
        hits = [self._test(x) for x in values]
        held = any(hits) if self.match == "any" else all(hits)
        return held, values[0] if len(values) == 1 else values

    def _test(self, actual: Any) -> bool:
        return comparison(self.op, self.value)(actual)

    def describe(self) -> str:
        scope = "" if self.match == "any" else "every "
        return f"{scope}group {'.'.join(self.path)} {self._say()}"

    def compile(self) -> Check:
        path, test, every = list(self.path), comparison(self.op, self.value), self.match == "all"

        def group(f: Facts) -> bool:
            hits = (test(lookup(t, path)) for t in _traits_of(f.state))
            return all(hits) if every else any(hits)

        return group

    def triggers(self) -> frozenset[str]:
        return frozenset({"groups"})

    def time_bounds(self) -> TimeBounds:
        return TimeBounds()
