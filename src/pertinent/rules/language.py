"""The rule language of profiles (rule segments; slot targeting extends it in ``rules.targeting``): the union of
its conditions, tagged by ``type``, and its parsing into validated rules with errors that point at the bad part.

A rule is JSON: ``{"type": "and", "conditions": [...]}``, ``{"type": "not", "condition": {...}}`` or one
condition. Paths into traits and features are lists of keys, so keys may hold spaces or dots
(``["counts", "Order Completed", "7d"]``).

>>> rule, errors = parse_rule({"type": "and", "conditions": [
...     {"type": "feature", "path": ["rfm", "monetary"], "op": "gte", "value": 100},
...     {"type": "consent", "purpose": "personalization"}]})
>>> errors, rule.describe()
([], 'all of (feature rfm.monetary gte 100; consent personalization granted)')
>>> [str(e) for e in parse_rule({"type": "event_count", "event": "buy", "window_days": 9000, "value": 1})[1]]
['window_days: Input should be less than or equal to 3660']

To add a condition: write its class (``rules.conditions``; see ``rules.base.ConditionBase`` for what it owns) and
add it to ``Rule`` below (and to ``rules.targeting.Condition`` when slots may target on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import Field, TypeAdapter, ValidationError

from pertinent.errorpath import json_path
from pertinent.rules.base import union_types
from pertinent.rules.combinators import And, Not, Or
from pertinent.rules.conditions.comparisons import FeatureCondition, TraitCondition
from pertinent.rules.conditions.context import CampaignCondition, ContextCondition, LocalTimeCondition
from pertinent.rules.conditions.events import DidAndNotCondition, EventCountCondition
from pertinent.rules.conditions.groups import GroupCondition
from pertinent.rules.conditions.inferred import InferredCondition
from pertinent.rules.conditions.profile import AffinityCondition, ConsentCondition, SinceCondition

MAX_DEPTH = 32  # nesting of JSON objects/arrays accepted by parse_rule (and parse_segment)


class AndRule(And):
    """All conditions hold.

    >>> from pertinent.rules.explain import evaluate
    >>> evaluate(AndRule(conditions=[ConsentCondition(purpose="analytics")]), {}, 0)
    False
    """

    conditions: list[Rule] = Field(min_length=1)


class OrRule(Or):
    """At least one condition holds.

    >>> from pertinent.rules.explain import evaluate
    >>> evaluate(OrRule(conditions=[ConsentCondition(purpose="analytics", granted=False)]), {}, 0)
    True
    """

    conditions: list[Rule] = Field(min_length=1)


class NotRule(Not):
    """The condition does not hold.

    >>> from pertinent.rules.explain import evaluate
    >>> evaluate(NotRule(condition=ConsentCondition(purpose="analytics")), {}, 0)
    True
    """

    condition: Rule


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
    | SinceCondition
    | GroupCondition
    | InferredCondition,
    Field(discriminator="type"),
]
for _m in (AndRule, OrRule, NotRule):
    _m.model_rebuild()


RULE_TYPES = union_types(Rule)
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


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
