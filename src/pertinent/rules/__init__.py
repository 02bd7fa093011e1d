"""The rule language shared by rule segments and slot targeting (a library: it imports no service or storage).

- ``base``: the condition interface (``ConditionBase``: evaluate, compile, triggers, time bounds, describe),
  ``TimeBounds``, ``Explanation``;
- ``combinators``: ``and``/``or``/``not``, written once; ``conditions``: one class per condition;
- ``language``: the profile-rule union (``Rule``) and its parsing; ``targeting``: the slot-targeting union
  (``Condition``: the same conditions plus segment membership and the request's context);
- ``explain``: the interpreted path (``evaluate``, ``explain``, ``preview`` on views, ``view.ConditionView``);
- ``compile``: the compiled path (``compile_rule`` over ``facts.Facts``, ``triggers``, ``time_bounds``,
  ``event_changes``); ``values``: comparisons of JSON values.

The names most callers need are here:

>>> rule, errors = parse_rule({"type": "not", "condition": {"type": "consent", "purpose": "analytics"}})
>>> evaluate(rule, {"consent": {"analytics": False}}, now=0.0), sorted(triggers(rule))
(True, ['consent'])
"""

from pertinent.rules.base import ALL, Check, ConditionBase, Explanation, TimeBounds
from pertinent.rules.compile import compile_rule, depends_on_time, event_changes, time_bounds, triggers
from pertinent.rules.explain import Preview, evaluate, explain, preview
from pertinent.rules.facts import Facts, Moment
from pertinent.rules.language import RULE_TYPES, Rule, RuleError, load_json, parse_rule, rule_errors

__all__ = [
    "ALL",
    "RULE_TYPES",
    "Check",
    "ConditionBase",
    "Explanation",
    "Facts",
    "Moment",
    "Preview",
    "Rule",
    "RuleError",
    "TimeBounds",
    "compile_rule",
    "depends_on_time",
    "evaluate",
    "event_changes",
    "explain",
    "load_json",
    "parse_rule",
    "preview",
    "rule_errors",
    "time_bounds",
    "triggers",
]
