"""Rule segments: declarative JSON conditions evaluated against a profile view at a given time.

A *view* is what segmentation sees of one profile::

    {"traits": {...}, "features": summarize(state, now, cfg), "consent": {"analytics": bool,
     "personalization": bool}, "state": <raw profile state>}

Every part is optional. Conditions that depend on time (event counts in a window, days since first seen
or since the last purchase, local hour) are computed from ``now`` and from timestamps / daily buckets, so
evaluating the same view at a later ``now`` makes time-based exits happen without a new event. Event
counts use ``state["counts"][name]["days"]`` when the raw state is in the view; without it they fall
back to the summarised ``features.counts[name]["<N>d"]`` (only correct for the ``now`` it was made at).

Paths into traits and features are lists of keys, so keys may hold spaces or dots
(``["counts", "Order Completed", "7d"]``).

Other condition languages build on this module's public helpers rather than copying them: slot targeting
(``decide/targeting.py``) subclasses :class:`ConditionBase` and :class:`ConditionView`, and the compiled
evaluator (``segments/compiled.py``) shares :func:`compare`, :func:`json_equal`, :func:`is_number`,
:func:`lookup`, :func:`event_names`, :func:`time_zone`, ``ORDER_OPS`` and ``WEEKDAYS``.

>>> seg, errors = parse_segment({"id": "big", "name": "Big spenders", "rule": {"type": "and",
...     "conditions": [{"type": "feature", "path": ["rfm", "monetary"], "op": "gte", "value": 100},
...                    {"type": "consent", "purpose": "personalization"}]}})
>>> errors
[]
>>> view = {"features": {"rfm": {"monetary": 250.0}}, "consent": {"personalization": True}}
>>> evaluate(seg.rule, view, now=0.0)
True
>>> parse_segment({"id": "x", "name": "x", "rule": {"type": "event_count", "event": "buy",
...     "window_days": 90, "value": 1}})[1][0].path
'rule.window_days'
"""

from __future__ import annotations

import functools
import math
import operator
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, NamedTuple
from zoneinfo import ZoneInfo

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from pertinent.errorpath import json_path

DAY = 86400.0
MAX_DEPTH = 32  # nesting of JSON objects/arrays accepted by parse_segment / parse_rule
MAX_WINDOW_DAYS = 30  # daily count buckets are kept for 30 days

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists"]
OrderOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
ORDER_OPS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


# ----------------------------------------------------------------------------------------------- values


def is_number(x: Any) -> bool:
    """A JSON number (int or float, not bool)."""
    return isinstance(x, int | float) and not isinstance(x, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: numbers compare by value (1 == 1.0), anything else only within its type
    (``True`` is not 1, ``"1"`` is not 1).

    >>> json_equal(1, 1.0), json_equal(True, 1), json_equal("a", "a")
    (True, False, True)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if is_number(a) and is_number(b):
        return a == b  # int and float compare exactly, without overflow
    return type(a) is type(b) and a == b


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


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | bool) or (is_number(v) and math.isfinite(v))


def _check_value(op: str, value: Any) -> Any:
    if op == "exists":
        if value is not None and not isinstance(value, bool):
            raise ValueError("'exists' takes true, false or no value")
    elif op == "in":
        if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
            raise ValueError("'in' takes a non-empty list of strings, numbers, booleans or null")
    elif op in ORDER_OPS:
        if not ((is_number(value) and math.isfinite(value)) or isinstance(value, str)):
            raise ValueError(f"'{op}' takes a finite number or a string")
    elif op == "contains":
        if value is None or not _scalar(value):
            raise ValueError("'contains' takes a string, number or boolean")
    elif not _scalar(value):
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


