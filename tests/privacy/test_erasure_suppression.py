"""Erasure deletes and suppresses (issue 17, item 10): after ``DELETE /v1/users/{id}`` the person's identifiers are
on a suppression list (pseudonyms only, kept across restarts), their later events are dropped and counted,
``/v1/decide`` and consent statements create nothing, the process forgets their exposures, and the old profile id
never comes back. In opt-in mode a visitor who never consented leaves no identity either."""

from __future__ import annotations

import time

from sqlalchemy import text

from pertinent.services import Services
from pertinent.storage.tables import metadata
from tests.support.common import ADMIN, api_client, make_settings

EXPERIMENT = {"variants": ["a", "b"], "hash_attribute": "id"}


def rows_about(store, profile_id: str, keys: set[str]) -> dict[str, int]:
    """Rows anywhere that name the profile id (a profile_id column) or one of the identity keys."""
    found = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "suppressions":
                continue
            for column in ("profile_id", "key"):
                if column not in table.c:
                    continue
                values = {profile_id} | keys
                n = sum(
                    conn.execute(text(f"SELECT count(*) FROM {table.name} WHERE {column} = :v"), {"v": v}).scalar_one()
                    for v in values
                )
                if n:
                    found[f"{table.name}.{column}"] = n
    return found


def erase_a_known_visitor(client, services) -> tuple[str, set[str]]:
    client.post("/v1/track", json={"anonymousId": "dev-1", "event": "Product Viewed"})
    client.post("/v1/identify", json={"userId": "gone", "anonymousId": "dev-1", "traits": {"plan": "pro"}})
    with services.store.transaction(write=False) as tx:
        pid = services.profiles.find(tx, "gone")
        keys = {i.key for i in tx.identities_of(pid)}
    assert pid and len(keys) == 2
    r = client.delete("/v1/users/gone", headers=ADMIN)
    assert r.status_code == 200 and r.json()["suppressed"] == len(keys | {pid})  # its identity keys, its profile id
    return pid, keys


def test_events_after_erasure_are_dropped_and_counted(any_client, services):
    pid, keys = erase_a_known_visitor(any_client, services)
    for body in (
        {"userId": "gone", "event": "Came Back"},
        {"anonymousId": "dev-1", "event": "Came Back"},
        {"userId": "someone-new", "anonymousId": "dev-1", "event": "Came Back"},
    ):
        r = any_client.post("/v1/track", json=body)
        assert r.status_code == 200 and r.json()["suppressed"] == 1 and r.json()["stored"] == 0, r.text
    batch = [
        {"type": "identify", "userId": "gone", "traits": {"plan": "free"}},
        {"type": "alias", "previousId": "dev-1", "userId": "other"},
        {"type": "track", "userId": "bystander", "event": "Kept"},
    ]
    r = any_client.post("/v1/batch", json={"batch": batch}).json()
    assert (r["suppressed"], r["stored"], r["accepted"]) == (2, 1, 3)
    assert rows_about(services.store, pid, keys) == {"consent_log.profile_id": 1}  # only the erasure record
    assert any_client.get("/v1/profiles/gone", headers=ADMIN).status_code == 404
    assert any_client.get("/v1/profiles/bystander", headers=ADMIN).status_code == 200


def test_decide_and_consent_create_nothing_for_an_erased_person(any_client, services):
    for bid in ("hero-a", "hero-b"):
        any_client.put(f"/v1/blocks/{bid}", headers=ADMIN, json={"type": "text", "content": {"text": bid}})
    assert any_client.put("/v1/experiments/exp", headers=ADMIN, json=EXPERIMENT).status_code == 200
    assert any_client.post("/v1/experiments/exp/start", headers=ADMIN).status_code == 200
    slot = {
        "variants": {"a": "hero-a", "b": "hero-b"},
        "default": {"kind": "variant", "variant": "a"},
        "rules": [{"then": {"kind": "experiment", "experiment": "exp"}}],
    }
    assert any_client.put("/v1/slots/home.hero", headers=ADMIN, json=slot).status_code == 200
    any_client.post("/v1/track", json={"userId": "gone", "anonymousId": "dev-1", "event": "E"})
    before = any_client.get("/v1/decide", params={"slot": "home.hero", "user_id": "gone"}, headers=ADMIN).json()
    assert before["experiment"] is not None
    services.decide.flush()
    pid, keys = erase_a_known_visitor(any_client, services)
    assert not [k for k in services.decide.serving._exposed if k[0] == pid]  # the process forgot the exposures
    for params in ({"user_id": "gone"}, {"anonymous_id": "dev-1"}, {"user_id": "gone", "anonymous_id": "dev-1"}):
        r = any_client.get("/v1/decide", params={"slot": "home.hero", **params}, headers=ADMIN)
        assert r.status_code == 200, r.text
    consent = any_client.post("/v1/consent", json={"anonymousId": "dev-1", "purposes": {"analytics": True}})
    assert consent.status_code == 200
    services.decide.flush()
    assert rows_about(services.store, pid, keys) == {"consent_log.profile_id": 1}
    assert services.decide.log.stats.dropped_erased >= 3


