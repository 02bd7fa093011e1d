"""What is wrong with a produced message: the Segment shape plus this project's event conventions.

The tests run every importer's and the synthetic generator's output through :func:`message_problems`;
ingestion has its own validator (:mod:`pertinent.events.schema`).
"""

from __future__ import annotations

import re
from typing import Any

from pertinent.events.importing.cleaning import finite_or_none
from pertinent.events.importing.messages import ORDER_EVENTS

__all__ = ["REQUIRED_PROPERTIES", "message_problems"]

_ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
# Properties each event of the project's conventions must carry.
REQUIRED_PROPERTIES: dict[str, tuple[str, ...]] = {
    "Product Viewed": ("product_id",),
    "Product Added": ("product_id",),
    "Product Added to Wishlist": ("product_id",),
    "Product Reviewed": ("product_id", "rating"),
    "Order Completed": ("order_id", "products"),
    "Order Refunded": ("order_id", "products"),
}


def message_problems(msg: Any) -> list[str]:
    """What is wrong with a produced message (Segment shape + this project's event conventions).

    An empty list means: a dict with a known ``type``, a ``messageId``, a ``userId`` or
    ``anonymousId``, an ISO-8601 UTC ``timestamp`` ending in ``Z``, an ``event`` name for tracks, and the
    properties the conventions require (e.g. ``product_id`` on "Product Viewed").

    >>> message_problems({"type": "track", "event": "Product Viewed", "messageId": "m", "userId": "u",
    ...                   "timestamp": "2020-01-01T00:00:00.000Z", "properties": {"product_id": "1"}})
    []
    >>> message_problems({"type": "track", "event": "Order Completed", "anonymousId": "a", "timestamp": "x"})
    ['messageId missing', 'timestamp not ISO-8601 UTC', 'properties.order_id missing', 'properties.products missing']
    """
    if not isinstance(msg, dict):
        return ["not a dict"]
    problems = []
    kind = msg.get("type")
    if kind not in ("track", "page", "identify", "screen", "group", "alias"):
        problems.append(f"unknown type {kind!r}")
    if not isinstance(msg.get("messageId"), str) or not msg.get("messageId"):
        problems.append("messageId missing")
    if not any(isinstance(msg.get(k), str) and msg.get(k) for k in ("userId", "anonymousId")):
        problems.append("userId and anonymousId missing")
    ts = msg.get("timestamp")
    if not isinstance(ts, str) or not _ISO_UTC.match(ts):
        problems.append("timestamp not ISO-8601 UTC")
    props = msg.get("properties", {})
    if not isinstance(props, dict):
        problems.append("properties not a dict")
        props = {}
    if kind == "track":
        event = msg.get("event")
        if not isinstance(event, str) or not event:
            problems.append("event missing")
        for key in REQUIRED_PROPERTIES.get(event, ()) if isinstance(event, str) else ():
            if props.get(key) is None:
                problems.append(f"properties.{key} missing")
        if event in ORDER_EVENTS and isinstance(props.get("products"), list):
            for i, p in enumerate(props["products"]):
                if not isinstance(p, dict) or "product_id" not in p:
                    problems.append(f"properties.products[{i}].product_id missing")
        if "revenue" in props and (finite_or_none(props["revenue"]) is None or props["revenue"] < 0):
            problems.append("properties.revenue not a non-negative number")
    if kind == "identify" and not isinstance(msg.get("traits", {}), dict):
        problems.append("traits not a dict")
    if not isinstance(msg.get("context", {}), dict):
        problems.append("context not a dict")
    return problems
