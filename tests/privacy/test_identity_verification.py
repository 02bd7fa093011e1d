"""The public write key cannot reach another person (issue 17, item 8): each attack of the audit, end to end
through the API on both backends, with identity verification on (an identity secret is configured).

The attacker holds only the write key (it is in every page) and knows the victim's user id; a page of the real
user also has the ``user_hash`` its server computed. Each test shows the attack failing and the proven call
working, so that the refusal comes from the proof and nothing else.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from pertinent.privacy.identity_proof import user_hash
from pertinent.recommend.training import train_from_store
from pertinent.services import Services
from pertinent.settings import Settings
from pertinent.storage.base import MembershipChange
from tests.support.common import ADMIN, ADMIN_KEY, IDENTITY_SECRET, api_client, make_settings

ADMIN_BASIC = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN_KEY}:".encode()).decode()}


@pytest.fixture
def settings(tmp_path) -> Settings:  # the conftest fixtures (services, any_client) build on these
    return make_settings(tmp_path, identity_secret=IDENTITY_SECRET)


def proof(user_id: str) -> str:
    return user_hash(IDENTITY_SECRET, user_id)


def profile_id(services: Services, raw_id: str) -> str | None:
    with services.store.transaction() as tx:
        return services.profiles.find(tx, raw_id)


def state_of(services: Services, raw_id: str) -> dict[str, Any]:
    pid = profile_id(services, raw_id)
    assert pid is not None
    with services.store.transaction(write=False) as tx:
        row = tx.get_profiles([pid])[pid]
    return {"traits": row.traits, "state": row.state, "consent": row.consent}


def viewed(user: str, item: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "Product Viewed", "properties": {"product_id": item}, **extra}


# --------------------------------------------------------------------------------- reading another person
def test_recommendation_reasons_never_name_another_persons_history(any_client: TestClient, services, tmp_path):
    items = [{"item_id": f"i{n}", "title": f"Secret title {n}", "categories": [f"c{n // 2}"]} for n in range(8)]
    assert any_client.post("/v1/items", json={"items": items}, headers=ADMIN).json()["stored"] == 8
    shoppers = [viewed(f"s{u}", f"i{(u % 4) * 2 + k}") for u in range(40) for k in (0, 1)]  # pairs co-viewed
    assert any_client.post("/v1/batch", json={"batch": shoppers}, headers=ADMIN_BASIC).json()["stored"] == 80
    assert any_client.post("/v1/track", json=viewed("victim", "i0"), headers=ADMIN_BASIC).json()["stored"] == 1
    assert train_from_store(services.store, tmp_path, "itemknn").version is not None
    services.recommend.config.model = "itemknn"
    services.recommend.refresh_model()

    def ask(**kw: Any) -> dict[str, Any]:
        headers = kw.pop("headers", {})
        r = any_client.get("/v1/recommendations", params={"user_id": "victim", "k": 3, **kw}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    def names_history(body: dict[str, Any]) -> bool:
        return any("Secret title 0" in i["reason"] for i in body["items"])

    # the attack: the write key alone, or with a proof made for someone else (the attacker's own account)
    for stolen in (ask(), ask(user_hash=proof("attacker")), ask(headers={"X-User-Hash": "0" * 64})):
        assert stolen["source"] == "popularity" and not names_history(stolen)
    # the victim's own page (its server's proof, as a query parameter or a header) and the site's server
    for own in (ask(user_hash=proof("victim")), ask(headers={"X-User-Hash": proof("victim").upper()})):
        assert own["source"] == "model" and names_history(own)
    assert names_history(ask(headers=ADMIN))


def test_decide_reasons_never_name_another_persons_segments(any_client: TestClient, services):
    for bid in ("plain", "vip-offer"):
        assert any_client.put(f"/v1/blocks/{bid}", headers=ADMIN, json={"type": "text", "content": {"text": bid}})
    slot = {
        "variants": {"plain": "plain", "vip": "vip-offer"},
        "default": {"kind": "variant", "variant": "plain"},
        "rules": [
            {
                "name": "big spenders",
                "when": {"type": "segment", "segment": "vip"},
                "then": {"kind": "variant", "variant": "vip"},
            }
        ],
    }
    assert any_client.put("/v1/slots/home.hero", headers=ADMIN, json=slot).status_code == 200
    any_client.post("/v1/track", json=viewed("victim", "i0"), headers=ADMIN_BASIC)
    victim = profile_id(services, "victim")
    with services.store.transaction() as tx:
        tx.apply_membership_changes([MembershipChange("vip", victim, True, 1.0)])

    def decide(**kw: Any) -> dict[str, Any]:
        headers = kw.pop("headers", {})
        r = any_client.get("/v1/decide", params={"slot": "home.hero", **kw}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    attacks = [
        decide(user_id="victim"),
        decide(user_id="victim", user_hash=proof("attacker")),
        decide(user_id="victim", anonymous_id="attacker-device"),
    ]
    for stolen in attacks:
        assert stolen["variant"] == "plain" and "vip" not in str(stolen) and "big spenders" not in str(stolen)
    own = decide(user_id="victim", user_hash=proof("victim"))
    assert own["variant"] == "vip" and "big spenders" in own["reason"]["detail"]
    assert decide(user_id="victim", headers=ADMIN)["variant"] == "vip"
    services.decide.flush()
    with services.store.transaction(write=False) as tx:  # unproven calls leave nothing in the victim's log
        logged = {d.decision_id for d in tx.recent_decisions(victim, 0.0)}
    assert own["decision_id"] in logged and not {s["decision_id"] for s in attacks} & logged


# ------------------------------------------------------------------------------ changing another person
def test_alias_cannot_merge_a_known_person_into_the_attackers_profile(any_client: TestClient, services):
    any_client.post("/v1/track", json=viewed("victim", "i0"), headers=ADMIN_BASIC)
    any_client.post("/v1/track", json=viewed("attacker", "i1", context={"userHash": proof("attacker")}))
    victim, attacker = profile_id(services, "victim"), profile_id(services, "attacker")
    assert victim and attacker and victim != attacker
    before = state_of(services, "victim")
    attack = {"previousId": "victim", "userId": "attacker"}
    for body in (attack, {**attack, "context": {"userHash": proof("attacker")}}):  # even proven as the attacker
        r = any_client.post("/v1/alias", json=body)
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "forbidden" and "user_hash" in r.json()["message"]
    assert r.json()["errors"][0]["field"] == "context.previousIdHash"
    batch = any_client.post("/v1/batch", json={"batch": [attack, viewed("attacker", "i2")]}).json()
    assert batch["accepted"] == 1 and batch["errors"][0]["index"] == 0  # refused alone, its neighbour kept
    assert profile_id(services, "victim") == victim and state_of(services, "victim") == before
    # an anonymous device may not be aliased onto a user it has not proven either
    r = any_client.post("/v1/alias", json={"previousId": "attacker-device", "userId": "victim"})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "context.userHash"
    # both proven (the victim's page and the attacker's): the merge is theirs to make; or the site's server
    both = {**attack, "context": {"userHash": proof("attacker"), "previousIdHash": proof("victim")}}
    assert any_client.post("/v1/alias", json=both).status_code == 200
    assert profile_id(services, "victim") == profile_id(services, "attacker")


def test_alias_with_the_admin_key_merges_two_known_people(any_client: TestClient, services):
    any_client.post("/v1/track", json=viewed("old-account", "i0"), headers=ADMIN_BASIC)
    any_client.post("/v1/track", json=viewed("new-account", "i1"), headers=ADMIN_BASIC)
    r = any_client.post("/v1/alias", json={"previousId": "old-account", "userId": "new-account"}, headers=ADMIN_BASIC)
    assert r.status_code == 200 and r.json()["stored"] == 1
    survivor = profile_id(services, "new-account")
    assert profile_id(services, "old-account") == survivor
    with services.store.transaction(write=False) as tx:
        merges = [a for a in tx.audit_entries(subject=survivor) if a.action == "identity.merge"]
    assert [a.actor for a in merges] == ["admin_key"] and merges[0].detail["known_user"] is True


def test_consent_for_a_known_user_needs_the_proof(any_client: TestClient, services):
    any_client.post("/v1/track", json=viewed("victim", "i0"), headers=ADMIN_BASIC)
    before = state_of(services, "victim")
    assert before["state"]["events_total"] == 1
    for body in (
        {"userId": "victim", "purposes": {"personalization": False}},
        {"userId": "victim", "anonymousId": "attacker-device", "purposes": {"personalization": False}},
        {"userId": "victim", "purposes": {"personalization": False}, "userHash": proof("attacker")},
    ):
        r = any_client.post("/v1/consent", json=body)
        assert r.status_code == 403, r.text
        assert r.json()["errors"][0]["field"] == "userHash" and "user_hash" in r.json()["message"]
    # nor through an event's consent context (the write key naming the user, proof missing)
    deny = {"consent": {"categoryPreferences": {"personalization": False}}}
    any_client.post("/v1/track", json={"userId": "victim", "event": "E", "context": deny})
    assert state_of(services, "victim")["consent"] == before["consent"]
    assert state_of(services, "victim")["state"]["events_total"] == 1  # the profile was not wiped
    ok = any_client.post(
        "/v1/consent", json={"userId": "victim", "purposes": {"personalization": False}, "userHash": proof("victim")}
    )
    assert ok.status_code == 200 and ok.json()["consent"]["personalization"] is False
    assert state_of(services, "victim")["state"] == {}  # the victim's own choice is honoured
    assert any_client.post("/v1/consent", json={"anonymousId": "a-device", "purposes": {"analytics": True}}).is_success


def test_an_unproven_identify_neither_links_the_device_nor_writes_to_the_user(any_client: TestClient, services):
    any_client.post("/v1/track", json=viewed("victim", "i0"), headers=ADMIN_BASIC)
    before = state_of(services, "victim")
    r = any_client.post(
        "/v1/identify", json={"userId": "victim", "anonymousId": "attacker-device", "traits": {"plan": "hijacked"}}
    )
    assert r.status_code == 200 and r.json()["stored"] == 1  # kept, as the device's own
    assert profile_id(services, "attacker-device") != profile_id(services, "victim")
    assert state_of(services, "victim") == before
    recs = any_client.get("/v1/recommendations", params={"user_id": "attacker-device"}).json()
    assert recs["source"] == "popularity"  # the device reads its own (empty) history, not the victim's
    # the real user's page, proven: the device's history joins the user's profile
    own = {"userId": "victim", "anonymousId": "victim-device", "context": {"userHash": proof("victim")}}
    any_client.post("/v1/track", json={"anonymousId": "victim-device", "event": "Product Viewed"})
    assert any_client.post("/v1/identify", json=own).json()["stored"] == 1
    assert profile_id(services, "victim-device") == profile_id(services, "victim")


def test_an_unproven_group_call_cannot_change_the_accounts_traits(any_client: TestClient, services):
    """A group's traits are copied into every member's profile (rules and templates read them): the write key
    alone, anonymous or naming a user it did not prove, links only its own profile to the group."""
    member = {"type": "group", "userId": "ann", "groupId": "initech", "traits": {"plan": "enterprise"}}
    assert any_client.post("/v1/batch", json={"batch": [member]}, headers=ADMIN_BASIC).json()["stored"] == 1
    attacks = [
        {"anonymousId": "attacker-device", "groupId": "initech", "traits": {"plan": "free"}},
        {"userId": "attacker", "groupId": "initech", "traits": {"plan": "free"}},
        {"userId": "ann", "anonymousId": "d1", "groupId": "initech", "traits": {"plan": "free"}},
        {"userId": "attacker", "groupId": "initech", "traits": {"plan": "free"}, "context": {"userHash": proof("x")}},
    ]
    for attack in attacks:
        assert any_client.post("/v1/group", json=attack).json()["stored"] == 1, attack  # kept, as the caller's own
    group = any_client.get("/v1/groups/initech", headers=ADMIN).json()
    assert group["traits"] == {"plan": "enterprise"}
    assert state_of(services, "ann")["state"]["groups"] == {"initech": {"plan": "enterprise"}}
    assert state_of(services, "attacker-device")["state"]["groups"] == {"initech": {"plan": "enterprise"}}
    # a proven member's page, and the site's server with the admin key, do change them
    own = {"userId": "bob", "groupId": "initech", "traits": {"seats": 9}, "context": {"userHash": proof("bob")}}
    assert any_client.post("/v1/group", json=own).json()["stored"] == 1
    server = {"type": "group", "userId": "ann", "groupId": "initech", "traits": {"plan": "pro"}}
    assert any_client.post("/v1/batch", json={"batch": [server]}, headers=ADMIN_BASIC).json()["stored"] == 1
    assert any_client.get("/v1/groups/initech", headers=ADMIN).json()["traits"] == {"plan": "pro", "seats": 9}
    assert state_of(services, "ann")["state"]["groups"] == {"initech": {"plan": "pro", "seats": 9}}


def test_proofs_are_checked_never_stored(any_client: TestClient, services):
    context = {"userHash": proof("u1"), "previousIdHash": proof("u0"), "locale": "fr-FR"}
    any_client.post("/v1/track", json={"userId": "u1", "anonymousId": "d1", "event": "E", "context": context})
    pid = profile_id(services, "u1")
    with services.store.transaction(write=False) as tx:
        (event,) = tx.events_of(pid)
    assert event.context == {"locale": "fr-FR"}


def test_in_process_callers_are_trusted(services):
    """The CLI's imports and generator call the ingest service directly: server-side, like the admin key."""
    services.ingest.ingest([{"type": "track", "anonymousId": "d1", "event": "E"}])
    result = services.ingest.ingest([{"type": "identify", "userId": "u1", "anonymousId": "d1"}])
    assert result.stored == 1 and profile_id(services, "d1") == profile_id(services, "u1")
    refused = services.ingest.ingest([{"type": "alias", "previousId": "d2", "userId": "u1"}], trusted=False)
    assert refused.forbidden == 1 and refused.errors[0]["field"] == "context.userHash"


