"""The interpreted path: whether a profile view is in a rule at a time, why, and how many of a set of views are.

Conditions that depend on time (event counts in a window, days since first seen or since the last purchase,
local hour) are computed from ``now`` and from timestamps / daily buckets, so evaluating the same view at a later
``now`` makes time-based exits happen without a new event.

``rule`` may be a condition or anything that holds one as ``.rule`` (a named segment).

>>> from pertinent.rules.language import parse_rule
>>> rule, _ = parse_rule({"type": "and", "conditions": [{"type": "consent", "purpose": "analytics"},
...     {"type": "feature", "path": ["rfm", "monetary"], "op": "gte", "value": 100}]})
>>> view = {"features": {"rfm": {"monetary": 250.0}}, "consent": {"analytics": True}}
>>> evaluate(rule, view, now=0.0)
True
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol

from pertinent.rules.base import ConditionBase, Explanation
from pertinent.rules.view import ConditionView


class HasRule(Protocol):
    """Something that holds a rule (a named segment, a rule definition)."""

    @property
    def rule(self) -> ConditionBase: ...


def rule_of(rule: ConditionBase | HasRule) -> ConditionBase:
    """The rule itself, or the one a segment holds."""
    return rule if isinstance(rule, ConditionBase) else rule.rule


def evaluate(rule: ConditionBase | HasRule, view: dict[str, Any], now: float) -> bool:
    """Whether the profile ``view`` is in the rule (or segment) at time ``now`` (epoch seconds)."""
    return rule_of(rule).holds(ConditionView(view, now))


def explain(rule: ConditionBase | HasRule, view: dict[str, Any], now: float) -> Explanation:
    """Evaluate every sub-condition (no short-circuit) and report which held.

    >>> from pertinent.rules.language import AndRule
    >>> from pertinent.rules.conditions.comparisons import FeatureCondition
    >>> from pertinent.rules.conditions.profile import ConsentCondition
    >>> r = AndRule(conditions=[ConsentCondition(purpose="analytics"),
    ...                         FeatureCondition(path=["rfm", "frequency"], op="gte", value=2)])
    >>> e = explain(r, {"consent": {"analytics": True}, "features": {"rfm": {"frequency": 1}}}, 0)
    >>> e.held, [(c.path, c.held, c.observed) for c in e.children]
    (False, [('conditions[0]', True, True), ('conditions[1]', False, 1)])
    """
    return rule_of(rule).explain(ConditionView(view, now))


class Preview(NamedTuple):
    size: int
    sample_ids: list[str]


def preview(
    rule: ConditionBase | HasRule,
    views: Iterable[tuple[str, dict[str, Any]]],
    now: float,
    sample: int = 10,
    seed: int = 0,
) -> Preview:
    """How many of ``views`` (``(profile_id, view)`` pairs) are in the rule at ``now``, and a uniform
    random sample of up to ``sample`` of their ids (reservoir sampling, reproducible with ``seed``).

    >>> from pertinent.rules.conditions.profile import ConsentCondition
    >>> preview(ConsentCondition(purpose="analytics"), [("a", {"consent": {"analytics": True}}), ("b", {})], now=0)
    Preview(size=1, sample_ids=['a'])
    """
    cond = rule_of(rule)
    rng = random.Random(seed)
    size = 0
    picked: list[str] = []
    for profile_id, view in views:
        if not cond.holds(ConditionView(view, now)):
            continue
        size += 1
        if len(picked) < sample:
            picked.append(profile_id)
        elif sample > 0:
            j = rng.randrange(size)
            if j < sample:
                picked[j] = profile_id
    return Preview(size, picked)
