"""Cross-node invalidation: a node that changes something other nodes cache (an erasure, a consent withdrawal, a
promoted model) publishes it here, and every node's handlers drop what they hold.

:class:`LocalBus` is the embedded default: handlers run at once, in the publishing process. :class:`RedisBus`
(``PERTINENT_REDIS_URL``) runs them at once locally too, and sends the message over Redis pub/sub to the other
nodes, whose listener thread runs their handlers (a message reaches them in milliseconds; the target is under
1 s). Pub/sub delivers to the nodes connected at the time: a node that was disconnected drops its caches when it
reconnects, since it cannot know what it missed.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("pertinent.bus")

Handler = Callable[[str], None]


class Bus(Protocol):
    def publish(self, topic: str, key: str) -> None:
        """Tell every node (this one first) that ``key`` of ``topic`` changed."""
        ...

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Run ``handler(key)`` for each message of ``topic`` (and ``handler("")`` after a reconnect)."""
        ...

    def close(self) -> None: ...


class LocalBus:
    """One process: ``publish`` runs the handlers at once."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def publish(self, topic: str, key: str) -> None:
        self._dispatch(topic, key)

    def _dispatch(self, topic: str, key: str) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                handler(key)
            except Exception:
                log.exception("invalidation handler for %s failed", topic)

    def close(self) -> None:
        return None


class RedisBus(LocalBus):
    """Redis pub/sub between nodes; this node's handlers run at once, the others' on their listener thread."""

    def __init__(self, client: Any, channel: str | None = None) -> None:
        super().__init__()
        self.client = client
        # pub/sub channels are server-wide, not per database: two deployments on one Redis server (different
        # database numbers) must not hear each other's erasures
        db = client.connection_pool.connection_kwargs.get("db", 0) if hasattr(client, "connection_pool") else 0
        self.channel = channel or f"pertinent:{db}:invalidate"
        self.node = uuid.uuid4().hex
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="pertinent-bus", daemon=True)
        self._thread.start()

    def publish(self, topic: str, key: str) -> None:
        self._dispatch(topic, key)
        message = json.dumps({"node": self.node, "topic": topic, "key": key})
        try:
            self.client.publish(self.channel, message)
        except Exception:  # Redis away: this node is consistent; the others reset when they reconnect
            log.warning("cannot publish %s to Redis; other nodes will reset on reconnect", topic, exc_info=True)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Whether the listener is subscribed (messages published from now on reach this node)."""
        return self._ready.wait(timeout)

    def _listen(self) -> None:
        backoff = 0.1
        first = True
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                if not first:  # messages may have been missed while away
                    for topic in list(self._handlers):
                        self._dispatch(topic, "")
                first = False
                self._ready.set()
                backoff = 0.1
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=0.5)
                    if msg is None or msg.get("type") != "message":
                        continue
                    self._receive(msg["data"])
            except Exception:
                self._ready.clear()
                log.warning("Redis invalidation listener lost its connection; retrying", exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        log.debug("closing the pub/sub connection failed", exc_info=True)

    def _receive(self, data: bytes | str) -> None:
        try:
            body = json.loads(data)
            if body.get("node") == self.node:
                return  # ran locally when published
            topic, key = str(body["topic"]), str(body["key"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed invalidation message")
            return
        self._dispatch(topic, key)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
