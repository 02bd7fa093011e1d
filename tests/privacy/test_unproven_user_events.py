"""``PERTINENT_UNPROVEN_USER_EVENTS=refuse``: the public write key writes to no user without proof, on both backends.

With identity verification on, a write-key message naming only a ``userId`` without ``context.userHash`` is stored
on that user's profile by default (Segment's way: a server library using the write key), so whoever holds the key
can set any user's traits. With ``refuse`` such a message is refused naming ``context.userHash`` (its batch's
other messages are stored); anonymous messages, proven ones, and the admin key's are unaffected.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pertinent.privacy.identity_proof import user_hash
from pertinent.quality.models import TrackingPlanIn
from pertinent.services import Services
from pertinent.settings import Settings
from tests.support.common import ADMIN, ADMIN_KEY, IDENTITY_SECRET, api_client, make_settings

ADMIN_BASIC = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN_KEY}:".encode()).decode()}
PROOF_FIELD = "context.userHash"


@pytest.fixture
def settings(tmp_path) -> Settings:  # the conftest fixtures (services, any_client) build on these
    return make_settings(tmp_path, identity_secret=IDENTITY_SECRET, unproven_user_events="refuse")


def proof(user_id: str) -> dict[str, Any]:
    return {"userHash": user_hash(IDENTITY_SECRET, user_id)}


def traits_of(client: TestClient, user_id: str) -> dict[str, Any] | None:
    r = client.get(f"/v1/profiles/{user_id}", headers=ADMIN)
    return r.json()["traits"] if r.status_code == 200 else None


def events_of(services: Services, user_id: str) -> list[Any]:
    with services.store.transaction(write=False) as tx:
        pid = services.profiles.find(tx, user_id)
        return [] if pid is None else tx.events_of(pid)


def test_an_unproven_user_id_alone_is_refused_naming_the_proof(any_client: TestClient, services):
    assert any_client.post("/v1/identify", json={"userId": "victim", "traits": {"plan": "pro"}}, headers=ADMIN_BASIC)
    for body in (
        {"userId": "victim", "traits": {"plan": "hijacked"}},
        {"userId": "victim", "traits": {"plan": "hijacked"}, "context": proof("attacker")},  # someone else's proof
    ):
        r = any_client.post("/v1/identify", json=body)
        assert r.status_code == 403, r.text
        answer = r.json()
        assert answer["code"] == "forbidden" and answer["errors"][0]["field"] == PROOF_FIELD
        assert "user_hash of userId" in answer["message"] and "UNPROVEN_USER_EVENTS" in answer["message"]
    for kind, extra in [("track", {"event": "E"}), ("page", {}), ("group", {"groupId": "g1"})]:
        r = any_client.post(f"/v1/{kind}", json={"userId": "victim", **extra})
        assert r.status_code == 403 and r.json()["errors"][0]["field"] == PROOF_FIELD, (kind, r.text)
    assert traits_of(any_client, "victim") == {"plan": "pro"}
    assert len(events_of(services, "victim")) == 1  # the admin key's identify only
    assert traits_of(any_client, "nobody-yet") is None
    assert any_client.post("/v1/track", json={"userId": "nobody-yet", "event": "E"}).status_code == 403
    assert traits_of(any_client, "nobody-yet") is None  # no profile created either


def test_in_a_batch_only_the_unproven_message_is_refused(any_client: TestClient, services):
    batch = [
        {"type": "identify", "userId": "victim", "traits": {"plan": "hijacked"}},  # refused
        {"type": "track", "anonymousId": "d1", "event": "E"},  # anonymous: no proof needed
        {"type": "identify", "userId": "ann", "traits": {"plan": "pro"}, "context": proof("ann")},  # proven
        {"type": "track", "userId": "victim", "anonymousId": "d2", "event": "E"},  # unproven: the device's own
    ]
    r = any_client.post("/v1/batch", json={"batch": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["stored"], body["rejected"]) == (3, 3, 1)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, f"batch[0].{PROOF_FIELD}")]
    assert traits_of(any_client, "ann") == {"plan": "pro"}
    assert traits_of(any_client, "victim") is None
    assert len(events_of(services, "d2")) == 1  # kept as the device's, as without the setting
    with services.store.transaction(write=False) as tx:  # the refusal is logged like any other (no id in it)
        logged = tx.recent_ingest_errors(5)
    assert [(e.endpoint, e.field) for e in logged] == [("batch", f"batch[0].{PROOF_FIELD}")]
    assert "victim" not in str(logged)


def test_the_admin_key_and_proven_calls_are_unaffected(any_client: TestClient, services):
    server = {"userId": "u1", "traits": {"plan": "pro"}}
    assert any_client.post("/v1/identify", json=server, headers=ADMIN_BASIC).json()["stored"] == 1
    own = {"userId": "u1", "event": "Signed In", "context": proof("u1")}
    assert any_client.post("/v1/track", json=own).json()["stored"] == 1
    assert any_client.post("/v1/track", json={"anonymousId": "d9", "event": "E"}).json()["stored"] == 1
    assert traits_of(any_client, "u1") == {"plan": "pro"} and len(events_of(services, "u1")) == 2
    # in-process callers (imports, the CLI) are trusted, as the admin key is
    assert services.ingest.ingest([{"type": "track", "userId": "u1", "event": "Imported"}]).stored == 1


def test_a_refused_message_is_not_kept_as_a_failed_event(any_client: TestClient, services):
    """The failed-events store keeps what a tracking plan blocked, for replay; a message refused for want of proof
    is not kept (a replay is trusted, so keeping it would let it write to the user after all)."""
    plan = TrackingPlanIn(event="E", schema={"type": "object", "required": ["total"]}, mode="block")
    services.quality.put_plan(plan)
    r = any_client.post("/v1/track", json={"userId": "victim", "event": "E"})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == PROOF_FIELD
    assert services.quality.failed() == []


def test_store_keeps_todays_behaviour(tmp_path):
    """The default: a userId alone is stored on the user's profile (its consent statement aside)."""
    svc = Services.build(make_settings(tmp_path, identity_secret=IDENTITY_SECRET))
    assert svc.settings.unproven_user_events == "store"
    for c in api_client(svc):
        r = c.post("/v1/identify", json={"userId": "victim", "traits": {"plan": "hijacked"}})
        assert r.status_code == 200 and r.json()["stored"] == 1
        assert traits_of(c, "victim") == {"plan": "hijacked"}
    svc.close()


def test_refuse_without_verification_fails_at_startup(tmp_path):
    with pytest.raises(ValueError, match="needs identity verification"):
        make_settings(tmp_path, unproven_user_events="refuse", require_identity_verification=False)
