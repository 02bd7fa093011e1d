"""With PERTINENT_REDIS_URL, nodes share login limits and invalidation through a real Redis (started by
``make test``): an erasure on node A reaches node B's caches within a second, and a guesser spreading failed
logins over the nodes meets one limit. Without Redis reachable, each node falls back to its own limits."""

from __future__ import annotations

import threading
import time

import pytest

from pertinent.dashboard.shared_login_limiter import SharedLoginLimiter
from pertinent.runtime.bus import RedisBus
from pertinent.runtime.redis import connect
from pertinent.services import Services
from tests.support.common import ADMIN, api_client, make_settings
from tests.support.models import save_popularity


def _wait(predicate, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_a_message_reaches_the_other_nodes_once_and_runs_locally_at_once(redis_url):
    a, b = RedisBus(connect(redis_url)), RedisBus(connect(redis_url))
    try:
        assert a.wait_ready() and b.wait_ready()
        got_a: list[str] = []
        got_b: list[str] = []
        a.subscribe("profile.erased", got_a.append)
        b.subscribe("profile.erased", got_b.append)
        started = time.monotonic()
        a.publish("profile.erased", "p1")
        assert got_a == ["p1"]  # synchronously, before publish returned
        assert _wait(lambda: got_b == ["p1"], timeout=1.0)
        assert time.monotonic() - started < 1.0
        time.sleep(0.2)
        assert got_a == ["p1"]  # its own message is not delivered a second time
        b.publish("other.topic", "x")
        time.sleep(0.2)
        assert got_a == ["p1"] and got_b == ["p1"]
    finally:
        a.close()
        b.close()


def test_an_erasure_on_one_node_reaches_the_other_within_a_second(tmp_path, redis_url, monkeypatch):
    settings = make_settings(tmp_path, redis_url=redis_url)
    node_a = Services.build(settings)
    node_b = Services.build(settings, node_a.store)  # the same database, as two API nodes share PostgreSQL
    forgotten: list[str] = []
    original = node_b.recommend.forget_cached
    monkeypatch.setattr(node_b.recommend, "forget_cached", lambda pid: (forgotten.append(pid), original(pid)))
    try:
        assert node_b.bus.wait_ready()
        for client in api_client(node_a):
            assert client.post("/v1/track", json={"userId": "ann", "event": "Viewed"}).status_code == 200
            erased = client.delete("/v1/users/ann", headers=ADMIN).json()
        assert _wait(lambda: forgotten == [erased["profile_id"]], timeout=1.0)
    finally:
        node_b.bus.close()
        node_a.close()


def test_failed_logins_are_counted_across_nodes(redis_url):
    now = [1000.0]
    a = SharedLoginLimiter(connect(redis_url), free=2, base_s=10.0, clock=lambda: now[0])
    b = SharedLoginLimiter(connect(redis_url), free=2, base_s=10.0, clock=lambda: now[0])
    assert a.failed("1.2.3.4") == 0.0
    assert b.failed("1.2.3.4") == 10.0  # the second failure, on the other node
    assert a.retry_after("1.2.3.4") == 10.0 and b.retry_after("5.6.7.8") == 0.0
    assert a.failed("1.2.3.4") == 20.0
    now[0] += 20.0
    assert b.retry_after("1.2.3.4") == 0.0
    b.succeeded("1.2.3.4")
    assert a.failed("1.2.3.4") == 0.0  # forgotten after a success on the other node


def test_the_global_limit_spans_nodes_and_clients(redis_url):
    now = [50.0]
    nodes = [SharedLoginLimiter(connect(redis_url), global_limit=4, global_window_s=60.0, clock=lambda: now[0])]
    nodes.append(SharedLoginLimiter(connect(redis_url), global_limit=4, global_window_s=60.0, clock=lambda: now[0]))
    for i in range(4):
        nodes[i % 2].failed(f"10.0.0.{i}")
        now[0] += 1.0
    assert nodes[0].retry_after("192.0.2.1") == pytest.approx(50.0 + 60.0 - now[0])  # closed to everyone
    now[0] = 111.0
    assert nodes[1].retry_after("192.0.2.1") == 0.0


def test_concurrent_failures_are_all_counted(redis_url):
    limiter = SharedLoginLimiter(connect(redis_url), free=1000, global_limit=10_000)
    threads = [threading.Thread(target=lambda: [limiter.failed("9.9.9.9") for _ in range(25)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = connect(redis_url).hget("pertinent:login:client:9.9.9.9", "failures")
    assert int(failures) == 100


def test_without_redis_each_node_still_limits_on_its_own():
    unreachable = connect("redis://127.0.0.1:1/0")  # nothing listens on port 1
    now = [0.0]
    limiter = SharedLoginLimiter(unreachable, free=2, base_s=10.0, clock=lambda: now[0])
    assert limiter.failed("1.2.3.4") == 0.0
    assert limiter.failed("1.2.3.4") == 10.0
    assert limiter.retry_after("1.2.3.4") == 10.0


def test_a_promotion_on_one_node_is_served_by_the_other_within_a_second(tmp_path, redis_url):
    settings = make_settings(tmp_path, redis_url=redis_url)
    node_a = Services.build(settings)
    node_b = Services.build(settings, node_a.store)  # one database, one shared models folder
    try:
        assert node_b.bus.wait_ready()
        name = settings.recommend.model
        v1, v2 = save_popularity(node_a), save_popularity(node_a)
        node_b.recommend.refresh_model()
        assert node_b.recommend.serving._served[0] == v2
        node_a.models.promote(name, v1)
        assert _wait(lambda: node_b.recommend.serving._served[0] == v1, timeout=1.0)
    finally:
        node_b.bus.close()
        node_a.close()


def test_deployments_on_other_databases_of_one_server_do_not_hear_each_other(redis_url):
    other_db = redis_url.rsplit("/", 1)[0] + "/0" if not redis_url.endswith("/0") else redis_url[:-1] + "15"
    mine, theirs = RedisBus(connect(redis_url)), RedisBus(connect(other_db))
    try:
        assert mine.wait_ready() and theirs.wait_ready()
        heard: list[str] = []
        theirs.subscribe("profile.erased", heard.append)
        mine.publish("profile.erased", "p1")
        time.sleep(0.3)
        assert heard == []
    finally:
        mine.close()
        theirs.close()
