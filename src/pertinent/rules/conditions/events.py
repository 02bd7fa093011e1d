"""Conditions on event counts in day-bucket windows (today counts as day 1): they change at UTC midnights.

>>> c = DidAndNotCondition(did="Product Added", did_not="Order Completed", window_days=7)
>>> sorted(c.triggers()), c.time_bounds().midnight
(['event:Order Completed', 'event:Product Added'], True)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from pertinent.rules.base import Check, ConditionBase, EventName, TimeBounds
from pertinent.rules.facts import Facts
from pertinent.rules.values import MAX_WINDOW_DAYS, OrderOp, compare, event_names, int_comparison
from pertinent.rules.view import ConditionView


def _some_event(v: Any) -> Any:
    if isinstance(v, list) and not v:
        raise ValueError("name at least one event")
    return v


class EventCountCondition(ConditionBase):
    """How many times an event (or the sum over several names) happened in the last ``window_days``
    days (day buckets: today counts as day 1).

    >>> from pertinent.rules.explain import evaluate
    >>> c = EventCountCondition(event="Order Completed", window_days=7, op="gt", value=1)
    >>> state = {"counts": {"Order Completed": {"total": 2, "days": {"100": 1, "103": 1}}}}
    >>> evaluate(c, {"state": state}, now=103 * 86400.0), evaluate(c, {"state": state}, now=107 * 86400.0)
    (True, False)
    """

    type: Literal["event_count"] = "event_count"
    event: EventName | list[EventName]
    window_days: int = Field(ge=1, le=MAX_WINDOW_DAYS)
    op: OrderOp = "gte"
    value: int = Field(ge=0)

    @field_validator("event")
    @classmethod
    def _some(cls, v: Any) -> Any:
        return _some_event(v)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        n = v.count(event_names(self.event), self.window_days)
        return compare(self.op, n, self.value), n

    def describe(self) -> str:
        return f"count of {self.event!r} in {self.window_days}d {self.op} {self.value}"

    def compile(self) -> Check:
        names, window, ok = event_names(self.event), self.window_days, int_comparison(self.op, self.value)
        return lambda f: ok(f.count(names, window))

    def triggers(self) -> frozenset[str]:
        return frozenset(f"event:{n}" for n in event_names(self.event))

    def time_bounds(self) -> TimeBounds:
        return TimeBounds(midnight=True)  # day buckets: changes only when the day does


class DidAndNotCondition(ConditionBase):
    """Did ``did`` (at least ``min_count`` times) and did not do ``did_not`` within ``window_days`` days.

    >>> from pertinent.rules.explain import evaluate
    >>> c = DidAndNotCondition(did="Product Added", did_not="Order Completed", window_days=7)
    >>> evaluate(c, {"state": {"counts": {"Product Added": {"total": 1, "days": {"10": 1}}}}}, 10 * 86400.0)
    True
    """

    type: Literal["did_and_not"] = "did_and_not"
    did: EventName | list[EventName]
    did_not: EventName | list[EventName]
    window_days: int = Field(ge=1, le=MAX_WINDOW_DAYS)
    min_count: int = Field(default=1, ge=1)

    @field_validator("did", "did_not")
    @classmethod
    def _some(cls, v: Any) -> Any:
        return _some_event(v)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        did = v.count(event_names(self.did), self.window_days)
        if did < self.min_count:
            return False, {"did": did}
        not_ = v.count(event_names(self.did_not), self.window_days)
        return not_ == 0, {"did": did, "did_not": not_}

    def describe(self) -> str:
        return f"did {self.did!r} (>= {self.min_count}) and not {self.did_not!r} within {self.window_days}d"

    def compile(self) -> Check:
        did, did_not = event_names(self.did), event_names(self.did_not)
        window, least = self.window_days, self.min_count

        def did_and_not(f: Facts) -> bool:
            return f.count(did, window) >= least and f.count(did_not, window) == 0

        return did_and_not

    def triggers(self) -> frozenset[str]:
        return frozenset(f"event:{n}" for n in event_names(self.did) + event_names(self.did_not))

    def time_bounds(self) -> TimeBounds:
        return TimeBounds(midnight=True)
