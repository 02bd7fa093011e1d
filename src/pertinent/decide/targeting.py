"""Targeting conditions of slot rules: the rule-segment conditions (traits, features, event counts,
affinities, campaigns, local time, consent...) plus segment membership and the request's context.

The condition language is the one of ``segments/rules.py`` (same JSON, same evaluation) with two additions:
``{"type": "segment", "segment": "vip"}`` (current membership, as kept by the segment service) and a wider
``context`` condition that also knows ``region``, the referrer and UTM fields. In a decision, the context is
the request's (user agent, country and region headers, timezone) over the profile's last stored context.

>>> cond, errors = parse_condition({"type": "and", "conditions": [
...     {"type": "segment", "segment": "vip"},
...     {"type": "context", "field": "device_type", "op": "eq", "value": "mobile"}]})
>>> view = target_view(None, {"device_type": "mobile"}, {"vip": 1.0}, now=0.0)
>>> errors, cond.holds(view)
([], True)
>>> request_context(user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
...     "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", country="fr", timezone="Europe/Paris")
{'browser': 'Mobile Safari', 'os': 'iOS', 'device_type': 'mobile', 'country': 'FR', 'timezone': 'Europe/Paris'}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from pertinent.errorpath import field_errors
from pertinent.profiles.context import parse_user_agent
from pertinent.segments.rules import (
    AffinityCondition,
    CampaignCondition,
    ConditionBase,
    ConditionView,
    ConsentCondition,
    ContextCondition,
    DidAndNotCondition,
    EventCountCondition,
    FeatureCondition,
    Key,
    LocalTimeCondition,
    SinceCondition,
    TraitCondition,
    time_zone,
)

# conditions that read the stored profile (need its summarised features); context/local_time/segment do not
PROFILE_TYPES = frozenset(
    {"trait", "feature", "event_count", "did_and_not", "campaign", "consent", "affinity", "since"}
)


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
    >>> c.holds(target_view(None, {}, {"loyal": 5.0}, 0)), c.holds(target_view(None, {}, {}, 0))
    (True, False)
    """

    type: Literal["segment"] = "segment"
    segment: Key | list[Key]
    member: bool = True

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        ids = [self.segment] if isinstance(self.segment, str) else self.segment
        current = getattr(v, "segments", {})
        inside = [s for s in ids if s in current]
        return bool(inside) == self.member, inside

    def describe(self) -> str:
        return f"{'in' if self.member else 'not in'} segment {self.segment!r}"


ContextField = Literal[
    "device_type",
    "browser",
    "os",
    "country",
    "region",
    "locale",
    "timezone",
    "referrer",
    "utm_campaign",
    "utm_source",
    "utm_medium",
    "utm_term",
    "utm_content",
]


class TargetContextCondition(ContextCondition):
    """A context fact of the request (or, where the request has none, of the profile's last event).

    >>> TargetContextCondition(field="region", op="in", value=["BY", "BE"]).holds(
    ...     target_view(None, {"region": "BY"}, {}, 0))
    True
    """

    field: ContextField  # type: ignore[assignment]


class AllOf(ConditionBase):
    """All conditions hold.

    >>> AllOf(conditions=[SegmentCondition(segment="vip")]).holds(target_view(None, {}, {"vip": 1.0}, 0))
    True
    """

    type: Literal["and"] = "and"
    conditions: list[Condition] = Field(min_length=1, max_length=100)

    def holds(self, v: ConditionView) -> bool:
        return all(c.holds(v) for c in self.conditions)

    def describe(self) -> str:
        return "all of (" + "; ".join(c.describe() for c in self.conditions) + ")"


class AnyOf(ConditionBase):
    """At least one condition holds.

    >>> AnyOf(conditions=[SegmentCondition(segment="vip")]).holds(target_view(None, {}, {}, 0))
    False
    """

    type: Literal["or"] = "or"
    conditions: list[Condition] = Field(min_length=1, max_length=100)

    def holds(self, v: ConditionView) -> bool:
        return any(c.holds(v) for c in self.conditions)

    def describe(self) -> str:
        return "any of (" + "; ".join(c.describe() for c in self.conditions) + ")"


