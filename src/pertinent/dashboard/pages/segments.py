"""The segments page: members now, entries and exits in the window, ML definitions as last fitted, and the
ML segment report run from the page (:func:`run_ml_report`).

>>> from pertinent.storage.sql import SqlStore
>>> store = SqlStore("sqlite://"); store.migrate()
>>> page = build(store, "30d", now=86400.0 * 20000)
>>> page.segments, page.message[:16], page.ml
([], 'No segments yet:', None)
>>> store.close()
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pertinent.dashboard import charts
from pertinent.dashboard.pages.common import SegmentNames, Span, number, segment_labels, window_span
from pertinent.profiles.frame import features_frame
from pertinent.segments.ml import discover
from pertinent.segments.pipeline import ClusteringConfig, SegmentationConfig
from pertinent.segments.report import SegmentationReport

if TYPE_CHECKING:
    from pertinent.profiles.features import ProfileConfig
    from pertinent.storage.base import Store

ML_SAMPLE = 5_000  # profiles clustered for the ML segment report


@dataclass(frozen=True, kw_only=True)
class SegmentRow:
    """One segment in the table: members now, entries and exits in the window.

    >>> SegmentRow(segment_id="vip", name="VIP", definition="vip", size=4, entries=5, exits=1).entries - 1
    4
    """

    segment_id: str
    name: str
    definition: str  # the definition it belongs to (an ML or RFM definition has one segment per cluster)
    size: int
    entries: int
    exits: int


@dataclass(frozen=True, kw_only=True)
class StoredMl:
    """A stored ML segment definition as last fitted (the segment service keeps them as documents).

    >>> stored_ml("c", {"name": "Clusters", "fitted": {"k": 2, "segments": [{"name": "Big", "share": 0.25}]}}).k
    2
    """

    definition: str
    name: str
    k: int
    profiles: int
    fitted_at: float | None
    stability_ari: float | None
    share_bars: list[charts.Bar]
    segments: list[dict[str, Any]]  # the fitted document's entries: key, name, size, share, description


@dataclass(frozen=True, kw_only=True)
class MlReport:
    """The last ML segment report run from the page: ``report`` is ``SegmentationReport.to_dict()`` in plain
    JSON values (ok, message, k, algorithm, selection, features, segments with their contrasts)."""

    report: dict[str, Any]
    computed_at: float
    sampled: int  # profiles clustered (a sample of at most ML_SAMPLE)


@dataclass(frozen=True, kw_only=True)
class SegmentsPage:
    """The segments page: table, size and flow charts, ML reports (see the module example)."""

    span: Span
    segments: list[SegmentRow]
    sizes_chart: charts.LineChart
    entries_chart: charts.LineChart
    exits_chart: charts.LineChart
    ml: MlReport | None
    ml_share_bars: list[charts.Bar]
    message: str = ""
    stored_ml: list[StoredMl] | None = None


def build(
    store: Store,
    window: str = "30d",
    *,
    now: float | None = None,
    names: SegmentNames | None = None,
    ml: MlReport | None = None,
) -> SegmentsPage:
    """The segments of ``window``; ``names`` names the membership ids (the segment service), ``ml`` is the
    last report of :func:`run_ml_report`."""
    span = window_span(store, window, now, events=False)  # membership changes happen in real time
    with store.transaction(write=False) as tx:
        labels = segment_labels(tx, names)
        fitted = [
            stored_ml(d.doc_id, d.body)
            for d in tx.list_documents("segment")
            if isinstance(d.body, dict) and d.body.get("kind") == "ml" and isinstance(d.body.get("fitted"), dict)
        ]
        sizes = tx.count_segment_members()
        flows = tx.membership_flows(span.since, span.until, span.bucket_s)
        ids = sorted(set(labels) | set(sizes), key=lambda s: (-sizes.get(s, 0), s))
        history = {s: tx.segment_sizes(s, since=span.since) for s in ids[: charts.PALETTE_SIZE]}
    entries: dict[str, list[tuple[float, float]]] = defaultdict(list)
    exits: dict[str, list[tuple[float, float]]] = defaultdict(list)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for seg, at, n_in, n_out in flows:
        entries[seg].append((at, n_in))
        exits[seg].append((at, n_out))
        totals[seg][0] += n_in
        totals[seg][1] += n_out
    rows = [
        SegmentRow(
            segment_id=s,
            name=labels.get(s, (s, s))[1],
            definition=labels.get(s, (s, s))[0],
            size=sizes.get(s, 0),
            entries=totals[s][0],
            exits=totals[s][1],
        )
        for s in ids
    ]
    top = ids[: charts.PALETTE_SIZE]
    label = {r.segment_id: r.name for r in rows}
    x_range = (span.since, span.until)
    sizes_series = {label[s]: [(at, float(n)) for at, n in history[s]] for s in top if history.get(s)}
    bars = []
    if ml and ml.report.get("ok"):
        bars = charts.bars([(seg["name"], seg["share"]) for seg in ml.report["segments"]], charts.fmt_percent)
    return SegmentsPage(
        span=span,
        segments=rows,
        sizes_chart=charts.line_chart(sizes_series, x_range=x_range, title="Segment sizes"),
        entries_chart=charts.line_chart(
            {label[s]: entries[s] for s in top if s in entries}, x_range=x_range, title="Entries"
        ),
        exits_chart=charts.line_chart({label[s]: exits[s] for s in top if s in exits}, x_range=x_range, title="Exits"),
        ml=ml,
        ml_share_bars=bars,
        message="" if rows else "No segments yet: define rule segments or run the ML report below.",
        stored_ml=fitted,
    )


def stored_ml(doc_id: str, body: dict[str, Any]) -> StoredMl:
    """A stored ML definition's document as shown (its ``fitted`` part)."""
    fitted = body["fitted"]
    segments = [s for s in fitted.get("segments") or [] if isinstance(s, dict)]
    bars = charts.bars(
        [(str(s.get("name", s.get("key"))), float(s.get("share") or 0.0)) for s in segments], charts.fmt_percent
    )
    return StoredMl(
        definition=doc_id,
        name=str(body.get("name") or doc_id),
        k=int(fitted.get("k") or len(segments)),
        profiles=int(fitted.get("profiles") or 0),
        fitted_at=number(fitted.get("fitted_at")),
        stability_ari=number(fitted.get("stability_ari")),
        share_bars=bars,
        segments=segments,
    )


def run_ml_report(
    store: Store, *, default_consent: str, profile_config: ProfileConfig, max_profiles: int = ML_SAMPLE
) -> MlReport:
    """Cluster (a sample of) the stored profiles with personalisation consent."""
    with store.transaction(write=False) as tx:
        frame = features_frame(tx.iter_profiles(), default_consent, profile_config)
    if len(frame) > max_profiles:
        frame = frame.sample(max_profiles, random_state=0)
    if len(frame) < 10:
        report = SegmentationReport.empty(
            f"needs at least 10 profiles with personalisation consent, got {len(frame)}"
        ).to_dict()
    else:
        config = SegmentationConfig(clustering=ClusteringConfig(k_range=(2, 6), seed=0))
        report = json.loads(json.dumps(discover(frame, config).report.to_dict(), default=_plain))
    return MlReport(report=report, computed_at=time.time(), sampled=len(frame))


def _plain(value: Any) -> Any:
    """A JSON value for what ``json`` cannot write (numpy scalars; NaN and infinities become null)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