def test_the_list_survives_a_restart_holds_only_pseudonyms_and_outlives_a_key_rotation(tmp_path):
    first = Services.build(make_settings(tmp_path, pseudonym_keys=["old-key"]))
    for c in api_client(first):
        pid, keys = erase_a_known_visitor(c, first)
    with first.store.transaction(write=False) as tx:
        listed = tx.suppressed(keys | {pid})
    first.close()
    assert listed == keys | {pid} and all(k.startswith(("u_", "a_")) and len(k) == 34 for k in listed)
    rotated = Services.build(make_settings(tmp_path, pseudonym_keys=["new-key", "old-key"]))
    for c in api_client(rotated):
        assert c.post("/v1/track", json={"userId": "gone", "event": "E"}).json()["suppressed"] == 1
        assert c.post("/v1/track", json={"anonymousId": "dev-1", "event": "E"}).json()["suppressed"] == 1
        assert c.get("/v1/profiles/gone", headers=ADMIN).status_code == 404
    with rotated.store.transaction(write=False) as tx:
        assert tx.count_profiles() == 0
    rotated.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("pertinent.db*"))
    assert b"gone" not in raw and b"dev-1" not in raw


def test_opt_in_mode_leaves_no_identity_for_a_visitor_who_never_consented(store, tmp_path):
    opt_in = Services.build(make_settings(tmp_path, default_consent="denied"), store)
    for c in api_client(opt_in):
        assert c.post("/v1/track", json={"anonymousId": "v1", "event": "E"}).json()["skipped_no_consent"] == 1
        c.post("/v1/identify", json={"userId": "u1", "anonymousId": "v1", "traits": {"plan": "x"}})
        assert c.post("/v1/consent", json={"anonymousId": "v2", "purposes": {"analytics": False}}).is_success
        c.put("/v1/blocks/hero-a", headers=ADMIN, json={"type": "text", "content": {"text": "a"}})
        slot = {"variants": {"a": "hero-a"}, "default": {"kind": "variant", "variant": "a"}}
        c.put("/v1/slots/home.hero", headers=ADMIN, json=slot)
        assert c.get("/v1/decide", params={"slot": "home.hero", "anonymous_id": "v3"}).status_code == 200
        opt_in.decide.flush()
        with opt_in.store.transaction(write=False) as tx:
            assert tx.count_profiles() == 0 and tx.count_events() == 0
            keys = [
                opt_in.ingest.pseudo.key(kind, raw)
                for kind in ("user", "anonymous")
                for raw in ("v1", "v2", "v3", "u1")
            ]
            assert tx.get_identities(keys) == {}
        granted = {"consent": {"categoryPreferences": {"analytics": True}}}
        assert c.post("/v1/track", json={"anonymousId": "v1", "event": "E", "context": granted}).json()["stored"] == 1
        with opt_in.store.transaction(write=False) as tx:
            assert tx.count_profiles() == 1 and len(tx.get_identities(keys)) == 1
    opt_in.segments.close()
    opt_in.decide.close()


def test_erasure_is_audited_with_what_it_suppressed(client, sqlite_services):
    client.post("/v1/track", json={"userId": "gone", "event": "E"})
    r = client.delete("/v1/users/gone", headers=ADMIN).json()
    with sqlite_services.store.transaction(write=False) as tx:
        (entry,) = [a for a in tx.audit_entries(subject=r["profile_id"]) if a.action == "erase"]
    assert entry.detail["suppressed"] == r["suppressed"] == 1 and r["erased_at"] <= time.time()  # profile id = key


def test_a_batch_naming_an_erased_person_many_times_suppresses_each_event_after_a_key_rotation(tmp_path):
    # The check computes each id's pseudonyms once per batch (under every key): every repeat must still be caught.
    first = Services.build(make_settings(tmp_path, pseudonym_keys=["old-key"]))
    for c in api_client(first):
        erase_a_known_visitor(c, first)
    first.close()
    rotated = Services.build(make_settings(tmp_path, pseudonym_keys=["new-key", "old-key"]))
    for c in api_client(rotated):
        batch = [{"type": "track", "userId": "gone", "event": f"E{i}"} for i in range(3)]
        batch += [{"type": "track", "userId": "bystander", "event": "Kept"}]
        batch += [{"type": "track", "anonymousId": "dev-1", "event": f"A{i}"} for i in range(2)]
        batch += [{"type": "track", "userId": "bystander", "event": "Kept again"}]
        r = c.post("/v1/batch", json={"batch": batch}).json()
        assert (r["suppressed"], r["stored"], r["accepted"]) == (5, 2, 7), r
        assert c.get("/v1/profiles/gone", headers=ADMIN).status_code == 404
    rotated.close()
