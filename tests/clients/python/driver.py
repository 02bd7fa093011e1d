"""Runs one real analytics client against a server: every call type once, then flush. Started by
test_python_clients.py in a subprocess (each client keeps module-level state and background threads, and
analytics-python 1.4 cannot share the test's interpreter with segment-analytics-python 2.x).

Usage: python driver.py CLIENT HOST WRITE_KEY TAG; prints "sent" and exits 0 when the client reported no error.
"""

from __future__ import annotations

import sys
from typing import Any


def _client(name: str, host: str, write_key: str, errors: list[Any]) -> Any:
    def on_error(error: Any, items: Any) -> None:
        errors.append(error)

    options = {"host": host, "on_error": on_error, "max_retries": 1}
    if name == "segment-analytics-python":
        from segment.analytics import Client

        return Client(write_key, **options)
    if name == "analytics-python":
        from analytics import Client  # type: ignore[import-not-found, no-redef]

        return Client(write_key, **options)
    if name == "rudder-sdk-python":
        from rudderstack.analytics import Client  # type: ignore[import-not-found, no-redef]

        return Client(write_key, **options)
    raise SystemExit(f"unknown client {name!r}")


def main(name: str, host: str, write_key: str, tag: str) -> int:
    errors: list[Any] = []
    client = _client(name, host, write_key, errors)
    user, anon, group = f"{tag}-user", f"{tag}-anon", f"{tag}-account"
    props = {"sku": "B-42", "price": 12.5, "tags": ["a", "b"], "nested": {"deep": {"x": 1}}, "label": "héllo 😀"}
    client.identify(user, {"plan": "pro", "logins": 3}, anonymous_id=anon)
    client.track(user, "Order Completed", {**props, "revenue": 25.0}, anonymous_id=anon)
    client.page(user, "Docs", "Install", {"path": "/docs/install", "url": "https://example.test/docs/install"})
    client.screen(user, "App", "Home", {"orientation": "portrait"})
    client.group(user, group, {"name": f"Account {tag}", "plan": "enterprise", "seats": 12})
    client.alias(f"{tag}-old", user)
    client.flush()
    if hasattr(client, "shutdown"):
        client.shutdown()
    if errors:
        print(f"errors: {errors!r}", file=sys.stderr)
        return 1
    print("sent")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
