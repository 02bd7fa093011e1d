"""The KPI and drift page: sessions, click-through, conversion, dwell, bounce and repeat visits for all
profiles, each segment and each experiment variant; drift of the current window against the one before it
(:mod:`.kpis_drift`).

A variant served by ``/v1/decide`` counts its click-through from its decisions: each decision is an
impression, clicked when a click was attributed to it (:func:`served_click_through`), whether or not the
page also sent impression events.

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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pertinent.dashboard.event_values import EventValues
from pertinent.dashboard.pages.common import (
    MAX_EVENTS,
    Period,
    SegmentNames,
    Span,
    decisions_in,
    outcome_metric,
    segment_labels,
    window_span,
)
from pertinent.dashboard.pages.kpis_drift import FIELD_PATHS, NUMBER_FIELDS, DriftRow, alerts, drift_rows
from pertinent.kpis import OTHER, KpiConfig, KpiEvents, KpiResult, kpis_by_group

if TYPE_CHECKING:
    from pertinent.storage.base import DecisionRow, OutcomeRow, Store, Tx

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
    excluded_outliers: int = 0  # profiles flagged as outliers or bots (quality), left out of the KPIs

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
        flagged = {f.profile_id for f in tx.quality_flags()}  # outliers and bots stay out of the KPIs
        excluded = len({p for current, p, *_ in per_profile if current and p in flagged})
        if flagged:
            per_profile = [row for row in per_profile if row[1] not in flagged]
            named_rows = [row for row in named_rows if row[0] not in flagged]
        profile_ids = {p for current, p, *_ in per_profile if current}
        memberships = tx.segments_of(profile_ids) if profile_ids else {}
        labels = segment_labels(tx, names)
        decisions = [d for d in decisions_in(tx, span) if d.experiment]
        outcomes = tx.outcomes_of([d.decision_id for d in decisions]) if decisions else []
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
    for name, (shown, clicked) in served_click_through(decisions, outcomes, config).items():
        results[name] = decisions_as_impressions(results[name], shown, clicked)
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
        excluded_outliers=excluded,
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


NO_IMPRESSIONS = "no impression events, so no click-through"  # the note of pertinent.kpis.compute_kpis


def group_name(experiment: Any, variant: Any) -> str:
    """The KPI group of an experiment's variant.

    >>> group_name("hero", "b")
    'hero: b'
    """
    return f"{str(experiment)[:60]}: {str(variant)[:60]}"


def served_click_through(
    decisions: list[DecisionRow], outcomes: Iterable[OutcomeRow], config: KpiConfig
) -> dict[str, tuple[int, int]]:
    """ "experiment: variant" -> (decisions, decisions with an attributed click): a decision is an impression
    of what it served.

    >>> from pertinent.storage.base import DecisionRow, OutcomeRow
    >>> ds = [DecisionRow(f"d{i}", f"p{i}", "home", "ab"[i % 2], "experiment", 1.0, "hero") for i in range(4)]
    >>> outs = [OutcomeRow("d1", "p1", "Slot Clicked", "m1", 2.0), OutcomeRow("d1", "p1", "Slot Clicked", "m2", 3.0)]
    >>> served_click_through(ds, outs, KpiConfig())
    {'hero: a': (2, 0), 'hero: b': (2, 1)}
    """
    clicked = {o.decision_id for o in outcomes if outcome_metric(o.kind, config) == "click"}
    out: dict[str, tuple[int, int]] = {}
    for d in decisions:
        name = group_name(d.experiment, d.variant or "(none)")
        shown, hits = out.get(name, (0, 0))
        out[name] = (shown + 1, hits + (d.decision_id in clicked))
    return out


def decisions_as_impressions(result: KpiResult, shown: int, clicked: int) -> KpiResult:
    """``result`` with its click-through counted from decisions (``shown``, ``clicked``) instead of events.

    >>> r = decisions_as_impressions(KpiResult.empty(NO_IMPRESSIONS), 8, 2)
    >>> r.impressions, r.clicks, r.click_through, r.message
    (8, 2, 0.25, '')
    """
    message = "; ".join(m for m in result.message.split("; ") if m and m != NO_IMPRESSIONS)
    return replace(
        result, impressions=shown, clicks=clicked, click_through=clicked / shown if shown else None, message=message
    )


def exposures(decisions: list[DecisionRow], viewed: list[tuple[Any, ...]]) -> dict[str, dict[str, float]]:
    """ "experiment: variant" -> {profile: first exposure time}, from decisions and "Experiment Viewed" events.

    >>> exposures([], [("p1", "track", "Experiment Viewed", 5.0, "layout", None, "wide", None)])
    {'layout: wide': {'p1': 5.0}}
    """
    out: dict[str, dict[str, float]] = defaultdict(dict)

    def expose(experiment: Any, variant: Any, profile: str, at: float) -> None:
        name = group_name(experiment, variant)
        if at < out[name].get(profile, math.inf):
            out[name][profile] = at

    for d in decisions:
        expose(d.experiment, d.variant or "(none)", d.profile_id, d.at)
    for profile, _type, _name, at, experiment_id, experiment_name, variation_id, variation_name in viewed:
        experiment, variant = experiment_id or experiment_name, variation_id or variation_name
        if experiment is not None and variant is not None:
            expose(experiment, variant, profile, at)
    return dict(out)
