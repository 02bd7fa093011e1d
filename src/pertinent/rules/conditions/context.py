"""Conditions on the context of the profile's latest event: campaign (UTM) fields and the referrer, device and
location facts, and the local time in the profile's time zone.

>>> c = LocalTimeCondition(hours=[9, 10, 11])
>>> sorted(c.triggers()), c.time_bounds().always
(['context'], True)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from pertinent.rules.base import Check, ConditionBase, TimeBounds
from pertinent.rules.conditions.comparisons import Comparison
from pertinent.rules.facts import Facts
from pertinent.rules.values import WEEKDAYS, compare, time_zone
from pertinent.rules.view import ConditionView

CampaignField = Literal["utm_campaign", "utm_source", "utm_medium", "utm_term", "utm_content", "referrer"]
_MATCHES: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda low, w: w in low,
    "equals": lambda low, w: low == w,
    "prefix": lambda low, w: low.startswith(w),
    "suffix": lambda low, w: low.endswith(w),
}


class CampaignCondition(ConditionBase):
    """Case-insensitive match of campaign (UTM) fields or the referrer host in ``features.context``:
    held when any of ``fields`` matches any of ``values``.

    >>> from pertinent.rules.explain import evaluate
    >>> c = CampaignCondition(fields=["utm_campaign", "utm_medium"], values=["sale", "promo"])
    >>> evaluate(c, {"features": {"context": {"utm_campaign": "Spring_SALE_2024"}}}, 0)
    True
    >>> evaluate(CampaignCondition(fields=["referrer"], match="suffix", values=["google.com"]),
    ...          {"features": {"context": {"referrer": "www.google.com"}}}, 0)
    True
    """

    type: Literal["campaign"] = "campaign"
    fields: list[CampaignField] = Field(min_length=1)
    match: Literal["contains", "equals", "prefix", "suffix"] = "contains"
    values: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1)
    _lowered: tuple[str, ...] = PrivateAttr(default=())

    def model_post_init(self, __context: Any) -> None:
        self._lowered = tuple(x.lower() for x in self.values)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        ctx = v.context()
        seen = {}
        for f in self.fields:
            actual = ctx.get(f)
            if not isinstance(actual, str):
                continue
            seen[f] = actual
            low = actual.lower()
            for want in self._lowered:
                if (
                    want in low
                    if self.match == "contains"
                    else low == want
                    if self.match == "equals"
                    else low.startswith(want)
                    if self.match == "prefix"
                    else low.endswith(want)
                ):
                    return True, seen
        return False, seen or None

    def describe(self) -> str:
        return f"{' or '.join(self.fields)} {self.match} any of {self.values!r}"

    def compile(self) -> Check:
        fields, wants, test = tuple(self.fields), self._lowered, _MATCHES[self.match]

        def campaign(f: Facts) -> bool:
            ctx = f.context()
            for name in fields:
                actual = ctx.get(name)
                if isinstance(actual, str):
                    low = actual.lower()
                    for w in wants:
                        if test(low, w):
                            return True
            return False

        return campaign

    def triggers(self) -> frozenset[str]:
        return frozenset({"context"})

    def time_bounds(self) -> TimeBounds:
        return TimeBounds()


class ContextComparison(Comparison):
    """Compare one context fact (``field``); each language declares the fields it knows."""

    reads_profile: ClassVar[bool] = False  # when deciding, the request's context (over the profile's)

    if TYPE_CHECKING:
        field: str

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        actual = v.context().get(self.field)
        return compare(self.op, actual, self.value), actual

    def describe(self) -> str:
        return f"context {self.field} {self._say()}"

    def compile(self) -> Check:
        field, op, value = self.field, self.op, self.value
        return lambda f: compare(op, f.context().get(field), value)

    def triggers(self) -> frozenset[str]:
        return frozenset({"context"})

    def time_bounds(self) -> TimeBounds:
        return TimeBounds()


class ContextCondition(ContextComparison):
    """Compare a context fact of the profile's latest event (device type, browser, os, country, ...).

    >>> from pertinent.rules.explain import evaluate
    >>> evaluate(ContextCondition(field="device_type", op="eq", value="mobile"),
    ...          {"features": {"context": {"device_type": "mobile"}}}, 0)
    True
    """

    type: Literal["context"] = "context"
    field: Literal["device_type", "browser", "os", "country", "region", "city", "locale", "timezone"]


class LocalTimeCondition(ConditionBase):
    """The local hour of day (0-23) and/or weekday (0 = Monday ... 6 = Sunday) at ``now`` in the
    profile's ``context.timezone`` (``default_timezone`` when it has none or an unknown one).

    >>> from pertinent.rules.explain import evaluate
    >>> c = LocalTimeCondition(hours=[9, 10, 11])
    >>> noon_utc = 1_700_000_000.0 - 1_700_000_000.0 % 86400 + 8 * 3600   # 08:00 UTC
    >>> evaluate(c, {"features": {"context": {"timezone": "Europe/Berlin"}}}, noon_utc)
    True
    >>> evaluate(c, {"features": {"context": {"timezone": "America/New_York"}}}, noon_utc)
    False
    """

    type: Literal["local_time"] = "local_time"
    reads_profile: ClassVar[bool] = False  # the time zone of the context
    hours: list[Annotated[int, Field(ge=0, le=23)]] | None = None
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] | None = None
    default_timezone: str = "UTC"

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        if time_zone(v) is None:
            raise ValueError(f"unknown time zone {v!r}")
        return v

    @model_validator(mode="after")
    def _something(self) -> LocalTimeCondition:
        if not self.hours and not self.weekdays:
            raise ValueError("give hours and/or weekdays")
        return self

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        name = v.context().get("timezone")
        tz = time_zone(name) if isinstance(name, str) and name else None
        if tz is None:
            name, tz = self.default_timezone, time_zone(self.default_timezone)
        try:
            local = datetime.fromtimestamp(v.now, tz)
        except (OverflowError, OSError, ValueError):
            return False, None
        held = (not self.hours or local.hour in self.hours) and (not self.weekdays or local.weekday() in self.weekdays)
        return held, f"{WEEKDAYS[local.weekday()]} {local.hour:02d}h {name}"

    def describe(self) -> str:
        parts = []
        if self.hours:
            parts.append(f"hour in {self.hours}")
        if self.weekdays:
            parts.append(f"weekday in {[WEEKDAYS[d] for d in self.weekdays]}")
        return "local " + " and ".join(parts)

    def compile(self) -> Check:
        hours, weekdays, default = self.hours, self.weekdays, self.default_timezone

        def local_time(f: Facts) -> bool:
            name = f.context().get("timezone")
            zone = name if isinstance(name, str) and name and time_zone(name) is not None else default
            at = f.moment.local(zone)
            if at is None:
                return False
            hour, weekday = at
            return (not hours or hour in hours) and (not weekdays or weekday in weekdays)

        return local_time

    def triggers(self) -> frozenset[str]:
        return frozenset({"context"})

    def time_bounds(self) -> TimeBounds:
        return TimeBounds(always=True)
