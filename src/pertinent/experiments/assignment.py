"""Assign units to experiment variants: namespaces, holdout, coverage, weights and sticky records.

>>> from pertinent.experiments.config import Experiment
>>> exp = Experiment(key="hero", variants=["control", "bold"]).start()
>>> first = assign(exp, "anon-7")
>>> first.in_experiment
True
>>> later = assign(exp, "user-42", prior=sticky_record(first))   # the anonymous visitor signs up
>>> later.variant == first.variant and later.reason == "sticky"
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pertinent.experiments.config import Experiment, ExperimentStatus
from pertinent.experiments.hashing import choose_variation, gb_hash, get_bucket_ranges, in_namespace

Reason = Literal["assigned", "sticky", "not_running", "no_unit_id", "not_in_namespace", "holdout", "not_covered"]


@dataclass(frozen=True)
class Assignment:
    """Outcome of :func:`assign`. ``variant`` is None when the unit is not in the experiment."""

    experiment_key: str
    unit_id: str
    variant: str | None
    variation_id: int
    reason: Reason
    bucket: float | None = None
    bucket_version: int = 0

    @property
    def in_experiment(self) -> bool:
        """True when the unit was enrolled (freshly or from a sticky record)."""
        return self.variant is not None


class StickyRecord(BaseModel):
    """A stored assignment. Pass it back to :func:`assign` (under any unit id) to keep the variant.

    >>> StickyRecord(experiment_key="e", unit_id="anon-1", variant="b").variant
    'b'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    experiment_key: str
    unit_id: str
    variant: str
    bucket_version: int = 0
    assigned_at: datetime | None = None


def holdout_bucket(holdout_key: str, unit_id: str) -> float:
    """Hash (v2) used for the holdout; the same key holds out the same units in every experiment."""
    value = gb_hash("__holdout__" + holdout_key, unit_id, 2)
    assert value is not None
    return value


def _excluded(experiment: Experiment, unit_id: str, reason: Reason) -> Assignment:
    return Assignment(experiment.key, unit_id, None, -1, reason, bucket_version=experiment.bucket_version)


def assign(experiment: Experiment, unit_id: str | int | None, prior: StickyRecord | None = None) -> Assignment:
    """Bucket ``unit_id`` into ``experiment``.

    Order: status -> sticky ``prior`` -> namespace -> holdout -> coverage and weights (GrowthBook hash).
    A ``prior`` for the same experiment whose variant still exists and whose ``bucket_version`` is
    current wins over hashing; that is how an anonymous visitor keeps their variant after logging in
    (pass the record made for the anonymous id together with the known id).
    """
    uid = "" if unit_id is None else str(unit_id)
    if experiment.status != ExperimentStatus.RUNNING:
        return _excluded(experiment, uid, "not_running")
    if (
        prior is not None
        and prior.experiment_key == experiment.key
        and prior.variant in experiment.variants
        and prior.bucket_version >= experiment.bucket_version
    ):
        return Assignment(
            experiment.key,
            uid,
            prior.variant,
            experiment.variants.index(prior.variant),
            "sticky",
            bucket_version=experiment.bucket_version,
        )
    if not uid:
        return _excluded(experiment, uid, "no_unit_id")
    ns = experiment.namespace
    if ns is not None and not in_namespace(uid, ns.id, ns.start, ns.end):
        return _excluded(experiment, uid, "not_in_namespace")
    if experiment.holdout is not None and holdout_bucket(experiment.holdout.key, uid) < experiment.holdout.share:
        return _excluded(experiment, uid, "holdout")
    bucket = gb_hash(experiment.hash_seed, uid, experiment.hash_version)
    assert bucket is not None  # hash_version is validated to 1 or 2
    ranges = get_bucket_ranges(len(experiment.variants), experiment.coverage, experiment.weights)
    index = choose_variation(bucket, ranges)
    if index < 0:
        return Assignment(experiment.key, uid, None, -1, "not_covered", bucket, experiment.bucket_version)
    return Assignment(
        experiment.key, uid, experiment.variants[index], index, "assigned", bucket, experiment.bucket_version
    )


def sticky_record(assignment: Assignment, at: datetime | None = None) -> StickyRecord:
    """The record to store for an enrolled assignment (raises ValueError if the unit was not enrolled)."""
    if assignment.variant is None:
        raise ValueError(
            f"unit {assignment.unit_id!r} is not in experiment {assignment.experiment_key!r} "
            f"(reason: {assignment.reason}); there is nothing to make sticky"
        )
    return StickyRecord(
        experiment_key=assignment.experiment_key,
        unit_id=assignment.unit_id,
        variant=assignment.variant,
        bucket_version=assignment.bucket_version,
        assigned_at=at or datetime.now(UTC),
    )


def carry_over(prior: StickyRecord, known_id: str) -> StickyRecord:
    """Re-key an anonymous visitor's record to their known id once they identify (variant unchanged)."""
    if not known_id:
        raise ValueError("known_id must be a non-empty string")
    return prior.model_copy(update={"unit_id": known_id})
