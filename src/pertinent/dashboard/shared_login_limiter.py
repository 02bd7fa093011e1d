"""Failed dashboard logins limited across every node of a cluster (``PERTINENT_REDIS_URL``): the same rules as
:class:`~pertinent.dashboard.login_limiter.LoginLimiter`, with the counts in Redis, so a guesser spreading
attempts over the API nodes behind a load balancer meets one limit, not one per node.

A failure is recorded by one Lua script (read, count, set the wait, add to the global window), atomic in Redis.
Times are wall-clock seconds (every node's clock; keep them in sync with NTP). When Redis cannot be reached the
node falls back to its own in-process limiter, so logins keep working and are still limited per node.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from pertinent.dashboard.login_limiter import LoginLimiter

log = logging.getLogger("pertinent.dashboard")

_FAILED = """
local key, recent = KEYS[1], KEYS[2]
local now, free, base, maxs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local forget, window, member = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local entry = redis.call('HMGET', key, 'failures', 'last')
local failures = 0
if entry[1] and entry[2] and now - tonumber(entry[2]) <= forget then failures = tonumber(entry[1]) end
failures = failures + 1
local wait = 0
if failures >= free then wait = math.min(base * 2 ^ math.min(failures - free, 64), maxs) end
redis.call('HSET', key, 'failures', failures, 'last', now, 'until', now + wait)
redis.call('EXPIRE', key, math.ceil(forget + wait) + 1)
redis.call('ZADD', recent, now, member)
redis.call('ZREMRANGEBYSCORE', recent, '-inf', now - window)
redis.call('EXPIRE', recent, math.ceil(window) + 1)
return tostring(wait)
"""


class SharedLoginLimiter:
    """:class:`LoginLimiter`'s interface (``retry_after``, ``failed``, ``succeeded``) over Redis."""

    def __init__(
        self,
        client: Any,
        free: int = 5,
        base_s: float = 2.0,
        max_s: float = 900.0,
        forget_s: float = 3600.0,
        global_limit: int = 50,
        global_window_s: float = 60.0,
        prefix: str = "pertinent:login",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.free, self.base_s, self.max_s, self.forget_s = free, base_s, max_s, forget_s
        self.global_limit, self.global_window_s = global_limit, global_window_s
        self.prefix = prefix
        self.clock = clock
        self.fallback = LoginLimiter(free, base_s, max_s, forget_s, global_limit, global_window_s, clock=clock)
        self._failed = client.register_script(_FAILED)

    def _key(self, client: str) -> str:
        return f"{self.prefix}:client:{client}"

    @property
    def _recent(self) -> str:
        return f"{self.prefix}:recent"

    def retry_after(self, client: str) -> float:
        now = self.clock()
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.hmget(self._key(client), "last", "until")
            pipe.zremrangebyscore(self._recent, "-inf", now - self.global_window_s)
            pipe.zrevrange(self._recent, self.global_limit - 1, self.global_limit - 1, withscores=True)
            (last, until), _, nth = pipe.execute()
        except Exception:
            log.warning("Redis unreachable: login limits are this node's own", exc_info=True)
            return self.fallback.retry_after(client)
        waits = [0.0]
        if last is not None and until is not None and now - float(last) <= self.forget_s:
            waits.append(float(until) - now)
        if nth:  # the global_limit-th newest failure is inside the window: closed until it leaves it
            waits.append(float(nth[0][1]) + self.global_window_s - now)
        return max(waits)

    def failed(self, client: str) -> float:
        now = self.clock()
        args = [now, self.free, self.base_s, self.max_s, self.forget_s, self.global_window_s, uuid.uuid4().hex]
        try:
            return float(self._failed(keys=[self._key(client), self._recent], args=args))
        except Exception:
            log.warning("Redis unreachable: login limits are this node's own", exc_info=True)
            return self.fallback.failed(client)

    def succeeded(self, client: str) -> None:
        self.fallback.succeeded(client)
        try:
            self.client.delete(self._key(client))
        except Exception:
            log.warning("Redis unreachable: cannot clear the failures of %s", client, exc_info=True)
