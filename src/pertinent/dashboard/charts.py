"""Chart geometry for server-side SVG: the numbers here, the drawing in ``templates/dashboard/_charts.html``.

A line chart is an inline SVG that stretches to its box (``preserveAspectRatio="none"``, strokes that do
not scale) with the axis labels in HTML, placed by percentages: text keeps its size from a phone to a
wide screen. Interval charts and bars are plain HTML and CSS. Nothing is loaded from elsewhere. Colours
are CSS classes (``s0``..``s7``, a colour-blind-safe palette in ``dashboard.css``).

>>> chart = line_chart({"events": [(0.0, 1.0), (60.0, 3.0), (120.0, 2.0)]}, time_axis=False)
>>> chart.empty, chart.series[0].path, [(t.pos, t.label) for t in chart.y_ticks]
(False, 'M0.0,200.0 L500.0,0.0 L1000.0,100.0', [(100.0, '0'), (66.7, '1'), (33.3, '2'), (0.0, '3')])
>>> line_chart({}).empty
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

PALETTE_SIZE = 8


VIEW_W, VIEW_H = 1000.0, 300.0  # the SVG's view box; it is stretched to the chart's box


@dataclass(frozen=True, kw_only=True)
class Tick:
    """A labelled position on an axis (see the module example)."""

    pos: float  # percent along the axis (x: from the left, y: from the top)
    label: str


@dataclass(frozen=True, kw_only=True)
class SeriesPath:
    """One drawn series of a :class:`LineChart` (see the module example)."""

    name: str
    css: str  # colour class, s0..s7
    path: str  # SVG path data in the view box
    markers: str  # zero-length segments drawn as round dots (short series only), SVG path data
    last: str  # the last value, formatted


@dataclass(frozen=True, kw_only=True)
class LineChart:
    """Lines in a ``VIEW_W`` x ``VIEW_H`` view box, ticks in percent of the plot."""

    series: tuple[SeriesPath, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    summary: str  # a text alternative for screen readers
    empty: bool
    view: str = f"0 0 {VIEW_W:g} {VIEW_H:g}"


@dataclass(frozen=True, kw_only=True)
class IntervalRow:
    """One estimate with its interval (see :func:`interval_chart`)."""

    label: str
    low: float  # percent of the axis
    mid: float
    high: float
    text: str
    css: str  # given (e.g. "better", "worse"), or "up", "down", "flat" (the interval excludes zero, or not)


@dataclass(frozen=True, kw_only=True)
class IntervalChart:
    """Point estimates with confidence intervals (a forest plot) around a zero line; positions in percent."""

    zero: float
    rows: tuple[IntervalRow, ...]
    ticks: tuple[Tick, ...]
    empty: bool


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One horizontal bar (see :func:`bars`)."""

    label: str
    value: float
    share: float  # 0..100, of the largest value
    text: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart).

    >>> nice_ticks(0, 7)
    [0.0, 2.0, 4.0, 6.0, 8.0]
    >>> nice_ticks(3, 3)
    [3.0, 4.0]
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        return [float(low), float(low) + 1.0]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return [float(t) for t in ticks]


def fmt_number(value: float | None, digits: int = 3) -> str:
    """A short human number: 1234 -> '1,234', 0.1234 -> '0.123', 12_500_000 -> '12.5M'.

    >>> fmt_number(1234), fmt_number(0.12345), fmt_number(12_500_000), fmt_number(None)
    ('1,234', '0.123', '12.5M', '–')
    """
    if value is None or not math.isfinite(value):
        return "–"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.{digits}g}M"
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def fmt_percent(value: float | None, digits: int = 1) -> str:
    """A share as a percentage.

    >>> fmt_percent(0.1234), fmt_percent(None)
    ('12.3%', '–')
    """
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f}%"


def fmt_time(ts: float, span: float) -> str:
    """A UTC time label whose precision follows the span of the axis ("?" for a time no date can show).

    >>> fmt_time(0.0, 86400.0), fmt_time(-1e15, 1e16)
    ('00:00', '?')
    """
    try:  # a time stored before ingestion bounded times (year 10000...) must not break the page
        dt = datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return "?"
    if span <= 2 * 86400:
        return dt.strftime("%H:%M")
    if span <= 90 * 86400:
        return dt.strftime("%b %d")
    return dt.strftime("%Y-%m")


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    time_axis: bool = True,
    y_format: Callable[[float], str] = fmt_number,
    y_max: float | None = None,
    x_range: tuple[float, float] | None = None,
    title: str = "",
) -> LineChart:
    """Lines for up to eight named series of (x, y) points (x: epoch seconds when ``time_axis``).

    ``x_range`` fixes the x axis (e.g. the page's window), so that a few points sit where they belong in it.
    """
    named = [
        (name, [(float(x), float(y)) for x, y in pts if math.isfinite(x) and math.isfinite(y)])
        for name, pts in list(series.items())[:PALETTE_SIZE]
    ]
    named = [(n, sorted(p)) for n, p in named if p]
    if not named:
        return LineChart(
            series=(), x_ticks=(), y_ticks=(), summary=f"{title}: no data" if title else "no data", empty=True
        )
    xs = [x for _, pts in named for x, _ in pts]
    ys = [y for _, pts in named for _, y in pts]
    x0, x1 = (min(xs), max(xs)) if x_range is None else (min(x_range[0], min(xs)), max(x_range[1], max(xs)))
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y_ticks = nice_ticks(min(0.0, min(ys)), max(ys) if y_max is None else max(y_max, max(ys)))
    y0, y1 = y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return round((x - x0) / (x1 - x0) * VIEW_W, 1)

    def sy(y: float) -> float:
        return round(VIEW_H - (y - y0) / (y1 - y0) * VIEW_H, 1)

    paths = []
    for i, (name, pts) in enumerate(named):
        plotted = [(sx(x), sy(y)) for x, y in pts]
        d = "M" + " L".join(f"{px},{py}" for px, py in plotted)
        dots = " ".join(f"M{px},{py} l0,0" for px, py in plotted) if len(plotted) <= 40 else ""
        paths.append(SeriesPath(name=name, css=f"s{i}", path=d, markers=dots, last=y_format(pts[-1][1])))
    span = x1 - x0
    label = (lambda v: fmt_time(v, span)) if time_axis else fmt_number
    x_ticks = tuple(Tick(pos=25.0 * i, label=label(x0 + span * i / 4)) for i in range(5))
    y_axis = tuple(Tick(pos=round(100 * sy(v) / VIEW_H, 1), label=y_format(v)) for v in y_ticks)
    summary = "; ".join(f"{p.name}: {len(pts)} points, last {p.last}" for p, (_, pts) in zip(paths, named, strict=True))
    return LineChart(
        series=tuple(paths),
        x_ticks=x_ticks,
        y_ticks=y_axis,
        summary=f"{title}: {summary}" if title else summary,
        empty=False,
    )


