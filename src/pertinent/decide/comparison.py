"""Recommender versions compared online: the per-version view of a recommender experiment (a slot's
``recommender_experiment`` action, ``slots.CompareRecommenders``), from the decision log.

Each decision of the experiment showed one variant's list, made by that variant's model version: it is one
impression. An impression is *clicked* when a click outcome (``DecideConfig.click_events``) was attributed to it,
*converted* when a conversion was; CTR and conversion rate are shares of impressions with 95% Wilson intervals
(``experiments.frequentist``). The significance of the differences is the experiment's own analysis
(``analysis.py``: per unit, sequential and fixed-horizon tests, SRM), returned alongside.

>>> from pertinent.storage.base import DecisionRow, OutcomeRow
>>> ds = [DecisionRow(f"d{i}", f"p{i}", "home.recs", "a" if i % 2 else "b", "experiment", 0.0, "rec-ab", 0.5,
...       {"model": "default", "model_version": "v1"}) for i in range(4)]
>>> out = {"d1": [OutcomeRow("d1", "p1", "Slot Clicked", "m1", 1.0)]}
>>> rows = version_stats(ds, out, {"a": ("default", "v1"), "b": ("ease", "latest")}, ["Slot Clicked"], [])
>>> [(r.variant, r.impressions, r.clicked, r.ctr) for r in rows]
[('a', 2, 1, 0.5), ('b', 2, 0, 0.0)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from pertinent.decide.analysis import ExperimentResults
from pertinent.experiments.frequentist import wilson_interval
from pertinent.experiments.stats import ProportionStats
from pertinent.storage.base import DecisionRow, OutcomeRow


class VersionStats(BaseModel):
    """One variant of a recommender experiment: the model version it serves (``model``, ``version`` as
    configured; ``served_versions``: the versions its lists actually came from, ``popularity`` for the
    fallback, with their decision counts) and its impressions, clicks and conversions."""

    model_config = ConfigDict(frozen=True)

    variant: str
    model: str
    version: str
    served_versions: dict[str, int]
    impressions: int
    units: int
    clicked: int
    ctr: float | None
    ctr_ci: tuple[float, float] | None
    converted: int
    conversion_rate: float | None
    conversion_ci: tuple[float, float] | None
    revenue: float


class VersionComparison(BaseModel):
    """``GET /v1/experiments/{key}/versions``: each version's numbers and the experiment's analysis."""

    model_config = ConfigDict(frozen=True)

    experiment: str
    status: str
    slots: list[str]
    versions: list[VersionStats]
    analysis: ExperimentResults
    message: str


def _rate(n: int, k: int) -> tuple[float | None, tuple[float, float] | None]:
    if n <= 0:
        return None, None
    stats = ProportionStats(n, min(k, n))
    return stats.mean, wilson_interval(stats)


def version_stats(
    decisions: Iterable[DecisionRow],
    outcomes: Mapping[str, Sequence[OutcomeRow]],
    refs: Mapping[str, tuple[str, str]],
    click_events: Iterable[str],
    conversion_events: Iterable[str],
) -> list[VersionStats]:
    """Per variant of ``refs`` (variant -> (model, version)), in that order, from the experiment's decisions."""
    clicks, conversions = set(click_events), set(conversion_events)
    shown: Counter[str] = Counter()
    clicked: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    revenue: dict[str, float] = dict.fromkeys(refs, 0.0)
    units: dict[str, set[str]] = {v: set() for v in refs}
    served: dict[str, Counter[str]] = {v: Counter() for v in refs}
    for d in decisions:
        variant = d.variant
        if variant is None or variant not in refs:
            continue
        detail = d.detail or {}
        shown[variant] += 1
        units[variant].add(d.profile_id)
        version = detail.get("model_version") or ("popularity" if detail.get("source") == "popularity" else None)
        served[variant][str(version or "unknown")[:40]] += 1
        kinds = {o.kind for o in outcomes.get(d.decision_id, [])}
        clicked[variant] += bool(kinds & clicks)
        converted[variant] += bool(kinds & conversions)
        revenue[variant] += sum(o.value or 0.0 for o in outcomes.get(d.decision_id, []) if o.kind in conversions)
    out = []
    for variant, (model, version) in refs.items():
        ctr, ctr_ci = _rate(shown[variant], clicked[variant])
        cr, cr_ci = _rate(shown[variant], converted[variant])
        out.append(
            VersionStats(
                variant=variant,
                model=model,
                version=version,
                served_versions=dict(served[variant]),
                impressions=shown[variant],
                units=len(units[variant]),
                clicked=clicked[variant],
                ctr=ctr,
                ctr_ci=ctr_ci,
                converted=converted[variant],
                conversion_rate=cr,
                conversion_ci=cr_ci,
                revenue=float(revenue[variant]),
            )
        )
    return out
