"""A small server-side client for page renders: ask ``/v1/decide`` and ``/v1/recommendations`` with a short
timeout, and fall back to the page's defaults when Pertinent is slow, down or says no.

A CMS or a server-rendered site calls it while building a page; the visitor never waits longer than the timeout,
and after a failure the client stops asking for ``cooldown_s`` (so a server that is down costs one timeout, not
one per page). It imports nothing of the server: copy this file into a site that does not install Pertinent.

>>> client = PertinentClient("http://127.0.0.1:9", "WRITE_KEY", timeout_s=0.2)  # nothing listens on port 9
>>> hero = client.decide("home.hero", anonymous_id="a-1", default_html="<h1>Welcome</h1>")
>>> hero.personalised, hero.html, hero.error.startswith("ConnectError")
(False, '<h1>Welcome</h1>', True)
>>> client.recommendations("a-1", k=3, default=["sku-1", "sku-2"]).item_ids
['sku-1', 'sku-2']
>>> client.close()

Signed-in visitors: give the identity secret (``identity_secret``) and the client sends each user id with its
proof, ``hex(HMAC-SHA256(secret, user_id))`` (docs/api.md, identity verification).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["PertinentClient", "SlotContent", "Recommended", "Visitor"]


@dataclass(frozen=True, slots=True)
class Visitor:
    """What the page request says about the visitor, forwarded for targeting (device, language, place, UTM).

    ``ip`` is sent as ``X-Forwarded-For``: Pertinent believes it only when this server is one of its
    ``trusted_proxies`` (then ``/v1/decide`` locates the visitor from it; without it, pass ``country``)."""

    user_agent: str | None = None
    accept_language: str | None = None
    ip: str | None = None
    country: str | None = None
    region: str | None = None
    timezone: str | None = None
    url: str | None = None
    referrer: str | None = None


@dataclass(frozen=True, slots=True)
class SlotContent:
    """What a slot shows: Pertinent's decision (``personalised``) or the page's default (``error`` says why)."""

    slot: str
    html: str | None
    variant: str | None = None
    block: dict[str, Any] | None = None
    decision_id: str | None = None
    personalised: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Recommended:
    """A list of items: Pertinent's (``personalised``; ``source`` model or popularity) or the page's default."""

    items: list[dict[str, Any]] = field(default_factory=list)
    personalised: bool = False
    source: str | None = None
    error: str | None = None

    @property
    def item_ids(self) -> list[str]:
        return [str(i["item_id"]) for i in self.items]


class PertinentClient:
    """Thread-safe; keep one per process (it pools connections)."""

    def __init__(
        self,
        base_url: str,
        write_key: str,
        *,
        timeout_s: float = 0.25,
        identity_secret: str | None = None,
        cooldown_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self._secret = identity_secret
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=(write_key, ""),
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,
        )
        self._lock = threading.Lock()
        self._resting_until = 0.0

    # ------------------------------------------------------------------------------ the two calls
    def decide(
        self,
        slot: str,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        visitor: Visitor | None = None,
        default_html: str | None = None,
    ) -> SlotContent:
        """What ``slot`` shows this visitor; ``default_html`` when Pertinent cannot answer in time."""
        params: dict[str, str] = {"slot": slot}
        body, error = self._get("/v1/decide", params, user_id, anonymous_id, visitor)
        if body is None or not isinstance(body, dict):
            return SlotContent(slot, default_html, error=error or "unexpected answer")
        html = body.get("html")
        return SlotContent(
            slot,
            html if isinstance(html, str) else default_html,
            variant=body.get("variant"),
            block=body.get("block"),
            decision_id=body.get("decision_id"),
            personalised=True,
        )

    def recommendations(
        self,
        user_id: str,
        *,
        k: int = 10,
        known: bool = False,
        visitor: Visitor | None = None,
        default: list[str] | list[dict[str, Any]] | None = None,
        **rules: str | float,
    ) -> Recommended:
        """Top-``k`` items for a visitor (``known``: ``user_id`` is a signed-in user's id, sent with its proof;
        else an anonymous id); ``default`` (item ids or item dicts) when Pertinent cannot answer in time.
        ``rules``: the endpoint's other parameters (``exclude="sku-1"``, ``diversity=0.3``...)."""
        params = {"user_id": user_id, "k": str(k), **{name: str(v) for name, v in rules.items()}}
        if known and self._secret:
            params["user_hash"] = self.user_hash(user_id)
        body, error = self._get("/v1/recommendations", params, None, None, visitor)
        if body is None or not isinstance(body, dict) or not isinstance(body.get("items"), list) or not body["items"]:
            fallback = [d if isinstance(d, dict) else {"item_id": d} for d in (default or [])]
            return Recommended(fallback, error=error or "no items")
        return Recommended(body["items"], personalised=True, source=body.get("source"))

    def user_hash(self, user_id: str) -> str:
        """The proof of ``user_id`` (needs ``identity_secret``)."""
        if not self._secret:
            raise ValueError("identity_secret is required to prove a user id")
        return hmac.new(self._secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------------------ plumbing
    def _get(
        self,
        path: str,
        params: dict[str, str],
        user_id: str | None,
        anonymous_id: str | None,
        visitor: Visitor | None,
    ) -> tuple[Any, str | None]:
        now = time.monotonic()
        with self._lock:
            if now < self._resting_until:
                return None, "resting after a failure (cooldown)"
        headers: dict[str, str] = {}
        if user_id:
            params["user_id"] = user_id
            if self._secret:
                headers["X-User-Hash"] = self.user_hash(user_id)
        if anonymous_id:
            params["anonymous_id"] = anonymous_id
        if visitor is not None:
            _visitor_into(visitor, params, headers)
        try:
            response = self._http.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            self._rest()
            return None, f"{type(exc).__name__}: {exc}"[:300]
        if response.status_code >= 500:
            self._rest()
        if response.status_code != 200:
            return None, f"HTTP {response.status_code}"
        try:
            return response.json(), None
        except ValueError:
            return None, "not JSON"

    def _rest(self) -> None:
        with self._lock:
            self._resting_until = time.monotonic() + self.cooldown_s

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PertinentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _visitor_into(v: Visitor, params: dict[str, str], headers: dict[str, str]) -> None:
    for name in ("country", "region", "timezone", "url", "referrer"):
        value = getattr(v, name)
        if value:
            params[name] = value
    if v.user_agent:
        headers["User-Agent"] = v.user_agent
    if v.accept_language:
        headers["Accept-Language"] = v.accept_language
    if v.ip:
        headers["X-Forwarded-For"] = v.ip
