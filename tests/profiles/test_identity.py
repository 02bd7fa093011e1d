"""Identity stitching from anonymous to known, on both storage backends."""

from __future__ import annotations

from tests.support.common import ADMIN


def track(client, event="Product Viewed", **ids):
    r = client.post("/v1/track", json={"event": event, **ids})
    assert r.status_code == 200, r.text


def features(client, uid):
    r = client.get(f"/v1/profiles/{uid}", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def test_anonymous_history_merges_into_known_profile_once(any_client, services):
    c = any_client
    for _ in range(3):
        track(c, anonymousId="anon-1")
    assert features(c, "anon-1")["features"]["events_total"] == 3
    r = c.post("/v1/identify", json={"userId": "alice", "anonymousId": "anon-1", "traits": {"plan": "pro"}})
    assert r.status_code == 200
    known = features(c, "alice")
    assert known["features"]["events_total"] == 3 and known["traits"]["plan"] == "pro"
    # The anonymous id now resolves to the known profile; the anonymous profile is gone.
    assert features(c, "anon-1")["profile_id"] == known["profile_id"]
    # Identifying again (same pair) merges nothing twice.
    c.post("/v1/identify", json={"userId": "alice", "anonymousId": "anon-1"})
    track(c, anonymousId="anon-1")
    assert features(c, "alice")["features"]["events_total"] == 4
    with services.store.transaction(write=False) as tx:
        assert tx.count_profiles() == 1
        assert len(tx.events_of(known["profile_id"])) == 6  # 4 tracks + 2 identifies


def test_stitching_inside_one_batch(any_client):
    r = any_client.post(
        "/v1/batch",
        json={
            "batch": [
                {"type": "page", "anonymousId": "a2", "name": "Home"},
                {"type": "track", "anonymousId": "a2", "event": "Product Added"},
                {"type": "identify", "anonymousId": "a2", "userId": "bob"},
                {"type": "track", "userId": "bob", "event": "Order Completed", "properties": {"revenue": 20}},
            ]
        },
    )
    assert r.json()["stored"] == 4
    f = features(any_client, "bob")["features"]
    assert f["events_total"] == 3 and f["rfm"]["frequency"] == 1 and f["sessions"] == 1


def test_known_user_on_a_second_device(any_client):
    track(any_client, userId="carol")
    track(any_client, anonymousId="phone-1")
    track(any_client, anonymousId="phone-1")
    any_client.post("/v1/identify", json={"userId": "carol", "anonymousId": "phone-1"})
    assert features(any_client, "carol")["features"]["events_total"] == 3


def test_shared_device_does_not_merge_two_known_users(any_client):
    track(any_client, anonymousId="kiosk")
    any_client.post("/v1/identify", json={"userId": "dave", "anonymousId": "kiosk"})
    any_client.post("/v1/identify", json={"userId": "erin", "anonymousId": "kiosk"})
    track(any_client, userId="erin")
    assert features(any_client, "dave")["features"]["events_total"] == 1
    assert features(any_client, "erin")["features"]["events_total"] == 1


def test_alias_merges_previous_id(any_client, services):
    track(any_client, anonymousId="old-anon")
    track(any_client, userId="old-login")
    track(any_client, userId="old-login")
    assert any_client.post("/v1/alias", json={"previousId": "old-anon", "userId": "frank"}).status_code == 200
    assert any_client.post("/v1/alias", json={"previousId": "old-login", "userId": "frank"}).status_code == 200
    merged = features(any_client, "frank")
    assert merged["features"]["events_total"] == 3
    assert features(any_client, "old-login")["profile_id"] == merged["profile_id"]
    with services.store.transaction(write=False) as tx:
        assert tx.count_profiles() == 1
