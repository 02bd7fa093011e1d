"""The real Python analytics clients deliver every call type to a live server, each event stored exactly once with
its properties intact: Segment's segment-analytics-python 2.x and its predecessor analytics-python 1.4, and
RudderStack's rudder-sdk-python. Each runs in its own subprocess against uvicorn on a loopback port.

segment-analytics-python and rudder-sdk-python come with the dev extras; analytics-python 1.4 clashes with them
(the same module names, backoff pinned at 1.10), so ``scripts/install-python-clients.sh`` (run by ``make test``)
installs it into ``.clients/analytics-python-1.4``. A client that is not installed is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pertinent.services import Services
from tests.support.common import WRITE_KEY, LiveServer

ROOT = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).with_name("driver.py")
LEGACY = ROOT / ".clients" / "analytics-python-1.4"


def _path_for(client: str) -> str | None:
    """The PYTHONPATH the client's subprocess needs, or a pytest skip when the client is not installed."""
    if client == "analytics-python":
        if not (LEGACY / ".installed").exists():
            pytest.skip(
                f"analytics-python 1.4 is not installed in {LEGACY} (make test runs scripts/install-python-clients.sh)"
            )
        return str(LEGACY)
    module = {"segment-analytics-python": "segment.analytics", "rudder-sdk-python": "rudderstack.analytics"}[client]
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        found = None
    if found is None:
        pytest.skip(f"{client} is not installed (pip install -e '.[dev]')")
    return None


@pytest.fixture
def server(sqlite_services: Services) -> Iterator[LiveServer]:
    live = LiveServer(sqlite_services)
    yield live
    live.stop()


@pytest.mark.slow
@pytest.mark.parametrize("client", ["segment-analytics-python", "analytics-python", "rudder-sdk-python"])
def test_client_delivers_every_call_once_with_properties_intact(client: str, server: LiveServer, sqlite_services):
    extra = _path_for(client)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if extra:
        env["PYTHONPATH"] = extra
    tag = client.split("-")[0]
    done = subprocess.run(
        [sys.executable, str(DRIVER), client, server.url, WRITE_KEY, tag],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "sent" in done.stdout, done.stderr[-3000:]

    svc = sqlite_services
    with svc.store.transaction(write=False) as tx:
        pid = svc.profiles.find(tx, f"{tag}-user")
        assert pid is not None
        events = tx.events_of(pid)
        member = tx.groups_of(pid)
        account = tx.get_groups([f"{tag}-account"])
    by_type: dict[str, list] = {}
    for e in events:
        by_type.setdefault(e.type, []).append(e)
    assert {t: len(v) for t, v in by_type.items()} == {
        "identify": 1,
        "track": 1,
        "page": 1,
        "screen": 1,
        "group": 1,
        "alias": 1,
    }, [(e.type, e.message_id) for e in events]
    (track,) = by_type["track"]
    assert track.event == "Order Completed"
    assert track.properties == {
        "sku": "B-42",
        "price": 12.5,
        "tags": ["a", "b"],
        "nested": {"deep": {"x": 1}},
        "label": "héllo 😀",
        "revenue": 25.0,
    }
    (page,) = by_type["page"]
    assert (page.event, page.properties["path"]) == ("Install", "/docs/install")
    (screen,) = by_type["screen"]
    assert (screen.event, screen.properties) == ("Home", {"orientation": "portrait"})
    (identify,) = by_type["identify"]
    assert identify.traits == {"plan": "pro", "logins": 3}
    (group,) = by_type["group"]
    assert group.group_id == f"{tag}-account" and group.traits["name"] == f"Account {tag}"
    assert account[f"{tag}-account"].traits == {"name": f"Account {tag}", "plan": "enterprise", "seats": 12}
    assert [m.group_id for m in member] == [f"{tag}-account"]
    (alias,) = by_type["alias"]
    assert alias.previous_id == svc.ingest.pseudo.key("user", f"{tag}-old")
    assert all((e.context or {}).get("library", {}).get("name") for e in events)  # the client's own context kept
    assert all((e.context or {}).get("ip") == "127.0.0.0" for e in events)  # filled from the client, anonymised
