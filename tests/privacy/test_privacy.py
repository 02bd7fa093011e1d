"""Consent gating, pseudonymisation, erasure and export."""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from pertinent.services import Services
from pertinent.storage.tables import metadata
from tests.support.common import ADMIN, api_client, make_settings


def consent_ctx(analytics: bool, personalization: bool) -> dict:
    return {"consent": {"categoryPreferences": {"Analytics": analytics, "Personalization": personalization}}}


def get(client, uid):
    return client.get(f"/v1/profiles/{uid}", headers=ADMIN)


def test_no_personalization_consent_means_no_profile_features(any_client, services):
    r = any_client.post(
        "/v1/track",
        json={
            "userId": "u1",
            "event": "Product Viewed",
            "properties": {"category": "Shoes"},
            "context": consent_ctx(True, False),
        },
    )
    assert r.json()["stored"] == 1
    body = get(any_client, "u1").json()
    assert body["features"]["events_total"] == 0 and body["features"]["affinities"] == {}
    assert body["consent"]["effective"] == {"analytics": True, "personalization": False}
    assert body["consent"]["decisions"]["personalization"]["source"] == "event"
    # Later events without a consent statement are still governed by the recorded decision.
    any_client.post("/v1/track", json={"userId": "u1", "event": "Product Viewed"})
    assert get(any_client, "u1").json()["features"]["events_total"] == 0
    with services.store.transaction(write=False) as tx:
        rows = tx.events_of(body["profile_id"])
        assert len(rows) == 2 and not any(r.personalize for r in rows)


def test_no_consent_at_all_stores_nothing(any_client, services):
    r = any_client.post("/v1/track", json={"userId": "u2", "event": "E", "context": consent_ctx(False, False)})
    assert r.status_code == 200 and r.json()["stored"] == 0 and r.json()["skipped_no_consent"] == 1
    with services.store.transaction(write=False) as tx:
        assert tx.count_events() == 0


def test_consent_endpoint_records_history_and_withdrawal_clears_profile(any_client):
    any_client.post("/v1/track", json={"userId": "u3", "event": "Product Viewed", "properties": {"category": "A"}})
    assert get(any_client, "u3").json()["features"]["events_total"] == 1
    r = any_client.post("/v1/consent", json={"userId": "u3", "purposes": {"personalization": False}})
    assert r.status_code == 200 and r.json()["consent"]["personalization"] is False
    assert get(any_client, "u3").json()["features"]["events_total"] == 0
    any_client.post("/v1/consent", json={"userId": "u3", "purposes": {"Personalization": True}})
    any_client.post("/v1/track", json={"userId": "u3", "event": "Product Viewed"})
    assert get(any_client, "u3").json()["features"]["events_total"] == 1  # only what came after re-consent
    history = any_client.get("/v1/users/u3/export", headers=ADMIN).json()["consent_history"]
    assert [(h["purpose"], h["granted"]) for h in history] == [("personalization", False), ("personalization", True)]
    assert all(h["at"] > 0 and h["source"] == "api" for h in history)


def test_consent_endpoint_validates_input(client):
    for body, field in [
        ({"purposes": {"analytics": True}}, "userId"),
        ({"userId": "u", "purposes": {}}, "purposes"),
        ({"userId": "u", "purposes": {"analytics": "maybe"}}, "purposes.analytics"),
    ]:
        r = client.post("/v1/consent", json=body)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == field, r.text


def test_default_denied_consent_skips_events(tmp_path):
    svc = Services.build(make_settings(tmp_path, default_consent="denied"))
    for c in api_client(svc):
        assert c.post("/v1/track", json={"userId": "u", "event": "E"}).json()["skipped_no_consent"] == 1
        c.post("/v1/track", json={"userId": "u", "event": "E", "context": consent_ctx(True, True)})
        assert get(c, "u").json()["features"]["events_total"] == 1
    svc.close()


