"""Experiments as stored data: an :class:`ExperimentDefinition` is the library's
:class:`~pertinent.experiments.config.Experiment` (variants, weights, coverage, namespace, holdout, status,
bucket version: GrowthBook hashing) plus a name, the metrics to analyse (:class:`OutcomeMetric`) and the
analysis settings. Its variant names are variants of the slot that runs it. Their results: ``analysis.py``.

>>> exp = ExperimentDefinition(key="hero", variants=["a", "b"])
>>> [m.name for m in default_metrics(["Slot Clicked"], ["Order Completed"])], exp.planned_weights()
(['clicked', 'converted', 'revenue'], [0.5, 0.5])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pertinent.decide.blocks import DOC_ID
from pertinent.experiments.analysis import AnalysisConfig
from pertinent.experiments.config import Experiment

MAX_PRE_PERIOD_DAYS = 90


class OutcomeMetric(BaseModel):
    """A metric measured from outcomes: ``events`` are outcome kinds (event names, e.g. ``Slot Clicked`` or a
    conversion event). ``conversion``: share of units with one; ``continuous``: sum of values per unit.

    >>> OutcomeMetric(name="revenue", kind="continuous", events=["Order Completed"]).higher_is_better
    True
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: Literal["conversion", "continuous"]
    events: list[str] = Field(min_length=1, max_length=50)
    guardrail: bool = False
    higher_is_better: bool = True


class ExperimentDefinition(Experiment):
    """An experiment stored as a document (kind ``experiment``, id = ``key``).

    ``hash_attribute`` picks the id hashed: ``id`` (the user id when the request has one, else the
    anonymous id), ``user_id`` (only known users are enrolled) or ``anonymous_id`` (the device, falling back
    to the user id). ``metrics`` empty = the defaults (clicked, converted, revenue).
    ``cuped_pre_period_days``: how far before each unit's first exposure its events give the CUPED covariate
    of the continuous metrics (0 turns CUPED off). ``planned_end`` / ``planned_units``: the fixed horizon the
    experiment was planned for; until it is reached the dashboard decides by the sequential (always-valid) test,
    and by the fixed-horizon test once it is (peeking at a fixed-horizon test inflates false positives).

    >>> e = ExperimentDefinition(key="hero", variants=["a", "b"])
    >>> ExperimentDefinition.model_validate_json(e.model_dump_json()) == e
    True
    """

    key: str = Field(min_length=1, max_length=200, pattern=DOC_ID)
    hash_attribute: Literal["id", "user_id", "anonymous_id"] = "id"
    name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    metrics: list[OutcomeMetric] = Field(default_factory=list, max_length=20)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    cuped_pre_period_days: float = Field(default=14, ge=0, le=MAX_PRE_PERIOD_DAYS)
    planned_end: datetime | None = None
    planned_units: int | None = Field(default=None, ge=1, le=10**12)

    @model_validator(mode="after")
    def _unique_metrics(self) -> ExperimentDefinition:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must be unique, got {names}")
        return self

    def planned_weights(self) -> list[float]:
        return list(self.weights) if self.weights else [1 / len(self.variants)] * len(self.variants)


def default_metrics(click_events: Sequence[str], conversion_events: Iterable[str]) -> list[OutcomeMetric]:
    """clicked (conversion on click events), converted and revenue (on conversion events)."""
    conv = list(conversion_events)
    out = [OutcomeMetric(name="clicked", kind="conversion", events=list(click_events) or ["Slot Clicked"])]
    if conv:
        out += [
            OutcomeMetric(name="converted", kind="conversion", events=conv),
            OutcomeMetric(name="revenue", kind="continuous", events=conv),
        ]
    return out
