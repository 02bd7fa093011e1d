"""Real-time profile features: an incremental state updated by each event, summarised on read.

The state is plain JSON (stored in ``profiles.state``) and bounded in size: daily count buckets are
kept for the longest window only, affinities for the top categories and tags only.

>>> cfg = ProfileConfig()
>>> state = {}
>>> ev = ProfileEvent("track", "Order Completed", 86400.0 * 20000, {"revenue": 30.0,
...     "products": [{"product_id": "p1", "category": "Books"}]}, {"device_type": "mobile"})
>>> apply_event(state, ev, cfg)
>>> f = summarize(state, now=86400.0 * 20001, cfg=cfg)
>>> f["events_total"], f["rfm"]["frequency"], f["rfm"]["monetary"], f["counts"]["Order Completed"]["7d"]
(1, 1, 30.0, 1)
>>> f["affinities"]["category"]
{'Books': 1.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from pertinent.profiles.context import utm_facts
from pertinent.profiles.engagement import (
    apply_engaged,
    apply_page,
    merge_engagement,
    page_path,
    summarize_engagement,
)

DAY = 86400.0


class ProfileConfig(BaseModel):
    """How events become features. Round-trips to JSON."""

    windows_days: list[int] = Field(default_factory=lambda: [1, 7, 30])
    session_timeout_s: float = 1800.0
    affinity_half_life_days: float = 14.0
    max_affinities: int = 50
    recent_items: int = 50
    counted_types: list[str] = Field(default_factory=lambda: ["track", "page", "screen"])
    purchase_events: list[str] = Field(default_factory=lambda: ["Order Completed", "purchase", "buy"])
    refund_events: list[str] = Field(default_factory=lambda: ["Order Refunded", "Order Cancelled"])
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "Product Viewed": 1.0,
            "Product Clicked": 1.0,
            "page": 1.0,
            "screen": 1.0,
            "pv": 1.0,
            "Product Added to Wishlist": 2.0,
            "fav": 2.0,
            "Product Added": 3.0,
            "cart": 3.0,
            "Order Completed": 5.0,
            "buy": 5.0,
            "purchase": 5.0,
        }
    )
    default_weight: float = 1.0
    # Ratings (properties.rating) weigh max(rating - rating_offset, 0).
    rating_offset: float = 2.5
    # the snippet's engagement event (active time and scroll depth of a page: profiles/engagement.py)
    engagement_event: str = "Page Engaged"
    max_paths: int = 20  # entry and exit pages kept per profile (the most frequent)


@dataclass(slots=True)
class ProfileEvent:
    """What the profile needs from one event."""

    type: str
    name: str | None
    timestamp: float
    properties: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)  # parsed by profiles.context.parse_context


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [p.strip() for p in value.split("|") if p.strip()] if "|" in value else [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str | int | float) and not isinstance(v, bool)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [str(value)]
    return []


MAX_AMOUNT = 1e12  # larger money amounts or quantities are treated as bad input and ignored


def finite_number(value: Any, limit: float = math.inf) -> float | None:
    """A JSON value (a number, or a number as text) as a finite float within ``±limit``; None for anything else.

    >>> finite_number("12.5"), finite_number(3), finite_number(True), finite_number("nan"), finite_number("x")
    (12.5, 3.0, None, None, None)
    >>> finite_number(2e12, limit=MAX_AMOUNT) is None
    True
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) and abs(v) <= limit else None


def _number(value: Any) -> float | None:
    return finite_number(value, MAX_AMOUNT)


def event_items(props: dict[str, Any]) -> list[dict[str, Any]]:
    """The products an event is about: ``properties.products[]`` or the properties themselves."""
    products = props.get("products")
    if isinstance(products, list):
        return [p for p in products if isinstance(p, dict)]
    return [props]


def event_revenue(props: dict[str, Any]) -> float:
    for key in ("revenue", "total", "value"):
        v = _number(props.get(key))
        if v is not None:
            return v
    total = 0.0
    for item in event_items(props):
        price, qty = _number(item.get("price")), _number(item.get("quantity"))
        if price is not None:
            total += price * (qty if qty is not None else 1.0)
    return total


def event_weight(ev: ProfileEvent, cfg: ProfileConfig) -> float:
    rating = _number(ev.properties.get("rating"))
    if rating is not None:
        return max(rating - cfg.rating_offset, 0.0)
    key = ev.name if ev.type == "track" else ev.type
    return cfg.event_weights.get(key or "", cfg.default_weight)


_REBASE_HALF_LIVES = 64.0  # keep stored scores far from float overflow


