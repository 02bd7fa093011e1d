"""The fairness page: the audit of :mod:`pertinent.fairness` over the window's decisions (the predictive traits at
their latest closed label window), every comparison with its interval and verdict, and the exposure tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pertinent.dashboard.pages.common import Span, window_span

if TYPE_CHECKING:
    from pertinent.fairness.metrics import FairnessAudit
    from pertinent.fairness.service import FairnessService
    from pertinent.storage.base import Store


@dataclass(frozen=True, kw_only=True)
class FairnessPage:
    span: Span
    audit: FairnessAudit | None
    message: str = ""


def build(store: Store, window: str, *, now: float | None = None, fairness: FairnessService | None) -> FairnessPage:
    span = window_span(store, window, now, events=False)
    if fairness is None:
        return FairnessPage(span=span, audit=None, message="The fairness audit is not available in this process.")
    days = (span.until - span.since) / 86_400.0
    return FairnessPage(span=span, audit=fairness.audit(window_days=days, now=span.until))
