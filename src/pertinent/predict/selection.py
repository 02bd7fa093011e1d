"""Importance-based feature selection, reported in plain words.

LightGBM's split gain per feature, as shares of the total; the smallest set of features that carries
``coverage`` (95%) of the gain is kept (at least ``min_features``), the model is refitted on them alone
and both are scored on the same test rows, so the report says what the dropped features were worth.

>>> shares = [FeatureShare("purchase_recency_days", "days since the last purchase", 0.41),
...           FeatureShare("orders_90d", "orders in the last 90 days", 0.18)]
>>> plain_summary(shares)
'The model mostly uses days since the last purchase (41% of the split gain) and orders in the last 90 days (18%).'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pertinent.predict.features import describe_feature


@dataclass(frozen=True)
class FeatureShare:
    """A feature, its plain-words name and its share of the model's split gain."""

    name: str
    plain: str
    share: float


@dataclass(frozen=True)
class FeatureSelection:
    """Which features carry the model, and how the model does on them alone."""

    n_features: int
    kept: list[FeatureShare] = field(default_factory=list)
    coverage: float = 0.95
    auc_all: float | None = None
    auc_kept: float | None = None
    summary: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def gain_shares(model: Any, names: list[str]) -> list[FeatureShare]:
    """Split-gain shares of a fitted LightGBM model, largest first (empty when it made no split)."""
    gains = np.asarray(model.booster_.feature_importance(importance_type="gain"), dtype=float)
    total = float(gains.sum())
    if total <= 0:
        return []
    order = np.argsort(-gains, kind="mergesort")
    return [FeatureShare(names[i], describe_feature(names[i]), float(gains[i] / total)) for i in order]


def keep_until(shares: list[FeatureShare], coverage: float = 0.95, min_features: int = 3) -> list[FeatureShare]:
    """The leading features whose shares add up to ``coverage`` (at least ``min_features``)."""
    kept: list[FeatureShare] = []
    total = 0.0
    for s in shares:
        if total >= coverage and len(kept) >= min_features:
            break
        kept.append(s)
        total += s.share
    return kept


def plain_summary(shares: list[FeatureShare], top: int = 3, floor: float = 0.08) -> str:
    """One sentence naming the features that matter most (the first, then any above ``floor`` up to ``top``)."""
    if not shares:
        return "The model made no split: no feature helped."
    lead = [shares[0]] + [s for s in shares[1:top] if s.share >= floor]
    parts = [f"{lead[0].plain} ({lead[0].share:.0%} of the split gain)"] + [
        f"{s.plain} ({s.share:.0%})" for s in lead[1:]
    ]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"The model mostly uses {listed}."
