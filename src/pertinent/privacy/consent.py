"""Consent per purpose: read from Segment's ``context.consent.categoryPreferences`` or the consent API.

Purposes are lower-cased; the two Pertinent acts on are ``analytics`` (store events) and
``personalization`` (build profiles, personalise responses).

>>> purposes_from_context({"consent": {"categoryPreferences": {"Analytics": True, "Personalisation": False}}})
{'analytics': True, 'personalization': False}
>>> effective({}, "granted")
{'analytics': True, 'personalization': True}
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

PURPOSES = ("analytics", "personalization")
_ALIASES = {
    "personalisation": "personalization",
    "personalization": "personalization",
    "analytics": "analytics",
    "statistics": "analytics",
    "performance": "analytics",
}


@lru_cache(maxsize=1024)
def normalize_purpose(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key)[:64]


def purposes_from_context(context: dict[str, Any]) -> dict[str, bool] | None:
    consent = context.get("consent")
    if not isinstance(consent, dict):
        return None
    prefs = consent.get("categoryPreferences")
    if not isinstance(prefs, dict):
        return None
    out = {normalize_purpose(k): v for k, v in prefs.items() if isinstance(k, str) and isinstance(v, bool)}
    return out or None


def effective(stored: dict[str, Any], default: str) -> dict[str, bool]:
    """The consent in force per purpose: stored decisions, else the configured default."""
    base = default == "granted"
    out = {p: base for p in PURPOSES}
    for purpose, record in stored.items():
        out[purpose] = bool(record["granted"] if isinstance(record, dict) else record)
    return out
