"""Rules compiled once per segment version into plain closures over lazily computed profile facts.

``rules.evaluate`` walks the pydantic rule tree and needs a full view (``profiles.features.summarize``: about
100 µs per profile). The real-time evaluator checks every changed profile against every active segment, so here a
rule becomes nested Python closures, and :class:`Facts` computes what a rule asks for on first use and at most
once per profile (event counts per window, one part of the summary, the context, the local time).

The result is the same as ``rules.evaluate(rule, make_view(state, now, cfg, traits, consent), now)`` — a
property test checks it on random rules and profiles.

>>> from pertinent.segments.templates import template
>>> from pertinent.profiles.features import ProfileConfig
>>> check = compile_rule(template("frequent_buyers", min_orders=2).rule)
>>> state = {"counts": {"Order Completed": {"total": 2, "days": {"100": 1, "101": 1}}}}
>>> check(Facts(state, {}, {}, now=101 * 86400.0, cfg=ProfileConfig()))
True
>>> check(Facts(state, {}, {}, now=140 * 86400.0, cfg=ProfileConfig()))
False
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pertinent.profiles.features import ProfileConfig, summarize
from pertinent.segments.rules import (
    DAY,
    ORDER_OPS,
    WEEKDAYS,
    AffinityCondition,
    AndRule,
    CampaignCondition,
    ConsentCondition,
    ContextCondition,
    DidAndNotCondition,
    EventCountCondition,
    FeatureCondition,
    LocalTimeCondition,
    NotRule,
    OrRule,
    Rule,
    SinceCondition,
    TraitCondition,
    compare,
    event_names,
    is_number,
    json_equal,
    lookup,
    time_zone,
)

Check = Callable[["Facts"], bool]
# Where each timestamp a ``since`` condition counts days from lives in a profile's state.
TIMESTAMP_PATHS = {
    "first_seen": ("first_seen",),
    "last_seen": ("last_seen",),
    "last_purchase": ("rfm", "last_purchase"),
}

# Which raw state keys each top-level summary feature is computed from (see ``profiles.features.summarize``):
# summarising just those keys gives exactly that part of the full summary.
_SUMMARY_SOURCES: dict[str, tuple[str, ...]] = {
    "events_total": ("events_total",),
    "sessions": ("sessions",),
    "first_seen": ("first_seen",),
    "last_seen": ("last_seen",),
    "days_since_last_seen": ("last_seen",),
    "counts": ("counts",),
    "rfm": ("rfm",),
    "affinities": ("affinities", "affinity_ref"),
    "recent_items": ("recent_items",),
    "context": ("context",),
}
# Summary values that change with time alone (no new event), as (head, key); and heads that never do.
_TIMED_FEATURES = {("rfm", "recency_days"), ("affinities", "category_strength"), ("affinities", "tag_strength")}
_STILL_FEATURES = {"events_total", "sessions", "first_seen", "last_seen", "recent_items", "context"}


class Moment:
    """``now`` shared by every profile of one evaluation pass, with its local times cached per time zone.

    >>> Moment(86400.0 * 3 + 3600 * 9).local("Europe/Paris")  # 10:00 in Paris on a Sunday
    (10, 6)
    """

    __slots__ = ("now", "today", "_local")

    def __init__(self, now: float) -> None:
        self.now = float(now)
        if not math.isfinite(self.now):
            raise ValueError(f"now must be a finite epoch time in seconds, got {now!r}")
        self.today = int(self.now // DAY)
        self._local: dict[str, tuple[int, int] | None] = {}

    def local(self, zone: str) -> tuple[int, int] | None:
        """(hour, weekday) at ``now`` in a known time zone; None when out of range."""
        hit = self._local.get(zone, False)
        if hit is False:
            try:
                dt = datetime.fromtimestamp(self.now, time_zone(zone))
                hit = (dt.hour, dt.weekday())
            except (OverflowError, OSError, ValueError):
                hit = None
            self._local[zone] = hit
        return hit  # type: ignore[return-value]


class Facts:
    """One profile as rules see it at one moment; each fact is computed on first use.

    >>> f = Facts({"counts": {"buy": {"total": 3, "days": {"9": 2, "2": 1}}}}, {}, {}, now=10 * 86400.0,
    ...           cfg=ProfileConfig())
    >>> f.count(("buy",), 7), f.count(("buy",), 30), f.feature("counts")["buy"]["7d"]
    (2, 3, 2)
    """

    __slots__ = ("state", "traits", "consent", "moment", "cfg", "_parts", "_ages", "_counts")

    def __init__(
        self,
        state: dict[str, Any],
        traits: dict[str, Any],
        consent: dict[str, Any],
        now: float | Moment,
        cfg: ProfileConfig,
    ) -> None:
        self.state = state if isinstance(state, dict) else {}
        self.traits = traits if isinstance(traits, dict) else {}
        self.consent = consent if isinstance(consent, dict) else {}
        self.moment = now if isinstance(now, Moment) else Moment(now)
        self.cfg = cfg
        self._parts: dict[str, Any] = {}
        self._ages: dict[str, list[tuple[int, int]]] = {}
        self._counts: dict[tuple[tuple[str, ...], int], int] = {}

    def feature(self, head: str) -> Any:
        """One top-level value of the summary (``summarize(state, now, cfg)[head]``), computed alone."""
        try:
            return self._parts[head]
        except KeyError:
            pass
        sources = _SUMMARY_SOURCES.get(head)
        if sources is None:
            value = summarize(self.state, self.moment.now, self.cfg).get(head)
        else:
            sub = {k: self.state[k] for k in sources if k in self.state}
            value = summarize(sub, self.moment.now, self.cfg)[head]
        self._parts[head] = value
        return value

    def _days(self, name: str, counts: dict[str, Any]) -> list[tuple[int, int]]:
        ages = self._ages.get(name)
        if ages is None:
            ages = []
            days = lookup(counts, [name, "days"])
            if isinstance(days, dict):
                today = self.moment.today
                for day, n in days.items():
                    try:
                        age = today - int(day)
                    except (TypeError, ValueError):
                        continue
                    if age >= 0 and isinstance(n, int) and not isinstance(n, bool):
                        ages.append((age, n))
            self._ages[name] = ages
        return ages

    def count(self, names: tuple[str, ...], window_days: int) -> int:
        key = (names, window_days)
        n = self._counts.get(key)
        if n is None:
            counts = self.state.get("counts")
            n = 0
            if isinstance(counts, dict):
                for name in names:
                    n += sum(c for age, c in self._days(name, counts) if age < window_days)
            self._counts[key] = n
        return n

    def context(self) -> dict[str, Any]:
        ctx = self.state.get("context")
        return ctx if isinstance(ctx, dict) else {}

    def timestamp(self, name: str) -> float | None:
        ts = lookup(self.state, list(TIMESTAMP_PATHS[name]))
        return float(ts) if is_number(ts) and math.isfinite(ts) else None


def _int_compare(op: str, expected: int) -> Callable[[int], bool]:
    if op in ORDER_OPS:
        fn = ORDER_OPS[op]
        return lambda n: fn(n, expected)
    if op == "eq":
        return lambda n: json_equal(n, expected)
    return lambda n: not json_equal(n, expected)


def _comparison(op: str, expected: Any) -> Callable[[Any], bool]:
    """``compare(op, actual, expected)`` with ``op`` and ``expected`` bound; ordering a number against a number
    (the common case: thresholds on features) skips the generic dispatch. JSON numbers are exactly int and float."""
    if op in ORDER_OPS and is_number(expected):
        fn = ORDER_OPS[op]
        return lambda actual: (type(actual) is int or type(actual) is float) and fn(actual, expected)
    return lambda actual: compare(op, actual, expected)


def compile_rule(rule: Rule) -> Check:
    """A function ``Facts -> bool`` equivalent to evaluating ``rule``."""
    if isinstance(rule, AndRule):
        parts = tuple(compile_rule(c) for c in rule.conditions)

        def all_of(f: Facts) -> bool:
            for p in parts:
                if not p(f):
                    return False
            return True

        return all_of
    if isinstance(rule, OrRule):
        parts = tuple(compile_rule(c) for c in rule.conditions)

        def any_of(f: Facts) -> bool:
            for p in parts:
                if p(f):
                    return True
            return False

        return any_of
    if isinstance(rule, NotRule):
        inner = compile_rule(rule.condition)
        return lambda f: not inner(f)
    if isinstance(rule, TraitCondition):
        path, test = list(rule.path), _comparison(rule.op, rule.value)
        return lambda f: test(lookup(f.traits, path))
    if isinstance(rule, FeatureCondition):
        head, rest, test = rule.path[0], list(rule.path[1:]), _comparison(rule.op, rule.value)
        if not rest:
            return lambda f: test(f.feature(head))
        return lambda f: test(lookup(f.feature(head), rest))
    if isinstance(rule, EventCountCondition):
        names, window, ok = event_names(rule.event), rule.window_days, _int_compare(rule.op, rule.value)
        return lambda f: ok(f.count(names, window))
    if isinstance(rule, DidAndNotCondition):
        did, did_not, window, least = event_names(rule.did), event_names(rule.did_not), rule.window_days, rule.min_count
        return lambda f: f.count(did, window) >= least and f.count(did_not, window) == 0
    if isinstance(rule, CampaignCondition):
        return _campaign(rule)
    if isinstance(rule, ContextCondition):
        field, op, value = rule.field, rule.op, rule.value
        return lambda f: compare(op, f.context().get(field), value)
    if isinstance(rule, LocalTimeCondition):
        return _local_time(rule)
    if isinstance(rule, ConsentCondition):
        purpose, granted = rule.purpose, rule.granted
        return lambda f: (f.consent.get(purpose) is True) == granted
    if isinstance(rule, AffinityCondition):
        path, least = [rule.kind, rule.label], rule.min_share

        def affinity(f: Facts) -> bool:
            share = lookup(f.feature("affinities"), path)
            return (float(share) if is_number(share) else 0.0) >= least

        return affinity
    if isinstance(rule, SinceCondition):
        name, op, days = rule.field, rule.op, rule.days

        def since(f: Facts) -> bool:
            ts = f.timestamp(name)
            return ts is not None and compare(op, (f.moment.now - ts) / DAY, days)

        return since
    raise TypeError(f"cannot compile rule of type {type(rule).__name__}")  # pragma: no cover - closed union


def _campaign(rule: CampaignCondition) -> Check:
    fields, match, wants = tuple(rule.fields), rule.match, tuple(x.lower() for x in rule.values)
    test: Callable[[str, str], bool] = {
        "contains": lambda low, w: w in low,
        "equals": lambda low, w: low == w,
        "prefix": lambda low, w: low.startswith(w),
        "suffix": lambda low, w: low.endswith(w),
    }[match]

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


def _local_time(rule: LocalTimeCondition) -> Check:
    hours, weekdays, default = rule.hours, rule.weekdays, rule.default_timezone
    assert len(WEEKDAYS) == 7

    def local_time(f: Facts) -> bool:
        name = f.context().get("timezone")
        zone = name if isinstance(name, str) and name and time_zone(name) is not None else default
        at = f.moment.local(zone)
        if at is None:
            return False
        hour, weekday = at
        return (not hours or hour in hours) and (not weekdays or weekday in weekdays)

    return local_time


def depends_on_time(rule: Rule) -> bool:
    """Whether the rule's outcome for an unchanged profile can change as time passes (windows, days since,
    local time, decaying strengths). Such segments are re-checked by the periodic sweep.

    >>> from pertinent.segments.templates import template
    >>> depends_on_time(template("frequent_buyers").rule), depends_on_time(template("deal_seekers").rule)
    (True, False)
    """
    if isinstance(rule, AndRule | OrRule):
        return any(depends_on_time(c) for c in rule.conditions)
    if isinstance(rule, NotRule):
        return depends_on_time(rule.condition)
    if isinstance(rule, EventCountCondition | DidAndNotCondition | SinceCondition | LocalTimeCondition):
        return True
    if isinstance(rule, FeatureCondition):
        head, rest = rule.path[0], rule.path[1:]
        if head not in _SUMMARY_SOURCES or not rest:
            return head not in _STILL_FEATURES  # unknown, or a whole part compared at once
        if head == "counts":  # counts.<event>.total does not move with time; the windows do
            return len(rest) < 2 or rest[1] != "total"
        return (head, rest[0]) in _TIMED_FEATURES
    return False


@dataclass(frozen=True)
class TimeBounds:
    """When time alone can change a rule's outcome for a profile that does not change: as ``timestamp + seconds``
    passes, for each (timestamp field, seconds) in ``spans`` (days since first/last seen or last purchase); at UTC
    midnights (``midnight``: event counts in day-bucket windows); or at any moment (``always``: local time,
    decaying or unknown features). The sweep re-checks only the profiles these bounds say may have changed
    (``SegmentService.sweep``).

    >>> from pertinent.segments.templates import template
    >>> time_bounds(template("at_risk", inactive_days=20).rule)
    TimeBounds(spans=frozenset({('last_purchase', 1728000.0)}), midnight=False, always=False)
    >>> time_bounds(template("frequent_buyers").rule).midnight
    True
    """

    spans: frozenset[tuple[str, float]] = frozenset()
    midnight: bool = False
    always: bool = False

    def __or__(self, other: TimeBounds) -> TimeBounds:
        return TimeBounds(self.spans | other.spans, self.midnight or other.midnight, self.always or other.always)


def time_bounds(rule: Rule) -> TimeBounds:
    """The :class:`TimeBounds` of a rule (the union over its conditions; none for a rule time cannot change)."""
    if isinstance(rule, AndRule | OrRule):
        out = TimeBounds()
        for c in rule.conditions:
            out = out | time_bounds(c)
        return out
    if isinstance(rule, NotRule):
        return time_bounds(rule.condition)
    if isinstance(rule, SinceCondition):  # (now - ts) / DAY against days: changes only as ts + days passes
        return TimeBounds(spans=frozenset({(rule.field, rule.days * DAY)}))
    if isinstance(rule, EventCountCondition | DidAndNotCondition):  # day buckets: changes only when the day does
        return TimeBounds(midnight=True)
    if isinstance(rule, FeatureCondition) and depends_on_time(rule):
        head, rest = rule.path[0], rule.path[1:]
        return TimeBounds(midnight=True) if head == "counts" and len(rest) >= 2 else TimeBounds(always=True)
    if isinstance(rule, LocalTimeCondition):
        return TimeBounds(always=True)
    return TimeBounds()


# ------------------------------------------------------------------------------------------- what a rule reads
# Evaluating only the segments an update can affect: a rule's *triggers* name what it reads, an update's *changes*
# name what the applied events touched (``event:<name>`` the counts of that event, ``counted`` totals, sessions,
# affinities and recent items, ``seen`` first/last seen, ``purchase`` RFM, ``context``, ``traits``, ``consent``;
# ``*`` everything). A segment whose triggers miss the changes keeps its membership: the rule's outcome cannot have
# changed at the same moment (a property test checks this); what time alone changes is the sweep's job.
ALL = "*"
_HEAD_TRIGGERS = {
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


def triggers(rule: Rule) -> frozenset[str]:
    """What a rule reads, as change tokens.

    >>> from pertinent.segments.templates import template
    >>> sorted(triggers(template("cart_abandoners").rule))
    ['event:Order Completed', 'event:Product Added']
    >>> sorted(triggers(template("at_risk").rule))
    ['purchase']
    """
    if isinstance(rule, AndRule | OrRule):
        return frozenset().union(*(triggers(c) for c in rule.conditions))
    if isinstance(rule, NotRule):
        return triggers(rule.condition)
    if isinstance(rule, TraitCondition):
        return frozenset({"traits"})
    if isinstance(rule, FeatureCondition):
        head = rule.path[0]
        if head == "counts":
            return frozenset({f"event:{rule.path[1]}" if len(rule.path) > 1 else "counted"})
        return frozenset({_HEAD_TRIGGERS.get(head, ALL)})
    if isinstance(rule, EventCountCondition):
        return frozenset(f"event:{n}" for n in event_names(rule.event))
    if isinstance(rule, DidAndNotCondition):
        return frozenset(f"event:{n}" for n in event_names(rule.did) + event_names(rule.did_not))
    if isinstance(rule, CampaignCondition | ContextCondition | LocalTimeCondition):
        return frozenset({"context"})
    if isinstance(rule, ConsentCondition):
        return frozenset({"consent"})
    if isinstance(rule, AffinityCondition):
        return frozenset({"counted"})
    if isinstance(rule, SinceCondition):
        return frozenset({"purchase" if rule.field == "last_purchase" else "seen"})
    return frozenset({ALL})  # pragma: no cover - closed union


def event_changes(type_: str, name: str | None, context: Any, traits: Any, cfg: ProfileConfig) -> set[str]:
    """What applying one event (``profiles.features.apply_event``, identify traits) can change in a profile.

    >>> sorted(event_changes("track", "Order Completed", {"ip": "1.2.3.0"}, None, ProfileConfig()))
    ['context', 'counted', 'event:Order Completed', 'purchase', 'seen']
    >>> sorted(event_changes("identify", None, None, {"plan": "pro"}, ProfileConfig()))
    ['seen', 'traits']
    """
    if isinstance(context, dict) and "consent" in context:
        return {ALL}  # a consent statement may withdraw or grant personalisation
    out = {"seen"}
    if type_ in cfg.counted_types:
        out.add("counted")
        out.add(f"event:{(name if type_ == 'track' and name else type_)[:200]}")
        if name in cfg.purchase_events or name in cfg.refund_events:
            out.add("purchase")
    if context:
        out.add("context")
    if type_ == "identify" and traits:
        out.add("traits")
    return out
