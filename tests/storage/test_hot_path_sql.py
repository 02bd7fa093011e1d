"""The serving hot path through the cluster reads no SQL (issue 15): two API nodes (two ``Services`` over their own
PostgreSQL connections and one Redis, as ``pertinent serve`` nodes share them), the SQL statements of ``/v1/decide``
and ``/v1/recommendations`` counted with a SQLAlchemy event listener on the serving node's engine.

Counted: statements run by the request's own thread (the test's, or the thread pool's for an HTTP request), not by
the node's background threads (the decision writer, the real-time segment evaluator, the directory build), which
are named ``pertinent-*``. Also here: every negative value ("unknown identity", "no profile row", "no memberships",
"no exposure") is replaced when the person appears through the other node, and consent withdrawal and erasure on
one node stop the other from serving the profile at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import event, text

from pertinent.services import Services
from pertinent.storage import hot_directory as hd
from pertinent.storage.hot import HotStore
from pertinent.storage.hot_keys import PREFIX, k_exposures, k_id, k_profile, k_segments
from pertinent.storage.sql import SqlStore
from pertinent.storage.tables import metadata
from tests.support.common import api_client, make_settings


@dataclass
class Statements:
    """SQL statements run on an engine by request threads (not ``pertinent-*`` background threads)."""

    seen: list[str]

    @property
    def n(self) -> int:
        return len(self.seen)


@contextmanager
def counted(svc: Services) -> Iterator[Statements]:
    engine = _hot(svc).inner.engine  # type: ignore[attr-defined]
    out = Statements([])

    def on_execute(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not threading.current_thread().name.startswith("pertinent-"):
            out.seen.append(statement.split("\n")[0][:100])

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield out
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def _hot(svc: Services) -> HotStore:
    assert isinstance(svc.store, HotStore)
    return svc.store


def _configure(svc: Services) -> None:
    """A segment rule on a trait (evaluated in real time), an experiment, a default: the cluster benchmark's slot."""
    svc.segments.create({"id": "vip", "name": "VIP", "rule": {"type": "trait", "path": ["plan"], "op": "eq",
                                                               "value": "pro"}}, backfill="none")  # fmt: skip
    d = svc.decide
    d.put_block({"id": "b-vip", "type": "headline", "content": {"title": "Welcome back"}})
    d.put_block({"id": "b-a", "type": "headline", "content": {"title": "A"}})
    d.put_block({"id": "b-b", "type": "headline", "content": {"title": "B"}})
    d.put_experiment({"key": "hero-test", "variants": ["a", "b"]})
    d.start_experiment("hero-test")
    d.put_slot(
        {
            "id": "hero",
            "variants": {"vip": "b-vip", "a": "b-a", "b": "b-b"},
            "rules": [
                {"name": "vip", "when": {"type": "segment", "segment": "vip"}, "then": {"kind": "variant",
                                                                                       "variant": "vip"}},
                {"name": "test", "then": {"kind": "experiment", "experiment": "hero-test"}},
            ],
            "default": {"kind": "variant", "variant": "a"},
        }
    )  # fmt: skip
    svc.recommend.upsert_items([{"item_id": "p1", "title": "One"}, {"item_id": "p2", "title": "Two"}])


@pytest.fixture
def nodes(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[Services, Services]]:
    """Node A serves, node B writes (or both), over their own connections to one database and one Redis."""
    first = SqlStore(postgres_url)
    first.migrate()
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)} RESTART IDENTITY"))
    built: list[Services] = []
    try:
        for name, store in (("a", first), ("b", SqlStore(postgres_url))):
            settings = make_settings(tmp_path / name, redis_url=redis_url)
            settings.decide.cache_check_s = 0.0 if name == "b" else 3600.0  # A: no version check while counted
            built.append(Services.build(settings, store))
        a, b = built
        _configure(b)
        assert _hot(a).directory.build()  # what the first reader of a fresh Redis starts in the background
        a.decide.documents.snapshot()  # A loads the slot and its recommender before anything is counted
        a.recommend.recommend("warm-up", 2)
        yield a, b
    finally:
        for svc in built:
            svc.close()


