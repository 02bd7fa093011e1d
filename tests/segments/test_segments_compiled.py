"""Compiled rules (``rules.compile``) give exactly what ``rules.evaluate`` gives on the full view."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.profiles.features import ProfileEvent, apply_event
from pertinent.rules import (
    ALL,
    Moment,
    compile_rule,
    depends_on_time,
    evaluate,
    event_changes,
    parse_rule,
    time_bounds,
    triggers,
)
from pertinent.rules.values import DAY
from pertinent.segments.compiled import Facts
from pertinent.segments.rules import make_view
from pertinent.segments.templates import all_templates
from tests.segments.test_segments_rules import CFG, CONTEXT, EVENTS, VALID, at, build

TRAITS = {"plan": "pro", "a": {"b": {"c": 3}}}


@settings(max_examples=400, deadline=None)
@given(
    VALID,
    EVENTS,
    CONTEXT,
    st.integers(0, 60),
    st.sampled_from([{}, {"analytics": True}, {"personalization": True, "analytics": False}]),
)
def test_compiled_rules_agree_with_evaluate(data, events, context, day, consent):
    rule, errors = parse_rule(data)
    assert errors == []
    state = build(sorted(events, key=lambda e: e[1]), context=context)
    now = at(day, hour=day % 24)
    expected = evaluate(rule, make_view(state, now, CFG, traits=TRAITS, consent=consent), now)
    assert compile_rule(rule)(Facts(state, TRAITS, consent, now, CFG)) is expected


def test_one_moment_serves_many_profiles_and_templates_agree():
    moment = Moment(at(10))
    states = [
        build([("Order Completed", d, {"revenue": 120.0}) for d in range(k)] + [("Product Added", 9, {})])
        for k in range(8)
    ]
    for seg in all_templates():
        check = compile_rule(seg.rule)
        for state in states:
            assert check(Facts(state, {}, {}, moment, CFG)) is evaluate(seg, make_view(state, at(10), CFG), at(10))


def test_time_dependence():
    timed = {s.id for s in all_templates() if depends_on_time(s.rule)}
    assert timed == {"frequent_buyers", "browsers", "cart_abandoners", "new_visitors", "at_risk"}
    for data, timed_ in [
        ({"type": "feature", "path": ["counts", "x", "total"], "op": "gt", "value": 1}, False),
        ({"type": "feature", "path": ["counts", "x", "7d"], "op": "gt", "value": 1}, True),
        ({"type": "feature", "path": ["rfm", "recency_days"], "op": "gt", "value": 1}, True),
        ({"type": "feature", "path": ["context", "country"], "op": "eq", "value": "FR"}, False),
        ({"type": "not", "condition": {"type": "local_time", "hours": [3]}}, True),
    ]:
        assert depends_on_time(parse_rule(data)[0]) is timed_, data


UPDATES = st.lists(
    st.tuples(
        st.sampled_from(["track", "track", "page", "identify"]),
        st.sampled_from(["Order Completed", "Product Added", "Product Viewed", "Order Refunded"]),
        st.integers(0, 40),
        st.fixed_dictionaries(
            {}, optional={"revenue": st.integers(0, 300), "category": st.sampled_from(["Books", "Toys"])}
        ),
        st.none() | CONTEXT,
        st.none() | st.fixed_dictionaries({"plan": st.sampled_from(["pro", "free"])}),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=400, deadline=None)
@given(VALID, EVENTS, CONTEXT, UPDATES, st.integers(0, 60))
def test_an_update_that_misses_a_rules_triggers_cannot_change_its_outcome(data, events, context, updates, day):
    rule, _ = parse_rule(data)
    before = build(sorted(events, key=lambda e: e[1]), context=context)
    after = copy.deepcopy(before)
    traits_before, traits_after = dict(TRAITS), dict(TRAITS)
    changed: set[str] = set()
    for type_, name, d, props, ctx, traits in updates:
        event_name = name if type_ == "track" else None
        apply_event(after, ProfileEvent(type_, event_name, at(d), props, ctx or {}), CFG)
        if type_ == "identify" and traits:
            traits_after.update(traits)
        changed |= event_changes(type_, event_name, ctx, traits, CFG)
    now = at(day)
    if ALL not in changed and not triggers(rule) & changed:
        consent = {"analytics": True}
        assert evaluate(rule, make_view(before, now, CFG, traits=traits_before, consent=consent), now) is evaluate(
            rule, make_view(after, now, CFG, traits=traits_after, consent=consent), now
        )


def test_updates_skip_the_segments_they_cannot_affect(services):
    """A view does not re-evaluate "frequent buyers"; a purchase does."""
    seg = services.segments
    seg.create({"template": "frequent_buyers", "params": {"min_orders": 1}})
    services.ingest.ingest([{"type": "track", "event": "Product Viewed", "userId": "ann", "messageId": "m1"}])
    assert seg.wait_idle()
    calls: list[list[str]] = []
    real = seg.membership.memberships
    seg.membership.memberships = lambda row, defs, moment: calls.append([d.id for d in defs]) or real(row, defs, moment)
    services.ingest.ingest([{"type": "track", "event": "Product Viewed", "userId": "ann", "messageId": "m2"}])
    assert seg.wait_idle() and calls == [[]]
    services.ingest.ingest([{"type": "track", "event": "Order Completed", "userId": "ann", "messageId": "m3"}])
    assert seg.wait_idle() and calls[-1] == ["frequent_buyers"]
    assert [s.id for s in services.profiles.get("ann").segments] == ["frequent_buyers"]


def _may_change(bounds, state: dict, t0: float, t1: float) -> bool:
    """What the sweep re-reads between sweeps at t0 and t1 (as ``SegmentService._since_last_sweep`` selects it)."""
    if bounds.always or (bounds.midnight and int(t0 // DAY) != int(t1 // DAY)):
        return True
    facts = Facts(state, {}, {}, t0, CFG)
    for name, seconds in bounds.spans:
        ts = facts.timestamp(name)
        if ts is not None and t0 - seconds - 1.0 <= ts <= t1 - seconds + 1.0:
            return True
    return False


@settings(max_examples=500, deadline=None)
@given(
    VALID,
    EVENTS,
    CONTEXT,
    st.integers(0, 60),
    st.floats(0, 24),
    st.one_of(
        st.floats(0, 45 * DAY),
        st.builds(lambda d, s: d * DAY + s, st.integers(0, 45), st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])),
    ),
)
def test_a_profile_the_sweep_skips_keeps_its_outcome(data, events, context, day, hour, later):
    """Soundness of ``time_bounds``: when the sweep would not re-read an unchanged profile between two moments, every
    rule gives the same outcome at both."""
    rule, errors = parse_rule(data)
    assert errors == []
    state = build(sorted(events, key=lambda e: e[1]), context=context)
    t0 = at(day, hour=hour)
    t1 = t0 + max(later, 0.0)
    if not _may_change(time_bounds(rule), state, t0, t1):
        check = compile_rule(rule)
        consent = {"personalization": True, "analytics": True}
        assert check(Facts(state, TRAITS, consent, t0, CFG)) is check(Facts(state, TRAITS, consent, t1, CFG))


def test_time_bounds_of_the_templates():
    bounds = {s.id: time_bounds(s.rule) for s in all_templates()}
    assert {k for k, b in bounds.items() if b.midnight} == {"frequent_buyers", "browsers", "cart_abandoners"}
    assert {k: sorted(b.spans) for k, b in bounds.items() if b.spans} == {
        "new_visitors": [("first_seen", 7 * DAY)],
        "at_risk": [("last_purchase", 60 * DAY)],
    }
    assert not any(b.always for b in bounds.values())
