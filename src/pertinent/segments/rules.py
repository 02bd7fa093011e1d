"""Rule segments: a named rule of the rule language (``pertinent.rules``) and the profile views rules evaluate.

>>> seg, errors = parse_segment({"id": "big", "name": "Big spenders", "rule": {"type": "and",
...     "conditions": [{"type": "feature", "path": ["rfm", "monetary"], "op": "gte", "value": 100},
...                    {"type": "consent", "purpose": "personalization"}]}})
>>> errors
[]
>>> from pertinent.rules import evaluate
>>> view = {"features": {"rfm": {"monetary": 250.0}}, "consent": {"personalization": True}}
>>> evaluate(seg, view, now=0.0)
True
>>> parse_segment({"id": "x", "name": "x", "rule": {"type": "event_count", "event": "buy",
...     "window_days": 9000, "value": 1}})[1][0].path
'rule.window_days'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pertinent.profiles.features import ProfileConfig, summarize
from pertinent.rules import Rule, RuleError, load_json, rule_errors


class Segment(BaseModel):
    """A named rule segment. Round-trips to JSON.

    >>> from pertinent.rules.conditions.context import ContextCondition
    >>> s = Segment(id="mobile", name="Mobile users",
    ...             rule=ContextCondition(field="device_type", op="eq", value="mobile"))
    >>> Segment.model_validate_json(s.model_dump_json()) == s
    True
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    rule: Rule
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def parse_segment(data: Any) -> tuple[Segment | None, list[RuleError]]:
    """Validate a segment (``id``, ``name``, ``description``, ``rule``, ``created_at``, ``updated_at``)
    given as JSON text or parsed JSON. Returns ``(segment, [])`` or ``(None, errors)``; never raises."""
    data, errors = load_json(data)
    if errors:
        return None, errors
    if not isinstance(data, dict):
        return None, [RuleError("", "a segment must be a JSON object")]
    try:
        return Segment.model_validate(data), []
    except ValidationError as e:
        return None, rule_errors(e, data)
    except (RecursionError, TypeError, ValueError) as e:
        return None, [RuleError("", f"cannot read segment: {e}")]


def make_view(
    state: dict[str, Any],
    now: float,
    cfg: ProfileConfig | None = None,
    traits: dict[str, Any] | None = None,
    consent: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """Build a view from a raw profile state (features summarised at ``now``, state kept for windows).

    >>> make_view({}, now=0.0)["features"]["events_total"]
    0
    """
    return {
        "traits": traits or {},
        "features": summarize(state, now, cfg or ProfileConfig()),
        "consent": consent or {},
        "state": state,
    }
