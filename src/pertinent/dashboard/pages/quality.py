"""The data-quality page: tracking-plan violations per event and field, failed events waiting for replay, flagged
outliers and bots (left out of the KPIs), duplicate candidates to review and normalisation counts.

>>> from types import SimpleNamespace
>>> from pertinent.quality.models import Count, QualityReport
>>> report = QualityReport(duplicate_candidates=[], outliers=[], violations=[Count(kind="blocked", event="E",
...     field="properties.total", n=3)], normalisation=[], failed_events=3, tracking_plans=["E"])
>>> page = build(SimpleNamespace(report=lambda: report, failed=lambda limit: [], plans=lambda: []))
>>> page.violations_total, page.report.failed_events
(3, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pertinent.quality.models import FailedEvent, QualityReport, TrackingPlan

FAILED_SHOWN = 20


@dataclass(frozen=True, kw_only=True)
class QualityPage:
    report: QualityReport
    failed: list[FailedEvent]
    plans: list[TrackingPlan]
    violations_total: int
    normalised_total: int


def build(quality: Any) -> QualityPage:
    """The page's data from the quality service (``services.quality``)."""
    report = quality.report()
    return QualityPage(
        report=report,
        failed=quality.failed(limit=FAILED_SHOWN),
        plans=quality.plans(),
        violations_total=sum(v.n for v in report.violations),
        normalised_total=sum(v.n for v in report.normalisation if v.kind == "normalised"),
    )
