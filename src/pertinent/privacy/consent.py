"""Consent per purpose: read from Segment's ``context.consent.categoryPreferences`` or the consent API.

Purposes are lower-cased; the two Pertinent acts on are ``analytics`` (store events) and
``personalization`` (build profiles, personalise responses).

>>> purposes_from_context({"consent": {"categoryPreferences": {"Analytics": True, "Personalisation": False}}})
{'analytics': True, 'personalization': False}
>>> effective({}, "granted")
{'analytics': True, 'personalization': True}

A statement's time orders it: the latest statement per purpose wins (:func:`supersedes`). Times come from clients,
so a stored time is never taken to be later than now, and one past the window (a statement dated 9999, stored
before times were bounded) is replaced by the next statement; the consent API refuses times outside
:data:`EARLIEST` .. now + :data:`MAX_AHEAD_S` (:func:`check_statement_time`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

PURPOSES = ("analytics", "personalization")
EARLIEST = 946_684_800.0  # 2000-01-01T00:00:00Z: no consent statement is older
MAX_AHEAD_S = 86_400.0  # a client clock may run this far ahead; a later time is refused
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


def statement_at(record: Any, now: float) -> float:
    """The time a stored statement counts as made: its time, but never after ``now``; 0 (any statement replaces
    it) when it has none or one past the window (stored before times were bounded: a clock of no meaning).

    >>> statement_at({"granted": True, "at": 5.0}, now=9.0), statement_at({"at": 10.0}, now=9.0)
    (5.0, 9.0)
    >>> statement_at({"at": 253402300799.0}, now=9.0), statement_at({}, 9.0)
    (0.0, 0.0)
    """
    stored = record.get("at") if isinstance(record, dict) else None
    if not isinstance(stored, int | float) or stored != stored or stored > now + MAX_AHEAD_S:
        return 0.0
    return min(float(stored), now)


def supersedes(at: float, record: Any, now: float) -> bool:
    """Whether a statement made at ``at`` replaces the stored ``record`` (``{"granted", "at", ...}``): it is at
    least as recent, by :func:`statement_at`, so no statement dated in the future locks consent.

    >>> supersedes(2.0, {"granted": True, "at": 1.0}, now=10.0), supersedes(1.0, {"granted": True, "at": 2.0}, 10.0)
    (True, False)
    >>> supersedes(1.0, {"granted": False, "at": 253402300799.0}, now=10.0)  # dated 9999-12-31: any replaces it
    True
    """
    return at >= statement_at(record, now)


def check_statement_time(at: float, now: float) -> str | None:
    """Why a consent statement's time is refused (None when it is within EARLIEST .. now + MAX_AHEAD_S).

    >>> check_statement_time(1.0, now=2e9)
    'must not be before 2000-01-01T00:00:00Z'
    >>> check_statement_time(2e9 + 90_000, now=2e9)
    'must not be more than 1 day after the server time'
    >>> check_statement_time(2e9 - 5, now=2e9) is None
    True
    """
    if not at >= EARLIEST:  # NaN too
        return "must not be before 2000-01-01T00:00:00Z"
    if at > now + MAX_AHEAD_S:
        return "must not be more than 1 day after the server time"
    return None
