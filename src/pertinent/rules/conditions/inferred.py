"""A condition on an inferred trait (``inferred.<trait>``): a trait the profile does not state, imputed from its
behaviour with a confidence (docs/data-quality.md). A rule opts in by using it; ``trait`` conditions read only
what people stated.

>>> from pertinent.rules.explain import evaluate
>>> c = InferredCondition(trait="gender", op="eq", value="f", min_confidence=0.6)
>>> state = {"inferred": {"gender": {"value": "f", "confidence": 0.8, "at": 0.0}}}
>>> evaluate(c, {"state": state}, 0), evaluate(c.model_copy(update={"min_confidence": 0.9}), {"state": state}, 0)
(True, False)
>>> c.describe()
"inferred gender eq 'f' (confidence >= 0.6)"
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pertinent.rules.base import Check, Key, TimeBounds
from pertinent.rules.conditions.comparisons import Comparison
from pertinent.rules.values import compare, comparison
from pertinent.rules.view import ConditionView


def _value(state: dict[str, Any], trait: str, least: float) -> Any:
    entry = (state.get("inferred") or {}).get(trait) if isinstance(state.get("inferred"), dict) else None
    if not isinstance(entry, dict):
        return None
    confidence = entry.get("confidence")
    return entry.get("value") if isinstance(confidence, int | float) and float(confidence) >= least else None


class InferredCondition(Comparison):
    """Compare an inferred trait's value, counted only at ``min_confidence`` or above (absent otherwise)."""

    type: Literal["inferred"] = "inferred"
    trait: Key
    min_confidence: float = Field(default=0.0, ge=0, le=1)

    def check(self, v: ConditionView) -> tuple[bool, Any]:
        actual = _value(v.state, self.trait, self.min_confidence)
        return compare(self.op, actual, self.value), actual

    def describe(self) -> str:
        return f"inferred {self.trait} {self._say()} (confidence >= {self.min_confidence})"

    def compile(self) -> Check:
        trait, least, test = self.trait, self.min_confidence, comparison(self.op, self.value)
        return lambda f: test(_value(f.state, trait, least))

    def triggers(self) -> frozenset[str]:
        return frozenset({"traits"})  # imputation writes it and queues the profiles it changed

    def time_bounds(self) -> TimeBounds:
        return TimeBounds()


__all__ = ["InferredCondition"]
