"""The recommendations page: saved model versions with their offline metrics, and click-through online, of the
lists shown (impression events) and of the slot decisions a recommender served; and the recommender experiments
of the window (model versions side by side on a slot: impressions, CTR and conversions per version).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertinent.dashboard import charts
from pertinent.dashboard.pages.common import MAX_EVENTS, Span, decisions_in, label, number, outcome_metric, window_span
from pertinent.decide.comparison import VersionStats, version_stats
from pertinent.experiments.frequentist import wilson_interval
from pertinent.experiments.stats import ProportionStats

if TYPE_CHECKING:
    from pertinent.kpis import KpiConfig
    from pertinent.recommend.registry import ModelRegistry
    from pertinent.storage.base import DecisionRow, OutcomeRow, Store

# What a recommendation list's impression ("Recommendations Viewed") and its clicks say (pertinent.js sends both).
RECOMMENDATION_PATHS = (
    ("properties", "model"),
    ("properties", "source"),
    ("properties", "version"),
    ("properties", "impression_id"),
)


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    """One saved model version with its offline metrics.

    >>> ModelVersion(name="default", version="v2", kind="ease", created_at=0.0, metrics={"ndcg@10": 0.3},
    ...              latest=True, served=True).metrics["ndcg@10"]
    0.3
    """

    name: str
    version: str
    kind: str
    created_at: float | None
    metrics: dict[str, float]
    latest: bool
    served: bool


@dataclass(frozen=True, kw_only=True)
class OnlineCtr:
    """Click-through of one model version online: ``clicked`` of ``impressions`` (lists shown, or decisions)
    were clicked at least once; ``ctr`` is their share with a 95% Wilson interval, None without impressions.
    ``clicks`` counts every click (one impression may have several).

    >>> online_ctr("default", "v1", shown=0, clicked=2).ctr is None
    True
    """

    model: str
    version: str
    impressions: int
    clicks: int
    ctr: float | None
    ci_low: float | None
    ci_high: float | None
    clicked: int = 0


@dataclass(frozen=True, kw_only=True)
class RecommenderExperiment:
    """One recommender experiment of the window: each variant's model version and its numbers."""

    experiment: str
    versions: list[VersionStats]


@dataclass(frozen=True, kw_only=True)
class RecommendationsPage:
    """The recommendations page (see :func:`build`)."""

    span: Span
    versions: list[ModelVersion]
    metric_names: list[str]
    metric_chart: charts.LineChart
    online: list[OnlineCtr]
    decisions: list[OnlineCtr]
    message: str = ""
    experiments: list[RecommenderExperiment] = field(default_factory=list)


def build(
    store: Store,
    window: str = "7d",
    *,
    now: float | None = None,
    registry: ModelRegistry,
    served_model: str,
    config: KpiConfig,
) -> RecommendationsPage:
    """The model versions of ``registry`` (``served_model`` is the one served) and the click-through of
    ``window``, with the click and impression events of ``config``."""
    span = window_span(store, window, now)
    versions = model_versions(registry, served_model)
    served = [v for v in versions if v.name == served_model] or versions
    metric_names = sorted({k for v in served for k, val in v.metrics.items() if isinstance(val, float)})
    chart = charts.line_chart(
        {
            m: [(v.created_at or 0.0, v.metrics[m]) for v in served if m in v.metrics]
            for m in metric_names[: charts.PALETTE_SIZE]
        },
        title="Offline metrics by version",
    )
    clicks = [e for e in config.click_events if e.startswith("Recommendation")]
    views = [e for e in config.impression_events if e.startswith("Recommendation")]
    with store.transaction(write=False) as tx:
        rows = tx.iter_event_fields(
            span.since, span.until, RECOMMENDATION_PATHS, limit=MAX_EVENTS, names=clicks + views
        )
        online = online_click_through(
            ((event, *fields) for _p, type_, event, _t, *fields in rows if type_ == "track"), clicks, views
        )
        window_decisions = decisions_in(tx, span)
        decisions = [d for d in window_decisions if d.reason in ("recommender", "recommendation")]
        compared = [d for d in window_decisions if d.experiment and (d.detail or {}).get("model")]
        outcomes = tx.outcomes_of([d.decision_id for d in decisions + compared]) if decisions or compared else []
    clicked = {o.decision_id for o in outcomes if outcome_metric(o.kind, config) == "click"}
    by_model: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for d in decisions:
        detail = d.detail or {}
        model = label(detail.get("model")) or label(detail.get("source")) or "unknown"
        key = (model, str(detail.get("model_version") or detail.get("version") or "–")[:40])
        by_model[key][0] += 1
        by_model[key][1] += d.decision_id in clicked
    return RecommendationsPage(
        span=span,
        versions=versions,
        metric_names=metric_names,
        metric_chart=chart,
        online=online,
        decisions=[online_ctr(m, v, shown=n, clicked=c) for (m, v), (n, c) in sorted(by_model.items())],
        message="" if versions else "No trained model yet: run `pertinent train` (make demo does).",
        experiments=recommender_experiments(compared, outcomes, config),
    )


