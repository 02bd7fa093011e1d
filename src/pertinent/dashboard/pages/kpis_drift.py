"""The drift section of the KPI page: each feature of the current window's events compared with the window
before it by every detector of :mod:`pertinent.drift`.

Event features are read from the kept event values (:class:`pertinent.dashboard.event_values.EventValues`) as
(value, count) pairs, so no event list is expanded except the samples the detectors compare.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pertinent.dashboard import charts
from pertinent.dashboard.pages.common import Period, Span, label, number
from pertinent.drift import DETECTORS, make_detector

if TYPE_CHECKING:
    from pertinent.dashboard.event_values import EventValues
    from pertinent.drift import DriftResult

# The JSON fields the drift section compares, read once per event and kept (``EventValues``).
FIELD_PATHS = (
    ("properties", "category"),
    ("properties", "price"),
    ("properties", "revenue"),
    ("context", "device", "type"),
)

# Features compared between the reference and the current window: (name, column, value of one raw value).
# Column None is the event's name (``event``, else its ``type``), i the i-th of FIELD_PATHS.
EVENT_FEATURES: tuple[tuple[str, int | None, Callable[[Any], Any]], ...] = (
    ("event name", None, lambda v: v),
    ("properties.category", 0, label),
    ("properties.price", 1, number),
    ("properties.revenue", 2, number),
    ("context.device.type", 3, label),
)
NUMBER_FIELDS = tuple(column for _name, column, value in EVENT_FEATURES if value is number and column is not None)


@dataclass(frozen=True, kw_only=True)
class DriftRow:
    """One feature's drift under every detector; ``alert`` when any detector alerts.

    >>> from pertinent.drift import PSI
    >>> DriftRow(feature="device", kind="categorical", results={"psi": PSI().compare(["a"] * 50, ["b"] * 50)}).alert
    True
    """

    feature: str
    kind: str
    results: dict[str, DriftResult]

    @property
    def alert(self) -> bool:
        return any(r.alert for r in self.results.values())


def drift_rows(
    values: EventValues,
    reference: Period,
    span: Span,
    per_profile: Sequence[tuple[bool, str, int, float]],
    named_rows: Sequence[tuple[Any, ...]],
    page_types: Iterable[str],
) -> list[DriftRow]:
    """Every feature compared: the event features of ``values``, then events and page views per profile
    (``per_profile``: (current?, profile, events, newest time); ``named_rows``: (profile, type, ...) page events)."""
    detectors = [make_detector(name) for name in DETECTORS]
    ts = values.ts
    sides = ((ts >= reference.since) & (ts < reference.until), (ts >= span.since) & (ts < span.until))
    features: list[tuple[str, tuple[str, list[Any], list[Any]]]] = []
    for name, column, value in EVENT_FEATURES:
        codes, column_codes = (
            (values.names, values.name_codes) if column is None else (values.fields[column], values.field_codes(column))
        )
        ref = counted(values.values_of(codes, column_codes, sides[0]), value)
        cur = counted(values.values_of(codes, column_codes, sides[1], ordered=False), value)
        features.append((name, prepared(ref, cur)))
    pages = set(page_types)
    views_of = Counter((ts >= span.since, p) for p, type_, _e, ts, *_ in named_rows if type_ in pages)
    events = [[(float(n), 1) for current, _p, n, _t in per_profile if current is side] for side in (False, True)]
    features.append(("events per profile", prepared(*events)))
    views = [
        [(float(views_of[(side, p)]), 1) for current, p, _n, _t in per_profile if current is side]
        for side in (False, True)
    ]
    features.append(("page views per profile", prepared(*views)))
    rows = []
    for name, samples in features:
        results = {d.name: d.compare_prepared(*samples) for d in detectors}
        kind = next(iter(results.values())).kind
        if kind != "numeric":
            results.pop("ks", None)
        rows.append(DriftRow(feature=name, kind=kind, results=results))
    return rows


def alerts(rows: Iterable[DriftRow]) -> list[str]:
    """One line per alerting detector of a feature."""
    return [
        f"{row.feature}: {r.detector} {charts.fmt_number(r.statistic)} > {charts.fmt_number(r.threshold)}"
        if r.detector != "ks"
        else f"{row.feature}: KS D={charts.fmt_number(r.statistic)}, p={charts.fmt_number(r.p_value)}"
        for row in rows
        for r in row.results.values()
        if r.alert
    ]


def counted(values: Iterable[tuple[Any, int]], value: Callable[[Any], Any]) -> list[tuple[Any, int]]:
    """(value, count) from (raw value, count) pairs: raw values read as the feature reads them (``label``,
    ``number``), missing ones dropped, equal ones merged where first seen.

    >>> counted([("9.5", 2), ("x", 1), (9.5, 3)], number)
    [(9.5, 5)]
    """
    out: dict[Any, int] = {}
    for raw, n in values:
        v = value(raw)
        if v is not None:
            out[v] = out.get(v, 0) + n
    return list(out.items())


def prepared(reference: list[tuple[Any, int]], current: list[tuple[Any, int]]) -> tuple[str, list[Any], list[Any]]:
    """What ``drift.prepare`` gives for the expanded samples, from (value, count) pairs in first-seen order:
    numeric when both hold only numbers, else labels (the order of first appearance is kept, which is the
    order the categorical detectors rank ties in).

    >>> prepared([("a", 2), ("b", 1)], [("b", 1)])
    ('categorical', ['a', 'a', 'b'], ['b'])
    >>> prepared([(1.0, 2)], [])
    ('numeric', [1.0, 1.0], [])
    """
    numeric = all(isinstance(v, float) for v, _ in reference) and all(isinstance(v, float) for v, _ in current)

    def expand(pairs: list[tuple[Any, int]]) -> list[Any]:
        if numeric:
            return (
                np.repeat(
                    np.asarray([v for v, _ in pairs], dtype=float), np.asarray([n for _, n in pairs], dtype=np.int64)
                ).tolist()
                if pairs
                else []
            )
        out: list[Any] = []
        for v, n in pairs:
            out.extend([str(v)] * n)
        return out

    return ("numeric" if numeric else "categorical"), expand(reference), expand(current)
