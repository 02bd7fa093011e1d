"""Failed logins to the dashboard, limited per client address and overall (:class:`LoginLimiter`).

Only failed attempts are limited, and a correct admin key always logs in: the login route compares the
typed key with the admin key (in constant time) *before* asking the limiter, and the limiter only decides
whether a wrong key is answered 429 (with Retry-After, not audited) or 401. Why not refuse every attempt
from a limited address, correct or not, as a lockout does? Because anyone sharing the admin's address (an
office NAT, a VPN exit, a proxy) could then keep the admin out indefinitely by typing wrong keys, and the
limits would buy no protection in exchange: the API itself takes the admin key as a Bearer token on every
admin route, which is as good a place to guess it as this form. What keeps the admin key from being guessed
is its length (``make demo`` generates 256-bit keys), not a limiter; what the limiter still does is keep
floods of failures out of the audit log and tell a person mistyping to slow down.

The client address is the peer's, or behind a trusted proxy (``PERTINENT_TRUSTED_PROXIES``) the one it
forwards (:mod:`.forwarded`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginLimiter:
    """Failed logins: per client address, the ``free``-th failure closes the form to that address for
    ``base_s`` seconds and each further one doubles that, up to ``max_s`` (exponential backoff); failures
    are forgotten after ``forget_s`` seconds without one, or at a successful login. Overall,
    ``global_limit`` failures from any addresses within ``global_window_s`` close the form to everyone
    until the oldest of them is that old (a guess spread over many addresses). :meth:`retry_after` says
    for how long more wrong keys from a client are answered 429 (0: 401 again); a correct key never
    waits (see the module docstring).

    >>> now = [0.0]
    >>> limiter = LoginLimiter(free=2, base_s=10.0, clock=lambda: now[0])
    >>> [limiter.failed("a") for _ in range(3)], limiter.retry_after("a"), limiter.retry_after("b")
    ([0.0, 10.0, 20.0], 20.0, 0.0)
    >>> now[0] = 20.0
    >>> limiter.retry_after("a"), limiter.succeeded("a"), limiter.failed("a")
    (0.0, None, 0.0)
    """

    def __init__(
        self,
        free: int = 5,
        base_s: float = 2.0,
        max_s: float = 900.0,
        forget_s: float = 3600.0,
        global_limit: int = 50,
        global_window_s: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base_s, self.max_s, self.forget_s = free, base_s, max_s, forget_s
        self.global_limit, self.global_window_s, self.max_clients = global_limit, global_window_s, max_clients
        self.clock = clock
        self._clients: OrderedDict[str, tuple[int, float, float]] = OrderedDict()  # failures, last, closed until
        self._recent: deque[float] = deque()  # times of the failures of the global window
        self._lock = threading.Lock()

    def _client(self, client: str, now: float) -> tuple[int, float, float]:
        entry = self._clients.get(client)
        if entry is None or now - entry[1] > self.forget_s:
            return 0, now, now
        return entry

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        with self._lock:
            now = self.clock()
            while self._recent and now - self._recent[0] >= self.global_window_s:
                self._recent.popleft()
            waits = [self._client(client, now)[2] - now]
            if len(self._recent) >= self.global_limit:
                waits.append(self._recent[0] + self.global_window_s - now)
            return max(0.0, *waits)

    def failed(self, client: str) -> float:
        """Record a failed login; returns how long ``client`` must now wait."""
        with self._lock:
            now = self.clock()
            failures = self._client(client, now)[0] + 1
            wait = min(self.base_s * 2.0 ** min(failures - self.free, 64), self.max_s) if failures >= self.free else 0.0
            self._clients[client] = (failures, now, now + wait)
            self._clients.move_to_end(client)
            while len(self._clients) > self.max_clients:  # the least recently failing go first
                self._clients.popitem(last=False)
            self._recent.append(now)
            while len(self._recent) > self.global_limit:  # only the newest matter for the global window
                self._recent.popleft()
            return wait

    def succeeded(self, client: str) -> None:
        """A successful login: the client's failures are forgotten."""
        with self._lock:
            self._clients.pop(client, None)


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for a Retry-After header, at least 1.

    >>> retry_after_header(0.2), retry_after_header(59.01)
    ('1', '60')
    """
    return str(max(1, math.ceil(wait_s)))
