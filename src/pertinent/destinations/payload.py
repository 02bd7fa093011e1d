"""What a destination receives: Segment-shaped messages built from stored events and segment changes, and the
filters that decide whether a message goes to a webhook at all.

>>> from pertinent.destinations.config import WebhookConfig
>>> hook = WebhookConfig(url="https://h.example/", events=["Order Completed"])
>>> wanted(hook, "track", "Order Completed", {}), wanted(hook, "track", "Page Viewed", {})
(True, False)
>>> [wanted(hook, "track", "Order Completed", opt) for opt in ({"All": False}, {"Webhook": False})]
[False, False]
>>> wanted(hook, "track", "Order Completed", {"All": False, "Webhook": True})
True
>>> segment_payload("vip", "u_abc", True, 0.0)["event"]
'Segment Entered'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pertinent.destinations.config import WebhookConfig
from pertinent.storage.base import EventRow

SEGMENT_ENTERED = "Segment Entered"
SEGMENT_EXITED = "Segment Exited"


def iso(ts: float) -> str:
    """An epoch time as ISO 8601 in UTC with milliseconds (Segment's timestamp format).

    >>> iso(0.25)
    '1970-01-01T00:00:00.250Z'
    """
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def integration_allows(integrations: Any, name: str) -> bool:
    """Segment's rule: a message goes to a destination unless ``integrations[name]`` is false, or ``All`` is false
    and ``integrations[name]`` is not set to true (or to an options object)."""
    if not isinstance(integrations, dict):
        return True
    own = integrations.get(name)
    if own is not None:
        return own is not False
    return integrations.get("All", True) is not False


def wanted(hook: WebhookConfig, kind: str, name: str | None, integrations: Any) -> bool:
    """Whether ``hook`` takes a message of ``kind`` (a Segment type, or ``segment`` for a segment change) named
    ``name`` (a track event, or the segment id) with these ``integrations``."""
    if kind not in hook.types or not integration_allows(integrations, hook.integration):
        return False
    if kind == "track" and hook.events is not None:
        return name in hook.events
    if kind == "segment" and hook.segments is not None:
        return name in hook.segments
    return True


def event_payload(row: EventRow, msg: Any, raw_traits: bool) -> dict[str, Any]:
    """The Segment message a destination receives for a stored event: as stored (IP anonymised, PII traits
    pseudonymised unless ``raw_traits``), with the sender's ids and ``profileId`` (Pertinent's pseudonymous id,
    also what segment changes carry)."""
    fields = msg.__dict__ if msg is not None else {}
    out: dict[str, Any] = {
        "type": row.type,
        "messageId": row.message_id,
        "profileId": row.profile_id,
        "timestamp": iso(row.timestamp),
        "receivedAt": iso(row.received_at),
        "context": row.context or {},
    }
    for key in ("userId", "anonymousId", "groupId", "previousId"):
        if fields.get(key):
            out[key] = fields[key]
    if row.type == "track":
        out["event"] = row.event
    elif row.type in ("page", "screen") and row.event:
        out["name"] = row.event
    if row.type in ("track", "page", "screen"):
        out["properties"] = row.properties or {}
    if row.type in ("identify", "group"):
        traits = fields.get("traits") if raw_traits else row.traits
        out["traits"] = traits or {}
    integrations = fields.get("integrations")
    if isinstance(integrations, dict) and integrations:
        out["integrations"] = integrations
    return out


def segment_payload(segment_id: str, profile_id: str, entered: bool, at: float) -> dict[str, Any]:
    """A segment entry or exit as a track message (``Segment Entered`` / ``Segment Exited``)."""
    return {
        "type": "track",
        "event": SEGMENT_ENTERED if entered else SEGMENT_EXITED,
        "messageId": f"seg-{'in' if entered else 'out'}-{segment_id}-{profile_id}-{at!r}",
        "profileId": profile_id,
        "timestamp": iso(at),
        "properties": {"segment_id": segment_id, "entered": entered},
    }
