"""When the database (and, with Redis on, Redis) goes away, serving answers from what the process holds instead of
erroring (issue 15): ``/v1/decide`` the slot's default, ``/v1/recommendations`` and similar items the popularity
list in memory, each flagged ``X-Pertinent-Degraded: storage``; decisions queued for the writer wait for the
database and are written once it is back. The outages are real: a PostgreSQL server and a redis-server of the
test's own are stopped and started (``tests/support/servers.py``); on SQLite, the volume holding the file goes
away (its folder is renamed and the process's connections recycled: a file the process holds open cannot vanish
otherwise)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pertinent.services import Services
from pertinent.storage.sql import SqlStore, make_engine
from tests.support.common import ADMIN, api_client, make_settings
from tests.support.servers import OwnPostgres, OwnRedis

pytestmark = pytest.mark.slow

DEGRADED = "x-pertinent-degraded"


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def redis_server() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


def _configure(svc: Services, client: TestClient) -> None:
    """A hero slot (engaged visitors see 'vip', everyone else the default 'plain'), a recommender slot, three
    items and events that make 'mug' the most popular."""
    svc.decide.put_block({"id": "b-vip", "type": "headline", "content": {"title": "Welcome back"}})
    svc.decide.put_block({"id": "b-plain", "type": "headline", "content": {"title": "Hello"}})
    svc.decide.put_slot(
        {
            "id": "hero",
            "variants": {"vip": "b-vip", "plain": "b-plain"},
            "rules": [{"name": "engaged", "min_events": 1, "then": {"kind": "variant", "variant": "vip"}}],
            "default": {"kind": "variant", "variant": "plain"},
        }
    )
    svc.decide.put_slot({"id": "picks", "default": {"kind": "recommender", "k": 2}})
    svc.recommend.upsert_items([{"item_id": i, "title": i.title()} for i in ("mug", "cup", "plate")])
    events = [
        {"type": "track", "userId": user, "event": "Product Viewed", "properties": {"product_id": item}}
        for user, item in [("ann", "mug"), ("bob", "mug"), ("bob", "cup"), ("cy", "mug"), ("cy", "plate")]
    ]
    assert client.post("/v1/batch", json={"batch": events}).status_code == 200


def _serving(client: TestClient) -> dict[str, object]:
    """The hero decision for ann, her recommendations and the items similar to 'cup'."""
    hero = client.get("/v1/decide", params={"slot": "hero", "user_id": "ann"}, headers=ADMIN)
    picks = client.get("/v1/decide", params={"slot": "picks", "user_id": "ann"}, headers=ADMIN)
    recs = client.get("/v1/recommendations", params={"user_id": "ann", "k": 3}, headers=ADMIN)
    similar = client.get("/v1/items/cup/similar", params={"k": 2}, headers=ADMIN)
    for answer in (hero, picks, recs, similar):
        assert answer.status_code == 200, answer.text
    return {"hero": hero, "picks": picks, "recs": recs, "similar": similar}


def _assert_degraded(answers: dict[str, object]) -> None:
    hero, picks, recs, similar = (answers[k] for k in ("hero", "picks", "recs", "similar"))
    assert hero.headers[DEGRADED] == "storage"  # type: ignore[attr-defined]
    body = hero.json()  # type: ignore[attr-defined]
    assert body["variant"] == "plain" and body["block"]["content"] == {"title": "Hello"}
    assert body["reason"] == {"kind": "default", "detail": "default (storage unavailable)"}
    assert body["degraded"] == "storage"
    listed = picks.json()["block"]["content"]["items"]  # type: ignore[attr-defined]
    assert [i["item_id"] for i in listed][:1] == ["mug"]  # the popularity ranking held in memory
    assert recs.headers[DEGRADED] == "storage"  # type: ignore[attr-defined]
    assert recs.json()["source"] == "popularity" and recs.json()["items"][0]["item_id"] == "mug"  # type: ignore[attr-defined]
    found = similar.json()  # type: ignore[attr-defined]
    assert found["items"]  # by content over the catalogue in memory, else popular items (then flagged)
    assert found["source"] == "content" or similar.headers[DEGRADED] == found["degraded"] == "storage"  # type: ignore[attr-defined]


def _assert_normal(answers: dict[str, object]) -> None:
    for answer in answers.values():
        assert DEGRADED not in answer.headers  # type: ignore[attr-defined]
    hero = answers["hero"].json()  # type: ignore[attr-defined]
    assert hero["variant"] == "vip" and "degraded" not in hero


def _stored_decisions(svc: Services) -> int:
    """How many decisions are stored for ann."""
    with svc.store.transaction(write=False) as tx:
        ann = tx.get_identities([svc.profiles.pseudo.key("user", "ann")])
        return len(tx.recent_decisions(next(iter(ann.values())).profile_id, 0))


def test_postgres_stopped_serves_defaults_and_queued_decisions_wait(postgres: OwnPostgres, tmp_path: Path) -> None:
    store = SqlStore(postgres.url)
    store.migrate()
    svc = Services.build(make_settings(tmp_path), store)
    svc.decide.config.cache_check_s = 0.0  # every decision checks the slots: the outage is met there too
    try:
        for client in api_client(svc):
            _configure(svc, client)
            _assert_normal(_serving(client))
            svc.decide.flush()
            before = _stored_decisions(svc)
            with svc.decide.log.hold():  # a decision made, not yet written, when the database goes away
                queued = client.get("/v1/decide", params={"slot": "hero", "user_id": "ann"}, headers=ADMIN).json()
                postgres.stop()
            try:
                down = _serving(client)
                batch = {"batch": [{"type": "track", "userId": "ann", "event": "E"}]}
                assert client.post("/v1/batch", json=batch).status_code == 503  # collection: 503, retried
                deadline = time.monotonic() + 60  # the writer meets the outage (a bounded wait): keeps its queue
                while svc.decide.log.stats.unavailable == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                postgres.start()
            _assert_degraded(down)
            stats = svc.decide.log.stats
            assert stats.unavailable >= 1 and stats.degraded_not_logged >= 2 and stats.dropped_overflow == 0
            _assert_normal(_serving(client))
            svc.decide.flush()
            with svc.store.transaction(write=False) as tx:
                assert queued["decision_id"] in tx.get_decisions([queued["decision_id"]])
            # the queued decision and the three made after the restart; none of the defaults served meanwhile
            assert _stored_decisions(svc) == before + 1 + 2
    finally:
        svc.close()


def test_redis_and_postgres_away_in_turn(postgres: OwnPostgres, redis_server: OwnRedis, tmp_path: Path) -> None:
    store = SqlStore(postgres.url)
    store.migrate()
    svc = Services.build(make_settings(tmp_path, redis_url=redis_server.url), store)
    svc.decide.config.cache_check_s = 0.0
    hot = svc.store
    try:
        for client in api_client(svc):
            _configure(svc, client)
            _assert_normal(_serving(client))  # Redis warm with ann's identity and profile
            postgres.stop()
            try:
                warm = client.get("/v1/decide", params={"slot": "hero", "user_id": "ann"}, headers=ADMIN)
            finally:
                postgres.start()
            assert warm.status_code == 200 and warm.json()["variant"] == "vip"  # from Redis alone
            assert DEGRADED not in warm.headers
            redis_server.stop()
            try:
                _assert_normal(_serving(client))  # Redis away: from PostgreSQL
                hot._down_until = 0.0  # type: ignore[attr-defined]  # try Redis again now, not after 2 s
                postgres.stop()
                try:
                    both = _serving(client)
                finally:
                    postgres.start()
            finally:
                redis_server.start()
            _assert_degraded(both)
            hot._down_until = 0.0  # type: ignore[attr-defined]
            _assert_normal(_serving(client))
    finally:
        svc.close()


def test_sqlite_volume_gone_serves_defaults(tmp_path: Path) -> None:
    folder = tmp_path / "volume"
    folder.mkdir()
    store = SqlStore(f"sqlite:///{folder / 'pertinent.db'}")
    store.migrate()
    svc = Services.build(make_settings(tmp_path / "data"), store)
    svc.decide.config.cache_check_s = 0.0
    try:
        for client in api_client(svc):
            _configure(svc, client)
            _assert_normal(_serving(client))
            _recycle(store)
            folder.rename(tmp_path / "unmounted")
            try:
                down = _serving(client)
            finally:
                (tmp_path / "unmounted").rename(folder)
                _recycle(store)
            _assert_degraded(down)
            _assert_normal(_serving(client))
    finally:
        svc.close()


def _recycle(store: SqlStore) -> None:
    """Close every connection the store holds (its serving readers and engines): the next use opens the file
    again, as after a restart of the process."""
    import threading

    with store._readers_lock:
        readers, store._reader_conns = store._reader_conns, []
    for conn in readers:
        conn.close()
    store._readers = threading.local()
    url = str(store.engine.url)
    store.engine.dispose()
    store._write_engine.dispose()
    store.engine = make_engine(url, autocheckpoint=False)
    store._write_engine = make_engine(url, autocheckpoint=False, pool_size=1, max_overflow=0)
