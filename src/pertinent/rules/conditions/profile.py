"""Conditions on what the profile holds: consent, interest shares, days since a profile timestamp.

>>> c = SinceCondition(field="last_purchase", op="gt", days=30)
>>> sorted(c.triggers()), c.time_bounds()
(['purchase'], TimeBounds(spans=frozenset({('last_purchase', 2592000.0)}), midnight=False, always=False))
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pertinent.rules.base import Check, ConditionBase, Key, TimeBounds
from pertinent.rules.facts import Facts
from pertinent.rules.values import DAY, compare, is_number, lookup
from pertinent.rules.view import ConditionView


class ConsentCondition(ConditionBase):
    """Whether the profile granted a consent purpose (missing counts as not granted).

    >>> from pertinent.rules.explain import evaluate
    >>> evaluate(ConsentCondition(purpose="analytics"), {"consent": {"analytics": True}}, 0)
    True
    """

    type: Literal["consent"] = "consent"
    purpose: Literal["analytics", "personalization"]
    granted: bool = True

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        actual = v.consent.get(self.purpose) is True
        return actual == self.granted, actual

    def describe(self) -> str:
        return f"consent {self.purpose} {'granted' if self.granted else 'not granted'}"

    def compile(self) -> Check:
        purpose, granted = self.purpose, self.granted
        return lambda f: (f.consent.get(purpose) is True) == granted

    def triggers(self) -> frozenset[str]:
        return frozenset({"consent"})

    def time_bounds(self) -> TimeBounds:
        return TimeBounds()


class AffinityCondition(ConditionBase):
    """The profile's share of interest in a category (or tag) label is at least ``min_share``.

    >>> from pertinent.rules.explain import evaluate
    >>> c = AffinityCondition(label="Books", min_share=0.3)
    >>> evaluate(c, {"features": {"affinities": {"category": {"Books": 0.5, "Toys": 0.5}}}}, 0)
    True
    """

    type: Literal["affinity"] = "affinity"
    kind: Literal["category", "tag"] = "category"
    label: Key
    min_share: float = Field(gt=0, le=1)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        share = lookup(v.features, ["affinities", self.kind, self.label])
        share = float(share) if is_number(share) else 0.0
        return share >= self.min_share, share

    def describe(self) -> str:
        return f"{self.kind} affinity {self.label!r} >= {self.min_share}"

    def compile(self) -> Check:
        path, least = [self.kind, self.label], self.min_share

        def affinity(f: Facts) -> bool:
            share = lookup(f.feature("affinities"), path)
            return (float(share) if is_number(share) else 0.0) >= least

        return affinity

    def triggers(self) -> frozenset[str]:
        return frozenset({"counted"})

    def time_bounds(self) -> TimeBounds:
        return TimeBounds()


class SinceCondition(ConditionBase):
    """Days elapsed from a profile timestamp (``first_seen``, ``last_seen``, ``last_purchase``) to
    ``now``; never held when the profile has no such timestamp.

    >>> from pertinent.rules.explain import evaluate
    >>> c = SinceCondition(field="first_seen", op="lt", days=7)
    >>> view = {"features": {"first_seen": 0.0}}
    >>> evaluate(c, view, now=86400.0 * 3), evaluate(c, view, now=86400.0 * 8)
    (True, False)
    """

    type: Literal["since"] = "since"
    field: Literal["first_seen", "last_seen", "last_purchase"]
    op: Literal["gt", "gte", "lt", "lte"]
    days: float = Field(ge=0, allow_inf_nan=False)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        ts = v.timestamp(self.field)
        if ts is None:
            return False, None
        elapsed = (v.now - ts) / DAY
        return compare(self.op, elapsed, self.days), round(elapsed, 3)

    def describe(self) -> str:
        return f"days since {self.field} {self.op} {self.days:g}"

    def compile(self) -> Check:
        name, op, days = self.field, self.op, self.days

        def since(f: Facts) -> bool:
            ts = f.timestamp(name)
            return ts is not None and compare(op, (f.moment.now - ts) / DAY, days)

        return since

    def triggers(self) -> frozenset[str]:
        return frozenset({"purchase" if self.field == "last_purchase" else "seen"})

    def time_bounds(self) -> TimeBounds:
        # (now - ts) / DAY against days: changes only as ts + days passes
        return TimeBounds(spans=frozenset({(self.field, self.days * DAY)}))
