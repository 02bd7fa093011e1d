"""What the data-quality service returns (also the JSON of ``/v1/quality/...`` and ``pertinent quality``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TrackingPlanIn(BaseModel):
    """An upload: the JSON Schema of the event's properties and what a violation does."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(min_length=1, max_length=200)
    schema_: dict[str, Any] = Field(alias="schema")
    mode: Literal["allow", "flag", "block"] = "flag"


class TrackingPlan(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    event: str
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    mode: str
    updated_at: float


class FailedEvent(BaseModel):
    """An event the tracking plan blocked, as kept (the payload as sent, less identity proofs)."""

    id: int
    at: float
    event: str | None
    errors: list[dict[str, Any]]
    payload: dict[str, Any]
    replayed_at: float | None = None


class Replay(BaseModel):
    """A replay of failed events through ingestion: how many were stored now, and those still refused."""

    replayed: int
    accepted: int
    still_failing: int
    errors: list[dict[str, Any]]


class Count(BaseModel):
    kind: str
    event: str
    field: str
    n: int


class OutlierFlag(BaseModel):
    profile_id: str
    score: float
    reasons: list[str]
    at: float


class OutlierScan(BaseModel):
    """An outlier scan: profiles read and flagged (they are kept out of KPIs and training sets)."""

    profiles: int
    flagged: int
    flags: list[OutlierFlag]
    message: str = ""


class TraitImputation(BaseModel):
    trait: str
    labelled: int
    inferred: int
    accuracy: float | None
    baseline: float | None
    message: str = ""


class Imputation(BaseModel):
    """An imputation run: per trait, how many profiles state it, how many got an inferred value, and the
    cross-validated accuracy of the KNN next to always guessing the commonest value."""

    profiles: int
    traits: list[TraitImputation]


class DedupCandidate(BaseModel):
    id: int
    profile_a: str
    profile_b: str
    score: float
    reasons: dict[str, float]
    status: str
    at: float
    decided_at: float | None = None


class DedupScan(BaseModel):
    """A duplicate scan: pairs found at or above the match threshold, new ones listed, and those merged
    automatically (at or above the auto-merge threshold)."""

    profiles: int
    found: int
    new: int
    merged: int


class DedupDecision(BaseModel):
    """A reviewer's decision on a candidate (``accept`` merges the two profiles)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "reject"]


class QualityReport(BaseModel):
    """``pertinent quality report``: duplicate candidates, flagged outliers, tracking-plan violations, failed
    events, and normalisation counts (normalised and unparseable values per event and field)."""

    duplicate_candidates: list[DedupCandidate]
    outliers: list[OutlierFlag]  # the strangest first, at most 1000
    outliers_total: int = 0
    violations: list[Count]
    normalisation: list[Count]
    failed_events: int
    tracking_plans: list[str]


class ReplayIn(BaseModel):
    """Which failed events to replay: ``ids``, or every one waiting (oldest first, up to 1000) when absent."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(default=None, min_length=1, max_length=1000)
