"""What the real-client tests (tests/clients/) share: the npm harness that scripts/ensure-node-clients.sh installs,
a live Pertinent server whose collection answers can be made to fail once (to prove a client's retry), the site
a browser loads analytics.js from, and waiting for what was stored.

A client that cannot be had (Node.js, the npm packages, the bundle) skips its test with the reason; make test
installs them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pertinent.services import Services
from tests.support.common import ADMIN, LiveServer, make_settings

HARNESS = Path(__file__).resolve().parents[1] / "clients" / "js"
WAIT_S = 20  # the longest a test waits for events to land (a bound, never an assertion)
INSTALL_HINT = "run scripts/ensure-node-clients.sh (make test does)"


def node_path(min_major: int = 0) -> str:
    """Node.js, or a skip naming why it is missing (or older than ``min_major``)."""
    reason = os.environ.get("PERTINENT_TEST_NODE_CLIENTS_SKIP")
    if reason:
        pytest.skip(f"JavaScript clients unavailable: {reason}")
    node = os.environ.get("PERTINENT_TEST_NODE") or shutil.which("node")
    if not node:
        pytest.skip(f"Node.js not found ({INSTALL_HINT})")
    if min_major:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        major = int(version.lstrip("v").split(".")[0] or 0) if version.startswith("v") else 0
        if major < min_major:
            pytest.skip(f"this client needs Node.js >= {min_major}; {node} is {version or 'unknown'}")
    return node


def harness_file(relative: str) -> Path:
    """A file of the installed npm harness (a package's file, the bundle), or a skip naming what is missing."""
    reason = os.environ.get("PERTINENT_TEST_NODE_CLIENTS_SKIP")
    if reason:
        pytest.skip(f"JavaScript clients unavailable: {reason}")
    path = HARNESS / relative
    if not path.exists():
        pytest.skip(f"tests/clients/js/{relative} is missing ({INSTALL_HINT})")
    return path


@dataclass
class Seen:
    """A request the server got: method, path, its X-Retry-Count, the headers a preflight asked for, the answer."""

    method: str
    path: str
    retry_count: str | None
    preflight_headers: str | None
    status: int = 0
    fault: str | None = None


class Faults:
    """ASGI wrapper around the app that records every request and, on demand, fails the next POSTs to a path:
    ``"lost"`` answers 500 before the app sees it (the event never arrived), ``"unanswered"`` lets the app store it
    and then answers 500 (the answer was lost: the retry must not store it twice). The 500 carries the CORS
    header a browser needs to read it, as the app's own answers do."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pending: dict[str, list[str]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def fail_next(self, path: str, *how: str) -> None:
        """Fail the next POSTs to ``path``, one per ``how`` ("lost" or "unanswered"), in that order."""
        assert how and set(how) <= {"lost", "unanswered"}
        with self.lock:
            self.pending.setdefault(path, []).extend(how)

    def requests(self, path: str, method: str = "POST") -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path and s.method == method]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        seen = Seen(
            scope["method"], scope["path"], headers.get("x-retry-count"), headers.get("access-control-request-headers")
        )
        with self.lock:
            self.seen.append(seen)
            queued = self.pending.get(seen.path) if seen.method == "POST" else None
            fault = queued.pop(0) if queued else None
        seen.fault = fault

        async def recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
            await send(message)

        if fault is None:
            await self.app(scope, receive, recorded)
            return
        if fault == "unanswered":

            async def swallowed(message: Message) -> None:
                pass

            await self.app(scope, receive, swallowed)
        else:
            while (await receive()).get("more_body"):
                pass
        await self._fail(recorded)

    @staticmethod
    async def _fail(send: Callable[[Message], Any]) -> None:
        body = b'{"success": false, "code": "injected", "message": "a fault injected by the test"}'
        headers = [(b"content-type", b"application/json"), (b"access-control-allow-origin", b"*")]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Collector:
    """Pertinent on the embedded default, served by uvicorn on loopback behind :class:`Faults`, with an admin
    client to read back what it stored."""

    def __init__(self, root: Path, **settings: object) -> None:
        self.services = Services.build(make_settings(root, **settings))
        self.services.store.migrate()
        self.faults: Faults | None = None

        def wrap(app: ASGIApp) -> ASGIApp:
            self.faults = Faults(app)
            return self.faults

        self.server = LiveServer(self.services, wrap=wrap)
        self.url = self.server.url
        self.http = httpx.Client(base_url=self.url, timeout=10, headers=ADMIN)

    @property
    def injected(self) -> Faults:
        assert self.faults is not None
        return self.faults

    def events(self, user_id: str) -> list[dict[str, Any]]:
        res = self.http.get(f"/v1/users/{quote(user_id, safe='')}/export")
        if res.status_code == 404:
            return []
        assert res.status_code == 200, res.text
        events: list[dict[str, Any]] = res.json()["events"]
        return events

    def wait_until(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done():
            if time.monotonic() > deadline:
                seen = "\n".join(map(str, self.injected.seen[-30:]))
                pytest.fail(f"{what}: not within {WAIT_S} s; the last requests:\n{seen}")
            time.sleep(0.1)

    def wait_events(self, user_id: str, expected: int) -> list[dict[str, Any]]:
        """The events stored for ``user_id`` once there are at least ``expected``."""
        found: list[dict[str, Any]] = []

        def enough() -> bool:
            found[:] = self.events(user_id)
            return len(found) >= expected

        self.wait_until(f"{expected} events of {user_id} stored (have {len(found)})", enough)
        return found

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.services.close()


def by_name(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["event"] or event["type"], []).append(event)
    return grouped


class Site:
    """A site on another loopback port (another origin: the collection calls are cross-site, with CORS, as on a
    real site) serving a page and the analytics.js bundle built from npm."""

    def __init__(self, files: dict[str, tuple[bytes, str]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                found = files.get(urlparse(self.path).path)
                if found is None:
                    self.send_error(404)
                    return
                body, kind = found
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server signature
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def assert_each_once(events: list[dict[str, Any]], sent: list[tuple[str, str | None, dict[str, Any]]]) -> None:
    """Each sent call (type, event name for a track, its properties or traits) is stored exactly once, with what
    it sent intact: a track's properties as sent, a page's, screen's or identify's as sent plus what the library
    adds (the page's url, path, title...). A group's traits are not compared (they describe an account)."""
    stored: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for event in events:
        key = (event["type"], event["event"] if event["type"] == "track" else None)
        stored.setdefault(key, []).append(event)
    expected: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for kind, name, fields in sent:
        expected.setdefault((kind, name if kind == "track" else None), []).append(fields)
    counts = {key: len(found) for key, found in stored.items()}
    assert counts == {key: len(calls) for key, calls in expected.items()}, f"stored {counts}"
    for key, calls in expected.items():
        for event, fields in zip(stored[key], calls, strict=True):
            kind = key[0]
            if kind == "track":
                assert event["properties"] == fields, key
            elif kind in ("page", "screen"):
                assert fields.items() <= (event["properties"] or {}).items(), (key, event["properties"])
            elif kind == "identify":
                assert fields.items() <= (event["traits"] or {}).items(), (key, event["traits"])
