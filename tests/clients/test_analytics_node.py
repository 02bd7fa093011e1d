"""Segment's Node.js library, ``@segment/analytics-node`` (pinned in tests/clients/js/package-lock.json), run with
Debian's Node.js against a live Pertinent: every call stored exactly once with its properties, also when the
answer to its first batch is lost and the library retries it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clients import HARNESS, Collector, assert_each_once, harness_file, node_path
from tests.support.common import WRITE_KEY

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    server = Collector(tmp_path_factory.mktemp("analytics-node"))
    yield server
    server.close()


def run_client(collector: Collector, user_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """Run the client script; the calls it sent, as (type, event name, properties or traits)."""
    node = node_path(min_major=20)  # analytics-node 3 declares node >= 20
    harness_file("node_modules/@segment/analytics-node/package.json")
    script = HARNESS / "analytics-node-client.mjs"
    done = subprocess.run(
        [node, str(script), collector.url, WRITE_KEY, user_id],
        cwd=HARNESS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], report["errors"]
    return [(kind, call.get("event"), call.get("properties", call.get("traits", {}))) for kind, call in report["calls"]]


def test_analytics_node_delivers_each_call_once(collector: Collector) -> None:
    sent = run_client(collector, "node-ann")
    assert_each_once(collector.wait_events("node-ann", len(sent)), sent)
    batches = collector.injected.requests("/v1/batch")
    assert batches and all(b.status == 200 and b.retry_count is None for b in batches)


def test_analytics_node_retries_a_lost_answer_without_storing_twice(collector: Collector) -> None:
    collector.injected.fail_next("/v1/batch", "unanswered")  # stored, then answered 500: the library must retry
    before = len(collector.injected.requests("/v1/batch"))
    sent = run_client(collector, "node-bob")
    batches = collector.injected.requests("/v1/batch")[before:]
    assert [b.status for b in batches if b.fault] == [500]
    assert any(b.retry_count == "1" and b.status == 200 for b in batches), batches
    assert_each_once(collector.wait_events("node-bob", len(sent)), sent)