def test_without_verification_the_write_key_acts_as_before(tmp_path):
    svc = Services.build(make_settings(tmp_path, identity_secret=IDENTITY_SECRET, require_identity_verification=False))
    for c in api_client(svc):
        c.post("/v1/track", json=viewed("u1", "i0"), headers=ADMIN_BASIC)
        assert c.post("/v1/alias", json={"previousId": "d9", "userId": "u1"}).status_code == 200
        assert c.post("/v1/consent", json={"userId": "u1", "purposes": {"analytics": True}}).status_code == 200
        assert (
            c.post("/v1/group", json={"anonymousId": "d8", "groupId": "g", "traits": {"plan": "x"}}).status_code == 200
        )
        assert c.get("/v1/groups/g", headers=ADMIN).json()["traits"] == {"plan": "x"}
    svc.close()


_TEXT = st.characters(blacklist_categories=("Cs",))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    user=st.text(_TEXT, min_size=1, max_size=40).filter(str.strip),
    given_hash=st.one_of(st.none(), st.text(_TEXT, max_size=80), st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
)
def test_no_guessed_proof_passes_and_no_proof_fails_the_server(client_with_secret, user, given_hash):
    """Any user_hash other than the right one is refused (never a 500), on the routes that take one."""
    c = client_with_secret
    r = c.post("/v1/consent", json={"userId": user, "purposes": {"analytics": True}, "userHash": given_hash})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "userHash", r.text
    right = c.post("/v1/consent", json={"userId": user, "purposes": {"analytics": True}, "userHash": proof(user)})
    assert right.status_code == 200, right.text
    params = {"user_id": user, "user_hash": given_hash} if given_hash else {"user_id": user}
    nul = "\x00" in user + (given_hash or "")  # a NUL in a query is a 400 naming the parameter
    assert c.get("/v1/recommendations", params=params).status_code == (400 if nul else 200)
    assert c.get("/v1/decide", params={"slot": "none", **params}).status_code == (400 if nul else 404)  # not a 500


@pytest.fixture(scope="module")
def client_with_secret(tmp_path_factory):
    svc = Services.build(make_settings(tmp_path_factory.mktemp("proof"), identity_secret=IDENTITY_SECRET))
    yield from api_client(svc)
    svc.close()
