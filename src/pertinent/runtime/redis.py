"""The one place Redis connections are made (``PERTINENT_REDIS_URL``): short timeouts, so that Redis going
away slows nothing down by more than a fraction of a second before the callers fall back."""

from __future__ import annotations

from typing import Any


def connect(url: str) -> Any:
    """A redis-py client for ``url`` (redis://host:port/db); it connects lazily, on first use."""
    import redis

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=1.0,
        health_check_interval=30,
        retry_on_timeout=False,
    )