class ConditionView:
    """One profile view prepared for evaluation at ``now`` (what :meth:`ConditionBase.check` reads).

    Other condition languages (slot targeting) subclass it to add what their own conditions read."""

    __slots__ = ("traits", "features", "consent", "state", "now", "today")

    def __init__(self, view: dict[str, Any], now: float) -> None:
        def part(key: str) -> dict[str, Any]:
            v = view.get(key) if isinstance(view, dict) else None
            return v if isinstance(v, dict) else {}

        self.traits, self.features, self.consent, self.state = (
            part("traits"),
            part("features"),
            part("consent"),
            part("state"),
        )
        self.now = float(now)
        if not math.isfinite(self.now):
            raise ValueError(f"now must be a finite epoch time in seconds, got {now!r}")
        self.today = int(self.now // DAY)

    def count(self, names: Iterable[str], window_days: int) -> int:
        total = 0
        counts = self.state.get("counts")
        if isinstance(counts, dict):
            for name in names:
                days = lookup(counts, [name, "days"])
                if not isinstance(days, dict):
                    continue
                for day, n in days.items():
                    try:
                        age = self.today - int(day)
                    except (TypeError, ValueError):
                        continue
                    if 0 <= age < window_days and isinstance(n, int) and not isinstance(n, bool):
                        total += n
            return total
        summary = self.features.get("counts")
        for name in names:
            n = lookup(summary, [name, f"{window_days}d"])
            if isinstance(n, int) and not isinstance(n, bool):
                total += n
        return total

    def timestamp(self, name: str) -> float | None:
        if name == "last_purchase":
            ts = lookup(self.features, ["rfm", "last_purchase"])
            if ts is None:
                ts = lookup(self.state, ["rfm", "last_purchase"])
        else:
            ts = self.features.get(name)
            if ts is None:
                ts = self.state.get(name)
        return float(ts) if is_number(ts) and math.isfinite(ts) else None

    def context(self) -> dict[str, Any]:
        ctx = self.features.get("context")
        if not isinstance(ctx, dict):
            ctx = self.state.get("context")
        return ctx if isinstance(ctx, dict) else {}


def event_names(event: str | list[str]) -> tuple[str, ...]:
    """The event names of a condition field that takes one name or a list."""
    return (event,) if isinstance(event, str) else tuple(event)


EventName = Annotated[str, Field(min_length=1, max_length=200)]
Key = Annotated[str, Field(min_length=1, max_length=200)]


# ------------------------------------------------------------------------------------------- conditions


class ConditionBase(BaseModel):
    """A condition: ``check`` (held, what was observed) on a :class:`ConditionView`, ``holds`` and
    ``describe``. Other condition languages subclass it for conditions of their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def holds(self, v: ConditionView) -> bool:
        return self.check(v)[0]

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        """(held, observed value)."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class _Comparison(ConditionBase):
    op: Op
    value: Any = None

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: Any) -> Any:
        op = info.data.get("op")
        return _check_value(op, value) if op else value

    def _say(self) -> str:
        return self.op if self.op == "exists" and self.value in (None, True) else f"{self.op} {self.value!r}"


class _PathComparison(_Comparison):
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


class TraitCondition(_PathComparison):
    """Compare a trait (a path of keys into ``traits``).

    >>> c = TraitCondition(path=["plan"], op="in", value=["pro", "team"])
    >>> evaluate(c, {"traits": {"plan": "pro"}}, 0), evaluate(c, {"traits": {}}, 0)
    (True, False)
    """

    part: ClassVar[str] = "traits"
    type: Literal["trait"] = "trait"


class FeatureCondition(_PathComparison):
    """Compare a summarised feature (a path of keys into ``features``, e.g. ``["rfm", "monetary"]``).

    >>> c = FeatureCondition(path=["counts", "Order Completed", "total"], op="gte", value=2)
    >>> evaluate(c, {"features": {"counts": {"Order Completed": {"total": 3}}}}, 0)
    True
    """

    part: ClassVar[str] = "features"
    type: Literal["feature"] = "feature"