def _db_bytes(tmp_path) -> bytes:
    con = sqlite3.connect(tmp_path / "pertinent.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return b"".join(p.read_bytes() for p in tmp_path.glob("pertinent.db*"))


def test_identifiers_and_pii_are_not_stored_in_clear(client, sqlite_services, tmp_path):
    client.post(
        "/v1/identify",
        json={
            "userId": "user-XYZ-123",
            "anonymousId": "anon-QRS-987",
            "traits": {"email": "Jane.Doe@Example.com", "phone": "+44 20 7946 0958", "plan": "gold-tier"},
            "context": {"traits": {"email": "Jane.Doe@Example.com"}},
        },
    )
    raw = _db_bytes(tmp_path)
    for secret in (b"user-XYZ-123", b"anon-QRS-987", b"Jane.Doe@Example.com", b"7946 0958"):
        assert secret not in raw
    assert b"gold-tier" in raw  # non-PII traits are kept
    traits = get(client, "user-XYZ-123").json()["traits"]
    assert traits["email"].startswith("h_") and traits["plan"] == "gold-tier"
    # The same address always maps to the same pseudonym (joins still work), case-insensitively.
    assert traits["email"] == sqlite_services.ingest.pseudo.pii("jane.doe@example.com")


def test_pii_can_be_kept_in_clear_when_configured(tmp_path):
    svc = Services.build(make_settings(tmp_path, store_pii_in_clear=True))
    for c in api_client(svc):
        c.post("/v1/identify", json={"userId": "u", "traits": {"email": "a@b.test"}})
        assert get(c, "u").json()["traits"]["email"] == "a@b.test"
    svc.close()


def test_export_returns_everything_about_the_user(any_client):
    any_client.post("/v1/track", json={"anonymousId": "a1", "event": "Product Viewed", "properties": {"sku": "S1"}})
    any_client.post("/v1/identify", json={"userId": "u5", "anonymousId": "a1", "traits": {"plan": "pro"}})
    any_client.post("/v1/consent", json={"userId": "u5", "purposes": {"analytics": True}})
    r = any_client.get("/v1/users/u5/export", headers=ADMIN)
    assert r.status_code == 200
    data = r.json()
    assert {e["type"] for e in data["events"]} == {"track", "identify"}
    assert data["events"][0]["properties"] == {"sku": "S1"}
    assert sorted(i["kind"] for i in data["identities"]) == ["anonymous", "user"]
    assert data["profile"]["traits"]["plan"] == "pro" and data["profile"]["state"]["events_total"] == 1
    assert data["consent_history"][0]["purpose"] == "analytics"
    assert [a["action"] for a in data["audit"]][:2] == ["export", "consent"]
    assert any_client.get("/v1/users/nobody/export", headers=ADMIN).status_code == 404
    assert any_client.get("/v1/users/u5/export").status_code == 401


def _rows_mentioning(store, profile_id: str) -> dict[str, int]:
    found = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if "profile_id" in table.c:
                n = conn.execute(
                    text(f"SELECT count(*) FROM {table.name} WHERE profile_id = :p"), {"p": profile_id}
                ).scalar_one()
                if n:
                    found[table.name] = n
    return found


def test_erasure_deletes_everything_but_the_erasure_record(any_client, services):
    any_client.post(
        "/v1/track",
        json={"anonymousId": "a9", "event": "Product Viewed", "properties": {"product_id": "UNIQUE-PRODUCT-42"}},
    )
    any_client.post(
        "/v1/identify",
        json={"userId": "u9", "anonymousId": "a9", "traits": {"city": "Lyon"}, "context": consent_ctx(True, True)},
    )
    any_client.post("/v1/group", json={"userId": "u9", "groupId": "acme", "traits": {"name": "Acme"}})
    any_client.post("/v1/track", json={"userId": "other", "event": "Product Viewed"})
    pid = get(any_client, "u9").json()["profile_id"]
    assert set(_rows_mentioning(services.store, pid)) == {
        "events",
        "identities",
        "profiles",
        "consent_log",
        "group_members",
    }

    r = any_client.delete("/v1/users/u9", headers=ADMIN)
    assert r.status_code == 200
    assert r.json()["deleted"] == {
        "events": 3,
        "identities": 2,
        "consent_log": 2,
        "profiles": 1,
        "models": 0,
        "segment_members": 0,
        "segment_history": 0,
        "decisions": 0,
        "decision_outcomes": 0,
        "group_members": 1,  # the person leaves the account; the account (groups) stays
        "destination_outbox": 0,
        "pending_decisions": 0,
        "segment_models": 0,
        "warehouse_exports": 0,
        "audit_log": 1,  # the audit row of the identify's merge (a9 into u9): when the person logged in
        "failed_events": 0,  # data quality: blocked events, outlier flag, duplicate candidates
        "quality_flags": 0,
        "dedup_candidates": 0,
    }
    assert _rows_mentioning(services.store, pid) == {"consent_log": 1}  # only the erasure record
    assert any_client.get("/v1/groups/acme", headers=ADMIN).json()["member_count"] == 0
    with services.store.transaction(write=False) as tx:
        (record,) = tx.consent_of(pid)
        assert record.purpose == "erasure" and record.source == "erasure"
        assert [a.action for a in tx.audit_entries(subject=pid)] == ["erase"]
        assert tx.count_events() == 1  # the other user's event stays
    assert get(any_client, "u9").status_code == 404 and get(any_client, "a9").status_code == 404
    assert any_client.delete("/v1/users/u9", headers=ADMIN).status_code == 404
    assert get(any_client, "other").status_code == 200


def test_erased_data_is_not_left_in_the_sqlite_file(client, tmp_path):
    client.post(
        "/v1/track",
        json={"userId": "u1", "event": "Product Viewed", "properties": {"product_id": "NEEDLE-IN-HAYSTACK-777"}},
    )
    assert b"NEEDLE-IN-HAYSTACK-777" in _db_bytes(tmp_path)
    assert client.delete("/v1/users/u1", headers=ADMIN).status_code == 200
    # The erasure itself empties the WAL: no older copy of the rows is left in any file, even unchecked.
    assert b"NEEDLE-IN-HAYSTACK-777" not in b"".join(p.read_bytes() for p in tmp_path.glob("pertinent.db*"))
    assert b"NEEDLE-IN-HAYSTACK-777" not in _db_bytes(tmp_path)


def test_key_rotation_rekeys_identities_lazily(tmp_path):
    old = Services.build(make_settings(tmp_path, pseudonym_keys=["old-key"]))
    for c in api_client(old):
        c.post("/v1/track", json={"userId": "rot", "event": "E"})
    old.close()
    both = Services.build(make_settings(tmp_path, pseudonym_keys=["new-key", "old-key"]))
    for c in api_client(both):
        assert get(c, "rot").json()["features"]["events_total"] == 1  # found under the old key, re-keyed
        c.post("/v1/track", json={"userId": "rot", "event": "E"})
    both.close()
    new = Services.build(make_settings(tmp_path, pseudonym_keys=["new-key"]))
    for c in api_client(new):
        assert get(c, "rot").json()["features"]["events_total"] == 2  # the old key can now be dropped
    new.close()


def test_saved_models_are_covered_by_export_and_erasure(client, sqlite_services):
    """Trained models keep each user's id and training row: export shows them, erasure removes them."""
    import numpy as np

    from pertinent.recommend.training import train_from_store

    views = [
        {
            "type": "track",
            "userId": f"u{u}",
            "event": "Product Viewed",
            "messageId": f"m{u}-{i}",
            "properties": {"product_id": f"p{(u * 3 + i) % 12}"},
        }
        for u in range(30)
        for i in range(6)
    ]
    assert client.post("/v1/batch", json={"batch": views}).json()["stored"] == len(views)
    result = train_from_store(sqlite_services.store, sqlite_services.settings.data_dir, model="popularity")
    assert result.version is not None
    pid = get(client, "u7").json()["profile_id"]
    exported = client.get("/v1/users/u7/export", headers=ADMIN).json()["models"]
    assert len(exported) == 1 and sorted(exported[0]["items"]) == sorted({f"p{(21 + i) % 12}" for i in range(6)})

    assert client.delete("/v1/users/u7", headers=ADMIN).json()["deleted"]["models"] == 1
    state = next((sqlite_services.settings.data_dir / "models").rglob("state.npz"))
    with np.load(state) as z:
        assert pid not in set(z["__user_ids"]) and z["__train@data"].size == (len(views) - 6)
    assert sqlite_services.recommend.registry.user_rows(pid) == []
    other = get(client, "u8").json()["profile_id"]
    assert len(sqlite_services.recommend.registry.user_rows(other)[0]["items"]) == 6  # others untouched
