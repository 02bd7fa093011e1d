"""One HTTP POST of one message to a webhook, signed, and what its answer means for the delivery.

The body is the message as JSON; ``X-Pertinent-Signature: sha256=<hex HMAC-SHA256(secret, body)>`` when the
webhook has a secret (the receiver recomputes it over the raw body and compares in constant time),
``X-Pertinent-Delivery`` the outbox id (the same on every retry: receivers deduplicate on it or on ``messageId``),
``X-Pertinent-Attempt`` the try number from 1.

>>> signature("s3cret", b'{"a":1}')
'sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d'
>>> outcome(200), outcome(503), outcome(429), outcome(404)
('delivered', 'retry', 'retry', 'dead')
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

import httpx
import orjson

from pertinent.destinations.config import WebhookConfig

Outcome = Literal["delivered", "retry", "dead"]
SIGNATURE_HEADER = "X-Pertinent-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def outcome(status: int) -> Outcome:
    """2xx: delivered; 408, 429 and 5xx: try again later; any other answer: give up (the dead-letter list, from
    which it can be replayed once the receiver is fixed)."""
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 429) or status >= 500:
        return "retry"
    return "dead"


def backoff(hook: WebhookConfig, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed try: ``backoff_s`` doubled per failure, at most
    ``max_backoff_s``.

    >>> [backoff(WebhookConfig(url="http://h/", backoff_s=1.0, max_backoff_s=10.0), n) for n in (1, 2, 3, 4, 5)]
    [1.0, 2.0, 4.0, 8.0, 10.0]
    """
    return float(min(hook.backoff_s * 2.0 ** (attempts - 1), hook.max_backoff_s))


def post(
    client: httpx.Client, hook: WebhookConfig, payload: dict[str, Any], delivery_id: int, attempt: int
) -> tuple[Outcome, str | None]:
    """POST one message; (outcome, error text for the outbox or None)."""
    body = orjson.dumps(payload)
    headers = {
        **hook.headers,
        "Content-Type": "application/json",
        "User-Agent": "pertinent-destinations",
        "X-Pertinent-Delivery": str(delivery_id),
        "X-Pertinent-Attempt": str(attempt),
    }
    if hook.secret:
        headers[SIGNATURE_HEADER] = signature(hook.secret, body)
    try:
        response = client.post(hook.url, content=body, headers=headers, timeout=hook.timeout_s)
    except httpx.HTTPError as exc:  # refused, reset, timed out, bad URL: all worth another try
        return "retry", f"{type(exc).__name__}: {exc}"[:500]
    result = outcome(response.status_code)
    if result == "delivered":
        return result, None
    return result, f"HTTP {response.status_code}: {response.text[:200]}"