class NoneOf(ConditionBase):
    """The condition does not hold.

    >>> NoneOf(condition=SegmentCondition(segment="vip")).holds(target_view(None, {}, {}, 0))
    True
    """

    type: Literal["not"] = "not"
    condition: Condition

    def holds(self, v: ConditionView) -> bool:
        return not self.condition.holds(v)

    def describe(self) -> str:
        return f"not ({self.condition.describe()})"


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
    | SinceCondition,
    Field(discriminator="type"),
]
for _m in (AllOf, AnyOf, NoneOf):
    _m.model_rebuild()
CONDITION_TYPES = (
    "and",
    "or",
    "not",
    "segment",
    "context",
    "local_time",
    "trait",
    "feature",
    "event_count",
    "did_and_not",
    "campaign",
    "consent",
    "affinity",
    "since",
)
_CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)


def parse_condition(data: Any, prefix: str = "") -> tuple[Any, list[dict[str, str]]]:
    """Validate a condition given as parsed JSON; ``(condition, [])`` or ``(None, errors)``. Never raises."""
    try:
        return _CONDITION.validate_python(data), []
    except ValidationError as exc:
        return None, field_errors(exc, data, prefix)
    except (RecursionError, TypeError, ValueError) as exc:
        return None, [{"field": prefix or "condition", "message": f"cannot read condition: {exc}"}]


def condition_types(cond: Any) -> set[str]:
    """Every condition type used in a tree (to know which profile data a slot needs)."""
    out = {cond.type}
    for child in getattr(cond, "conditions", None) or ():
        out |= condition_types(child)
    inner = getattr(cond, "condition", None)
    if inner is not None and not isinstance(inner, str):
        out |= condition_types(inner)
    return out


def target_view(
    features: dict[str, Any] | None,
    context: dict[str, Any],
    segments: dict[str, float] | None,
    now: float,
    traits: dict[str, Any] | None = None,
    consent: dict[str, bool] | None = None,
    state: dict[str, Any] | None = None,
) -> TargetView:
    """The view rules evaluate: summarised ``features`` (or none), the request ``context`` over the stored one."""
    feats = dict(features) if features else {}
    stored = feats.get("context") if isinstance(feats.get("context"), dict) else {}
    feats["context"] = {**stored, **context} if stored else context
    return TargetView(
        {"traits": traits or {}, "features": feats, "consent": consent or {}, "state": state or {}}, now, segments
    )


def valid_timezone(name: str) -> bool:
    """Whether ``name`` is a known IANA time zone."""
    return 0 < len(name) <= 64 and time_zone(name) is not None


def request_context(
    user_agent: str | None = None,
    country: str | None = None,
    region: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
    referrer: str | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Flat context facts of a decide request (missing ones left out); ``timezone`` must be valid."""
    out: dict[str, Any] = {}
    if user_agent:
        out["browser"], out["os"], out["device_type"] = parse_user_agent(user_agent[:1000])
        if out["browser"] is None:
            del out["browser"]
        if out["os"] is None:
            del out["os"]
    if country:
        out["country"] = country.strip().upper()[:64]
    if region:
        out["region"] = region.strip().upper()[:64]
    if timezone:
        out["timezone"] = timezone
    if locale:
        out["locale"] = locale[:64]
    if referrer or url:
        from pertinent.profiles.context import parse_context

        page = {k: v for k, v in (("referrer", referrer), ("url", url)) if v}
        facts = parse_context({"page": page})
        out.update({k: v for k, v in facts.items() if k == "referrer" or k.startswith("utm_")})
    return out


__all__ = [
    "CONDITION_TYPES",
    "PROFILE_TYPES",
    "AllOf",
    "AnyOf",
    "Condition",
    "NoneOf",
    "SegmentCondition",
    "TargetContextCondition",
    "TargetView",
    "condition_types",
    "parse_condition",
    "request_context",
    "target_view",
    "valid_timezone",
]