def recommender_experiments(
    decisions: list[DecisionRow], outcomes: Iterable[OutcomeRow], config: KpiConfig
) -> list[RecommenderExperiment]:
    """Per experiment, each variant's model version (as its decisions name it) with impressions, clicked
    impressions, CTR and conversions (``decide.comparison.version_stats``)."""
    by_decision: dict[str, list[OutcomeRow]] = defaultdict(list)
    for o in outcomes:
        by_decision[o.decision_id].append(o)
    clicks = {"click", *config.click_events}
    conversions = {"conversion", *config.conversion_events}
    out = []
    for key in sorted({d.experiment for d in decisions if d.experiment}):
        mine = [d for d in decisions if d.experiment == key]
        refs: dict[str, tuple[str, str]] = {}
        for d in sorted(mine, key=lambda d: str(d.variant)):
            detail = d.detail or {}
            if d.variant is not None:
                refs.setdefault(d.variant, (str(detail.get("model"))[:64], str(detail.get("model_ref") or "–")[:40]))
        out.append(
            RecommenderExperiment(experiment=key, versions=version_stats(mine, by_decision, refs, clicks, conversions))
        )
    return out


def model_versions(registry: ModelRegistry, served_model: str) -> list[ModelVersion]:
    """The last 20 versions of every model in the registry, with their offline metrics."""
    out = []
    for name in registry.names():
        latest = registry.latest_version(name)
        for version in registry.versions(name)[-20:]:
            folder = registry.root / name / version
            meta = _read_json(folder / "meta.json")
            out.append(
                ModelVersion(
                    name=name,
                    version=version,
                    kind=str(meta.get("kind", "?")),
                    created_at=number(meta.get("created_at")),
                    metrics=offline_metrics(_read_json(folder / "metrics.json")),
                    latest=version == latest,
                    served=name == served_model and version == latest,
                )
            )
    return out


def online_ctr(model: str, version: str, *, shown: int, clicked: int, clicks: int | None = None) -> OnlineCtr:
    """``clicked`` of ``shown`` impressions as a rate with a 95% Wilson interval; None without impressions.
    ``clicks`` (every click, default ``clicked``) is only reported.

    >>> r = online_ctr("m", "v1", shown=100, clicked=10)
    >>> r.ctr, round(r.ci_low, 4), round(r.ci_high, 4)
    (0.1, 0.0552, 0.1744)
    """
    clicks = clicked if clicks is None else clicks
    k = min(clicked, shown)
    if shown <= 0:
        return OnlineCtr(
            model=model,
            version=version,
            impressions=shown,
            clicks=clicks,
            ctr=None,
            ci_low=None,
            ci_high=None,
            clicked=k,
        )
    stats = ProportionStats(shown, k)
    ci = wilson_interval(stats)
    return OnlineCtr(
        model=model,
        version=version,
        impressions=shown,
        clicks=clicks,
        ctr=stats.mean,
        ci_low=ci[0] if ci else None,
        ci_high=ci[1] if ci else None,
        clicked=k,
    )


