"""The Segment-compatible collection API: endpoints, auth, idempotency, timestamps, context, errors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import orjson
import pytest

from tests.support.common import ADMIN, ADMIN_KEY

NOW = datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def profile(client, user_id: str):
    return client.get(f"/v1/profiles/{user_id}", headers=ADMIN)


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/track", {"userId": "u1", "event": "Product Viewed", "properties": {"product_id": "p1"}}),
        ("/v1/page", {"userId": "u1", "name": "Home", "properties": {"url": "https://x.test/"}}),
        ("/v1/screen", {"userId": "u1", "name": "Settings"}),
        ("/v1/identify", {"userId": "u1", "traits": {"plan": "pro"}}),
        ("/v1/group", {"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}}),
        ("/v1/alias", {"userId": "u1", "previousId": "old-1"}),
    ],
)
def test_each_endpoint_accepts_a_valid_message(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and r.json()["stored"] == 1
    assert profile(client, "u1").status_code == 200


def test_track_updates_profile_before_the_response(client):
    assert profile(client, "u9").status_code == 404
    client.post(
        "/v1/track",
        json={"userId": "u9", "event": "Product Viewed", "properties": {"product_id": "p1", "category": "Shoes"}},
    )
    client.post("/v1/page", json={"userId": "u9", "name": "Home"})
    body = profile(client, "u9").json()
    assert body["user_id"] == "u9"
    assert body["features"]["events_total"] == 2
    assert body["features"]["counts"]["Product Viewed"]["1d"] == 1
    assert body["features"]["affinities"]["category"] == {"Shoes": 1.0}
    assert body["segments"] == []
    assert body["consent"]["effective"] == {"analytics": True, "personalization": True}


def test_resent_message_id_is_stored_once(client, sqlite_services):
    msg = {"userId": "u1", "event": "Order Completed", "messageId": "m-1", "properties": {"revenue": 10}}
    assert client.post("/v1/track", json=msg).json()["stored"] == 1
    again = client.post("/v1/track", json=msg).json()
    assert again["stored"] == 0 and again["duplicates"] == 1
    batch = client.post("/v1/batch", json={"batch": [{**msg, "type": "track"}]}).json()
    assert batch["duplicates"] == 1
    features = profile(client, "u1").json()["features"]
    assert features["events_total"] == 1 and features["rfm"]["monetary"] == 10
    with sqlite_services.store.transaction(write=False) as tx:
        assert tx.count_events() == 1


def test_timestamp_is_corrected_by_sent_at(client, sqlite_services):
    # The client clock runs one hour fast: it stamped the event 10 s before sending. (Now, not the module's
    # NOW: in a long parallel run the module is imported minutes before this test runs.)
    now = datetime.now(UTC)
    skewed_sent = now + timedelta(hours=1)
    client.post(
        "/v1/batch",
        json={
            "sentAt": iso(skewed_sent),
            "batch": [
                {
                    "type": "track",
                    "userId": "u1",
                    "event": "E",
                    "messageId": "m1",
                    "timestamp": iso(skewed_sent - timedelta(seconds=10)),
                }
            ],
        },
    )
    with sqlite_services.store.transaction(write=False) as tx:
        pid = sqlite_services.profiles.find(tx, "u1")
        (row,) = tx.events_of(pid)
    expected = row.received_at - 10
    assert abs(row.timestamp - expected) < 1e-3
    assert abs(row.timestamp - now.timestamp()) < 60  # the hour of skew is gone


def test_timestamp_without_sent_at_is_kept_and_missing_uses_receipt(client, sqlite_services):
    past = datetime(2020, 5, 1, 12, 0, tzinfo=UTC)
    client.post("/v1/track", json={"userId": "u1", "event": "Old", "messageId": "old", "timestamp": iso(past)})
    client.post("/v1/track", json={"userId": "u1", "event": "Now", "messageId": "now"})
    with sqlite_services.store.transaction(write=False) as tx:
        rows = {r.message_id: r for r in tx.events_of(sqlite_services.profiles.find(tx, "u1"))}
    assert rows["old"].timestamp == past.timestamp()
    assert rows["now"].timestamp == rows["now"].received_at


def test_context_is_kept_and_parsed(client, sqlite_services):
    ctx = {
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "ip": "203.0.113.77",
        "locale": "fr-FR",
        "timezone": "Europe/Paris",
        "page": {"url": "https://shop.test/p?utm_source=mail", "referrer": "https://news.example.org/a"},
        "campaign": {"name": "winter_deals", "source": "newsletter", "medium": "email"},
        "device": {"type": "ios", "model": "iPhone15,2"},
    }
    client.post("/v1/track", json={"userId": "u1", "event": "Product Viewed", "context": ctx})
    with sqlite_services.store.transaction(write=False) as tx:
        (row,) = tx.events_of(sqlite_services.profiles.find(tx, "u1"))
    assert row.context["ip"] == "203.0.113.0"  # anonymised
    for key in ("userAgent", "locale", "timezone", "page", "campaign", "device"):
        assert row.context[key] == ctx[key]
    last = profile(client, "u1").json()["features"]["context"]
    assert last["device_type"] == "mobile" and last["browser"] == "Mobile Safari" and last["os"] == "iOS"
    assert last["country"] == "FR" and last["referrer"] == "news.example.org"
    assert last["utm_campaign"] == "winter_deals" and last["utm_source"] == "newsletter"
    assert last["timezone"] == "Europe/Paris"


def test_write_key_in_body_and_basic_auth(client):
    msg = {"userId": "u1", "event": "E"}
    assert client.post("/v1/track", json=msg, headers={"Authorization": ""}).status_code == 401
    bad = "Basic " + base64.b64encode(b"nope:").decode()
    r = client.post("/v1/track", json=msg, headers={"Authorization": bad})
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "authorization"
    r = client.post("/v1/track", json={**msg, "writeKey": "test-write-key"}, headers={"Authorization": ""})
    assert r.status_code == 200
    r = client.post(
        "/v1/batch",
        json={"writeKey": "test-write-key", "batch": [{**msg, "type": "track"}]},
        headers={"Authorization": ""},
    )
    assert r.status_code == 200


def test_admin_endpoints_need_the_admin_key(client):
    client.post("/v1/track", json={"userId": "u1", "event": "E"})
    assert client.get("/v1/profiles/u1").status_code == 401  # a write key is not enough
    assert client.get("/v1/profiles/u1", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/v1/profiles/u1", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
    r = profile(client, "nobody")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "user_id"


@pytest.mark.parametrize(
    "body,field,fragment",
    [
        ({"event": "E"}, "userId", "userId or anonymousId"),
        ({"userId": "u1"}, "event", "required"),
        ({"userId": "u1", "event": ""}, "event", "at least 1"),
        ({"userId": "u1", "event": "E", "properties": [1, 2]}, "properties", "dictionary"),
        ({"userId": "u1", "event": "E", "timestamp": "yesterday-ish"}, "timestamp", "datetime"),
        ({"userId": {"a": 1}, "event": "E"}, "userId", "string"),
        ({"userId": True, "event": "E"}, "userId", "boolean"),
        ({"userId": "u1", "event": "E", "type": "page"}, "type", "must be 'track'"),
        ({"userId": "u1", "event": "E", "messageId": ""}, "messageId", "at least 1"),
    ],
)
def test_invalid_single_message_gets_400_naming_the_field(client, body, field, fragment):
    r = client.post("/v1/track", json=body)
    assert r.status_code == 400, r.text
    data = r.json()
    assert data["success"] is False and data["code"] == "invalid_request"
    assert data["errors"][0]["field"] == field
    assert fragment in data["errors"][0]["message"]
    assert field in data["message"]


def test_malformed_json_empty_body_and_wrong_shape(client):
    r = client.post("/v1/track", content=b'{"userId": "u1", "event": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_json" and r.json()["errors"][0]["field"] == "body"
    r = client.post("/v1/track", content=b"")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body"
    r = client.post("/v1/track", json=[1, 2])
    assert r.status_code == 400 and "JSON object" in r.json()["message"]
    r = client.post("/v1/batch", json={"batch": "nope"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "batch"
    r = client.post("/v1/batch", json={"batch": [], "sentAt": "not a date"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "sentAt"


def test_oversized_bodies_are_refused_with_the_limit(client, sqlite_services):
    limits = sqlite_services.settings.limits
    huge = {"userId": "u1", "event": "E", "properties": {"blob": "x" * limits.max_event_bytes}}
    r = client.post("/v1/track", json=huge)
    assert r.status_code == 413 and str(limits.max_event_bytes) in r.json()["message"]
    too_big = {"batch": [{"type": "track", "userId": "u1", "event": "E", "properties": {"b": "x" * 20000}}] * 30}
    r = client.post("/v1/batch", content=orjson.dumps(too_big), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert profile(client, "u1").status_code == 404


def test_batch_keeps_valid_events_and_reports_invalid_ones(client, sqlite_services):
    limit = sqlite_services.settings.limits.max_event_bytes
    batch = [
        {"type": "track", "userId": "u1", "event": "A", "messageId": "ok-1"},
        {"type": "track", "userId": "u1"},  # no event
        {"type": "launch", "userId": "u1"},  # unknown type
        "not an object",
        {"type": "identify", "anonymousId": "anon", "traits": {"plan": "free"}, "messageId": "ok-2"},
        {"type": "track", "userId": "u1", "event": "Big", "properties": {"b": "x" * limit}},
        {"type": "page", "userId": "u1", "name": "Home", "messageId": "ok-3"},
    ]
    r = client.post("/v1/batch", json={"batch": batch})
    assert r.status_code == 200
    body = r.json()
    assert body["stored"] == 3 and body["rejected"] == 4 and body["success"] is False
    by_index = {e["index"]: e for e in body["errors"]}
    assert by_index[1]["field"] == "batch[1].event"
    assert by_index[2]["field"] == "batch[2].type" and "unknown type" in by_index[2]["message"]
    assert by_index[3]["message"] == "must be a JSON object"
    assert "byte limit" in by_index[5]["message"]
    assert profile(client, "u1").json()["features"]["events_total"] == 2
    with sqlite_services.store.transaction(write=False) as tx:
        assert tx.count_ingest_errors() == 4


def test_batch_of_only_invalid_events_is_a_400(client):
    r = client.post("/v1/batch", json={"batch": [{"type": "track"}, {"type": "nope", "userId": "x"}]})
    assert r.status_code == 400 and r.json()["rejected"] == 2 and r.json()["code"] == "invalid_request"


def test_batch_level_context_applies_to_each_message(client):
    client.post(
        "/v1/batch",
        json={
            "context": {"locale": "de-DE", "library": {"name": "analytics-python"}},
            "batch": [{"type": "track", "userId": "u1", "event": "E"}],
        },
    )
    assert profile(client, "u1").json()["features"]["context"]["country"] == "DE"


def test_numeric_ids_are_accepted_as_strings(client):
    assert client.post("/v1/track", json={"userId": 12345, "event": "E"}).status_code == 200
    assert profile(client, "12345").status_code == 200


def test_unknown_route_and_method_are_json_errors(client):
    r = client.get("/v1/track")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["success"] is False


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["backend"] == "sqlite"


ODD_IDS = ["a/b", "line\nbreak", "sp ace", "ünï©ødé", "%41", "trailing/", "?x=1#y"]


def test_any_user_id_can_be_read_back(live_server):
    """On the real server (uvicorn): the test client decodes percent-escapes twice."""
    import httpx

    auth = ("test-write-key", "")
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        for uid in ODD_IDS:
            assert http.post("/v1/track", json={"userId": uid, "event": "E"}, auth=auth).status_code == 200
            r = http.get(f"/v1/profiles/{quote(uid, safe='')}", headers=ADMIN)
            assert r.status_code == 200 and r.json()["user_id"] == uid, uid
            assert http.get(f"/v1/users/{quote(uid, safe='')}/export", headers=ADMIN).json()["user_id"] == uid


def test_a_message_id_repeated_inside_one_batch_counts_once(client):
    msg = {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "messageId": "same",
        "properties": {"revenue": 5},
    }
    body = client.post("/v1/batch", json={"batch": [msg, msg, msg]}).json()
    assert body["stored"] == 1 and body["duplicates"] == 2
    f = client.get("/v1/profiles/u1", headers=ADMIN).json()["features"]
    assert f["events_total"] == 1 and f["rfm"]["monetary"] == 5


def test_message_ids_are_deduplicated_per_person_and_across_a_merge(client):
    anon = {"type": "track", "anonymousId": "a1", "event": "Product Viewed", "messageId": "m-shared"}
    other = {"type": "track", "userId": "someone-else", "event": "Product Viewed", "messageId": "m-shared"}
    assert client.post("/v1/batch", json={"batch": [anon, other]}).json()["stored"] == 2  # two people: both kept
    assert client.post("/v1/identify", json={"userId": "u1", "anonymousId": "a1"}).json()["stored"] == 1
    # A resend of the anonymous event after the merge is still a duplicate: its event moved to the person.
    for resend in (anon, {**anon, "userId": "u1"}):
        assert client.post("/v1/batch", json={"batch": [resend]}).json()["duplicates"] == 1
    for uid in ("u1", "someone-else"):
        assert client.get(f"/v1/profiles/{uid}", headers=ADMIN).json()["features"]["events_total"] == 1
