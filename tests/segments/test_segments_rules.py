"""Rule segments: templates on hand-built profiles, time-based exits, validation paths, JSON round trip,
explain, preview and local-time conditions.

Views are built the way the service builds them: events go through ``profiles.features.apply_event`` and
the view holds the summary and the raw state (``rules.make_view``).

Rough speed (not asserted; 2 shared cores): ``python -m timeit -s "from tests.segments.test_segments_rules import
_bench_setup as s; from pertinent.rules import evaluate; r, v, now = s()" "evaluate(r, v, now)"``
-- about 5 µs for the cart-abandoner rule; about 12 µs for an and/or rule of six conditions including
local time (measured 2026-11-22 while other engineers' work ran on the machine).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.profiles.features import ProfileConfig, ProfileEvent, apply_event
from pertinent.rules import RULE_TYPES, RuleError, evaluate, explain, parse_rule, preview
from pertinent.rules.conditions import (
    AffinityCondition,
    CampaignCondition,
    ConsentCondition,
    ContextCondition,
    EventCountCondition,
    FeatureCondition,
    LocalTimeCondition,
    SinceCondition,
    TraitCondition,
)
from pertinent.rules.language import MAX_DEPTH, AndRule, NotRule, OrRule
from pertinent.segments.rules import Segment, make_view, parse_segment
from pertinent.segments.templates import TEMPLATES, all_templates, template

DAY = 86400.0
T0 = 20000 * DAY  # a day boundary (2024-10-04 00:00 UTC)
CFG = ProfileConfig()


def at(day: float, hour: float = 12.0) -> float:
    return T0 + day * DAY + hour * 3600


def build(events: list[tuple[str, float, dict]], context: dict | None = None) -> dict:
    """Profile state from (event name, day offset, properties) triples."""
    state: dict = {}
    for i, (name, day, props) in enumerate(events):
        apply_event(state, ProfileEvent("track", name, at(day), props, context if i == 0 else {}), CFG)
    return state


def view(state: dict, now: float, **kw) -> dict:
    return make_view(state, now, CFG, **kw)


def order(day: float, revenue: float = 20.0) -> tuple[str, float, dict]:
    return ("Order Completed", day, {"revenue": revenue})


def _bench_setup():
    state = build([("Product Added", 0, {}), ("Product Viewed", 1, {})] + [order(d) for d in range(3)])
    return template("cart_abandoners").rule, view(state, at(2), consent={"analytics": True}), at(2)


# ------------------------------------------------------------------------------------------- templates


def test_frequent_buyers_in_out_and_exit_later():
    seg = template("frequent_buyers")
    six = build([order(d) for d in range(6)])
    five = build([order(d) for d in range(5)])
    assert evaluate(seg, view(six, at(6)), at(6))
    assert not evaluate(seg, view(five, at(6)), at(6))
    # Stops buying: 30 days after the first order it has left, without any new event. The view is the
    # one computed at day 6; only `now` moves.
    stale = view(six, at(6))
    assert evaluate(seg, stale, at(29))
    assert not evaluate(seg, stale, at(30))
    assert not evaluate(seg, view(six, at(45)), at(45))


def test_frequent_buyers_only_counts_purchases():
    views = build([("Product Viewed", d, {}) for d in range(10)])
    assert not evaluate(template("frequent_buyers"), view(views, at(10)), at(10))


def test_browsers():
    seg = template("browsers")
    looker = build([("Product Viewed", d, {}) for d in range(6)])
    buyer = build([("Product Viewed", d, {}) for d in range(6)] + [order(3)])
    glance = build([("Product Viewed", 0, {}), ("Product Viewed", 1, {})])
    assert evaluate(seg, view(looker, at(6)), at(6))
    assert not evaluate(seg, view(buyer, at(6)), at(6))
    assert not evaluate(seg, view(glance, at(6)), at(6))
    # An old purchase (outside 30 days) no longer disqualifies.
    old_buyer = build([order(0)] + [("Product Viewed", 40 + d, {}) for d in range(6)])
    assert evaluate(seg, view(old_buyer, at(46)), at(46))


@pytest.mark.parametrize(
    ("campaign", "inside"),
    [
        ({"name": "Black-Friday-SALE"}, True),
        ({"name": "spring", "medium": "Coupon"}, True),
        ({"name": "weekly_DEALS"}, True),
        ({"name": "newsletter", "medium": "email"}, False),
        ({}, False),
    ],
)
def test_deal_seekers(campaign, inside):
    from pertinent.profiles.context import parse_context

    state = build([("Product Viewed", 0, {})], context=parse_context({"campaign": campaign}))
    assert evaluate(template("deal_seekers"), view(state, at(0)), at(0)) is inside


def test_deal_seekers_from_landing_url():
    from pertinent.profiles.context import parse_context

    ctx = parse_context({"page": {"url": "https://shop.test/?utm_source=fb&utm_campaign=summer_promo"}})
    state = build([("Product Viewed", 0, {})], context=ctx)
    assert evaluate(template("deal_seekers"), view(state, at(0)), at(0))


def test_cart_abandoners_and_exit_after_window():
    seg = template("cart_abandoners")
    added = build([("Product Added", 0, {})])
    bought = build([("Product Added", 0, {}), order(1)])
    assert evaluate(seg, view(added, at(2)), at(2))
    assert not evaluate(seg, view(bought, at(2)), at(2))
    assert evaluate(seg, view(added, at(2)), at(6))
    assert not evaluate(seg, view(added, at(2)), at(7))  # the add left the 7-day window
    # An order older than the window does not count against a fresh add.
    assert evaluate(seg, view(build([order(0), ("Product Added", 10, {})]), at(10)), at(10))


def test_new_visitors():
    seg = template("new_visitors")
    state = build([("Product Viewed", 0, {})])
    assert evaluate(seg, view(state, at(0)), at(3))
    assert not evaluate(seg, view(state, at(0)), at(7.5))
    assert not evaluate(seg, view({}, at(0)), at(0))  # never seen


@pytest.mark.parametrize(
    ("orders", "revenue", "inside"), [(5, 120.0, True), (5, 50.0, False), (4, 200.0, False), (8, 70.0, True)]
)
def test_high_value_loyalists(orders, revenue, inside):
    state = build([order(d, revenue) for d in range(orders)])
    assert evaluate(template("high_value_loyalists"), view(state, at(10)), at(10)) is inside


def test_at_risk_enters_with_time():
    seg = template("at_risk")
    state = build([order(0), order(1)])
    assert not evaluate(seg, view(state, at(1)), at(30))
    assert evaluate(seg, view(state, at(1)), at(62))
    assert not evaluate(seg, view(build([("Product Viewed", 0, {})]), at(90)), at(90))  # never bought


def test_template_params_and_unknown_name():
    assert evaluate(template("frequent_buyers", min_orders=2), view(build([order(0), order(1)]), at(1)), at(1))
    with pytest.raises(KeyError, match="frequent_buyers"):
        template("whales")
    assert {s.id for s in all_templates()} == set(TEMPLATES)


# ----------------------------------------------------------------------------------- round trip, parse


@pytest.mark.parametrize("seg", all_templates(), ids=lambda s: s.id)
def test_templates_round_trip_json(seg):
    text = seg.model_dump_json()
    again, errors = parse_segment(text)
    assert errors == []
    assert again == seg
    assert json.loads(again.model_dump_json()) == json.loads(text)
    state = build([("Product Added", 0, {}), order(1)])
    for now in (at(1), at(40), at(100)):
        assert evaluate(again, view(state, at(1)), now) == evaluate(seg, view(state, at(1)), now)


def test_every_condition_type_round_trips():
    rule = AndRule(
        conditions=[
            OrRule(
                conditions=[
                    TraitCondition(path=["address", "city"], op="eq", value="Lyon"),
                    TraitCondition(path="plan", op="exists"),
                ]
            ),
            NotRule(condition=ConsentCondition(purpose="personalization", granted=False)),
            FeatureCondition(path=["counts", "Order Completed", "7d"], op="gte", value=1),
            EventCountCondition(event=["Order Completed", "purchase"], window_days=14, value=2),
            CampaignCondition(fields=["referrer"], match="suffix", values=["google.com"]),
            ContextCondition(field="country", op="in", value=["FR", "DE"]),
            LocalTimeCondition(hours=[18, 19], weekdays=[5, 6], default_timezone="Europe/Paris"),
            AffinityCondition(kind="tag", label="vegan", min_share=0.25),
            SinceCondition(field="last_seen", op="lte", days=2.5),
        ]
    )
    seg = Segment(id="everything", name="Everything", rule=rule)
    parsed, errors = parse_segment(json.loads(seg.model_dump_json()))
    assert errors == [] and parsed == seg
    assert {c.type for c in rule.conditions} | {"or", "trait"} <= set(RULE_TYPES)


def test_path_keys_may_hold_spaces_and_dots():
    rule, errors = parse_rule({"type": "feature", "path": ["counts", "Order Completed", "30d"], "op": "gt", "value": 0})
    assert errors == []
    assert evaluate(rule, view(build([order(0)]), at(0)), at(0))
    trait = TraitCondition(path=["a.b"], op="eq", value=1)
    assert evaluate(trait, {"traits": {"a.b": 1}}, 0) and not evaluate(trait, {"traits": {"a": {"b": 1}}}, 0)


def _rule(r: dict) -> dict:
    return {"id": "s1", "name": "S", "rule": r}


OK = {"type": "consent", "purpose": "analytics"}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (
            _rule(
                {
                    "type": "and",
                    "conditions": [OK, {"type": "event_count", "event": "buy", "window_days": 3661, "value": 1}],
                }
            ),
            "rule.conditions[1].window_days",
        ),
        (
            _rule({"type": "or", "conditions": [OK, {"type": "not", "condition": {"type": "nope"}}]}),
            "rule.conditions[1].condition.type",
        ),
        (_rule({"type": "and", "conditions": [{"purpose": "analytics"}]}), "rule.conditions[0].type"),
        (_rule({"type": "and", "conditions": []}), "rule.conditions"),
        (_rule({"type": "trait", "path": ["age"], "op": "gt", "value": [1]}), "rule.value"),
        (_rule({"type": "trait", "path": ["age"], "op": "in", "value": 3}), "rule.value"),
        (_rule({"type": "trait", "path": [], "op": "eq", "value": 3}), "rule.path"),
        (_rule({"type": "trait", "path": ["a"], "op": "like", "value": 3}), "rule.op"),
        (_rule({"type": "local_time", "hours": [9, 24]}), "rule.hours[1]"),
        (_rule({"type": "local_time", "hours": [9], "default_timezone": "Mars/Olympus"}), "rule.default_timezone"),
        (_rule({"type": "affinity", "label": "Books", "min_share": 1.5}), "rule.min_share"),
        (_rule({"type": "did_and_not", "did": "a", "did_not": [], "window_days": 7}), "rule.did_not"),
        (_rule({"type": "campaign", "fields": ["utm_campaign"], "values": ["x"], "colour": "red"}), "rule.colour"),
        (_rule({"type": "event_count", "event": ["a", 3], "window_days": 3, "value": 1}), "rule.event[1]"),
        ({"name": "S", "rule": OK}, "id"),
        ({"id": "has space", "name": "S", "rule": OK}, "id"),
        ({"id": "s", "name": "S", "rule": OK, "created_at": "yesterday"}, "created_at"),
    ],
)
def test_validation_errors_point_at_the_bad_part(data, path):
    seg, errors = parse_segment(data)
    assert seg is None
    assert path in [e.path for e in errors], errors
    assert all(isinstance(e, RuleError) and e.message for e in errors)
    # The same problems are found from JSON text.
    assert [e.path for e in parse_segment(json.dumps(data))[1]] == [e.path for e in errors]


def test_root_level_problems():
    assert parse_segment("{not json")[1][0].path == ""
    assert parse_segment("[1, 2]")[1][0].message == "a segment must be a JSON object"
    deep: dict = OK
    for _ in range(MAX_DEPTH + 2):
        deep = {"type": "not", "condition": deep}
    rule, errors = parse_rule(deep)
    assert rule is None and "deep" in errors[0].message
    shallow: dict = OK
    for _ in range(5):
        shallow = {"type": "not", "condition": shallow}
    rule, errors = parse_rule(shallow)
    assert errors == [] and evaluate(rule, {"consent": {"analytics": True}}, 0) is False  # odd number of nots


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=25,
)
FIELDS = [
    "type",
    "conditions",
    "condition",
    "path",
    "op",
    "value",
    "event",
    "window_days",
    "did",
    "did_not",
    "fields",
    "values",
    "match",
    "field",
    "hours",
    "weekdays",
    "default_timezone",
    "purpose",
    "label",
    "min_share",
    "days",
    "kind",
    "granted",
    "min_count",
]
RULEISH = st.recursive(
    st.fixed_dictionaries({"type": st.sampled_from(RULE_TYPES)}, optional={k: JSON for k in FIELDS if k != "type"}),
    lambda kids: st.fixed_dictionaries(
        {"type": st.sampled_from(["and", "or", "not"])},
        optional={"conditions": st.lists(kids, max_size=3), "condition": kids},
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries({"id": JSON, "name": JSON, "rule": RULEISH | JSON}),
        st.text(max_size=40),
        st.binary(max_size=40),
    )
)
def test_arbitrary_input_never_crashes_parse_segment(data):
    seg, errors = parse_segment(data)
    assert (seg is None) != (errors == [])
    assert all(isinstance(e.path, str) and e.message for e in errors)


NAMES = st.sampled_from(["Order Completed", "Product Added", "Product Viewed", "page"])
SCALAR = st.none() | st.booleans() | st.integers(-5, 50) | st.sampled_from(["pro", "FR", "mobile", ""])
OP_VALUE = st.one_of(
    st.tuples(st.sampled_from(["eq", "ne", "contains"]), SCALAR.filter(lambda v: v is not None)),
    st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), st.integers(-5, 50) | st.sampled_from(["a", "m"])),
    st.tuples(st.just("in"), st.lists(SCALAR, min_size=1, max_size=3)),
    st.tuples(st.just("exists"), st.none() | st.booleans()),
)
PATHS = st.sampled_from(
    [
        ["plan"],
        ["rfm", "monetary"],
        ["counts", "Order Completed", "7d"],
        ["events_total"],
        ["context", "country"],
        ["a", "b", "c"],
    ]
)
LEAF = st.one_of(
    st.builds(lambda p, ov: {"type": "trait", "path": p, "op": ov[0], "value": ov[1]}, PATHS, OP_VALUE),
    st.builds(lambda p, ov: {"type": "feature", "path": p, "op": ov[0], "value": ov[1]}, PATHS, OP_VALUE),
    st.builds(
        lambda e, w, op, n: {"type": "event_count", "event": e, "window_days": w, "op": op, "value": n},
        NAMES | st.lists(NAMES, min_size=1, max_size=2),
        st.integers(1, 30),
        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
        st.integers(0, 5),
    ),
    st.builds(
        lambda a, b, w, m: {"type": "did_and_not", "did": a, "did_not": b, "window_days": w, "min_count": m},
        NAMES,
        NAMES,
        st.integers(1, 30),
        st.integers(1, 3),
    ),
    st.builds(
        lambda f, m, v: {"type": "campaign", "fields": f, "match": m, "values": v},
        st.lists(st.sampled_from(["utm_campaign", "utm_medium", "referrer"]), min_size=1, max_size=2),
        st.sampled_from(["contains", "equals", "prefix", "suffix"]),
        st.lists(st.sampled_from(["sale", "google.com", "x"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda f, ov: {"type": "context", "field": f, "op": ov[0], "value": ov[1]},
        st.sampled_from(["device_type", "country", "timezone"]),
        OP_VALUE,
    ),
    st.builds(
        lambda h, d, tz: {"type": "local_time", "hours": h, "weekdays": d, "default_timezone": tz},
        st.lists(st.integers(0, 23), min_size=1, max_size=3),
        st.none() | st.lists(st.integers(0, 6)),
        st.sampled_from(["UTC", "Asia/Tokyo", "America/Chicago"]),
    ),
    st.builds(
        lambda p, g: {"type": "consent", "purpose": p, "granted": g},
        st.sampled_from(["analytics", "personalization"]),
        st.booleans(),
    ),
    st.builds(
        lambda k, label, m: {"type": "affinity", "kind": k, "label": label, "min_share": m},
        st.sampled_from(["category", "tag"]),
        st.sampled_from(["Books", "Toys"]),
        st.floats(0.01, 1.0),
    ),
    st.builds(
        lambda f, op, d: {"type": "since", "field": f, "op": op, "days": d},
        st.sampled_from(["first_seen", "last_seen", "last_purchase"]),
        st.sampled_from(["gt", "gte", "lt", "lte"]),
        st.floats(0, 100),
    ),
)
VALID = st.recursive(
    LEAF,
    lambda kids: st.one_of(
        st.builds(
            lambda t, cs: {"type": t, "conditions": cs},
            st.sampled_from(["and", "or"]),
            st.lists(kids, min_size=1, max_size=3),
        ),
        st.builds(lambda c: {"type": "not", "condition": c}, kids),
    ),
    max_leaves=8,
)
EVENTS = st.lists(
    st.tuples(
        NAMES,
        st.integers(0, 40),
        st.fixed_dictionaries(
            {}, optional={"revenue": st.integers(0, 300), "category": st.sampled_from(["Books", "Toys"])}
        ),
    ),
    max_size=12,
)
CONTEXT = st.fixed_dictionaries(
    {},
    optional={
        "timezone": st.sampled_from(["Europe/Paris", "Asia/Tokyo", "bad"]),
        "country": st.sampled_from(["FR", "JP"]),
        "utm_campaign": st.sampled_from(["summer_sale", "news"]),
        "referrer": st.sampled_from(["www.google.com", "bing.com"]),
    },
)


@settings(max_examples=200, deadline=None)
@given(VALID, EVENTS, CONTEXT, st.integers(0, 60), JSON)
def test_valid_rules_round_trip_and_evaluate_consistently(data, events, context, day, junk):
    rule, errors = parse_rule(data)
    assert errors == [] and rule is not None
    assert parse_rule(rule.model_dump_json())[0] == rule
    state = build(sorted(events, key=lambda e: e[1]), context=context)
    real = view(state, at(day), traits={"plan": "pro", "a": {"b": {"c": 3}}}, consent={"analytics": True})
    for v in (real, junk, {"traits": junk, "features": junk, "state": junk, "consent": junk}):
        result = evaluate(rule, v, at(day))
        assert isinstance(result, bool)
        assert explain(rule, v, at(day)).held == result
    # and/or/not obey their definitions
    assert evaluate(NotRule(condition=rule), real, at(day)) is not evaluate(rule, real, at(day))


@settings(max_examples=200, deadline=None)
@given(st.lists(VALID, min_size=1, max_size=4), st.data())
def test_a_bad_field_in_a_nested_rule_is_reported_at_its_path(rules, data):
    i = data.draw(st.integers(0, len(rules) - 1))
    rules[i] = {**rules[i], "unexpected": 1}
    seg, errors = parse_segment(_rule({"type": "or", "conditions": rules}))
    assert seg is None
    assert f"rule.conditions[{i}].unexpected" in [e.path for e in errors]


# ------------------------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    ("op", "actual", "expected", "result"),
    [
        ("eq", 3, 3.0, True),
        ("eq", True, 1, False),
        ("eq", "3", 3, False),
        ("ne", None, 1, True),
        ("gt", None, 1, False),
        ("gte", "b", "a", True),
        ("lt", "10", 9, False),
        ("in", 2, [1, 2], True),
        ("contains", ["vip", "beta"], "vip", True),
        ("contains", "newsletter", "news", True),
        ("contains", 5, 5, False),
        ("exists", 0, None, True),
        ("exists", None, False, True),
        ("exists", "", True, True),
    ],
)
def test_trait_comparisons(op, actual, expected, result):
    traits = {} if actual is None else {"x": actual}
    cond = TraitCondition(path=["x"], op=op, value=expected)
    assert evaluate(cond, {"traits": traits}, 0) is result
    assert evaluate(NotRule(condition=cond), {"traits": traits}, 0) is (not result)


def test_hostile_view_values_do_not_crash():
    huge = 10**400
    hostile = {
        "traits": {"n": huge, "s": float("inf")},
        "features": {"first_seen": float("inf"), "rfm": {"monetary": huge}, "counts": {"x": {"7d": float("inf")}}},
        "state": {"counts": {"x": {"days": {"5": float("inf"), "oops": 1, "6": True, "7": 2}}}},
    }
    assert evaluate(TraitCondition(path=["n"], op="gt", value=1e300), hostile, 0)
    assert not evaluate(TraitCondition(path=["n"], op="eq", value=1e300), hostile, 0)
    assert evaluate(FeatureCondition(path=["rfm", "monetary"], op="gte", value=5), hostile, 0)
    assert not evaluate(SinceCondition(field="first_seen", op="lt", days=1), hostile, 0)
    assert explain(EventCountCondition(event="x", window_days=7, value=1), hostile, 7 * DAY).observed == 2
    assert not evaluate(LocalTimeCondition(hours=[1]), hostile, 1e300)
    with pytest.raises(ValueError, match="now must be a finite"):
        evaluate(ConsentCondition(purpose="analytics"), hostile, float("nan"))


def test_event_count_windows_use_day_buckets():
    state = build([("Product Viewed", d, {}) for d in (0, 0, 2, 3, 8, 9, 13)])
    now = at(13)
    counts = {w: EventCountCondition(event="Product Viewed", window_days=w, op="eq", value=0) for w in (1, 5, 11)}
    observed = {w: explain(c, view(state, now), now).observed for w, c in counts.items()}
    assert observed == {1: 1, 5: 2, 11: 4}  # days 13; 9, 13; 3, 8, 9, 13 (day 8 is 5 days ago: out of 5d)
    # Without the raw state, the summary's standard windows are used.
    summary_only = {"features": view(state, now)["features"]}
    assert (
        explain(EventCountCondition(event="Product Viewed", window_days=30, value=0), summary_only, now).observed == 7
    )


def test_affinity_and_context_and_consent():
    state = build(
        [
            ("Product Viewed", 0, {"category": "Books"}),
            ("Product Viewed", 0, {"category": "Books"}),
            ("Product Viewed", 0, {"category": "Toys"}),
        ],
        context={"device_type": "mobile", "country": "FR"},
    )
    v = view(state, at(0), consent={"analytics": True, "personalization": False})
    assert evaluate(AffinityCondition(label="Books", min_share=0.6), v, at(0))
    assert not evaluate(AffinityCondition(label="Toys", min_share=0.5), v, at(0))
    assert not evaluate(AffinityCondition(label="Garden", min_share=0.01), v, at(0))
    assert evaluate(ContextCondition(field="country", op="in", value=["FR", "BE"]), v, at(0))
    assert not evaluate(ContextCondition(field="device_type", op="eq", value="desktop"), v, at(0))
    assert evaluate(ConsentCondition(purpose="analytics"), v, at(0))
    assert evaluate(ConsentCondition(purpose="personalization", granted=False), v, at(0))


# ------------------------------------------------------------------------------------------- local time

MONDAY_0230_UTC = datetime(2024, 1, 1, 2, 30, tzinfo=UTC).timestamp()
JULY_1200_UTC = datetime(2024, 7, 10, 12, 0, tzinfo=UTC).timestamp()  # a Wednesday


def tz_view(tz: str | None) -> dict:
    return {"features": {"context": {} if tz is None else {"timezone": tz}}}


@pytest.mark.parametrize(
    ("tz", "now", "hour", "weekday"),
    [
        ("UTC", MONDAY_0230_UTC, 2, 0),
        ("America/Los_Angeles", MONDAY_0230_UTC, 18, 6),  # UTC-8 in winter: still Sunday evening
        ("Asia/Tokyo", MONDAY_0230_UTC, 11, 0),
        ("Asia/Kolkata", MONDAY_0230_UTC, 8, 0),  # UTC+5:30
        ("America/New_York", JULY_1200_UTC, 8, 2),  # daylight saving: UTC-4
        ("Europe/London", JULY_1200_UTC, 13, 2),
        (None, JULY_1200_UTC, 12, 2),  # no timezone: the default (UTC)
        ("Not/AZone", JULY_1200_UTC, 12, 2),  # unknown timezone: the default
    ],
)
def test_local_hour_and_weekday_across_timezones(tz, now, hour, weekday):
    v = tz_view(tz)
    assert evaluate(LocalTimeCondition(hours=[hour]), v, now)
    assert not evaluate(LocalTimeCondition(hours=[(hour + 1) % 24, (hour + 23) % 24]), v, now)
    assert evaluate(LocalTimeCondition(weekdays=[weekday]), v, now)
    assert not evaluate(LocalTimeCondition(weekdays=[(weekday + 1) % 7]), v, now)
    assert evaluate(LocalTimeCondition(hours=[hour], weekdays=[weekday]), v, now)


def test_local_time_default_timezone():
    cond = LocalTimeCondition(hours=[4], default_timezone="Europe/Berlin")  # 02:30 UTC = 03:30 in Berlin
    assert not evaluate(cond, tz_view(None), MONDAY_0230_UTC)
    assert evaluate(LocalTimeCondition(hours=[3], default_timezone="Europe/Berlin"), tz_view(None), MONDAY_0230_UTC)
    assert "Europe/Berlin" in explain(cond, tz_view(None), MONDAY_0230_UTC).observed


def test_local_time_needs_hours_or_weekdays():
    rule, errors = parse_rule({"type": "local_time"})
    assert rule is None and "hours" in errors[0].message


# -------------------------------------------------------------------------------------- explain, preview


def test_explain_reports_each_sub_condition():
    rule = AndRule(
        conditions=[
            EventCountCondition(event="Product Added", window_days=7, value=1),
            NotRule(condition=EventCountCondition(event="Order Completed", window_days=7, value=1)),
            OrRule(
                conditions=[
                    ContextCondition(field="device_type", op="eq", value="mobile"),
                    TraitCondition(path=["plan"], op="eq", value="pro"),
                ]
            ),
        ]
    )
    state = build([("Product Added", 0, {}), order(1)], context={"device_type": "desktop"})
    v = view(state, at(1), traits={"plan": "pro"})
    e = explain(rule, v, at(1))
    assert e.held is False and evaluate(rule, v, at(1)) is False
    added, not_bought, either = e.children
    assert (added.path, added.held, added.observed) == ("conditions[0]", True, 1)
    assert (not_bought.held, not_bought.children[0].held) == (False, True)
    assert not_bought.children[0].path == "conditions[1].condition"
    assert either.held and [c.held for c in either.children] == [False, True]
    assert either.children[0].observed == "desktop"
    text = "\n".join(e.lines())
    assert "Product Added" in text and "device_type" in text and text.count("\n") == 6
    # Eight days later the add and the order have left the window: the explanation changes with `now`.
    later = explain(rule, v, at(9))
    assert [c.held for c in later.children] == [False, True, True]


def test_preview_counts_and_samples_members():
    views = [(f"p{i}", {"traits": {"n": i}}) for i in range(50)]
    even = TraitCondition(path=["n"], op="in", value=list(range(0, 50, 2)))
    result = preview(Segment(id="even", name="Even", rule=even), views, now=0)
    assert result.size == 25
    assert len(result.sample_ids) == 10 and len(set(result.sample_ids)) == 10
    assert all(int(pid[1:]) % 2 == 0 for pid in result.sample_ids)
    assert preview(even, views, 0).sample_ids == result.sample_ids  # reproducible
    assert preview(even, iter(views), 0, sample=0) == (25, [])
    assert sorted(preview(even, views, 0, sample=100).sample_ids) == sorted(f"p{i}" for i in range(0, 50, 2))
    # The sample is spread over the members, not just the first ones.
    assert max(int(pid[1:]) for pid in result.sample_ids) > 20


def test_preview_is_time_aware():
    profiles = [
        ("new", view(build([("Product Viewed", 5, {})]), at(5))),
        ("old", view(build([("Product Viewed", 0, {})]), at(5))),
    ]
    assert preview(template("new_visitors"), profiles, at(6)) == (2, ["new", "old"])
    assert preview(template("new_visitors"), profiles, at(8)) == (1, ["new"])
