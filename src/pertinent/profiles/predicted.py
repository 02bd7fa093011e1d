"""``predicted.*`` in the profile traits document: what a scoring pass of ``pertinent.predictions`` writes, and
the typed view ``GET /v1/profiles/{id}`` shows.

Why the traits document and not a table of its own: every reader that matters already reads it. Segment rules and
slot targeting compare traits (``{"type": "trait", "path": ["predicted", "churn_risk"], "op": "gt", "value":
0.7}``) with no new code on the serving path and no extra read per decision; the export carries the traits; erasure
deletes the profile row and the traits with it; identity merges keep them. A write locks the profile rows
(``get_profiles(for_update=True)`` on PostgreSQL, the write lock on SQLite), as ingestion does, so neither
overwrites the other. The namespace is the engine's: a client's ``predicted`` trait is refused at
ingestion (``events/schema.py``), so a site cannot forge a score.

Layout (flat numbers, so rules compare them directly)::

    {"predicted": {"purchase_propensity": 0.31, "churn_risk": 0.72,
                   "days_to_next_purchase": 12.5, "days_to_next_purchase_low": 3.0, "days_to_next_purchase_high": 40.0,
                   "model_versions": {"purchase_propensity": "purchase-30d-20260101-ab12cd34ef", ...},
                   "computed_at": 1767225600.0}}

>>> view_of({"predicted": {"churn_risk": 0.7, "model_versions": {"churn_risk": "c-1"}, "computed_at": 5.0}})
{'churn_risk': PredictedTrait(value=0.7, model_version='c-1', computed_at=5.0, low=None, high=None)}
>>> view_of({"predicted": "forged"})
{}
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

NAMESPACE = "predicted"
NAMES = ("purchase_propensity", "churn_risk", "days_to_next_purchase")


class PredictedTrait(BaseModel):
    """One predicted trait as ``GET /v1/profiles/{id}`` shows it: the value, the model version that gave it, when,
    and (days to the next purchase) the p10-p90 interval."""

    value: float
    model_version: str
    computed_at: float
    low: float | None = None
    high: float | None = None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def view_of(traits: dict[str, Any]) -> dict[str, PredictedTrait]:
    """The typed view of ``traits["predicted"]`` (anything malformed is left out)."""
    block = traits.get(NAMESPACE) if isinstance(traits, dict) else None
    if not isinstance(block, dict):
        return {}
    versions = block.get("model_versions") if isinstance(block.get("model_versions"), dict) else {}
    at = _num(block.get("computed_at")) or 0.0
    out: dict[str, PredictedTrait] = {}
    for name in NAMES:
        value = _num(block.get(name))
        version = versions.get(name) if isinstance(versions, dict) else None
        if value is None or not isinstance(version, str):
            continue
        out[name] = PredictedTrait(
            value=value,
            model_version=version,
            computed_at=at,
            low=_num(block.get(f"{name}_low")),
            high=_num(block.get(f"{name}_high")),
        )
    return out


def block(values: dict[str, float | None], versions: dict[str, str], at: float) -> dict[str, Any] | None:
    """The ``predicted`` document for one profile (None when no value is known)."""
    present = {k: round(float(v), 6) for k, v in values.items() if v is not None and math.isfinite(v)}
    if not any(name in present for name in NAMES):
        return None
    used = {name: versions[name] for name in NAMES if name in present and name in versions}
    return {**present, "model_versions": used, "computed_at": at}
