"""Slot targeting: the rule language of profiles (``rules.language``) extended with segment membership and the
context of the request. Its union registers the same condition classes (and the same ``and``/``or``/``not``)
plus ``{"type": "segment", "segment": "vip"}`` (current membership, as kept by the segment service) and a wider
``context`` condition that also knows ``region``, the referrer and UTM fields.

>>> from pydantic import TypeAdapter
>>> cond = TypeAdapter(Condition).validate_python({"type": "and", "conditions": [
...     {"type": "segment", "segment": "vip"},
...     {"type": "context", "field": "device_type", "op": "eq", "value": "mobile"}]})
>>> cond.holds(TargetView({"features": {"context": {"device_type": "mobile"}}}, now=0.0, segments={"vip": 1.0}))
True
>>> sorted(condition_types(cond)), sorted(condition_types(cond) & PROFILE_TYPES)
(['and', 'context', 'segment'], [])
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from pertinent.rules.base import ALL, Check, ConditionBase, Key, TimeBounds, union_classes, union_types
from pertinent.rules.combinators import And, Not, Or
from pertinent.rules.conditions.comparisons import FeatureCondition, TraitCondition
from pertinent.rules.conditions.context import CampaignCondition, ContextComparison, LocalTimeCondition
from pertinent.rules.conditions.events import DidAndNotCondition, EventCountCondition
from pertinent.rules.conditions.groups import GroupCondition
from pertinent.rules.conditions.inferred import InferredCondition
from pertinent.rules.conditions.profile import AffinityCondition, ConsentCondition, SinceCondition
from pertinent.rules.view import ConditionView


class TargetView(ConditionView):
    """A profile view plus the profile's current segments (``{segment_id: entered_at}``).

    >>> TargetView({"traits": {"plan": "pro"}}, now=0.0, segments={"vip": 1.0}).segments
    {'vip': 1.0}
    """

    __slots__ = ("segments",)

    def __init__(self, view: dict[str, Any], now: float, segments: dict[str, float] | None = None) -> None:
        super().__init__(view, now)
        self.segments = segments or {}


class SegmentCondition(ConditionBase):
    """Member (``member: true``, the default) or not of a segment, or of any of several segments.

    >>> c = SegmentCondition(segment=["vip", "loyal"])
    >>> c.holds(TargetView({}, 0, {"loyal": 5.0})), c.holds(TargetView({}, 0, {}))
    (True, False)
    """

    type: Literal["segment"] = "segment"
    reads_profile: ClassVar[bool] = False  # the memberships, read apart from the profile
    segment: Key | list[Key]
    member: bool = True

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        ids = [self.segment] if isinstance(self.segment, str) else self.segment
        current = getattr(v, "segments", {})
        inside = [s for s in ids if s in current]
        return bool(inside) == self.member, inside

    def describe(self) -> str:
        return f"{'in' if self.member else 'not in'} segment {self.segment!r}"

    def compile(self) -> Check:
        raise TypeError("segment conditions are evaluated when deciding (on a TargetView), never compiled")

    def triggers(self) -> frozenset[str]:
        return frozenset({ALL})  # memberships change with the segments' own rules

    def time_bounds(self) -> TimeBounds:
        return TimeBounds(always=True)


ContextField = Literal[
    "device_type",
    "browser",
    "os",
    "country",
    "region",
    "city",
    "locale",
    "timezone",
    "referrer",
    "utm_campaign",
    "utm_source",
    "utm_medium",
    "utm_term",
    "utm_content",
]


class TargetContextCondition(ContextComparison):
    """A context fact of the request (or, where the request has none, of the profile's last event).

    >>> TargetContextCondition(field="region", op="in", value=["BY", "BE"]).holds(
    ...     TargetView({"features": {"context": {"region": "BY"}}}, 0))
    True
    """

    type: Literal["context"] = "context"
    field: ContextField


class AllOf(And):
    """All conditions hold.

    >>> AllOf(conditions=[SegmentCondition(segment="vip")]).holds(TargetView({}, 0, {"vip": 1.0}))
    True
    """

    conditions: list[Condition] = Field(min_length=1, max_length=100)


class AnyOf(Or):
    """At least one condition holds.

    >>> AnyOf(conditions=[SegmentCondition(segment="vip")]).holds(TargetView({}, 0, {}))
    False
    """

    conditions: list[Condition] = Field(min_length=1, max_length=100)


class NoneOf(Not):
    """The condition does not hold.

    >>> NoneOf(condition=SegmentCondition(segment="vip")).holds(TargetView({}, 0, {}))
    True
    """

    condition: Condition


Condition = Annotated[
    AllOf
    | AnyOf
    | NoneOf
    | SegmentCondition
    | TargetContextCondition
    | LocalTimeCondition
    | TraitCondition
    | FeatureCondition
    | EventCountCondition
    | DidAndNotCondition
    | CampaignCondition
    | ConsentCondition
    | AffinityCondition
    | SinceCondition
    | GroupCondition
    | InferredCondition,
    Field(discriminator="type"),
]
for _m in (AllOf, AnyOf, NoneOf):
    _m.model_rebuild()
CONDITION_TYPES = union_types(Condition)
# conditions that read the stored profile (need its summarised features); context/local_time/segment do not
PROFILE_TYPES = frozenset(
    t for t, cls in zip(CONDITION_TYPES, union_classes(Condition), strict=True) if cls.reads_profile
)


def condition_types(cond: ConditionBase) -> set[str]:
    """Every condition type used in a tree (to know which profile data a slot needs)."""
    out = {cond.type}
    for part in cond.parts():
        out |= condition_types(part)
    return out
