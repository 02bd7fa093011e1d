"""Groups (accounts): the group call keeps its groupId, the account's traits and its members; erasure and export
cover the membership; segment rules and slot targeting read the person's group traits. Both backends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.profiles.features import ProfileConfig
from pertinent.rules import compile_rule, evaluate, parse_rule
from pertinent.segments.compiled import Facts
from pertinent.segments.rules import make_view
from tests.support.common import ADMIN


def _profile_id(c, uid: str) -> str:
    return c.get(f"/v1/profiles/{uid}", headers=ADMIN).json()["profile_id"]


def test_group_call_builds_the_account_with_traits_and_members(any_client, services):
    c = any_client
    r = c.post(
        "/v1/group",
        json={
            "userId": "ann",
            "groupId": "acme",
            "traits": {"name": "Acme Inc", "plan": "enterprise", "email": "billing@acme.test", "employees": 120},
        },
    )
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    c.post("/v1/batch", json={"batch": [{"type": "group", "userId": "bob", "groupId": "acme", "traits": {"seats": 9}}]})
    group = c.get("/v1/groups/acme", headers=ADMIN)
    assert group.status_code == 200, group.text
    body = group.json()
    assert body["group_id"] == "acme" and body["member_count"] == 2
    traits = body["traits"]
    # the account's name is about the account: in clear; a contact email is personal: pseudonymised
    assert (traits["name"], traits["plan"], traits["employees"], traits["seats"]) == ("Acme Inc", "enterprise", 120, 9)
    assert traits["email"] != "billing@acme.test" and traits["email"].startswith("h_")
    assert {m["profile_id"] for m in body["members"]} == {_profile_id(c, "ann"), _profile_id(c, "bob")}
    # the stored event keeps its groupId; the person's profile carries the account's traits for rules
    with services.store.transaction(write=False) as tx:
        (event,) = tx.events_of(_profile_id(c, "ann"))
        row = tx.get_profiles([_profile_id(c, "bob")])[_profile_id(c, "bob")]
    assert (event.type, event.group_id, event.traits["name"]) == ("group", "acme", "Acme Inc")
    assert row.state["groups"]["acme"]["plan"] == "enterprise"  # bob's copy refreshed by ann's traits too


def test_unknown_group_is_404_and_the_route_needs_the_admin_key(any_client):
    r = any_client.get("/v1/groups/nope", headers=ADMIN)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "group_id"
    assert any_client.get("/v1/groups/nope").status_code == 401


def test_a_merge_moves_memberships_and_export_lists_them(any_client):
    c = any_client
    c.post("/v1/group", json={"anonymousId": "a1", "groupId": "acme", "traits": {"plan": "pro"}})
    c.post("/v1/identify", json={"userId": "u1", "anonymousId": "a1"})
    groups = c.get("/v1/groups/acme", headers=ADMIN).json()
    assert [m["profile_id"] for m in groups["members"]] == [_profile_id(c, "u1")]
    export = c.get("/v1/users/u1/export", headers=ADMIN)
    assert export.status_code == 200, export.text
    (membership,) = export.json()["groups"]
    assert (membership["group_id"], membership["traits"]) == ("acme", {"plan": "pro"})


def test_alias_keeps_previous_id_as_its_pseudonym_and_integrations_are_kept(any_client, services):
    c = any_client
    c.post(
        "/v1/track",
        json={"userId": "old", "event": "Opted Out", "integrations": {"All": False, "Webhook": True}},
    )
    r = c.post("/v1/alias", json={"userId": "new", "previousId": "old"})
    assert r.status_code == 200, r.text
    with services.store.transaction(write=False) as tx:
        events = tx.events_of(_profile_id(c, "new"))
    by_type = {e.type: e for e in events}
    assert by_type["track"].integrations == {"All": False, "Webhook": True}
    assert by_type["alias"].previous_id == services.ingest.pseudo.key("user", "old")  # never the raw id
    assert by_type["alias"].previous_id != "old"


def test_slot_targeting_and_segments_on_group_traits(any_client):
    c = any_client
    for bid in ("std", "ent"):
        r = c.put(f"/v1/blocks/{bid}", headers=ADMIN, json={"type": "headline", "content": {"title": bid}})
        assert r.status_code == 200, r.text
    slot = {
        "variants": {"std": "std", "ent": "ent"},
        "default": {"kind": "variant", "variant": "std"},
        "rules": [
            {
                "then": {"kind": "variant", "variant": "ent"},
                "when": {"type": "group", "path": ["plan"], "op": "eq", "value": "enterprise"},
            }
        ],
    }
    assert c.put("/v1/slots/pricing", headers=ADMIN, json=slot).status_code == 200
    rule = {"type": "group", "path": "plan", "op": "eq", "value": "enterprise"}
    r = c.post("/v1/segments", json={"id": "enterprise", "name": "Enterprise accounts", "rule": rule}, headers=ADMIN)
    assert r.status_code == 201, r.text
    c.post("/v1/group", json={"userId": "ent-user", "groupId": "big", "traits": {"plan": "enterprise"}})
    c.post("/v1/group", json={"userId": "std-user", "groupId": "small", "traits": {"plan": "free"}})
    decide = {u: c.get("/v1/decide", params={"slot": "pricing", "user_id": u}).json() for u in ("ent-user", "std-user")}
    assert decide["ent-user"]["variant"] == "ent" and decide["std-user"]["variant"] == "std"
    services = c.app.state.services
    assert services.segments.wait_idle()
    members = c.get("/v1/segments/enterprise/members", headers=ADMIN).json()["members"]
    assert [m["profile_id"] for m in members] == [_profile_id(c, "ent-user")]
    # the account moves to the free plan: its other members leave the segment without an event of their own
    c.post("/v1/group", json={"userId": "other", "groupId": "big", "traits": {"plan": "free"}})
    assert services.segments.wait_idle()
    assert c.get("/v1/segments/enterprise/members", headers=ADMIN).json()["members"] == []
    assert c.get("/v1/decide", params={"slot": "pricing", "user_id": "ent-user"}).json()["variant"] == "std"


GROUPS = st.dictionaries(
    st.sampled_from(["acme", "beta", "gamma"]),
    st.fixed_dictionaries(
        {}, optional={"plan": st.sampled_from(["free", "pro", "enterprise"]), "seats": st.integers(0, 50)}
    ),
    max_size=3,
)
RULES = st.fixed_dictionaries(
    {
        "type": st.just("group"),
        "path": st.sampled_from([["plan"], ["seats"]]),
        "op": st.sampled_from(["eq", "ne", "gt", "exists"]),
        "match": st.sampled_from(["any", "all"]),
    }
).map(lambda r: {**r, "value": {"eq": "enterprise", "ne": "free", "gt": 10, "exists": True}[r["op"]]})


@settings(max_examples=300, deadline=None)
@given(RULES, GROUPS)
def test_compiled_group_condition_agrees_with_evaluate(data, groups):
    rule, errors = parse_rule(data)
    assert errors == []
    state = {"groups": groups} if groups else {}
    cfg = ProfileConfig()
    expected = evaluate(rule, make_view(state, 0.0, cfg), 0.0)
    assert compile_rule(rule)(Facts(state, {}, {}, 0.0, cfg)) is expected