def interval_chart(
    rows: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    value_format: Callable[[float], str] = fmt_percent,
    css: Sequence[str] | None = None,
) -> IntervalChart:
    """One row per (label, low, estimate, high); rows with a missing value are left out. Each row's css class
    is given (``css``, one per row: e.g. a verdict) or follows the interval (``up``/``down`` when it excludes
    zero, else ``flat``).

    >>> c = interval_chart([("b vs a", -0.05, 0.02, 0.09), ("c vs a", 0.01, 0.04, 0.07), ("d", None, None, None)])
    >>> [r.css for r in c.rows], c.zero, [t.label for t in c.ticks]
    (['flat', 'up'], 33.33, ['-5.0%', '0.0%', '5.0%', '10.0%'])
    >>> [r.css for r in interval_chart([("x", 0.01, 0.02, 0.03)], css=["worse"]).rows]
    ['worse']
    """
    classes = list(css) if css is not None else [None] * len(rows)
    kept: list[tuple[str, float, float, float, str | None]] = []
    for (lab, lo, mid, hi), cls in zip(rows, classes, strict=True):
        if lo is not None and mid is not None and hi is not None and all(math.isfinite(v) for v in (lo, mid, hi)):
            kept.append((lab, lo, mid, hi, cls))
    if not kept:
        return IntervalChart(zero=0.0, rows=(), ticks=(), empty=True)
    ticks = nice_ticks(min(min(r[1] for r in kept), 0.0), max(max(r[3] for r in kept), 0.0))
    v0, v1 = ticks[0], ticks[-1]

    def pct(v: float) -> float:
        return round(100 * (v - v0) / (v1 - v0), 2)

    out = []
    for lab, lo, mid, hi, cls in kept:
        row_css = cls or ("up" if lo > 0 else "down" if hi < 0 else "flat")
        text = f"{value_format(mid)} [{value_format(lo)}, {value_format(hi)}]"
        out.append(IntervalRow(label=lab, low=pct(lo), mid=pct(mid), high=pct(hi), text=text, css=row_css))
    return IntervalChart(
        zero=pct(0.0),
        rows=tuple(out),
        ticks=tuple(Tick(pos=pct(v), label=value_format(v)) for v in ticks),
        empty=False,
    )


def time_bucket(first: float, last: float, buckets: int = 30) -> float:
    """A round bucket length (1 min ... 1 day) giving at most about ``buckets`` buckets over [first, last].

    >>> time_bucket(0, 600), time_bucket(0, 86400), time_bucket(0, 90 * 86400)
    (60.0, 3600.0, 86400.0)
    """
    for step in (60.0, 300.0, 900.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0):
        if (last - first) / step <= buckets:
            return step
    return 86400.0


def bars(items: Sequence[tuple[str, float]], value_format: Callable[[float], str] = fmt_number) -> list[Bar]:
    """Horizontal bars (drawn with CSS widths) scaled to the largest absolute value.

    >>> [(b.label, b.share) for b in bars([("a", 2.0), ("b", 1.0)])]
    [('a', 100.0), ('b', 50.0)]
    """
    top = max((abs(v) for _, v in items if math.isfinite(v)), default=0.0)
    return [
        Bar(
            label=label,
            value=v,
            share=round(100 * abs(v) / top, 1) if top > 0 and math.isfinite(v) else 0.0,
            text=value_format(v),
        )
        for label, v in items
    ]


def fill_buckets(
    counts: Sequence[tuple[float, int]], since: float, until: float, bucket_s: float
) -> list[tuple[float, int]]:
    """Every bucket of the window, with zero where the store had no row.

    >>> fill_buckets([(120.0, 5)], 60.0, 240.0, 60.0)
    [(60.0, 0), (120.0, 5), (180.0, 0)]
    """
    found = dict(counts)
    first, last = math.floor(since / bucket_s), math.ceil(until / bucket_s)
    return [(float(i) * bucket_s, found.get(float(i) * bucket_s, 0)) for i in range(first, last)]
