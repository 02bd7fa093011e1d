"""Stored profiles as a feature table (one row per profile) for segmentation and analysis.

Only profiles whose owner allows personalisation are included: clustering and RFM are personalisation.
Times are relative to ``now``, by default the newest event in the store — so an imported history
(e.g. Online Retail, 2010-2011) is described as of its own end, and a live store as of now.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pertinent.privacy.consent import effective
from pertinent.profiles.features import DAY, ProfileConfig, summarize
from pertinent.storage.base import ProfileRow

COUNTED = {
    "views": ("Product Viewed", "pv"),
    "carts": ("Product Added", "cart"),
    "pages": ("page", "screen"),
    "reviews": ("Product Reviewed",),
}


def profile_features(row: ProfileRow, now: float, cfg: ProfileConfig) -> dict[str, Any]:
    """Numeric features of one profile (NaN where a feature does not apply, e.g. recency without purchases).

    >>> from pertinent.profiles.features import ProfileEvent, apply_event
    >>> cfg = ProfileConfig(); state = {}
    >>> apply_event(state, ProfileEvent("track", "Order Completed", 10 * DAY, {"revenue": 40.0}), cfg)
    >>> f = profile_features(ProfileRow("p1", state=state), now=12 * DAY, cfg=cfg)
    >>> f["frequency"], f["monetary"], f["recency_days"], f["avg_order_value"]
    (1, 40.0, 2.0, 40.0)
    """
    s = summarize(row.state, now, cfg)
    counts, rfm = s["counts"], s["rfm"]
    frequency = rfm["frequency"]
    out: dict[str, Any] = {
        "events_total": s["events_total"],
        "sessions": s["sessions"],
        "tenure_days": (now - s["first_seen"]) / DAY if s["first_seen"] else math.nan,
        "days_since_last_seen": (now - s["last_seen"]) / DAY if s["last_seen"] else math.nan,
        "recency_days": (now - rfm["last_purchase"]) / DAY if rfm["last_purchase"] else math.nan,
        "frequency": frequency,
        "monetary": rfm["monetary"],
        "avg_order_value": rfm["monetary"] / frequency if frequency else math.nan,
        "categories": len(s["affinities"].get("category", {})),
        "top_category_share": max(s["affinities"].get("category", {}).values(), default=math.nan),
        "identified": int(row.profile_id.startswith("u_")),  # a known user, not only an anonymous visitor
    }
    for name, events in COUNTED.items():
        out[name] = sum(counts.get(e, {}).get("total", 0) for e in events)
    return out


def features_frame(
    rows: Iterable[ProfileRow], default_consent: str, cfg: ProfileConfig, now: float | None = None
) -> Any:
    """A pandas DataFrame indexed by profile id, one column per feature."""
    import pandas as pd

    kept = [r for r in rows if r.state and effective(r.consent, default_consent)["personalization"]]
    if now is None:
        now = max((r.state.get("last_seen") or 0.0 for r in kept), default=0.0)
    frame = pd.DataFrame.from_records(
        [profile_features(r, now, cfg) for r in kept], index=pd.Index([r.profile_id for r in kept], name="profile_id")
    )
    frame.attrs["as_of"] = now
    return frame
