"""Shared test helpers: keys, settings, an API client and a live server over the real app.

Fixtures live in tests/conftest.py; everything a test module imports by name lives here.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi.testclient import TestClient

from pertinent.api.app import create_app
from pertinent.services import Services
from pertinent.settings import Settings

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
WRITE_KEY = "test-write-key"
ADMIN_KEY = "test-admin-key"
IDENTITY_SECRET = "test-identity-secret"  # settings with it require identity verification (user_hash)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    base = {
        "data_dir": tmp_path,
        "write_key": WRITE_KEY,
        "admin_key": ADMIN_KEY,
        "pseudonym_keys": ["test-pseudonym-key"],
    }
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


def api_client(svc: Services) -> Iterator[TestClient]:
    app = create_app(svc.settings, services=svc)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        yield c


ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
# What a browser sends with a form posted from a page of the test client's server (the dashboard checks it)
SAME_ORIGIN = {"Origin": "http://testserver"}


def dashboard_login(client: TestClient, key: str = ADMIN_KEY, **form: str):  # type: ignore[no-untyped-def]
    """Log in to the dashboard through its form, as a browser on its login page would."""
    data = {"admin_key": key, **form}
    return client.post("/dashboard/login", data=data, headers=SAME_ORIGIN, follow_redirects=False)


class LiveServer:
    """The real app under uvicorn on a loopback port, in a background thread; ``wrap``, when given, wraps the app
    (an ASGI middleware of the test's own, such as tests/support/clients.py's fault injection)."""

    def __init__(self, svc: Services, wrap: Callable[[Any], Any] | None = None) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(svc.settings, services=svc)
        config = uvicorn.Config(
            wrap(app) if wrap is not None else app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
