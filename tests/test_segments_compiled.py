"""Compiled rules (``segments.compiled``) give exactly what ``rules.evaluate`` gives on the full view."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.profiles.features import ProfileEvent, apply_event
from pertinent.segments.compiled import ALL, Facts, Moment, compile_rule, depends_on_time, event_changes, triggers
from pertinent.segments.rules import evaluate, make_view, parse_rule
from pertinent.segments.templates import all_templates
from tests.test_segments_rules import CFG, CONTEXT, EVENTS, VALID, at, build

TRAITS = {"plan": "pro", "a": {"b": {"c": 3}}}


@settings(max_examples=400, deadline=None)
@given(VALID, EVENTS, CONTEXT, st.integers(0, 60), st.sampled_from([{}, {"analytics": True},
                                                                     {"personalization": True, "analytics": False}]))
def test_compiled_rules_agree_with_evaluate(data, events, context, day, consent):
    rule, errors = parse_rule(data)
    assert errors == []
    state = build(sorted(events, key=lambda e: e[1]), context=context)
    now = at(day, hour=day % 24)
    expected = evaluate(rule, make_view(state, now, CFG, traits=TRAITS, consent=consent), now)
    assert compile_rule(rule)(Facts(state, TRAITS, consent, now, CFG)) is expected


def test_one_moment_serves_many_profiles_and_templates_agree():
    moment = Moment(at(10))
    states = [build([("Order Completed", d, {"revenue": 120.0}) for d in range(k)] + [("Product Added", 9, {})])
              for k in range(8)]
    for seg in all_templates():
        check = compile_rule(seg.rule)
        for state in states:
            assert check(Facts(state, {}, {}, moment, CFG)) is evaluate(seg, make_view(state, at(10), CFG), at(10))


def test_time_dependence():
    timed = {s.id for s in all_templates() if depends_on_time(s.rule)}
    assert timed == {"frequent_buyers", "browsers", "cart_abandoners", "new_visitors", "at_risk"}
    for data, timed_ in [({"type": "feature", "path": ["counts", "x", "total"], "op": "gt", "value": 1}, False),
                         ({"type": "feature", "path": ["counts", "x", "7d"], "op": "gt", "value": 1}, True),
                         ({"type": "feature", "path": ["rfm", "recency_days"], "op": "gt", "value": 1}, True),
                         ({"type": "feature", "path": ["context", "country"], "op": "eq", "value": "FR"}, False),
                         ({"type": "not", "condition": {"type": "local_time", "hours": [3]}}, True)]:
        assert depends_on_time(parse_rule(data)[0]) is timed_, data


UPDATES = st.lists(st.tuples(
    st.sampled_from(["track", "track", "page", "identify"]),
    st.sampled_from(["Order Completed", "Product Added", "Product Viewed", "Order Refunded"]),
    st.integers(0, 40),
    st.fixed_dictionaries({}, optional={"revenue": st.integers(0, 300),
                                        "category": st.sampled_from(["Books", "Toys"])}),
    st.none() | CONTEXT,
    st.none() | st.fixed_dictionaries({"plan": st.sampled_from(["pro", "free"])}),
), min_size=1, max_size=4)


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
        assert evaluate(rule, make_view(before, now, CFG, traits=traits_before, consent=consent), now) is \
            evaluate(rule, make_view(after, now, CFG, traits=traits_after, consent=consent), now)


def test_updates_skip_the_segments_they_cannot_affect(services):
    """A view does not re-evaluate "frequent buyers"; a purchase does."""
    seg = services.segments
    seg.create({"template": "frequent_buyers", "params": {"min_orders": 1}})
    services.ingest.ingest([{"type": "track", "event": "Product Viewed", "userId": "ann", "messageId": "m1"}])
    assert seg.wait_idle()
    calls: list[list[str]] = []
    real = seg.memberships
    seg.memberships = lambda row, defs, moment: calls.append([d.id for d in defs]) or real(row, defs, moment)
    services.ingest.ingest([{"type": "track", "event": "Product Viewed", "userId": "ann", "messageId": "m2"}])
    assert seg.wait_idle() and calls == [[]]
    services.ingest.ingest([{"type": "track", "event": "Order Completed", "userId": "ann", "messageId": "m3"}])
    assert seg.wait_idle() and calls[-1] == ["frequent_buyers"]
    assert [s["id"] for s in services.profiles.get("ann")["segments"]] == ["frequent_buyers"]
