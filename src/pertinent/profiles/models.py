"""What reading a profile returns: :class:`Profile` (also the JSON of ``GET /v1/profiles/{user_id}``).

Numbers keep the types the feature state holds (counts are ints, times and amounts floats), so the JSON is the
same as the state's summary would serialise to.

>>> p = Profile(user_id="u1", profile_id="u_1", traits={}, features=ProfileFeatures.model_validate(
...     {"events_total": 1, "sessions": 1, "first_seen": 10.0, "last_seen": 10.0, "days_since_last_seen": 0.0,
...      "counts": {"page": {"total": 1, "1d": 1}}, "affinities": {"category": {"shoes": 1.0},
...      "category_strength": 2.5}, "recent_items": [], "context": {},
...      "rfm": {"recency_days": None, "frequency": 0, "monetary": 0.0, "last_purchase": None}}),
...     segments=[], consent=ProfileConsent(effective={"analytics": True, "personalization": True}, decisions={},
...     default="granted"), created_at=10.0, updated_at=10.0)
>>> p.features.counts["page"]["1d"], p.model_dump()["features"]["affinities"]["category_strength"]
(1, 2.5)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pertinent.profiles.predicted import PredictedTrait

__all__ = [
    "ConsentDecision",
    "Engagement",
    "InferredTrait",
    "Profile",
    "ProfileConsent",
    "ProfileFeatures",
    "Rfm",
    "SegmentMembership",
]


class Rfm(BaseModel):
    """Recency (days since the last purchase), frequency (orders) and monetary value (revenue less refunds)."""

    recency_days: float | None
    frequency: int
    monetary: float
    last_purchase: float | None


class Engagement(BaseModel):
    """Active time and scroll depth of the pages measured by /pertinent.js (``Page Engaged``), and the pages
    sessions began and ended on, by count (:mod:`pertinent.profiles.engagement`)."""

    pages: int = 0
    active_seconds: float = 0.0
    avg_active_seconds: float | None = None
    avg_scroll_depth: float | None = None  # percent of the page seen, 0-100
    entry_pages: dict[str, int] = {}
    exit_pages: dict[str, int] = {}
    current_page: str | None = None


class ProfileFeatures(BaseModel):
    """The features a reader sees (:func:`pertinent.profiles.features.summarize`)."""

    events_total: int
    sessions: int
    first_seen: float | None
    last_seen: float | None
    days_since_last_seen: float | None
    counts: dict[str, dict[str, int]]  # event name -> {"total", "1d", "7d", ...}
    rfm: Rfm
    affinities: dict[str, dict[str, float] | float]  # kind -> {label: share}, and "<kind>_strength" -> decayed total
    recent_items: list[str]
    context: dict[str, Any]
    engagement: Engagement = Engagement()


class SegmentMembership(BaseModel):
    """A segment the profile is in now, since ``entered_at``."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    definition: str
    entered_at: float


class ConsentDecision(BaseModel):
    """One recorded decision for a purpose: granted or not, when, and from where (``event``, ``api``...)."""

    granted: bool
    at: float
    source: str


class ProfileConsent(BaseModel):
    """The consent in force per purpose, the decisions it comes from, and the configured default."""

    effective: dict[str, bool]
    decisions: dict[str, ConsentDecision]
    default: Literal["granted", "denied"]


class InferredTrait(BaseModel):
    """A trait the profile does not state, inferred from behaviour (KNN over similar profiles that state it):
    the value, the confidence (share of the neighbours' vote, 0-1) and when it was inferred (docs/data-quality.md)."""

    value: Any
    confidence: float
    at: float


class Profile(BaseModel):
    """A user's real-time profile: traits, inferred traits, features, segments and consent."""

    user_id: str
    profile_id: str
    traits: dict[str, Any]
    inferred: dict[str, InferredTrait] = {}  # never overwrites a stated trait; rules read it as ``inferred.<trait>``
    features: ProfileFeatures
    segments: list[SegmentMembership]
    consent: ProfileConsent
    created_at: float
    updated_at: float
    # purchase_propensity, churn_risk, days_to_next_purchase (low/high: its p10-p90), each with its model version;
    # the same values sit in traits.predicted for rules (profiles/predicted.py)
    predicted: dict[str, PredictedTrait] = Field(default_factory=dict)
