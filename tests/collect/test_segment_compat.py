"""What Segment's libraries and collector do that Pertinent must match: /v1/import, byte limits only, null objects as
absent, integrations kept, context.ip filled from the client address (a trusted proxy's X-Forwarded-For believed)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from pertinent.api.app import create_app
from pertinent.services import Services
from tests.support.common import ADMIN, WRITE_KEY, make_settings

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


def _events(services: Services, c: TestClient, uid: str):
    pid = c.get(f"/v1/profiles/{uid}", headers=ADMIN).json()["profile_id"]
    with services.store.transaction(write=False) as tx:
        return tx.events_of(pid)


def test_import_is_batch(client):
    body = {"batch": [{"type": "track", "userId": "ruby", "event": "Imported", "messageId": "m1"}]}
    r = client.post("/v1/import", json=body)
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    assert client.post("/v1/import", json=body).json()["duplicates"] == 1  # the same messageId, once
    r = client.post("/v1/import", json={"batch": "x"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "batch"


def test_a_batch_is_limited_in_bytes_not_messages(client):
    batch = [{"type": "track", "userId": f"u{i % 50}", "event": "Tick", "messageId": f"m{i}"} for i in range(3000)]
    size = len(orjson.dumps({"batch": batch}))
    assert 100_000 < size < 500 * 1024
    r = client.post("/v1/batch", json={"batch": batch})
    assert r.status_code == 200, r.text
    assert (r.json()["received"], r.json()["stored"]) == (3000, 3000)


def test_only_a_body_over_500_kb_is_413_naming_the_limit(client):
    batch = [{"type": "track", "userId": "u", "event": "E", "properties": {"pad": "x" * 10_000}} for _ in range(60)]
    r = client.post("/v1/batch", json={"batch": batch})
    assert r.status_code == 413
    assert "512000-byte limit" in r.json()["message"] and r.json()["errors"][0]["field"] == "body"


def test_an_oversized_message_is_refused_alone_with_its_index(client):
    batch = [
        {"type": "track", "userId": "u", "event": "Small", "messageId": "a"},
        {"type": "track", "userId": "u", "event": "Huge", "properties": {"pad": "x" * 40_000}},
        {"type": "track", "userId": "u", "event": "Small", "messageId": "b"},
    ]
    r = client.post("/v1/batch", json={"batch": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["stored"], body["rejected"]) == (2, 1)
    assert body["errors"] == [{"index": 1, "field": "batch[1]", "message": "message over the 32768-byte limit"}]


@pytest.mark.parametrize("endpoint", ["track", "identify", "page", "screen", "group", "batch"])
def test_null_objects_are_absent(client, endpoint):
    msg = {
        "type": endpoint,
        "userId": "n1",
        "event": "E",
        "groupId": "g",
        "properties": None,
        "context": None,
        "traits": None,
        "integrations": None,
    }
    if endpoint == "batch":
        r = client.post("/v1/batch", json={"batch": [{**msg, "type": "track"}], "context": None})
    else:
        r = client.post(f"/v1/{endpoint}", json={k: v for k, v in msg.items() if k != "type"})
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text


def test_integrations_are_kept_on_the_event(client, sqlite_services):
    r = client.post("/v1/track", json={"userId": "i1", "event": "E", "integrations": {"All": False, "Mixpanel": True}})
    assert r.status_code == 200
    (event,) = _events(sqlite_services, client, "i1")
    assert event.integrations == {"All": False, "Mixpanel": True}


@pytest.fixture
def proxied(tmp_path) -> Iterator[tuple[Services, dict[str, TestClient]]]:
    svc = Services.build(make_settings(tmp_path, trusted_proxies="10.0.0.0/8"))
    app = create_app(svc.settings, services=svc)
    clients = {
        "direct": TestClient(app, client=("203.0.113.7", 5000), headers=AUTH),
        "proxy": TestClient(app, client=("10.1.2.3", 5000), headers=AUTH),
    }
    with clients["direct"], clients["proxy"]:
        yield svc, clients
    svc.segments.close()


def _ip(svc: Services, c: TestClient, uid: str) -> str | None:
    (event,) = _events(svc, c, uid)
    return (event.context or {}).get("ip")


def test_context_ip_is_filled_from_the_client_then_anonymised(proxied):
    svc, c = proxied
    xff = {"X-Forwarded-For": "198.51.100.23"}
    c["direct"].post("/v1/track", json={"userId": "d1", "event": "E"})
    c["direct"].post("/v1/track", json={"userId": "d2", "event": "E"}, headers=xff)  # not from a trusted proxy
    c["proxy"].post("/v1/track", json={"userId": "p1", "event": "E"}, headers=xff)
    c["proxy"].post("/v1/batch", json={"batch": [{"type": "track", "userId": "p2", "event": "E"}]}, headers=xff)
    c["direct"].post("/v1/track", json={"userId": "s1", "event": "E", "context": {"ip": "192.0.2.99"}})
    c["direct"].post("/v1/track", json={"userId": "n1", "event": "E", "context": {"ip": None}})
    admin = c["direct"]
    assert _ip(svc, admin, "d1") == "203.0.113.0"
    assert _ip(svc, admin, "d2") == "203.0.113.0"  # a forged X-Forwarded-For is ignored
    assert _ip(svc, admin, "p1") == "198.51.100.0"
    assert _ip(svc, admin, "p2") == "198.51.100.0"
    assert _ip(svc, admin, "s1") == "192.0.2.0"  # the sent one wins
    assert _ip(svc, admin, "n1") is None  # "ip": null: the sender asked for none


def test_identify_traits_sent_in_context_traits_as_rudderstack_does(client, sqlite_services):
    r = client.post("/v1/identify", json={"userId": "r1", "context": {"traits": {"plan": "pro", "email": "r@x.test"}}})
    assert r.status_code == 200
    profile = client.get("/v1/profiles/r1", headers=ADMIN).json()
    assert profile["traits"]["plan"] == "pro" and profile["traits"]["email"] != "r@x.test"  # pseudonymised
    client.post("/v1/identify", json={"userId": "r1", "traits": {"plan": "team"}, "context": {"traits": {"x": 1}}})
    assert client.get("/v1/profiles/r1", headers=ADMIN).json()["traits"]["plan"] == "team"  # top-level wins
