"""The cluster on loopback (issue 15, item 7): PostgreSQL + Redis + two ``pertinent serve`` API nodes + one
``pertinent worker``, real processes. Under mixed load (ingest, profiles, recommendations, a segment, an erasure)
one API node and the worker are killed with SIGKILL mid-way and restarted. Afterwards:

- every acknowledged event is stored exactly once (clients retry what was not acknowledged, on the other node);
- segment memberships equal a full re-evaluation (the worker's scheduled reconcile repaired what the killed node
  had queued);
- no scheduled job ran more often than its interval allows, across both worker lives;
- after an erasure on one node, neither node serves the profile.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from pertinent.services import Services
from pertinent.settings import Settings
from pertinent.storage.factory import open_store

pytestmark = pytest.mark.slow

KEYS = {
    "PERTINENT_WRITE_KEY": "cluster-write-key",
    "PERTINENT_ADMIN_KEY": "cluster-admin-key",
    "PERTINENT_PSEUDONYM_KEYS": "cluster-pseudonym-key",
    "PERTINENT_IDENTITY_SECRET": "cluster-identity-secret",
}
ADMIN = {"Authorization": "Bearer cluster-admin-key"}
WRITE = ("cluster-write-key", "")
INTERVAL_S = 2.0  # sweep, sizes and reconcile: often enough to run many times in the test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Node:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from pertinent.cli import app; app()", *self.args],
            env=self.env,
            stdout=out,
            stderr=out,
        )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class ApiNode(Node):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(["serve", "--host", "127.0.0.1", "--port", str(self.port)], env, log)

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = httpx.get(self.url + "/healthz", timeout=1.0)
                if last.status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"API node on {self.port} did not start ({last!r}): {self.log.read_text()[-2000:]}")


def _batch(i: int) -> list[dict]:
    """Batch ``i``: 20 events over 40 users (orders and views), with message ids unique across the run."""
    events = []
    for j in range(20):
        user = f"u{(i * 20 + j) % 40}"
        if j % 3 == 0:
            events.append(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": user,
                    "messageId": f"m{i}-{j}",
                    "properties": {"revenue": 10.0 + j},
                }
            )
        else:
            events.append(
                {
                    "type": "track",
                    "event": "Product Viewed",
                    "userId": user,
                    "messageId": f"m{i}-{j}",
                    "properties": {"product_id": f"p{j % 7}"},
                }
            )
    return events


def _send(nodes: list[ApiNode], batch: list[dict], first: int) -> bool:
    """Post to ``nodes[first]``; on a connection error or 5xx retry on the others (a client behind a load
    balancer). True once a node acknowledged it."""
    for k in range(len(nodes) * 2):
        node = nodes[(first + k) % len(nodes)]
        try:
            r = httpx.post(node.url + "/v1/batch", json={"batch": batch}, auth=WRITE, timeout=10.0)
        except httpx.HTTPError:
            continue
        if r.status_code == 200:
            return True
        assert r.status_code >= 500, r.text  # anything else is a bug in the batch, not the cluster
    return False


@pytest.fixture
def cluster_db(postgres_url: str) -> Iterator[str]:
    """A database of the cluster's own: the worker's session database may hold other tests' rows."""
    base, name = postgres_url.rsplit("/", 1)
    own = f"{name}_cluster"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{own}"'))
    yield f"{base}/{own}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)'))
    admin.dispose()