def _add_affinity(
    state: dict[str, Any], kind: str, labels: list[str], weight: float, ts: float, cfg: ProfileConfig
) -> None:
    """Add ``weight`` at time ``ts``. Scores are stored as of ``affinity_ref``, a reference time that stays
    fixed, so an event costs O(its labels): a newer event adds ``weight * 2**((ts - ref) / half_life)``
    instead of decaying every stored score. The reference moves only when that factor grows large."""
    if not labels or weight <= 0:
        return
    aff = state.setdefault("affinities", {})
    table: dict[str, float] = aff.setdefault(kind, {})
    half_life = cfg.affinity_half_life_days * DAY
    ref = state.setdefault("affinity_ref", ts)
    if (ts - ref) / half_life > _REBASE_HALF_LIVES:  # rebase: express every score as of ts
        factor = math.pow(2.0, -(ts - ref) / half_life)
        for k in aff:
            for label in aff[k]:
                aff[k][label] *= factor
        state["affinity_ref"] = ref = ts
    add = weight * math.pow(2.0, (ts - ref) / half_life)
    for label in labels:
        label = label[:100]
        table[label] = table.get(label, 0.0) + add
    if len(table) > cfg.max_affinities:
        keep = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[: cfg.max_affinities]
        aff[kind] = dict(keep)


