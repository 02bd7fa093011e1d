"""Targeting conditions of slot rules, as decisions read them: the slot-targeting language
(``pertinent.rules.targeting``: the profile-rule conditions plus segment membership and a wider request context),
its parsing with the decide errors, and the view a decision evaluates: the request's context (user agent, country
and region headers, timezone) over the profile's last stored context.

>>> cond, errors = parse_condition({"type": "and", "conditions": [
...     {"type": "segment", "segment": "vip"},
...     {"type": "context", "field": "device_type", "op": "eq", "value": "mobile"}]})
>>> view = target_view(None, {"device_type": "mobile"}, {"vip": 1.0}, now=0.0)
>>> errors, cond.holds(view)
([], True)
>>> request_context(user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
...     "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", country="fr", timezone="Europe/Paris")
{'browser': 'Mobile Safari', 'os': 'iOS', 'device_type': 'mobile', 'country': 'FR', 'timezone': 'Europe/Paris'}
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from pertinent.errorpath import field_errors
from pertinent.profiles.context import parse_context, parse_user_agent
from pertinent.rules.targeting import Condition, TargetView
from pertinent.rules.values import time_zone

_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def parse_condition(data: Any, prefix: str = "") -> tuple[Condition | None, list[dict[str, str]]]:
    """Validate a condition given as parsed JSON; ``(condition, [])`` or ``(None, errors)``. Never raises."""
    try:
        return _CONDITION.validate_python(data), []
    except ValidationError as exc:
        return None, field_errors(exc, data, prefix)
    except (RecursionError, TypeError, ValueError) as exc:
        return None, [{"field": prefix or "condition", "message": f"cannot read condition: {exc}"}]


def target_view(
    features: dict[str, Any] | None,
    context: dict[str, Any],
    segments: dict[str, float] | None,
    now: float,
    traits: dict[str, Any] | None = None,
    consent: dict[str, bool] | None = None,
    state: dict[str, Any] | None = None,
) -> TargetView:
    """The view rules evaluate: summarised ``features`` (or none), the request ``context`` over the stored one."""
    feats = dict(features) if features else {}
    stored = feats.get("context") if isinstance(feats.get("context"), dict) else {}
    feats["context"] = {**stored, **context} if stored else context
    return TargetView(
        {"traits": traits or {}, "features": feats, "consent": consent or {}, "state": state or {}}, now, segments
    )


def valid_timezone(name: str) -> bool:
    """Whether ``name`` is a known IANA time zone."""
    return 0 < len(name) <= 64 and time_zone(name) is not None


def request_context(
    user_agent: str | None = None,
    country: str | None = None,
    region: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
    referrer: str | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Flat context facts of a decide request (missing ones left out); ``timezone`` must be valid."""
    out: dict[str, Any] = {}
    if user_agent:
        out["browser"], out["os"], out["device_type"] = parse_user_agent(user_agent[:1000])
        if out["browser"] is None:
            del out["browser"]
        if out["os"] is None:
            del out["os"]
    if country:
        out["country"] = country.strip().upper()[:64]
    if region:
        out["region"] = region.strip().upper()[:64]
    if timezone:
        out["timezone"] = timezone
    if locale:
        out["locale"] = locale[:64]
    if referrer or url:
        page = {k: v for k, v in (("referrer", referrer), ("url", url)) if v}
        facts = parse_context({"page": page})
        out.update({k: v for k, v in facts.items() if k == "referrer" or k.startswith("utm_")})
    return out
