"""Experiment configuration as pydantic models (plain data; round-trips to JSON).

>>> exp = Experiment(key="checkout-button", variants=["control", "green"])
>>> Experiment.model_validate_json(exp.model_dump_json()) == exp
True
>>> exp.start().status
<ExperimentStatus.RUNNING: 'running'>
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ExperimentStatus(StrEnum):
    """Lifecycle: draft -> running -> stopped. Only running experiments assign units."""

    DRAFT = "draft"
    RUNNING = "running"
    STOPPED = "stopped"


class Namespace(BaseModel):
    """A slice [start, end) of a namespace; experiments in disjoint slices never share a unit.

    >>> Namespace(id="pricing", start=0.0, end=0.5).end
    0.5
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    start: float = Field(ge=0.0, le=1.0)
    end: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Namespace:
        if self.end <= self.start:
            raise ValueError(f"namespace {self.id!r}: end ({self.end}) must be greater than start ({self.start})")
        return self


class Holdout(BaseModel):
    """A share of units kept out of every experiment that names this holdout (they see the default).

    The same ``key`` always holds out the same units, so a long-running holdout measures the total
    effect of all experiments shipped around it.

    >>> Holdout(key="global-2025", share=0.05).share
    0.05
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    share: float = Field(ge=0.0, lt=1.0)


class Experiment(BaseModel):
    """An A/B/n experiment. ``variants[0]`` is the control.

    ``weights`` (default equal) must sum to 1; ``coverage`` is the share of eligible units enrolled.
    ``seed`` defaults to ``key``. ``bucket_version`` invalidates sticky assignments when bumped.

    >>> Experiment(key="e", variants=["a", "b"], weights=[0.2, 0.8]).weights
    [0.2, 0.8]
    """

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    variants: list[str] = Field(min_length=1)
    weights: list[float] | None = None
    coverage: float = Field(default=1.0, ge=0.0, le=1.0)
    seed: str | None = None
    hash_version: int = Field(default=2, ge=1, le=2)
    hash_attribute: str = "id"
    namespace: Namespace | None = None
    holdout: Holdout | None = None
    status: ExperimentStatus = ExperimentStatus.DRAFT
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    bucket_version: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Experiment:
        if len(set(self.variants)) != len(self.variants):
            raise ValueError(f"experiment {self.key!r}: variant names must be unique, got {self.variants}")
        if any(not v for v in self.variants):
            raise ValueError(f"experiment {self.key!r}: variant names must be non-empty")
        if self.weights is not None:
            if len(self.weights) != len(self.variants):
                raise ValueError(
                    f"experiment {self.key!r}: weights has {len(self.weights)} entries "
                    f"but there are {len(self.variants)} variants"
                )
            if any(w < 0 for w in self.weights):
                raise ValueError(f"experiment {self.key!r}: weights must be non-negative, got {self.weights}")
            if abs(sum(self.weights) - 1.0) > 0.01:
                raise ValueError(f"experiment {self.key!r}: weights must sum to 1, got {sum(self.weights):.4f}")
        return self

    @property
    def hash_seed(self) -> str:
        """The seed used for hashing (``seed`` or ``key``)."""
        return self.seed if self.seed is not None else self.key

    @property
    def control(self) -> str:
        """The control variant (the first one)."""
        return self.variants[0]

    def start(self, at: datetime | None = None) -> Experiment:
        """A copy with status running (assignment begins)."""
        return self.model_copy(
            update={
                "status": ExperimentStatus.RUNNING,
                "started_at": at or datetime.now(UTC),
                "stopped_at": None,
            }
        )

    def stop(self, at: datetime | None = None) -> Experiment:
        """A copy with status stopped (no new assignments; analysis stays possible)."""
        return self.model_copy(update={"status": ExperimentStatus.STOPPED, "stopped_at": at or datetime.now(UTC)})