def apply_event(state: dict[str, Any], ev: ProfileEvent, cfg: ProfileConfig) -> None:
    """Update ``state`` in place with one event."""
    ts = ev.timestamp
    first, last = state.get("first_seen"), state.get("last_seen")
    counted = ev.type in cfg.counted_types
    new_session = last is None or ts - last > cfg.session_timeout_s
    if counted:
        if new_session:
            state["sessions"] = state.get("sessions", 0) + 1
        state["events_total"] = state.get("events_total", 0) + 1
        name = ev.name if ev.type == "track" and ev.name else ev.type
        day = str(int(ts // DAY))
        counts = state.setdefault("counts", {})
        entry = counts.setdefault(name[:200], {"total": 0, "days": {}})
        entry["total"] += 1
        entry["days"][day] = entry["days"].get(day, 0) + 1
        if len(entry["days"]) > max(cfg.windows_days) + 1:
            horizon = max(int(d) for d in entry["days"]) - max(cfg.windows_days)
            entry["days"] = {d: n for d, n in entry["days"].items() if int(d) > horizon}
    state["first_seen"] = ts if first is None else min(first, ts)
    state["last_seen"] = ts if last is None else max(last, ts)
    if ev.context:
        if last is None or ts >= last:
            state["context"] = {**state.get("context", {}), **ev.context}
    if not counted:
        return
    props = ev.properties
    if ev.type in ("page", "screen") and (last is None or ts >= last):  # the newest page: paths and its URL's UTM
        apply_page(state, page_path(props, ev.name), new_session, cfg)
        utm = utm_facts({}, props.get("url"))
        if utm:  # a server library's page names its campaign in properties.url only; the context's win
            sent = {k: v for k, v in ev.context.items() if k.startswith("utm_")}
            state["context"] = {**state.get("context", {}), **utm, **sent}
    elif ev.type == "track" and ev.name == cfg.engagement_event:
        apply_engaged(state, props)
    if ev.name in cfg.purchase_events:
        rfm = state.setdefault("rfm", {"frequency": 0, "monetary": 0.0, "last_purchase": None})
        part = _number(props.get("order_part"))
        if part is None or part <= 1:  # an order split over several messages counts once
            rfm["frequency"] += 1
        rfm["monetary"] = round(rfm["monetary"] + event_revenue(props), 6)
        rfm["last_purchase"] = ts if rfm["last_purchase"] is None else max(rfm["last_purchase"], ts)
    elif ev.name in cfg.refund_events:
        rfm = state.setdefault("rfm", {"frequency": 0, "monetary": 0.0, "last_purchase": None})
        rfm["monetary"] = round(rfm["monetary"] - abs(event_revenue(props)), 6)
    weight = event_weight(ev, cfg)
    items = event_items(props)
    categories: list[str] = []
    tags: list[str] = []
    for item in items:
        categories += _as_list(item.get("category")) + _as_list(item.get("categories"))
        tags += _as_list(item.get("tags"))
    if ev.type in ("page", "screen"):
        categories += _as_list(props.get("category"))
    _add_affinity(state, "category", list(dict.fromkeys(categories)), weight, ts, cfg)
    _add_affinity(state, "tag", list(dict.fromkeys(tags)), weight, ts, cfg)
    recent = state.setdefault("recent_items", [])
    for item in items:
        pid = item.get("product_id") or item.get("sku") or item.get("id")
        if isinstance(pid, str | int) and not isinstance(pid, bool):
            recent.append([str(pid)[:200], ev.name or ev.type, ts, weight])
    if len(recent) > cfg.recent_items:
        recent.sort(key=lambda r: r[2])
        del recent[: len(recent) - cfg.recent_items]


def merge_states(into: dict[str, Any], other: dict[str, Any], cfg: ProfileConfig) -> dict[str, Any]:
    """Combine two profiles' states (identity stitching). Returns ``into``, updated."""
    if not other:
        return into
    if not into:
        into.update(other)
        return into
    other_newer = (other.get("last_seen") or 0) > (into.get("last_seen") or 0)  # before last_seen is merged
    for key in ("events_total", "sessions"):
        into[key] = into.get(key, 0) + other.get(key, 0)
    for key, pick in (("first_seen", min), ("last_seen", max)):
        vals = [v for v in (into.get(key), other.get(key)) if v is not None]
        if vals:
            into[key] = pick(vals)
    counts = into.setdefault("counts", {})
    for name, entry in other.get("counts", {}).items():
        mine = counts.setdefault(name, {"total": 0, "days": {}})
        mine["total"] += entry["total"]
        for day, n in entry["days"].items():
            mine["days"][day] = mine["days"].get(day, 0) + n
    if "rfm" in other:
        r = into.setdefault("rfm", {"frequency": 0, "monetary": 0.0, "last_purchase": None})
        o = other["rfm"]
        r["frequency"] += o["frequency"]
        r["monetary"] = round(r["monetary"] + o["monetary"], 6)
        lp = [v for v in (r["last_purchase"], o["last_purchase"]) if v is not None]
        r["last_purchase"] = max(lp) if lp else None
    if "groups" in other:  # the accounts' traits (profiles.groups): the surviving profile's copy is the newer
        into["groups"] = {**other["groups"], **into.get("groups", {})}
    # Affinities: bring both to the later reference time, then add.
    ref = max(into.get("affinity_ref", 0.0), other.get("affinity_ref", 0.0))
    half_life = cfg.affinity_half_life_days * DAY
    merged: dict[str, dict[str, float]] = {}
    for state in (into, other):
        factor = math.pow(2.0, -(ref - state.get("affinity_ref", ref)) / half_life)
        for kind, table in state.get("affinities", {}).items():
            dest = merged.setdefault(kind, {})
            for label, score in table.items():
                dest[label] = dest.get(label, 0.0) + score * factor
    if merged:
        into["affinities"] = {
            k: dict(sorted(v.items(), key=lambda kv: kv[1], reverse=True)[: cfg.max_affinities])
            for k, v in merged.items()
        }
        into["affinity_ref"] = ref
    recent = sorted(into.get("recent_items", []) + other.get("recent_items", []), key=lambda r: r[2])
    if recent:
        into["recent_items"] = recent[-cfg.recent_items :]
    merge_engagement(into, other, other_newer, cfg)
    if other.get("context") and other_newer:
        into["context"] = {**into.get("context", {}), **other["context"]}
    return into


def summarize(state: dict[str, Any], now: float, cfg: ProfileConfig) -> dict[str, Any]:
    """The features a reader sees: windowed counts, RFM, decayed and normalised affinities."""
    today = int(now // DAY)
    counts = {}
    for name, entry in state.get("counts", {}).items():
        out = {"total": entry["total"]}
        for w in cfg.windows_days:
            out[f"{w}d"] = sum(n for d, n in entry["days"].items() if today - int(d) < w)
        counts[name] = out
    rfm = state.get("rfm") or {"frequency": 0, "monetary": 0.0, "last_purchase": None}
    last_purchase = rfm.get("last_purchase")
    last_seen = state.get("last_seen")
    half_life = cfg.affinity_half_life_days * DAY
    factor = math.pow(2.0, -max(now - state.get("affinity_ref", now), 0.0) / half_life)
    affinities = {}
    for kind, table in state.get("affinities", {}).items():
        total = sum(table.values())
        ranked = sorted(table.items(), key=lambda kv: kv[1], reverse=True)
        affinities[kind] = {k: round(v / total, 4) for k, v in ranked} if total > 0 else {}
        affinities[f"{kind}_strength"] = round(total * factor, 4)
    return {
        "events_total": state.get("events_total", 0),
        "sessions": state.get("sessions", 0),
        "first_seen": state.get("first_seen"),
        "last_seen": last_seen,
        "days_since_last_seen": None if last_seen is None else round((now - last_seen) / DAY, 3),
        "counts": counts,
        "rfm": {
            "recency_days": None if last_purchase is None else round((now - last_purchase) / DAY, 3),
            "frequency": rfm.get("frequency", 0),
            "monetary": rfm.get("monetary", 0.0),
            "last_purchase": last_purchase,
        },
        "affinities": affinities,
        "recent_items": [r[0] for r in reversed(state.get("recent_items", []))],
        "context": state.get("context", {}),
        "engagement": summarize_engagement(state, last_seen, now, cfg),
    }
