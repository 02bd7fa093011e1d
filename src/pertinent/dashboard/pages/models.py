"""The models page: the predictive-trait models (registry, backtest metrics next to the baselines), their drift,
and the recommender's performance drift, with alerts.

- Predictive traits: each trait's latest model with its metrics and the baseline's; prediction drift (PSI of the
  scores now against those at training) and performance drift (the metric at cutoffs after training, as labels
  arrive) from :mod:`pertinent.predictions.monitor`.
- Recommender: the online hit rate of served recommendations (a recommender decision is a hit when the profile
  then interacts with one of the shown items within the attribution window) per model version, next to that
  version's offline hit rate at training, and over time in the window: an alert when the last third of the window
  falls below the first third (Newcombe interval of the difference above zero and a drop of at least 20%).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pertinent.dashboard.pages.common import MAX_DECISIONS, MAX_EVENTS, Span, window_span
from pertinent.dashboard.pages.recommendations import model_versions
from pertinent.fairness.metrics import newcombe, wilson

if TYPE_CHECKING:
    from pertinent.predictions.models import ModelEntry
    from pertinent.predictions.monitor import ModelDrift
    from pertinent.recommend.registry import ModelRegistry
    from pertinent.storage.base import Store


@dataclass(frozen=True, kw_only=True)
class HitRate:
    """Served recommendations and hits, with a 95% Wilson interval (None without decisions)."""

    label: str
    decisions: int
    hits: int
    rate: float | None
    low: float | None
    high: float | None
    offline: float | None = None  # the version's hit rate at training (holdout), when known


@dataclass(frozen=True, kw_only=True)
class ModelsPage:
    span: Span
    predictive: list[ModelEntry] = field(default_factory=list)
    drift: list[ModelDrift] = field(default_factory=list)
    by_version: list[HitRate] = field(default_factory=list)
    over_time: list[HitRate] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    message: str = ""


def _rate(label: str, n: int, k: int, offline: float | None = None) -> HitRate:
    lo, hi = wilson(k, n) if n else (None, None)
    return HitRate(label=label, decisions=n, hits=k, rate=k / n if n else None, low=lo, high=hi, offline=offline)


def recommender_hits(store: Store, span: Span, attribution_s: float) -> list[tuple[float, str, bool]]:
    """(time, model version, hit) of each recommender decision in the span."""
    with store.transaction(write=False) as tx:
        decisions = [d for d in tx.iter_decisions(since=span.since, until=span.until) if d.reason == "recommender"][
            :MAX_DECISIONS
        ]
        if not decisions:
            return []
        wanted = {d.profile_id for d in decisions}
        seen: dict[str, list[tuple[float, str]]] = defaultdict(list)
        rows = tx.iter_event_fields(span.since, span.until + attribution_s, [("properties", "product_id")], MAX_EVENTS)
        for pid, _kind, _name, ts, product in rows:
            if pid in wanted and product is not None:
                seen[pid].append((float(ts), str(product)))
    out = []
    for d in decisions:
        items = {str(i) for i in (d.detail or {}).get("items", [])}
        hit = any(d.at <= ts <= d.at + attribution_s and item in items for ts, item in seen.get(d.profile_id, ()))
        out.append((d.at, str((d.detail or {}).get("model_version") or "unknown"), hit))
    return out


def _thirds(span: Span, hits: Sequence[tuple[float, str, bool]]) -> tuple[list[HitRate], str]:
    width = (span.until - span.since) / 3
    parts = [[h for t, _, h in hits if span.since + i * width <= t < span.since + (i + 1) * width] for i in range(3)]
    rates = [
        _rate(name, len(p), sum(p))
        for name, p in zip(("first third", "middle third", "last third"), parts, strict=True)
    ]
    first, last = rates[0], rates[2]
    if first.decisions < 30 or last.decisions < 30 or not first.rate:
        return rates, ""
    lo, _ = newcombe(first.hits, first.decisions, last.hits, last.decisions)
    if lo > 0 and (last.rate or 0.0) <= 0.8 * first.rate:
        return rates, (
            f"recommender: hit rate fell from {first.rate:.1%} to {last.rate or 0:.1%} within the window "
            f"(95% interval of the drop {lo:.1%} or more)"
        )
    return rates, ""


def build(
    store: Store,
    window: str,
    *,
    now: float | None = None,
    predictive: list[ModelEntry] | None = None,
    drift: list[ModelDrift] | None = None,
    registry: ModelRegistry | None = None,
    served_model: str = "default",
    attribution_s: float = 86_400.0,
) -> ModelsPage:
    span = window_span(store, window, now)
    offline: dict[str, float] = {}
    if registry is not None:
        for v in model_versions(registry, served_model):
            hit = next((val for k, val in v.metrics.items() if k.startswith("hit_rate")), None)
            if v.name == served_model and hit is not None:
                offline[v.version] = hit
    hits = recommender_hits(store, span, attribution_s)
    per_version: dict[str, list[bool]] = defaultdict(list)
    for _t, version, hit in hits:
        per_version[version].append(hit)
    by_version = [_rate(v, len(h), sum(h), offline.get(v)) for v, h in sorted(per_version.items())]
    over_time, alert = _thirds(span, hits) if hits else ([], "")
    alerts = [a for d in drift or [] for a in d.alerts] + ([alert] if alert else [])
    message = "" if predictive else "No predictive model yet: run `pertinent predict train`."
    return ModelsPage(
        span=span,
        predictive=list(predictive or []),
        drift=list(drift or []),
        by_version=by_version,
        over_time=over_time,
        alerts=alerts,
        message=message,
    )