def test_cluster_survives_killed_nodes(tmp_path, cluster_db, redis_url):
    postgres_url = cluster_db
    env = {
        **os.environ,
        **KEYS,
        "PERTINENT_DATABASE_URL": postgres_url,
        "PERTINENT_REDIS_URL": redis_url,
        "PERTINENT_DATA_DIR": str(tmp_path / "shared"),
        "PERTINENT_REQUIRE_IDENTITY_VERIFICATION": "false",
        "PERTINENT_SEGMENTS__SWEEP_INTERVAL_S": str(INTERVAL_S),
        "PERTINENT_SEGMENTS__SIZES_INTERVAL_S": str(INTERVAL_S),
        "PERTINENT_SEGMENTS__RECONCILE_INTERVAL_S": str(INTERVAL_S),
        "PERTINENT_LOG_LEVEL": "info",
    }
    settings = Settings(  # in this process: a node of the cluster too (a database served with Redis needs it)
        database_url=postgres_url,
        redis_url=redis_url,
        data_dir=tmp_path / "shared",
        write_key=KEYS["PERTINENT_WRITE_KEY"],
        admin_key=KEYS["PERTINENT_ADMIN_KEY"],
        pseudonym_keys=[KEYS["PERTINENT_PSEUDONYM_KEYS"]],
        identity_secret=KEYS["PERTINENT_IDENTITY_SECRET"],
        require_identity_verification=False,
    )
    open_store(settings).close()  # migrate once, as a deployment's first start does
    api_env = {**env, "PERTINENT_RUN_JOBS": "false"}
    api = [ApiNode(api_env, tmp_path / "api1.log").start(), ApiNode(api_env, tmp_path / "api2.log").start()]
    worker = Node(["worker", "--heartbeat-s", "0"], env, tmp_path / "worker.log").start()
    started = time.time()
    try:
        for node in api:
            node.wait_ready()
        r = httpx.post(
            api[0].url + "/v1/segments",
            headers=ADMIN,
            timeout=30.0,
            json={"template": "frequent_buyers", "params": {"min_orders": 3}},
        )
        assert r.status_code == 201, r.text
        acked: list[str] = []
        for i in range(60):
            batch = _batch(i)
            assert _send(api, batch, first=i % 2), f"batch {i} was never acknowledged"
            acked += [m["messageId"] for m in batch]
            if i % 5 == 0:  # serving traffic on both nodes
                for node in api:
                    if node.proc is not None and node.proc.poll() is None:
                        rec = httpx.get(node.url + "/v1/recommendations", params={"user_id": "u1"}, auth=WRITE)
                        assert rec.status_code == 200, rec.text
            if i == 20:  # mid-load: SIGKILL one API node and the worker
                api[0].kill()
                worker.kill()
            if i == 40:  # and bring them back
                api[0].start()
                worker.start()
                api[0].wait_ready()
        erased = httpx.delete(api[1].url + "/v1/users/u7", headers=ADMIN, timeout=30.0)
        assert erased.status_code == 200, erased.text
        time.sleep(3 * INTERVAL_S)  # the restarted worker's reconcile runs at least once
        for node in api:  # neither node serves the erased profile
            assert httpx.get(node.url + "/v1/profiles/u7", headers=ADMIN).status_code == 404
    finally:
        elapsed = time.time() - started
        worker.stop()
        for node in api:
            node.stop()

    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT message_id, count(*) FROM events GROUP BY message_id")).all())
        claims = dict(
            conn.execute(text("SELECT name, fence FROM job_claims WHERE name IN ('sweep', 'sizes', 'reconcile')")).all()
        )
    engine.dispose()
    erased_ids = {m["messageId"] for i in range(60) for m in _batch(i) if m["userId"] == "u7"}
    kept = [m for m in acked if m not in erased_ids]
    assert all(counts.get(m) == 1 for m in kept), [m for m in kept if counts.get(m) != 1][:10]
    assert not erased_ids & counts.keys()
    # each job at most once per (0.95 x) interval over the whole run, across both lives of the worker
    for name in ("sweep", "sizes", "reconcile"):
        assert 1 <= claims.get(name, 0) <= elapsed / (0.95 * INTERVAL_S) + 1, (name, claims, elapsed)
    # memberships converged: a full re-evaluation changes nothing
    services = Services.build(settings)
    try:
        totals = services.segments.reconcile()
        with services.store.transaction(write=False) as tx:
            stored = {p.profile_id for p in tx.iter_profiles()}
            users = {services.profiles.find(tx, f"u{i}") for i in range(40) if i != 7}
    finally:
        services.close()
    assert stored == users, (stored - users, users - stored)  # one profile per person; the erased one is gone
    assert totals["profiles"] == 39 and totals["entered"] == 0 and totals["exited"] == 0, totals
