"""The hot store (``storage/hot.py``) on a real Redis, over SQLite and PostgreSQL: serving reads answered from Redis
without a SQL read, a miss read from SQL and filled in, every write path (ingest, consent, memberships, erasure)
visible to the next read, export listing what Redis holds, erasure leaving nothing of the profile in Redis, and
Redis away answered from SQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from pertinent.services import Services
from pertinent.storage import hot_directory as hd
from pertinent.storage.availability import Unavailable
from pertinent.storage.base import DecisionRow, MembershipChange, Store
from pertinent.storage.hot import HotStore
from pertinent.storage.hot_keys import PREFIX, enc_no_exposure, k_exposures, k_gone, k_profile, no_exposure_until
from tests.support.common import ADMIN, api_client, make_settings


class Counter:
    """Counts the SQL serving readers opened behind the hot store."""

    def __init__(self, store: Store) -> None:
        self.n = 0
        self._reader = store.reader

        @contextmanager
        def counted() -> Iterator[object]:
            self.n += 1
            with self._reader() as reader:
                yield reader

        store.reader = counted  # type: ignore[method-assign]


@pytest.fixture
def node(store, redis_url, tmp_path) -> Iterator[Services]:
    svc = Services.build(make_settings(tmp_path, redis_url=redis_url), store)
    svc.decide.put_block({"id": "b-vip", "type": "headline", "content": {"title": "Welcome back"}})
    svc.decide.put_block({"id": "b-plain", "type": "headline", "content": {"title": "Hello"}})
    svc.decide.put_slot(
        {
            "id": "hero",
            "variants": {"vip": "b-vip", "plain": "b-plain"},
            "rules": [
                {
                    "name": "vip",
                    "when": {"type": "segment", "segment": "vip"},
                    "then": {"kind": "variant", "variant": "vip"},
                }
            ],
            "default": {"kind": "variant", "variant": "plain"},
        }
    )
    yield svc
    svc.segments.close()
    svc.decide.close()
    svc.bus.close()


def _r(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _ingest(svc: Services, user: str = "ann", **traits: object) -> str:
    svc.ingest.ingest([{"type": "identify", "userId": user, "traits": traits or {"plan": "pro"}}])
    assert svc.segments.wait_idle()  # the real-time evaluator's writes invalidate keys: let them land first
    with svc.store.transaction(write=False) as tx:
        pid = svc.profiles.find(tx, user)
    assert pid is not None
    return pid


def _hot(svc: Services) -> HotStore:
    assert isinstance(svc.store, HotStore)
    return svc.store


def test_decide_reads_nothing_from_sql_once_redis_holds_the_inputs(node, redis_url):
    hot = _hot(node)
    sql = Counter(hot.inner)
    pid = _ingest(node)  # identities and profile written through after the commit
    assert _r(redis_url).exists(k_profile(pid))
    first = node.decide.decide("hero", user_id="ann")
    assert first["variant"] == "plain"
    assert sql.n == 0  # a new profile: "no memberships, no exposures" written through with it
    for _ in range(3):
        assert node.decide.decide("hero", user_id="ann")["variant"] == "plain"
    assert sql.n == 0
    with hot.reader() as reader:
        ident = reader.get_identities([node.profiles.pseudo.key("user", "ann")])
        assert [i.profile_id for i in ident.values()] == [pid]
        assert reader.get_profiles([pid])[pid].traits["plan"] == "pro"
        assert reader.segments_of([pid]) == {}
    assert sql.n == 0


def test_a_miss_is_read_from_sql_and_filled_in(node, redis_url):
    hot = _hot(node)
    pid = _ingest(node)
    with hot.transaction() as tx:
        tx.apply_membership_changes([MembershipChange("vip", pid, True, 100.0)])
    _r(redis_url).flushdb()
    sql = Counter(hot.inner)
    key = node.profiles.pseudo.key("user", "ann")
    with hot.reader() as reader:
        assert reader.get_identities([key])[key].profile_id == pid
        assert reader.get_profiles([pid])[pid].traits == {"plan": "pro"}
        assert reader.segments_of([pid]) == {pid: {"vip": 100.0}}
        assert reader.get_identities(["nobody"]) == {}
    assert sql.n == 1  # one SQL reader for the whole request
    keys = {k.decode() for k in _r(redis_url).scan_iter(f"{PREFIX}*")}
    assert {f"{PREFIX}id:{key}", f"{PREFIX}ids:{pid}", f"{PREFIX}p:{pid}", f"{PREFIX}s:{pid}"} <= keys
    with hot.reader() as reader:
        assert reader.get_identities([key])[key].profile_id == pid
        assert reader.get_profiles([pid])[pid].traits == {"plan": "pro"}
        assert reader.segments_of([pid]) == {pid: {"vip": 100.0}}
    assert sql.n == 1
    assert all(0 < _r(redis_url).ttl(k) <= 3600 for k in keys if not k.startswith(hd.KEY))


def test_writes_are_visible_to_the_next_read_without_sql(node):
    hot = _hot(node)
    pid = _ingest(node)
    node.decide.decide("hero", user_id="ann")  # fills the memberships
    sql = Counter(hot.inner)
    _ingest(node, plan="free")  # a later ingest: written through
    with hot.transaction() as tx:  # a segment evaluation's membership change
        tx.apply_membership_changes([MembershipChange("vip", pid, True, time.time())])
    node.privacy.set_consent({"personalization": False}, user_id="ann")
    with hot.reader() as reader:
        row = reader.get_profiles([pid])[pid]
    assert row.traits["plan"] == "free" and row.consent["personalization"]["granted"] is False
    assert sql.n == 0
    assert node.decide.decide("hero", user_id="ann")["reason"]["kind"] == "default"  # no consent: no rules
    node.privacy.set_consent({"personalization": True}, user_id="ann")
    assert node.decide.decide("hero", user_id="ann")["variant"] == "vip"  # the membership, read from SQL once
    with hot.transaction() as tx:
        tx.apply_membership_changes([MembershipChange("vip", pid, False, time.time())])
    assert node.decide.decide("hero", user_id="ann")["variant"] == "plain"


def test_first_exposures_found_are_cached(node, redis_url):
    hot = _hot(node)
    pid = _ingest(node)
    _r(redis_url).delete(k_exposures(pid))  # a profile older than its keys in Redis (not minted just now)
    sql = Counter(hot.inner)
    with hot.reader() as reader:
        assert reader.first_exposures(pid, ["exp"]) == {}  # none yet: read from SQL, remembered as none
    with hot.reader() as reader:
        assert reader.first_exposures(pid, ["exp"]) == {}
    assert sql.n == 1  # the second request believed the "none yet" value
    with hot.transaction() as tx:  # the decision writer's commit writes the first exposure through
        tx.insert_decisions(
            [
                DecisionRow("d2", pid, "hero", "b", "experiment", 20.0, experiment="exp"),
                DecisionRow("d1", pid, "hero", "a", "experiment", 10.0, experiment="exp"),
                DecisionRow("d0", pid, "hero", "plain", "default", 5.0),  # no experiment: not an exposure
            ]
        )
    for _ in range(2):
        with hot.reader() as reader:
            row = reader.first_exposures(pid, ["exp"])["exp"]
        assert (row.decision_id, row.variant, row.at) == ("d1", "a", 10.0)  # the earliest of the batch
    assert sql.n == 1
    with hot.transaction() as tx:  # a later decision never replaces the first exposure
        tx.insert_decisions([DecisionRow("d3", pid, "hero", "b", "experiment", 30.0, experiment="exp")])
    with hot.reader() as reader:
        assert reader.first_exposures(pid, ["exp"])["exp"].decision_id == "d1"
    assert sql.n == 1


def test_a_none_yet_value_never_replaces_an_exposure_written_meanwhile(node, redis_url):
    """A request that read "none" from SQL just before the writer committed fills in after the write-through:
    the exposure stays."""
    hot = _hot(node)
    pid = _ingest(node)
    with hot.transaction() as tx:
        tx.insert_decisions([DecisionRow("d1", pid, "hero", "a", "experiment", 10.0, experiment="exp")])
    key = k_exposures(pid)
    hot.fill({pid: [(key, "x", "exp", enc_no_exposure(time.time() + 300))]})  # the late fill
    sql = Counter(hot.inner)
    with hot.reader() as reader:
        assert reader.first_exposures(pid, ["exp"])["exp"].decision_id == "d1"
    assert sql.n == 0


def test_an_expired_none_yet_value_is_read_again_from_sql(node, redis_url):
    hot = _hot(node)
    pid = _ingest(node)
    with hot.inner.transaction() as tx:  # written behind Redis's back (a write-through that Redis missed)
        tx.insert_decisions([DecisionRow("d1", pid, "hero", "a", "experiment", 10.0, experiment="exp")])
    client = _r(redis_url)
    client.hset(k_exposures(pid), "exp", enc_no_exposure(time.time() + 300))
    with hot.reader() as reader:
        assert reader.first_exposures(pid, ["exp"]) == {}  # believed while it lasts (NEGATIVE_S at most)
    client.hset(k_exposures(pid), "exp", enc_no_exposure(time.time() - 1))
    sql = Counter(hot.inner)
    with hot.reader() as reader:
        assert reader.first_exposures(pid, ["exp"])["exp"].decision_id == "d1"
    assert sql.n == 1
    with hot.reader() as reader:  # and the SQL answer replaced the stale value
        assert reader.first_exposures(pid, ["exp"])["exp"].decision_id == "d1"
    assert sql.n == 1


def test_an_experiment_slot_decides_from_redis_alone_for_a_new_exposure(node, redis_url):
    """The case the cluster benchmark found reading PostgreSQL on every request: a visitor in an experiment who
    has not been exposed yet. Redis remembers "none yet" until the writer writes the first exposure through."""
    hot = _hot(node)
    for client in api_client(node):
        assert (
            client.put("/v1/experiments/hero-test", headers=ADMIN, json={"variants": ["vip", "plain"]}).status_code
            == 200
        )
        slot = {"variants": {"vip": "b-vip", "plain": "b-plain"}, "rules": [
            {"name": "test", "then": {"kind": "experiment", "experiment": "hero-test"}}],
            "default": {"kind": "variant", "variant": "plain"}}  # fmt: skip
        assert client.put("/v1/slots/hero", headers=ADMIN, json=slot).status_code == 200
        assert client.post("/v1/experiments/hero-test/start", headers=ADMIN).status_code == 200
    pid = _ingest(node)
    first = node.decide.decide("hero", user_id="ann")
    assert first["experiment"]["id"] == "hero-test"
    sql = Counter(hot.inner)
    again = node.decide.decide("hero", user_id="ann")  # before the writer ran: "none yet" from Redis
    assert again["variant"] == first["variant"] and sql.n == 0
    node.decide.flush()  # the writer commits both decisions and writes the earliest through
    raw = _r(redis_url).hget(k_exposures(pid), "hero-test")
    assert raw is not None and no_exposure_until(raw) is None
    with hot.reader() as reader:
        assert reader.first_exposures(pid, ["hero-test"])["hero-test"].decision_id == first["decision_id"]
    assert node.decide.decide("hero", user_id="ann")["variant"] == first["variant"]
    assert sql.n == 0


def test_export_lists_what_redis_holds_and_erasure_leaves_nothing(node, redis_url):
    pid = _ingest(node)
    _ingest(node, "ann")  # same person
    node.ingest.ingest([{"type": "identify", "userId": "ann", "anonymousId": "a-1", "traits": {"plan": "pro"}}])
    node.decide.decide("hero", user_id="ann")
    node.decide.decide("hero", anonymous_id="a-1")
    assert node.segments.wait_idle()
    node.decide.flush()  # queued decisions written (their writes invalidate keys) before reading Redis
    for client in api_client(node):
        exported = client.get("/v1/users/ann/export", headers=ADMIN)
        assert exported.status_code == 200, exported.text
        held = exported.json()["hot_store"]
        kinds = {next(k for k in row if k not in ("key", "ttl_s")) for row in held}
        assert {"identity", "identity_keys", "profile", "segments"} <= kinds
        assert all(pid in row["key"] or row.get("identity", {}).get("profile_id") == pid for row in held)
        erased = client.delete("/v1/users/ann", headers=ADMIN)
        assert erased.status_code == 200, erased.text
        assert erased.json()["deleted"]["hot_store"] >= 4
    left = [k.decode() for k in _r(redis_url).scan_iter(f"{PREFIX}*") if not k.decode().startswith(hd.KEY)]
    assert left == [k_gone(pid)]  # only the tombstone (the pseudonymous id, as on the suppression list)
    assert _r(redis_url).get(k_gone(pid)) == b"1"
    _hot(node).fill({pid: [(k_profile(pid), "s", b"[{}, {}, {}, 0, 0]", "")]})  # a late read-through fill
    assert not _r(redis_url).exists(k_profile(pid))


def test_an_erasure_on_another_node_is_dropped_by_the_bus_handler(node, redis_url):
    pid = _ingest(node)
    assert _r(redis_url).exists(k_profile(pid))
    node.bus.publish("profile.erased", pid)
    assert not _r(redis_url).exists(k_profile(pid))


def test_redis_away_serving_reads_sql(store, tmp_path):
    before = Services.build(make_settings(tmp_path), store)  # ann stored while Redis was there
    try:
        pid = _ingest(before)
        with store.transaction() as tx:
            tx.apply_membership_changes([MembershipChange("vip", pid, True, 5.0)])
    finally:
        before.close()
    svc = Services.build(make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0"), store)
    try:
        hot = _hot(svc)
        # Every change of a decision input is refused while Redis cannot be told: committed, it would leave Redis
        # serving the old value (a withdrawn consent, a left segment) once Redis is back, until the keys expire.
        with pytest.raises(Unavailable):  # a known person's traits (no new identity)
            svc.ingest.ingest([{"type": "identify", "userId": "ann", "traits": {"plan": "free"}}])
        with pytest.raises(Unavailable), hot.transaction() as tx:  # a membership change
            tx.apply_membership_changes([MembershipChange("vip", pid, False, 6.0)])
        with pytest.raises(Unavailable):  # a new identity: the directory could not learn it either
            svc.ingest.ingest([{"type": "identify", "userId": "bob", "traits": {"plan": "pro"}}])
        with store.transaction(write=False) as tx:
            assert svc.profiles.find(tx, "bob") is None and svc.profiles.find(tx, "ann") == pid
            assert tx.get_profiles([pid])[pid].traits == {"plan": "pro"}  # rolled back, nothing half-written
        key = svc.profiles.pseudo.key("user", "ann")
        for _ in range(2):
            with hot.reader() as reader:
                assert reader.get_identities([key])[key].profile_id == pid
                assert reader.get_profiles([pid])[pid].traits == {"plan": "pro"}
                assert reader.segments_of([pid]) == {pid: {"vip": 5.0}}
                assert reader.first_exposures(pid, ["exp"]) == {}
        assert not hot.available()
        for client in api_client(svc):
            got = client.get("/v1/decide", params={"slot": "nope", "user_id": "ann"})
            assert got.status_code == 404  # an ordinary answer, not a 500
            batch = {"batch": [{"type": "identify", "userId": "carl", "messageId": "m-carl"}]}
            refused = client.post("/v1/batch", json=batch)
            assert refused.status_code == 503 and refused.headers["Retry-After"]  # the client retries
            erased = client.delete("/v1/users/ann", headers=ADMIN)
            assert erased.status_code == 503 and erased.headers["Retry-After"]  # nothing left behind unaccounted
        with store.transaction(write=False) as tx:
            assert tx.get_profiles([pid])  # rolled back: the client retries
    finally:
        svc.segments.close()
        svc.decide.close()
        svc.bus.close()


def test_an_identity_merge_repoints_the_cached_identities(node):
    hot = _hot(node)
    node.ingest.ingest([{"type": "track", "event": "Viewed", "anonymousId": "a-1"}])
    _ingest(node, "ann")
    anon, user = node.profiles.pseudo.key("anonymous", "a-1"), node.profiles.pseudo.key("user", "ann")
    with hot.reader() as reader:
        before = reader.get_identities([anon, user])
    assert before[anon].profile_id != before[user].profile_id
    node.ingest.ingest([{"type": "identify", "userId": "ann", "anonymousId": "a-1", "traits": {"plan": "pro"}}])
    with hot.inner.reader() as sql:
        truth = sql.get_identities([anon, user])
    assert truth[anon].profile_id == truth[user].profile_id
    with hot.reader() as reader:
        cached = reader.get_identities([anon, user])
        assert {k: v.profile_id for k, v in cached.items()} == {k: v.profile_id for k, v in truth.items()}
        survivor = truth[user].profile_id
        assert reader.get_profiles([survivor])[survivor].traits["plan"] == "pro"
        gone = ({before[anon].profile_id, before[user].profile_id} - {survivor}).pop()
        assert reader.get_profiles([gone]) == {}


def test_recommendations_read_the_person_from_redis(node):
    hot = _hot(node)
    _ingest(node)
    node.recommend.upsert_items([{"item_id": "p1", "title": "One"}, {"item_id": "p2", "title": "Two"}])
    sql = Counter(hot.inner)
    for client in api_client(node):  # no user_hash: "ann" is looked up as an anonymous id, unknown
        for _ in range(3):
            got = client.get("/v1/recommendations", params={"user_id": "ann", "k": 2})
            assert got.status_code == 200, got.text
    assert sql.n == 1  # the unknown identity is remembered as unknown


def test_a_new_visitor_is_remembered_as_unknown_until_its_first_event(node, redis_url):
    hot = _hot(node)
    sql = Counter(hot.inner)
    for _ in range(3):
        assert node.decide.decide("hero", anonymous_id="new-1")["variant"] == "plain"
    assert sql.n == 1
    key = node.profiles.pseudo.key("anonymous", "new-1")
    assert _r(redis_url).get(f"{PREFIX}id:{key}") == b"" and 0 < _r(redis_url).ttl(f"{PREFIX}id:{key}") <= 300
    node.ingest.ingest([{"type": "track", "event": "Viewed", "anonymousId": "new-1"}])
    with hot.reader() as reader:
        found = reader.get_identities([key])
    assert found[key].kind == "anonymous" and sql.n == 1


def test_a_zero_ttl_or_no_redis_serves_from_sql_alone(store, redis_url, tmp_path):
    for settings in (make_settings(tmp_path, redis_url=redis_url, hot_store_ttl_s=0), make_settings(tmp_path)):
        svc = Services.build(settings, store)
        try:
            assert svc.store is store and "hot_store" not in svc.privacy.derived
        finally:
            svc.segments.close()
            svc.bus.close()


def test_a_lost_membership_write_through_leaves_the_next_read_to_sql(node, monkeypatch):
    """A node that dies between its commit and its write-through: the memberships were deleted before the commit,
    so the next read fills them from SQL instead of serving the old set until the TTL."""
    hot = _hot(node)
    pid = _ingest(node)  # a new profile: "no memberships" written through
    with hot.reader() as reader:
        assert reader.segments_of([pid]) == {}
    monkeypatch.setattr(hot, "_write_through", lambda tx: None)
    with hot.transaction() as tx:
        tx.apply_membership_changes([MembershipChange("vip", pid, True, 7.0)])
    with hot.reader() as reader:
        assert reader.segments_of([pid]) == {pid: {"vip": 7.0}}
