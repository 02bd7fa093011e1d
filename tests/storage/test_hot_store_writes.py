"""The hot store's write side on a real Redis (``storage/hot.py``): an ingest transaction tells Redis in two round
trips, one before its commit (directory bits, invalidation) and one after (write-through), scripts included; and
when Redis has lost its scripts (a restart, ``SCRIPT FLUSH``) the writes still land."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.connection import AbstractConnection

from pertinent.services import Services
from pertinent.storage import hot_directory as hd
from pertinent.storage.hot import HotStore
from pertinent.storage.hot_keys import k_exposures, k_id, k_profile, k_segments
from tests.support.common import make_settings


@pytest.fixture
def node(store, redis_url, tmp_path) -> Iterator[Services]:
    svc = Services.build(make_settings(tmp_path, redis_url=redis_url), store)
    yield svc
    svc.close()


def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Socket writes to Redis made by this thread from now on (a pipeline is one), counted in the list."""
    me, seen = threading.get_ident(), [0]
    send = AbstractConnection.send_packed_command

    def counted(conn: Any, command: Any, check_health: bool = True) -> None:
        if threading.get_ident() == me:
            seen[0] += 1
        send(conn, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return seen


def visit_then_identify(svc: Services, anon: str, user: str) -> None:
    """A new visitor's event (a minted profile), then their identify that merges it into a new user's profile."""
    svc.ingest.ingest([{"type": "track", "event": "Viewed", "anonymousId": anon}])
    svc.ingest.ingest(
        [
            {"type": "identify", "userId": user, "anonymousId": anon, "traits": {"plan": "pro"}},
            {"type": "track", "event": "Viewed", "anonymousId": f"{anon}-other"},
        ]
    )


def test_an_ingest_transaction_tells_redis_in_two_round_trips(node, monkeypatch):
    assert isinstance(node.store, HotStore)
    node.ingest.ingest([{"type": "track", "event": "Viewed", "anonymousId": "warm"}])  # connections made
    seen = round_trips(monkeypatch)
    visit_then_identify(node, "a-1", "ann")  # identities written, profiles minted and merged (scripts), dropped
    assert seen[0] == 4  # two transactions: one pipeline before each commit, one after (no SCRIPT EXISTS)


def test_writes_land_when_redis_lost_its_scripts(node, redis_url):
    client = redis.Redis.from_url(redis_url)
    client.script_flush()
    visit_then_identify(node, "a-2", "bea")
    pseudo = node.profiles.pseudo
    user, anon, other = pseudo.key("user", "bea"), pseudo.key("anonymous", "a-2"), pseudo.key("anonymous", "a-2-other")
    with node.store.transaction(write=False) as tx:
        found = tx.get_identities([user, anon, other])
    assert found[anon].profile_id == found[user].profile_id
    assert client.exists(k_id(user), k_id(anon), k_id(other), k_profile(found[user].profile_id)) == 4
    # the minted profile's "none" values (a FILL script), the merged one's keys dropped (DROP)
    assert client.exists(k_segments(found[other].profile_id), k_exposures(found[other].profile_id)) == 2
    assert not client.exists(k_profile(anon))
    bits = [client.getbit(hd.KEY, b) for key in (user, anon, other) for b in hd.positions(key)]
    assert all(bits)


def test_the_directory_bits_of_many_keys_in_pages(redis_url):
    client = redis.Redis.from_url(redis_url)
    keys = [f"k{i}" for i in range(1234)]
    pipe = client.pipeline(transaction=False)
    hd.add(pipe, keys, chunk=500)
    assert pipe.execute() == [500 * hd.K, 500 * hd.K, 234 * hd.K]
    assert all(client.getbit(hd.KEY, b) for key in keys for b in hd.positions(key))
    assert not client.getbit(hd.KEY, 0)  # the completeness flag is the build's alone
