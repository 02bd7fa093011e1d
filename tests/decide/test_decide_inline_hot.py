"""``/v1/decide`` on the event loop with the Redis hot store: a slot whose inputs Redis holds is decided inline
(no SQL read, no thread), and a miss gives up before anything is decided or queued so that the request is decided
in a thread instead, with the same answer. The Redis read is awaited (``HotStore.read_async``), never a blocking
call on the loop. On PostgreSQL (where the thread hop mattered: docs/benchmarks.md) and
on SQLite (where SQLite's own inline path stays)."""

from __future__ import annotations

import asyncio

import redis

from pertinent.storage.hot import HotMiss
from tests.storage.test_hot_store import Counter, _hot, _ingest, node  # noqa: F401  (the fixture)
from tests.support.common import ADMIN, api_client


def test_a_warm_slot_is_decided_inline_and_a_miss_falls_back_to_a_thread(node, redis_url):  # noqa: F811
    hot = _hot(node)
    pid = _ingest(node)
    serving = node.decide.serving
    assert node.decide.decide("hero", user_id="ann")["variant"] == "plain"  # memberships filled in
    node.decide.config.cache_check_s = 3600.0  # the slot snapshot needs no check during the test
    node.decide.documents.snapshot()
    assert serving.runs_inline("hero")
    sql = Counter(hot.inner)
    queued = len(node.decide.log._decisions)
    fetched = asyncio.run(serving.prefetch("ann", None, True))  # one round trip, awaited on the loop
    assert (fetched is None) == (hot.backend == "sqlite")
    warm = serving.decide_inline("hero", "ann", None, {}, None, True, fetched)
    assert warm is not None and warm["variant"] == "plain"
    assert len(node.decide.log._decisions) == queued + 1  # logged as any decision
    redis.Redis.from_url(redis_url).flushdb()  # a cold Redis: ann's inputs are only in SQL
    fetched = asyncio.run(serving.prefetch("ann", None, True))
    if hot.backend == "sqlite":  # SQLite reads stay on the loop: nothing to give up
        assert serving.decide_inline("hero", "ann", None, {}, None, True, fetched) is not None
    else:
        assert serving.decide_inline("hero", "ann", None, {}, None, True, fetched) is None
        assert sql.n == 0 and len(node.decide.log._decisions) == queued + 1  # nothing read from SQL, nothing queued
        with hot.reader(sql=False) as reader:
            try:
                reader.get_identities([node.profiles.pseudo.key("user", "ann")])
                raise AssertionError("a miss must raise HotMiss")
            except HotMiss:
                pass
    for client in api_client(node):  # the route: inline when warm, in a thread after a miss; same answers
        answers = [client.get("/v1/decide", params={"slot": "hero", "user_id": "ann"}, headers=ADMIN) for _ in range(3)]
        assert [a.status_code for a in answers] == [200] * 3
        assert {a.json()["variant"] for a in answers} == {"plain"}
    assert pid