def _r(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _ingest(svc: Services, messages: list[dict]) -> None:
    svc.ingest.ingest(messages)
    assert svc.segments.wait_idle()


def _pid(svc: Services, user_id: str) -> str:
    with svc.store.transaction(write=False) as tx:
        pid = svc.profiles.find(tx, user_id)
    assert pid is not None
    return pid


def test_the_first_request_of_an_unknown_visitor_reads_no_sql(nodes):
    a, _ = nodes
    with counted(a) as sql:
        first = a.decide.decide("hero", anonymous_id="new-1")
        assert first["experiment"]["id"] == "hero-test"  # not in vip: nothing known about them
        assert a.recommend.recommend("new-2", 2)["user_id"] == "new-2"  # an unknown user: no history
        for client in api_client(a):  # through the HTTP fast lane too (the thread pool's thread)
            got = client.get("/v1/decide", params={"slot": "hero", "anonymous_id": "new-3"})
            assert got.status_code == 200 and got.json()["experiment"]["id"] == "hero-test"
            assert client.get("/v1/recommendations", params={"user_id": "new-4", "k": 2}).status_code == 200
    assert sql.seen == []


def test_a_known_visitors_first_and_repeat_requests_read_no_sql(nodes):
    a, b = nodes
    # B ingests: the identity, the profile, "no exposure yet" and (the real-time evaluator's change) vip
    _ingest(b, [{"type": "identify", "userId": "ann", "traits": {"plan": "pro"}},
                {"type": "identify", "userId": "bob", "traits": {"plan": "free"}}])  # fmt: skip
    with counted(a) as sql:
        assert a.decide.decide("hero", user_id="ann")["variant"] == "vip"
        bob = a.decide.decide("hero", user_id="bob")
        assert bob["experiment"]["id"] == "hero-test" and not bob["experiment"]["sticky"]
        for _ in range(3):  # repeats, before and after the writer stored bob's first exposure
            again = a.decide.decide("hero", user_id="bob")
            assert again["variant"] == bob["variant"] and again["experiment"]["sticky"]
        a.decide.flush()
        sql.seen.clear()  # the writer's own statements ran on this thread: not the hot path
        assert a.decide.decide("hero", user_id="bob")["variant"] == bob["variant"]
        assert a.recommend.recommend("ann", 2)["user_id"] == "ann"
    assert sql.seen == []
    with _hot(a).reader() as reader:
        assert reader.first_exposures(_pid(a, "bob"), ["hero-test"])["hero-test"].variant == bob["variant"]


def test_a_membership_change_is_written_through_not_dropped(nodes, redis_url):
    a, b = nodes
    _ingest(b, [{"type": "identify", "userId": "ann", "traits": {"plan": "free"}}])
    pid = _pid(a, "ann")
    assert _r(redis_url).get(k_segments(pid)) == b"{}"
    with counted(a) as sql:
        assert a.decide.decide("hero", user_id="ann")["experiment"] is not None
    _ingest(b, [{"type": "identify", "userId": "ann", "traits": {"plan": "pro"}}])  # enters vip on B
    assert b"vip" in _r(redis_url).get(k_segments(pid))  # the whole set, written through by B's evaluator
    with counted(a) as sql:
        assert a.decide.decide("hero", user_id="ann")["variant"] == "vip"
    assert sql.seen == []
    _ingest(b, [{"type": "identify", "userId": "ann", "traits": {"plan": "free"}}])  # leaves it
    with counted(a) as sql:
        assert a.decide.decide("hero", user_id="ann")["variant"] in ("a", "b")
    assert sql.seen == []


def test_negative_values_are_replaced_when_the_visitor_appears_on_another_node(nodes, redis_url):
    a, b = nodes
    client = _r(redis_url)
    assert a.decide.decide("hero", anonymous_id="v-1")["experiment"] is not None  # unknown to the directory
    a.decide.flush()  # A's writer creates the identity (no profile row): "no profile", "no memberships", ...
    pid = a.profiles.pseudo.key("anonymous", "v-1")
    assert client.get(k_profile(pid)) == b"" and client.get(k_segments(pid)) == b"{}"
    assert client.hget(k_exposures(pid), "hero-test")  # its first exposure, written through
    with counted(a) as sql:
        assert a.decide.decide("hero", anonymous_id="v-1")["experiment"]["sticky"]
    assert sql.seen == []
    _ingest(b, [{"type": "identify", "anonymousId": "v-1", "traits": {"plan": "pro"}}])  # B: the profile row, vip
    with counted(a) as sql:
        assert a.decide.decide("hero", anonymous_id="v-1")["variant"] == "vip"
        with _hot(a).reader() as reader:
            assert reader.get_profiles([pid])[pid].traits == {"plan": "pro"}
    assert sql.seen == []
    # an identity remembered as unknown (a read while the directory was incomplete) appears through B
    key = a.profiles.pseudo.key("anonymous", "v-2")
    client.set(k_id(key), b"", ex=300)
    assert a.decide.decide("hero", anonymous_id="v-2")["variant"] in ("a", "b")
    _ingest(b, [{"type": "identify", "anonymousId": "v-2", "traits": {"plan": "pro"}}])
    with counted(a) as sql:
        assert a.decide.decide("hero", anonymous_id="v-2")["variant"] == "vip"
    assert sql.seen == []


def test_consent_withdrawal_and_erasure_on_one_node_stop_the_other_at_once(nodes, redis_url):
    a, b = nodes
    _ingest(b, [{"type": "identify", "userId": "ann", "traits": {"plan": "pro"}}])
    assert a.decide.decide("hero", user_id="ann")["variant"] == "vip"
    b.privacy.set_consent({"personalization": False}, user_id="ann")
    no = a.decide.decide("hero", user_id="ann")
    assert no["reason"]["kind"] == "default" and "consent" in no["reason"]["detail"]
    b.privacy.set_consent({"personalization": True}, user_id="ann")
    assert b.segments.wait_idle()  # back in vip once re-evaluated
    assert a.decide.decide("hero", user_id="ann")["variant"] == "vip"
    pid = _pid(a, "ann")
    b.privacy.erase("ann")
    after = a.decide.decide("hero", user_id="ann")
    assert after["variant"] != "vip"  # nothing of ann is served by A
    with a.store.transaction(write=False) as tx:
        assert tx.get_profiles([pid]) == {}
    client = _r(redis_url)
    held = [k.decode() for k in client.scan_iter(f"{PREFIX}*") if pid in k.decode()]
    # left: the tombstone, and "unknown" for the erased identity (A's read after the erasure): no data
    assert {k for k in held if client.type(k) != b"string" or client.get(k) not in (b"", b"1")} == set()


def test_the_directory_is_trusted_only_when_complete(nodes, redis_url):
    a, b = nodes
    client = _r(redis_url)
    _ingest(b, [{"type": "identify", "userId": "ann", "traits": {"plan": "pro"}}])
    key = a.profiles.pseudo.key("user", "ann")
    client.delete(hd.KEY, k_id(key))  # Redis lost the directory and ann's identity (restart, eviction)
    client.set(hd.LOCK, "another-node", ex=60)  # a build elsewhere, not finished: the directory stays incomplete
    with counted(a) as sql:
        assert a.decide.decide("hero", user_id="ann")["variant"] == "vip"  # read from SQL, correctly
        assert a.decide.decide("hero", anonymous_id="n-1")["variant"] in ("a", "b")
    assert len(sql.seen) == 2  # one identity look-up each: the directory is not complete
    client.delete(hd.LOCK)  # that build died; its lock lapsed
    _hot(a).directory._next_try = 0.0  # type: ignore[attr-defined]  # not 10 s from the last attempt
    a.decide.decide("hero", anonymous_id="n-1")  # finds the directory incomplete: starts a build in the background
    deadline = time.monotonic() + 30
    while not client.getbit(hd.KEY, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.getbit(hd.KEY, 0) and 0 < client.ttl(hd.KEY) <= 3600
    client.delete(k_id(key))
    with counted(a) as sql:
        assert a.decide.decide("hero", anonymous_id="n-2")["variant"] in ("a", "b")  # unknown: from Redis alone
        assert a.decide.decide("hero", user_id="ann")["variant"] == "vip"  # its bits are set: SQL, found
    assert len(sql.seen) == 1


def test_identities_written_during_a_build_keep_their_bits_and_a_lost_lock_marks_nothing(nodes, redis_url):
    a, b = nodes
    client = _r(redis_url)
    client.delete(hd.KEY)
    client.set(hd.LOCK, "another-node", ex=60)  # a build elsewhere: none starts here
    assert not _hot(a).directory.build()
    _ingest(b, [{"type": "identify", "userId": "cat", "traits": {"plan": "pro"}}])  # bits set before the commit
    assert all(client.getbit(hd.KEY, bit) for bit in hd.positions(b.profiles.pseudo.key("user", "cat")))
    assert not client.getbit(hd.KEY, 0)
    client.set(hd.LOCK, "a-build-whose-lock-expired", ex=60)
    assert client.eval(hd.FINISH, 2, hd.LOCK, hd.KEY, "mine", 60) == 0  # the lock is not ours: not marked
    assert not client.getbit(hd.KEY, 0)
    client.delete(hd.LOCK)
    assert _hot(a).directory.build() and client.getbit(hd.KEY, 0)
    assert not client.exists(hd.LOCK)


def test_a_new_user_who_brings_an_anonymous_history_is_not_taken_for_a_blank_profile(nodes):
    """The user's profile id is minted in the transaction that merges the visitor's memberships and exposures into
    it: it must not be written through as "no memberships, no exposure"."""
    a, b = nodes
    seen = a.decide.decide("hero", anonymous_id="a-8")  # an exposure of the anonymous visitor
    a.decide.flush()
    _ingest(b, [{"type": "identify", "anonymousId": "a-9", "traits": {"plan": "pro"}}])  # a member of vip
    _ingest(b, [{"type": "identify", "userId": "dan", "anonymousId": "a-9"},
                {"type": "identify", "userId": "eve", "anonymousId": "a-8"}])  # fmt: skip
    assert a.decide.decide("hero", user_id="dan")["variant"] == "vip"
    again = a.decide.decide("hero", user_id="eve")
    assert again["experiment"]["sticky"] and again["variant"] == seen["variant"]