class EventCountCondition(ConditionBase):
    """How many times an event (or the sum over several names) happened in the last ``window_days``
    days (day buckets: today counts as day 1).

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
        if isinstance(v, list) and not v:
            raise ValueError("name at least one event")
        return v

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        n = v.count(event_names(self.event), self.window_days)
        return compare(self.op, n, self.value), n

    def describe(self) -> str:
        return f"count of {self.event!r} in {self.window_days}d {self.op} {self.value}"


class DidAndNotCondition(ConditionBase):
    """Did ``did`` (at least ``min_count`` times) and did not do ``did_not`` within ``window_days`` days.

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
        if isinstance(v, list) and not v:
            raise ValueError("name at least one event")
        return v

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        did = v.count(event_names(self.did), self.window_days)
        if did < self.min_count:
            return False, {"did": did}
        not_ = v.count(event_names(self.did_not), self.window_days)
        return not_ == 0, {"did": did, "did_not": not_}

    def describe(self) -> str:
        return f"did {self.did!r} (>= {self.min_count}) and not {self.did_not!r} within {self.window_days}d"


CampaignField = Literal["utm_campaign", "utm_source", "utm_medium", "utm_term", "utm_content", "referrer"]


class CampaignCondition(ConditionBase):
    """Case-insensitive match of campaign (UTM) fields or the referrer host in ``features.context``:
    held when any of ``fields`` matches any of ``values``.

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


class ContextCondition(_Comparison):
    """Compare a context fact of the profile's latest event (device type, browser, os, country, ...).

    >>> evaluate(ContextCondition(field="device_type", op="eq", value="mobile"),
    ...          {"features": {"context": {"device_type": "mobile"}}}, 0)
    True
    """

    type: Literal["context"] = "context"
    field: Literal["device_type", "browser", "os", "country", "locale", "timezone"]

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        actual = v.context().get(self.field)
        return compare(self.op, actual, self.value), actual

    def describe(self) -> str:
        return f"context {self.field} {self._say()}"


@functools.lru_cache(maxsize=512)
def time_zone(name: str) -> ZoneInfo | None:
    """The IANA time zone of that name, or None when unknown (cached)."""
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for odd keys, OSError, ...
        return None


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class LocalTimeCondition(ConditionBase):
    """The local hour of day (0-23) and/or weekday (0 = Monday ... 6 = Sunday) at ``now`` in the
    profile's ``context.timezone`` (``default_timezone`` when it has none or an unknown one).

    >>> c = LocalTimeCondition(hours=[9, 10, 11])
    >>> noon_utc = 1_700_000_000.0 - 1_700_000_000.0 % 86400 + 8 * 3600   # 08:00 UTC
    >>> evaluate(c, {"features": {"context": {"timezone": "Europe/Berlin"}}}, noon_utc)
    True
    >>> evaluate(c, {"features": {"context": {"timezone": "America/New_York"}}}, noon_utc)
    False
    """

    type: Literal["local_time"] = "local_time"
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


class ConsentCondition(ConditionBase):
    """Whether the profile granted a consent purpose (missing counts as not granted).

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


class AffinityCondition(ConditionBase):
    """The profile's share of interest in a category (or tag) label is at least ``min_share``.

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


class SinceCondition(ConditionBase):
    """Days elapsed from a profile timestamp (``first_seen``, ``last_seen``, ``last_purchase``) to
    ``now``; never held when the profile has no such timestamp.

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


class AndRule(ConditionBase):
    """All conditions hold.

    >>> evaluate(AndRule(conditions=[ConsentCondition(purpose="analytics")]), {}, 0)
    False
    """

    type: Literal["and"] = "and"
    conditions: list[Rule] = Field(min_length=1)

    def holds(self, v: ConditionView) -> bool:
        return all(c.holds(v) for c in self.conditions)

    def describe(self) -> str:
        return "all of"


class OrRule(ConditionBase):
    """At least one condition holds.

    >>> evaluate(OrRule(conditions=[ConsentCondition(purpose="analytics", granted=False)]), {}, 0)
    True
    """

    type: Literal["or"] = "or"
    conditions: list[Rule] = Field(min_length=1)

    def holds(self, v: ConditionView) -> bool:
        return any(c.holds(v) for c in self.conditions)

    def describe(self) -> str:
        return "any of"


class NotRule(ConditionBase):
    """The condition does not hold.

    >>> evaluate(NotRule(condition=ConsentCondition(purpose="analytics")), {}, 0)
    True
    """

    type: Literal["not"] = "not"
    condition: Rule

    def holds(self, v: ConditionView) -> bool:
        return not self.condition.holds(v)

    def describe(self) -> str:
        return "not"


