"""Compiled rules (``segments.compiled``) give exactly what ``rules.evaluate`` gives on the full view."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.segments.compiled import Facts, Moment, compile_rule, depends_on_time
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
