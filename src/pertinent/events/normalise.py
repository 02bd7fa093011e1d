"""Message normalisation without state: event times (clock-skew correction), IP anonymisation, JSON encoding."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from pertinent.runtime.limits import time_problem


def epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # Segment timestamps without an offset are UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def event_time(msg: Any, received_at: float, batch_sent_at: float | None) -> tuple[float, tuple[str, str] | None]:
    """When the event happened (epoch seconds), corrected for the client's clock skew when it says when it sent
    it; and, if that time is outside the accepted window (:mod:`pertinent.runtime.limits`), the field and why.

    >>> class M: timestamp = datetime(2024, 1, 1, tzinfo=UTC); originalTimestamp = None; sentAt = None
    >>> event_time(M, received_at=1800000000.0, batch_sent_at=None)
    (1704067200.0, None)
    >>> field, problem = event_time(M, received_at=1800000000.0, batch_sent_at=1e12)[1]
    >>> field, problem.endswith("(after the correction for clock skew by sentAt)")
    ('timestamp', True)
    """
    sent_at = epoch(msg.sentAt) if msg.sentAt else batch_sent_at
    field = "timestamp" if msg.timestamp else "originalTimestamp"
    base = epoch(msg.timestamp) if msg.timestamp else epoch(msg.originalTimestamp)
    if base is None:
        return received_at, None
    ts = base if sent_at is None else received_at - (sent_at - base)  # correct the client's clock skew
    problem = time_problem(ts, received_at)
    if problem is None:
        return ts, None
    return ts, (field, problem if sent_at is None else f"{problem} (after the correction for clock skew by sentAt)")


def to_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


@lru_cache(maxsize=65536)
def anonymize_ip(ip: str) -> str | None:
    """Drop the host part: IPv4 keeps /24, IPv6 keeps /48. Invalid addresses are dropped."""
    parts = ip.strip().split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        return f"{int(parts[0])}.{int(parts[1])}.{int(parts[2])}.0"
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address)
