"""Settings of the destinations (``[[destinations.webhooks]]`` in the TOML file, or
``PERTINENT_DESTINATIONS__WEBHOOKS='[{"url": "https://hooks.example/in", "secret": "..."}]'``).

>>> hook = WebhookConfig(url="https://hooks.example/in", secret="s", events=["Order Completed"])
>>> hook.name, hook.types[-1], hook.max_attempts
('webhook', 'segment', 8)
>>> WebhookConfig(url="ftp://x")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for WebhookConfig
url
  Value error, an http:// or https:// URL is required ...
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

MessageType = Literal["track", "page", "screen", "identify", "group", "alias", "segment"]
ALL_TYPES: list[MessageType] = ["track", "page", "screen", "identify", "group", "alias", "segment"]


class WebhookConfig(BaseModel):
    """One webhook: where to POST, how to sign, what to send, how hard to try."""

    name: str = Field("webhook", pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # its outbox rows and CLI/API name
    url: str
    # HMAC-SHA256 of the body with this secret, hex, in X-Pertinent-Signature: sha256=<hex> (docs/integrations.md)
    secret: str | None = None
    types: list[MessageType] = Field(default_factory=lambda: list(ALL_TYPES), min_length=1)
    events: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = None  # track names; None: all
    segments: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = None  # segment ids; None: all
    # the key of ``integrations`` that opts a message out ({"Webhook": false}; {"All": false} opts out of all)
    integration: str = "Webhook"
    # identify/group traits as received (PII in clear) instead of as stored (PII pseudonymised)
    raw_traits: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(5.0, gt=0, le=60)
    max_attempts: int = Field(8, ge=1, le=50)
    backoff_s: float = Field(1.0, ge=0)  # wait before the 2nd try; doubles with each failure
    max_backoff_s: float = Field(3600.0, ge=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL is required")
        return value


class DestinationsConfig(BaseModel):
    """The webhooks and the background delivery."""

    webhooks: list[WebhookConfig] = Field(default_factory=list)
    poll_interval_s: float = Field(1.0, gt=0)  # how often due deliveries (retries) are looked for
    batch_size: int = Field(100, ge=1, le=10_000)  # deliveries claimed per round
    lease_s: float = Field(120.0, gt=0)  # a claimed delivery is retried by any process after this

    @model_validator(mode="after")
    def _unique_names(self) -> DestinationsConfig:
        names = [w.name for w in self.webhooks]
        if len(names) != len(set(names)):
            raise ValueError("webhooks: each needs its own name")
        return self
