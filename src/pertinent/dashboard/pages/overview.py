"""The overview page: events per minute, active and stored profiles, consent rates, ingestion errors.

>>> from pertinent.storage.sql import SqlStore
>>> store = SqlStore("sqlite://"); store.migrate()
>>> page = build(store, "24h", now=86400.0 * 20000, default_consent="granted")
>>> page.events_in_window, page.profiles, page.anchored_to_newest
(0, 0, False)
>>> store.close()
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pertinent.dashboard import charts
from pertinent.dashboard.pages.common import Span, window_span
from pertinent.privacy.consent import PURPOSES

if TYPE_CHECKING:
    from pertinent.storage.base import IngestErrorRow, Store

# Entries of the consent log that record a request, not a choice about a purpose: an erasure appends one
# ("erasure", denied) for the erased profile, which is gone. Counted apart, never shown as a purpose.
REQUESTS = frozenset({"erasure"})


@dataclass(frozen=True, kw_only=True)
class ConsentRate:
    """Recorded choices for one purpose and the share of profiles for whom it is granted (default included).

    >>> ConsentRate(purpose="analytics", granted=3, denied=1, unset=6, effective_rate=0.9).effective_rate
    0.9
    """

    purpose: str
    granted: int
    denied: int
    unset: int
    effective_rate: float | None  # share of profiles for whom the purpose is granted, default included


@dataclass(frozen=True, kw_only=True)
class Overview:
    """The overview page (see the module example)."""

    span: Span
    events_total: int
    events_in_window: int
    events_per_minute: float | None
    active_profiles: int
    profiles: int
    consent: list[ConsentRate]
    erasures: int  # profiles erased (erasure requests carried out), from the consent log
    default_consent: str
    ingest_errors_24h: int
    ingest_errors_total: int
    recent_errors: list[IngestErrorRow]
    rate_chart: charts.LineChart

    @property
    def anchored_to_newest(self) -> bool:
        return self.span.anchored_to_newest


def build(store: Store, window: str = "24h", *, now: float | None = None, default_consent: str) -> Overview:
    """The overview of ``window`` (ending ``now``); ``default_consent`` applies to profiles without a choice."""
    now = time.time() if now is None else now
    span = window_span(store, window, now)
    with store.transaction(write=False) as tx:
        counts = tx.event_counts(span.since, span.until, span.bucket_s)
        active = tx.active_profiles(span.since, span.until)
        profiles = tx.count_profiles()
        events_total = tx.count_events()
        consent = tx.consent_counts()
        errors_24h = tx.count_ingest_errors(now - 86400.0)
        errors_total = tx.count_ingest_errors()
        recent = tx.recent_ingest_errors(10)
    in_window = sum(n for _, n in counts)
    per_minute = []
    for at, n in charts.fill_buckets(counts, span.since, span.until, span.bucket_s):
        covered = min(at + span.bucket_s, span.until) - max(at, span.since)  # the window's edges cut buckets
        if covered >= span.bucket_s / 4:  # a sliver of a bucket would be noise
            per_minute.append((at, n * 60.0 / covered))
    chart = charts.line_chart(
        {"events per minute": per_minute} if in_window else {},
        x_range=(span.since, span.until),
        title="Events per minute",
    )
    return Overview(
        span=span,
        events_total=events_total,
        events_in_window=in_window,
        events_per_minute=in_window / ((span.until - span.since) / 60.0) if in_window else None,
        active_profiles=active,
        profiles=profiles,
        consent=consent_rates(consent, profiles, default_granted=default_consent == "granted"),
        erasures=sum(sum(c.values()) for purpose, c in consent.items() if purpose in REQUESTS),
        default_consent=default_consent,
        ingest_errors_24h=errors_24h,
        ingest_errors_total=errors_total,
        recent_errors=recent,
        rate_chart=chart,
    )


def consent_rates(counts: dict[str, dict[str, int]], profiles: int, *, default_granted: bool) -> list[ConsentRate]:
    """Every purpose (known or recorded) with its recorded choices and effective rate; requests recorded in the
    consent log (an erasure) are no purpose and are left out.

    >>> counts = {"analytics": {"granted": 1, "denied": 1}, "erasure": {"granted": 0, "denied": 3}}
    >>> [(c.purpose, c.unset, c.effective_rate) for c in consent_rates(counts, 4, default_granted=True)]
    [('analytics', 2, 0.75), ('personalization', 4, 1.0)]
    """
    rates = []
    for purpose in sorted((set(PURPOSES) | set(counts)) - REQUESTS):
        c = counts.get(purpose, {"granted": 0, "denied": 0})
        unset = max(profiles - c["granted"] - c["denied"], 0)
        granted = c["granted"] + (unset if default_granted else 0)
        rates.append(
            ConsentRate(
                purpose=purpose,
                granted=c["granted"],
                denied=c["denied"],
                unset=unset,
                effective_rate=granted / profiles if profiles else None,
            )
        )
    return rates
