"""What analytics.js (``@segment/analytics-next``) needs of the collection API, request by request: its short paths,
its settings, and a CORS preflight that lets its retries through. tests/clients/ runs the library itself."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from pertinent.api.app import create_app
from pertinent.services import Services
from tests.support.common import ADMIN, ADMIN_KEY, IDENTITY_SECRET, WRITE_KEY, api_client, make_settings

# What analytics.js sends: JSON as text/plain, the write key in the body and (as Basic auth) in the header
TEXT = {"Content-Type": "text/plain"}
SHORT = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias"}


def _message(kind: str, user: str) -> dict[str, object]:
    body: dict[str, object] = {"type": kind, "userId": user, "writeKey": WRITE_KEY, "messageId": f"{kind}-{user}"}
    body.update(
        {
            "track": {"event": "Order Completed", "properties": {"revenue": 42.5, "items": [{"id": "mug"}]}},
            "identify": {"traits": {"plan": "pro"}},
            "page": {"name": "Home", "properties": {"path": "/"}},
            "screen": {"name": "Cart", "properties": {"items": 2}},
            "group": {"groupId": "acme", "traits": {"employees": 5}},
            "alias": {"previousId": f"anon-{user}"},
        }[kind]
    )
    body["_metadata"] = {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []}
    return body


@pytest.mark.parametrize("short", sorted(SHORT))
def test_each_short_path_stores_its_type(client: TestClient, short: str) -> None:
    kind = SHORT[short]
    del client.headers["Authorization"]  # the key comes in the body, as analytics.js also sends it
    answer = client.post(f"/v1/{short}", content=orjson.dumps(_message(kind, "ann")), headers=TEXT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 1
    again = client.post(f"/v1/{short}", content=orjson.dumps(_message(kind, "ann")), headers=TEXT)
    assert again.json()["duplicates"] == 1  # a retry of the same message is stored once
    events = client.get("/v1/users/ann/export", headers=ADMIN).json()["events"]
    assert [e["type"] for e in events if e["type"] == kind] == [kind]


def test_short_batch_path_takes_a_batching_body(client: TestClient) -> None:
    del client.headers["Authorization"]
    body = {"writeKey": WRITE_KEY, "sentAt": "2026-05-01T10:00:00Z", "batch": [_message("track", "bob")]}
    answer = client.post("/v1/b", content=orjson.dumps(body), headers=TEXT)
    assert answer.status_code == 200 and answer.json()["stored"] == 1, answer.text
    stored = client.get("/v1/users/bob/export", headers=ADMIN).json()["events"]
    assert stored[0]["properties"] == {"revenue": 42.5, "items": [{"id": "mug"}]}


def test_short_paths_check_the_write_key(client: TestClient) -> None:
    wrong = "Basic " + base64.b64encode(b"not-the-key:").decode()
    for path in ("/v1/t", "/v1/b"):
        answer = client.post(path, json={"batch": []}, headers={"Authorization": wrong})
        assert answer.status_code == 401 and answer.json()["errors"][0]["field"] == "authorization"


def test_settings_point_the_library_here_and_say_nothing_else(client: TestClient, sqlite_services: Services) -> None:
    answer = client.get(f"/v1/projects/{WRITE_KEY}/settings", headers={"Host": "collect.example.com:8443"})
    assert answer.status_code == 200, answer.text
    settings = answer.json()
    assert settings["integrations"] == {
        "Segment.io": {
            "apiKey": WRITE_KEY,
            "apiHost": "collect.example.com:8443/v1",
            "protocol": "http",
            "unbundledIntegrations": [],
            "addBundledMetadata": True,
            "maybeBundledConfigIds": {},
        }
    }
    assert settings["metrics"] == {"sampleRate": 0.0} and settings["remotePlugins"] == []
    secrets = [ADMIN_KEY, *sqlite_services.settings.pseudonym_keys]
    assert not [s for s in secrets if s in answer.text]
    assert answer.headers["cache-control"] == "public, max-age=300"


@pytest.mark.parametrize("key", ["unknown", ADMIN_KEY])
def test_settings_for_another_key_are_a_clear_404(client: TestClient, key: str) -> None:
    answer = client.get(f"/v1/projects/{key}/settings")
    assert answer.status_code == 404
    assert answer.json()["errors"] == [{"field": "writeKey", "message": "no source has this write key"}]
    assert ADMIN_KEY not in answer.text


def test_settings_refuse_a_host_header_that_is_not_a_host(client: TestClient) -> None:
    answer = client.get(f"/v1/projects/{WRITE_KEY}/settings", headers={"Host": 'x"><script>'})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "host"


@pytest.mark.parametrize(
    ("peer", "expected"),
    [("10.0.0.2", ("shop.example.com/v1", "https")), ("192.0.2.7", ("testserver/v1", "http"))],
)
def test_settings_believe_forwarded_host_and_scheme_from_trusted_proxies_only(
    tmp_path: Path, peer: str, expected: tuple[str, str]
) -> None:
    services = Services.build(make_settings(tmp_path, trusted_proxies=["10.0.0.0/8"]))
    try:
        with TestClient(create_app(services.settings, services=services), client=(peer, 5000)) as client:
            forwarded = {"X-Forwarded-Host": "shop.example.com", "X-Forwarded-Proto": "https"}
            answer = client.get(f"/v1/projects/{WRITE_KEY}/settings", headers=forwarded)
            segment = answer.json()["integrations"]["Segment.io"]
            assert (segment["apiHost"], segment["protocol"]) == expected
    finally:
        services.close()


def test_preflight_lets_retries_through_and_exposes_retry_after(client: TestClient) -> None:
    asked = "authorization,content-type,x-retry-count"
    preflight = client.options(
        "/v1/t",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert preflight.status_code == 200, preflight.text
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert set(asked.split(",")) <= allowed
    answer = client.post("/v1/t", json=_message("track", "cat"), headers={"Origin": "https://shop.example.com"})
    assert answer.status_code == 200
    assert answer.headers["access-control-expose-headers"] == "Retry-After, X-Pertinent-Degraded"


def test_identity_proof_still_applies_on_short_paths(tmp_path: Path) -> None:
    services = Services.build(make_settings(tmp_path, identity_secret=IDENTITY_SECRET))
    try:
        for client in api_client(services):
            answer = client.post("/v1/a", content=orjson.dumps(_message("alias", "dan")), headers=TEXT)
            assert answer.status_code == 403  # linking ids from a browser needs the userHash, on /v1/a as on /v1/alias
    finally:
        services.close()


def test_openapi_documents_the_short_paths(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for short in [*SHORT, "b"]:
        assert paths[f"/v1/{short}"]["post"]["security"] == [{"writeKey": []}], short
    settings = paths["/v1/projects/{write_key}/settings"]["get"]
    assert "security" not in settings and "404" in settings["responses"]
