"""The rule language's registries: each language's union holds concrete condition classes (each implements how it
evaluates, compiles, what triggers it and its time bounds), slot targeting extends the profile-rule language
rather than copying it, and the tags stay in the order error messages list them."""

from __future__ import annotations

import inspect

import pytest

from pertinent.rules import RULE_TYPES, Rule
from pertinent.rules.base import union_classes
from pertinent.rules.combinators import And, Not, Or
from pertinent.rules.conditions import ContextCondition
from pertinent.rules.conditions.context import ContextComparison
from pertinent.rules.targeting import CONDITION_TYPES, PROFILE_TYPES, Condition, SegmentCondition, TargetView


@pytest.mark.parametrize("union", [Rule, Condition], ids=["rule", "targeting"])
def test_every_registered_condition_is_concrete_and_tagged_once(union):
    classes = union_classes(union)
    assert all(not inspect.isabstract(cls) for cls in classes)
    tags = [cls.model_fields["type"].default for cls in classes]
    assert len(set(tags)) == len(tags)


def test_tags_keep_the_order_error_messages_list():
    assert RULE_TYPES == (
        "and", "or", "not", "trait", "feature", "event_count", "did_and_not",
        "campaign", "context", "local_time", "consent", "affinity", "since", "group", "inferred",
    )  # fmt: skip
    assert CONDITION_TYPES == (
        "and", "or", "not", "segment", "context", "local_time", "trait", "feature",
        "event_count", "did_and_not", "campaign", "consent", "affinity", "since", "group", "inferred",
    )  # fmt: skip
    assert PROFILE_TYPES == {
        "trait", "feature", "event_count", "did_and_not", "campaign", "consent", "affinity", "since", "group",
        "inferred",
    }  # fmt: skip


def test_targeting_extends_the_profile_rule_language():
    rules, targeting = union_classes(Rule), union_classes(Condition)
    combinators = (And, Or, Not)
    # and/or/not are written once: both languages only narrow their children
    for cls in rules[:3] + targeting[:3]:
        assert issubclass(cls, combinators) and cls.holds is next(b for b in combinators if issubclass(cls, b)).holds
    leaves = {cls for cls in rules if not issubclass(cls, combinators)}
    assert leaves - {ContextCondition} <= set(targeting)
    wider = next(cls for cls in targeting if cls.model_fields["type"].default == "context")
    assert issubclass(wider, ContextComparison) and wider.compile is ContextCondition.compile


def test_segment_membership_is_evaluated_not_compiled():
    cond = SegmentCondition(segment="vip", member=False)
    assert cond.holds(TargetView({}, 0.0, {})) and not cond.holds(TargetView({}, 0.0, {"vip": 1.0}))
    with pytest.raises(TypeError):
        cond.compile()
