"""A database served with the Redis hot store refuses a process without it (``storage/deployment.py``): its writes
would leave the other nodes serving stale consent and profiles from Redis. On a real PostgreSQL and Redis (and
SQLite): the first node with Redis marks the database, ``Services.build``, ``pertinent serve`` and ``pertinent
worker`` without it refuse to start naming ``PERTINENT_REDIS_URL``, and ``pertinent hot-store detach`` takes the
database off Redis with its keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from pertinent.services import Services
from pertinent.storage.deployment import HOT_STORE, HotStoreRequired, hot_store_mark
from pertinent.storage.hot_keys import PREFIX, k_profile
from pertinent.storage.sql import SqlStore
from tests.support.common import ADMIN_KEY, WRITE_KEY, make_settings


def _build(store: SqlStore, tmp_path: Path, **settings: object) -> Services:
    return Services.build(make_settings(tmp_path, **settings), store)


def test_a_database_never_served_with_redis_takes_any_node(store, tmp_path):
    for _ in range(2):  # the embedded default, unchanged: nothing marked, nothing refused
        _build(store, tmp_path).close()
    assert hot_store_mark(store) is None


def test_the_first_node_with_redis_marks_the_database_and_a_node_without_is_refused(store, redis_url, tmp_path):
    cluster = _build(store, tmp_path, redis_url=redis_url)
    try:
        cluster.ingest.ingest([{"type": "identify", "userId": "ann", "traits": {"plan": "pro"}}])
        mark = hot_store_mark(store)
        assert mark is not None and mark["at"] > 0
        _build(store, tmp_path, redis_url=redis_url).close()  # a second Redis node: welcome
        for settings in ({}, {"redis_url": redis_url, "hot_store_ttl_s": 0}):  # no Redis; Redis but no hot store
            with pytest.raises(HotStoreRequired, match="PERTINENT_REDIS_URL") as refused:
                _build(store, tmp_path, **settings)
            assert "stale consent" in str(refused.value) and "hot-store detach" in str(refused.value)
    finally:
        cluster.close()
    with store.transaction(write=False) as tx:
        assert tx.deployment_setting(HOT_STORE) == mark  # nothing else changed it


def test_deployment_settings_on_both_backends(store):
    with store.transaction() as tx:
        assert tx.deployment_setting("x") is None
        tx.put_deployment_setting("x", {"a": 1}, 1.0)
        tx.put_deployment_setting("x", {"a": 2, "b": [True, None]}, 2.0)
    with store.transaction() as tx:
        assert tx.deployment_setting("x") == {"a": 2, "b": [True, None]}
        assert tx.delete_deployment_setting("x") is True
        assert tx.delete_deployment_setting("x") is False
        assert tx.deployment_setting("x") is None


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "from pertinent.cli import app; app()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_serve_and_worker_without_redis_refuse_a_marked_postgres_database(postgres_url, redis_url, tmp_path):
    store = SqlStore(postgres_url)
    store.migrate()
    with store.transaction() as tx:
        tx.delete_deployment_setting(HOT_STORE)
    env = {
        **os.environ,
        "PERTINENT_DATA_DIR": str(tmp_path),
        "PERTINENT_DATABASE_URL": postgres_url,
        "PERTINENT_WRITE_KEY": WRITE_KEY,
        "PERTINENT_ADMIN_KEY": ADMIN_KEY,
        "PERTINENT_PSEUDONYM_KEYS": "test-pseudonym-key",
        "PERTINENT_IDENTITY_SECRET": "test-identity-secret",
    }
    env.pop("PERTINENT_REDIS_URL", None)
    try:
        node = Services.build(make_settings(tmp_path, redis_url=redis_url, database_url=postgres_url), store)
        node.ingest.ingest([{"type": "identify", "userId": "ann", "traits": {"plan": "pro"}}])
        key = node.profiles.pseudo.key("user", "ann")
        node.close()
        with store.transaction(write=False) as tx:
            pid = tx.get_identities([key])[key].profile_id
        client = redis.Redis.from_url(redis_url)
        assert client.exists(k_profile(pid))

        for args in (["serve", "--port", "1"], ["worker", "--heartbeat-s", "0"]):
            refused = _cli(args, env)
            assert refused.returncode == 2, refused.stderr
            assert "PERTINENT_REDIS_URL" in refused.stderr and "Traceback" not in refused.stderr
        assert "served with the hot store" in _cli(["hot-store", "status"], env).stdout

        assert _cli(["hot-store", "detach"], env).returncode == 1  # only with --yes: every node stopped
        detached = _cli(["hot-store", "detach", "--yes"], {**env, "PERTINENT_REDIS_URL": redis_url})
        assert detached.returncode == 0, detached.stderr
        assert "mark removed" in detached.stdout
        assert hot_store_mark(store) is None
        assert not list(client.scan_iter(match=PREFIX + "*"))  # a later return to Redis starts empty
        _build(store, tmp_path, database_url=postgres_url).close()  # a node without Redis is welcome again
    finally:
        with store.transaction() as tx:
            tx.delete_deployment_setting(HOT_STORE)
        store.close()