Rule = Annotated[
    AndRule
    | OrRule
    | NotRule
    | TraitCondition
    | FeatureCondition
    | EventCountCondition
    | DidAndNotCondition
    | CampaignCondition
    | ContextCondition
    | LocalTimeCondition
    | ConsentCondition
    | AffinityCondition
    | SinceCondition,
    Field(discriminator="type"),
]
for _m in (AndRule, OrRule, NotRule):
    _m.model_rebuild()
RULE_TYPES = (
    "and",
    "or",
    "not",
    "trait",
    "feature",
    "event_count",
    "did_and_not",
    "campaign",
    "context",
    "local_time",
    "consent",
    "affinity",
    "since",
)


class Segment(BaseModel):
    """A named rule segment. Round-trips to JSON.

    >>> s = Segment(id="mobile", name="Mobile users",
    ...             rule=ContextCondition(field="device_type", op="eq", value="mobile"))
    >>> Segment.model_validate_json(s.model_dump_json()) == s
    True
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    rule: Rule
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


_RULE = TypeAdapter(Rule)


# ------------------------------------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class RuleError:
    """One validation problem: ``path`` points at the bad part (e.g. ``rule.conditions[1].window_days``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.message}"


def _depth_ok(data: Any) -> bool:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def load_json(data: Any) -> tuple[Any, list[RuleError]]:
    """Parse JSON text (or take parsed JSON) no deeper than ``MAX_DEPTH``; ``(data, [])`` or ``(None, errors)``."""
    if isinstance(data, bytes | bytearray | str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            return None, [RuleError("", f"invalid JSON: {e}")]
    if not _depth_ok(data):
        return None, [RuleError("", f"nested more than {MAX_DEPTH} levels deep")]
    return data, []


def rule_errors(exc: ValidationError, data: Any) -> list[RuleError]:
    """A validation error as one :class:`RuleError` per JSON path in ``data``, its messages joined."""
    by_path: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        msg = err["msg"]
        if err["type"] in ("union_tag_not_found", "union_tag_invalid"):
            loc += ("type",)
            msg = f"'type' must be one of {', '.join(RULE_TYPES)}"
        msgs = by_path.setdefault(json_path(loc, data), [])
        msg = msg.removeprefix("Value error, ")
        if msg not in msgs:
            msgs.append(msg)
    return [RuleError(path, " or ".join(msgs)) for path, msgs in by_path.items()]


def parse_rule(data: Any) -> tuple[Rule | None, list[RuleError]]:
    """Validate a rule given as JSON text or as parsed JSON. Never raises on bad input.

    >>> rule, errors = parse_rule('{"type": "or", "conditions": [{"type": "consent", "purpose": "x"}]}')
    >>> rule, [str(e) for e in errors]
    (None, ["conditions[0].purpose: Input should be 'analytics' or 'personalization'"])
    """
    data, errors = load_json(data)
    if errors:
        return None, errors
    try:
        return _RULE.validate_python(data), []
    except ValidationError as e:
        return None, rule_errors(e, data)
    except (RecursionError, TypeError, ValueError) as e:  # defensive: report, never crash
        return None, [RuleError("", f"cannot read rule: {e}")]


def parse_segment(data: Any) -> tuple[Segment | None, list[RuleError]]:
    """Validate a segment (``id``, ``name``, ``description``, ``rule``, ``created_at``, ``updated_at``)
    given as JSON text or parsed JSON. Returns ``(segment, [])`` or ``(None, errors)``; never raises."""
    data, errors = load_json(data)
    if errors:
        return None, errors
    if not isinstance(data, dict):
        return None, [RuleError("", "a segment must be a JSON object")]
    try:
        return Segment.model_validate(data), []
    except ValidationError as e:
        return None, rule_errors(e, data)
    except (RecursionError, TypeError, ValueError) as e:
        return None, [RuleError("", f"cannot read segment: {e}")]


# ------------------------------------------------------------------------------------------- evaluation


def _rule_of(rule: Rule | Segment) -> Rule:
    return rule.rule if isinstance(rule, Segment) else rule


def evaluate(rule: Rule | Segment, view: dict[str, Any], now: float) -> bool:
    """Whether the profile ``view`` is in the rule (or segment) at time ``now`` (epoch seconds)."""
    return _rule_of(rule).holds(ConditionView(view, now))


@dataclass(frozen=True, slots=True)
class Explanation:
    """Which part of a rule held: ``path`` in the rule, a description, the outcome, what was observed."""

    path: str
    condition: str
    held: bool
    observed: Any = None
    children: tuple[Explanation, ...] = field(default_factory=tuple)

    def lines(self, indent: int = 0) -> list[str]:
        """A readable tree, one line per condition."""
        mark = "yes" if self.held else "no "
        seen = "" if self.children or self.observed is None else f"  (observed {self.observed!r})"
        out = [f"{'  ' * indent}[{mark}] {self.condition}{seen}"]
        for child in self.children:
            out += child.lines(indent + 1)
        return out


def _explain(rule: Rule, v: ConditionView, path: str) -> Explanation:
    if isinstance(rule, AndRule | OrRule):
        kids = tuple(
            _explain(c, v, f"{path}.conditions[{i}]" if path else f"conditions[{i}]")
            for i, c in enumerate(rule.conditions)
        )
        held = all(k.held for k in kids) if isinstance(rule, AndRule) else any(k.held for k in kids)
        return Explanation(path, rule.describe(), held, None, kids)
    if isinstance(rule, NotRule):
        kid = _explain(rule.condition, v, f"{path}.condition" if path else "condition")
        return Explanation(path, "not", not kid.held, None, (kid,))
    held, observed = rule.check(v)
    return Explanation(path, rule.describe(), held, observed)


def explain(rule: Rule | Segment, view: dict[str, Any], now: float) -> Explanation:
    """Evaluate every sub-condition (no short-circuit) and report which held.

    >>> r = AndRule(conditions=[ConsentCondition(purpose="analytics"),
    ...                         FeatureCondition(path=["rfm", "frequency"], op="gte", value=2)])
    >>> e = explain(r, {"consent": {"analytics": True}, "features": {"rfm": {"frequency": 1}}}, 0)
    >>> e.held, [(c.path, c.held, c.observed) for c in e.children]
    (False, [('conditions[0]', True, True), ('conditions[1]', False, 1)])
    """
    return _explain(_rule_of(rule), ConditionView(view, now), "")


class Preview(NamedTuple):
    size: int
    sample_ids: list[str]


def preview(
    segment: Segment | Rule, views: Iterable[tuple[str, dict[str, Any]]], now: float, sample: int = 10, seed: int = 0
) -> Preview:
    """How many of ``views`` (``(profile_id, view)`` pairs) are in the segment at ``now``, and a uniform
    random sample of up to ``sample`` of their ids (reservoir sampling, reproducible with ``seed``).

    >>> seg = ConsentCondition(purpose="analytics")
    >>> preview(seg, [("a", {"consent": {"analytics": True}}), ("b", {})], now=0)
    Preview(size=1, sample_ids=['a'])
    """
    rule = _rule_of(segment)
    rng = random.Random(seed)
    size = 0
    picked: list[str] = []
    for profile_id, view in views:
        if not rule.holds(ConditionView(view, now)):
            continue
        size += 1
        if len(picked) < sample:
            picked.append(profile_id)
        elif sample > 0:
            j = rng.randrange(size)
            if j < sample:
                picked[j] = profile_id
    return Preview(size, picked)


def make_view(
    state: dict[str, Any],
    now: float,
    cfg: Any = None,
    traits: dict[str, Any] | None = None,
    consent: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """Build a view from a raw profile state (features summarised at ``now``, state kept for windows).

    >>> make_view({}, now=0.0)["features"]["events_total"]
    0
    """
    from pertinent.profiles.features import ProfileConfig, summarize

    return {
        "traits": traits or {},
        "features": summarize(state, now, cfg or ProfileConfig()),
        "consent": consent or {},
        "state": state,
    }