def online_click_through(
    rows: Iterable[tuple[Any, ...]], click_events: Iterable[str], impression_events: Iterable[str]
) -> list[OnlineCtr]:
    """Click-through per model and version from (event, model, source, version, impression_id) rows.

    An impression is one list shown (an impression event); it counts as clicked when a click names its
    ``impression_id``, so one list clicked twice is still one clicked impression and the rate is a proportion
    with a Wilson interval. Clicks that name no impression (other senders) count as one clicked impression each;
    clicks naming an impression outside the rows (shown before the window) count as clicks only. Lists are
    keyed by ``model`` (else ``source``: ``popularity`` for the fallback) and ``version``.

    >>> rows = [("Recommendations Viewed", "default", "model", "v2", "i1"),
    ...         ("Recommendations Viewed", "default", "model", "v2", "i2"),
    ...         ("Recommendation Clicked", "default", "model", "v2", "i1"),
    ...         ("Recommendation Clicked", "default", "model", "v2", "i1"),
    ...         ("Recommendations Viewed", None, "popularity", None, "i3")]
    >>> [(r.model, r.version, r.impressions, r.clicks, r.clicked, r.ctr) for r in online_click_through(
    ...     rows, ["Recommendation Clicked"], ["Recommendations Viewed"])]
    [('default', 'v2', 2, 2, 1, 0.5), ('popularity', '–', 1, 0, 0, 0.0)]
    """
    click_names, view_names = set(click_events), set(impression_events)
    shown: dict[tuple[str, str], int] = defaultdict(int)
    shown_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    clicks: dict[tuple[str, str], int] = defaultdict(int)
    clicked_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    unlinked: dict[tuple[str, str], int] = defaultdict(int)
    for event, model, source, version, impression_id in rows:
        if event not in click_names and event not in view_names:
            continue
        key = (label(model) or label(source) or "unknown", str(version or "–")[:40])
        impression = label(impression_id)
        if event in click_names:
            clicks[key] += 1
            if impression is None:
                unlinked[key] += 1
            else:
                clicked_ids[key].add(impression)
        else:
            shown[key] += 1
            if impression is not None:
                shown_ids[key].add(impression)
    return [
        online_ctr(
            model,
            version,
            shown=shown[(model, version)],
            clicked=len(clicked_ids[(model, version)] & shown_ids[(model, version)]) + unlinked[(model, version)],
            clicks=clicks[(model, version)],
        )
        for model, version in sorted(set(shown) | set(clicks))
    ]


def offline_metrics(doc: dict[str, Any]) -> dict[str, float]:
    """A model version's offline metrics as flat numbers: the top-level numbers of its ``metrics.json`` and the
    holdout evaluation ``pertinent train`` writes there (``{"holdout": {"k": 10, "metrics": {"ndcg": ...}}}``)
    as ``ndcg@10``.

    >>> offline_metrics({"holdout": {"k": 10, "metrics": {"ndcg": 0.25, "hit_rate": 0.5}}, "report": {"trials": []}})
    {'ndcg@10': 0.25, 'hit_rate@10': 0.5}
    >>> offline_metrics({"ndcg@10": 0.3, "note": "x", "bad": float("nan"), "flag": True})
    {'ndcg@10': 0.3}
    """

    def finite(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    out = {str(k): float(v) for k, v in doc.items() if finite(v)}
    holdout = doc.get("holdout")
    if isinstance(holdout, dict) and isinstance(holdout.get("metrics"), dict):
        k = holdout.get("k")
        suffix = f"@{k}" if isinstance(k, int) and not isinstance(k, bool) else ""
        for name, v in holdout["metrics"].items():
            if finite(v):
                out.setdefault(f"{name}{suffix}", float(v))
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
