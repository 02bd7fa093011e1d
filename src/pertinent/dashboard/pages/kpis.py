"""The KPI and drift page: sessions, click-through, conversion, dwell, bounce and repeat visits for all
profiles, each segment and each experiment variant; drift of the current window against the one before it
(:mod:`.kpis_drift`).

The profile-free part of the events is kept between requests per window (``kept``: :func:`refresh_values`);
what depends on profile ids is read on each computation, as identity merges change them.

>>> from pertinent.kpis import KpiConfig
>>> from pertinent.storage.sql import SqlStore
>>> store = SqlStore("sqlite://"); store.migrate()
>>> page = build(store, "7d", now=86400.0 * 20000, config=KpiConfig(), kept={})
>>> page.message, [r.group for r in page.rows], page.drift_thin
('No events in the window.', ['all profiles'], True)
>>> store.close()
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pertinent.dashboard.event_values import EventValues
from pertinent.dashboard.pages.common import (
    MAX_EVENTS,
    Period,
    SegmentNames,
    Span,
    decisions_in,
    segment_labels,
    window_span,
)
from pertinent.dashboard.pages.kpis_drift import FIELD_PATHS, NUMBER_FIELDS, DriftRow, alerts, drift_rows
from pertinent.kpis import OTHER, KpiConfig, KpiEvents, KpiResult, kpis_by_group

if TYPE_CHECKING:
    from pertinent.storage.base import DecisionRow, Store, Tx

# Segment's "Experiment Viewed" (experiments run by another tool): experiment and variation, id or name
EXPOSURE_PATHS = (
    ("properties", "experiment_id"),
    ("properties", "experiment_name"),
    ("properties", "variation_id"),
    ("properties", "variation_name"),
)
EXPOSURE_EVENT = "Experiment Viewed"


@dataclass(frozen=True, kw_only=True)
class KpiRow:
    """KPIs of one group: all profiles, a segment or an experiment variant.

    >>> KpiRow(group="all profiles", kind="all", result=KpiResult.empty("no events")).result.sessions
    0
    """

    group: str
    kind: str  # "all", "segment", "variant"
    result: KpiResult
    note: str = ""  # what the result's message says beyond the all-profiles row's (shown once, above)


@dataclass(frozen=True, kw_only=True)
class KpisPage:
    """The KPIs and drift page (see the module example)."""

    span: Span
    rows: list[KpiRow]
    drift: list[DriftRow]
    drift_reference: Period  # the window before the current one, which drift compares with
    alerts: list[str]
    truncated: bool
    message: str = ""

    @property
    def drift_thin(self) -> bool:
        """True when no feature had enough values in both windows to compare (the page says so once)."""
        return all(r.statistic is None for row in self.drift for r in row.results.values())


def build(
    store: Store,
    window: str = "7d",
    *,
    now: float | None = None,
    config: KpiConfig,
    kept: dict[str, EventValues],
    names: SegmentNames | None = None,
) -> KpisPage:
    """The KPIs of ``window`` per group and its drift; ``kept`` holds the event values read for each window
    (brought up to date here), ``names`` names segments (the segment service)."""
    span = window_span(store, window, now)
    length = span.until - span.since
    reference = Period(since=span.since - length, until=span.since)
    named = list(
        dict.fromkeys([*config.click_events, *config.impression_events, *config.conversion_events, EXPOSURE_EVENT])
    )
    with store.transaction(write=False) as tx:
        values = refresh_values(tx, kept, window, reference.since)
        # profile ids change on identity merges, so what depends on them is read on each computation:
        # (current?, profile, events, newest time) grouped in SQL; page events of both windows and the
        # current window's click, impression, conversion and exposure events
        per_profile = tx.profile_event_counts(reference.since, span.since, span.until)
        named_rows = list(
            tx.iter_named_events(
                reference.since,
                span.since,
                span.until,
                config.page_types,
                named,
                EXPOSURE_EVENT,
                EXPOSURE_PATHS,
                limit=MAX_EVENTS,
            )
        )
        profile_ids = {p for current, p, *_ in per_profile if current}
        memberships = tx.segments_of(profile_ids) if profile_ids else {}
        labels = segment_labels(tx, names)
        decisions = [d for d in decisions_in(tx, span) if d.experiment]
    truncated = values.size >= MAX_EVENTS or len(named_rows) >= MAX_EVENTS
    current_rows = [row for row in named_rows if row[3] >= span.since]
    viewed = [row for row in current_rows if row[2] == EXPOSURE_EVENT]
    events = kpi_events(current_rows, [(p, newest) for current, p, _n, newest in per_profile if current], config)
    groups: dict[str, dict[str, float]] = {"all profiles": dict.fromkeys(profile_ids, 0.0)}
    kinds = {"all profiles": "all"}
    for pid, segs in memberships.items():
        for seg in segs:
            name = f"segment: {labels.get(seg, (seg, seg))[1]}"
            groups.setdefault(name, {})[pid] = 0.0
            kinds[name] = "segment"
    for name, members in exposures(decisions, viewed).items():
        groups[name] = members
        kinds[name] = "variant"
    results = kpis_by_group(events, groups, config)
    shared = set(results["all profiles"].message.split("; "))
    rows = [
        KpiRow(
            group=name,
            kind=kinds[name],
            result=results[name],
            note=results[name].message
            if name == "all profiles"
            else "; ".join(p for p in results[name].message.split("; ") if p and p not in shared),
        )
        for name in groups
    ]
    drift = drift_rows(values, reference, span, per_profile, named_rows, config.page_types)
    return KpisPage(
        span=span,
        rows=rows,
        drift=drift,
        drift_reference=reference,
        alerts=alerts(drift),
        truncated=truncated,
        message="" if profile_ids else "No events in the window.",
    )


def refresh_values(tx: Tx, kept: dict[str, EventValues], window: str, since: float) -> EventValues:
    """The window's kept event values brought up to date: only events stored since the last read are read,
    all of them again when events were deleted (erasure) or an earlier start is asked for."""
    values = kept.get(window)
    if values is not None and (since < values.since or tx.count_events_through(values.last_id) != values.events_seen):
        values = None
    if values is None:
        values = kept[window] = EventValues(since, len(FIELD_PATHS), NUMBER_FIELDS)
    values.drop_before(since)
    before = values.last_id
    values.extend(
        tx.iter_event_values(since, values.last_id, FIELD_PATHS, limit=MAX_EVENTS - values.size), limit=MAX_EVENTS
    )
    if values.last_id != before or not values.events_seen:
        values.events_seen = tx.count_events_through(values.last_id)
    return values


def kpi_events(rows: Iterable[tuple[Any, ...]], newest: list[tuple[str, float]], config: KpiConfig) -> KpiEvents:
    """The events KPIs count: the window's page, click, impression and conversion events ((profile, type,
    event, time, ...) rows), plus one uncounted event per profile at its newest event, which keeps every
    profile with an event in the window (from any start time) in its groups as all its events would.

    >>> ev = kpi_events([("a", "page", None, 1.0), ("a", "track", "Viewed", 2.0)], [("a", 3.0), ("b", 4.0)],
    ...                 KpiConfig())
    >>> ev.profile.tolist(), ev.kind.tolist(), ev.ts.tolist()
    (['a', 'a', 'b'], [1, 0, 0], [1.0, 3.0, 4.0])
    """
    counted = KpiEvents.from_records(((p, t, e, ts) for p, t, e, ts, *_ in rows if config.kind(t, e) != OTHER), config)
    extra = [(p, ts) for p, ts in newest if math.isfinite(ts)]
    profiles = np.empty(len(extra), dtype=object)
    profiles[:] = [p for p, _ in extra]
    return KpiEvents(
        np.concatenate([counted.profile, profiles]),
        np.concatenate([counted.kind, np.full(len(extra), OTHER, dtype=np.int8)]),
        np.concatenate([counted.ts, np.asarray([ts for _, ts in extra], dtype=np.float64)]),
    )


def exposures(decisions: list[DecisionRow], viewed: list[tuple[Any, ...]]) -> dict[str, dict[str, float]]:
    """ "experiment: variant" -> {profile: first exposure time}, from decisions and "Experiment Viewed" events.

    >>> exposures([], [("p1", "track", "Experiment Viewed", 5.0, "layout", None, "wide", None)])
    {'layout: wide': {'p1': 5.0}}
    """
    out: dict[str, dict[str, float]] = defaultdict(dict)

    def expose(experiment: Any, variant: Any, profile: str, at: float) -> None:
        name = f"{str(experiment)[:60]}: {str(variant)[:60]}"
        if at < out[name].get(profile, math.inf):
            out[name][profile] = at

    for d in decisions:
        expose(d.experiment, d.variant or "(none)", d.profile_id, d.at)
    for profile, _type, _name, at, experiment_id, experiment_name, variation_id, variation_name in viewed:
        experiment, variant = experiment_id or experiment_name, variation_id or variation_name
        if experiment is not None and variant is not None:
            expose(experiment, variant, profile, at)
    return dict(out)
