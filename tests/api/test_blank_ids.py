"""Blank ids (empty or whitespace only) name nobody: every route taking a user id, anonymous id, item id, group,
segment or slot in its path or query refuses one with a 400 naming the parameter, and ingestion treats a blank
``userId``/``anonymousId`` as absent, as it treats an empty one (a blank ``previousId``/``groupId`` is refused by
name), on both backends. Before, ``GET /v1/decide?anonymous_id=%20`` made a decision for, and created a profile
of, someone called " "."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.services import Services
from tests.support.common import ADMIN, api_client, make_settings

# Whitespace as Python's str.strip sees it (what the API refuses): ASCII, NEL, no-break and wide spaces, separators
BLANKS = st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\xa0\u1680\u2003\u2028\u2029\u3000"), min_size=1)

# (method, URL with {} where the blank id goes, the parameter the 400 must name, needs the admin key)
ROUTES = [
    ("get", "/v1/decide?slot=hero&anonymous_id={}", "anonymous_id", False),
    ("get", "/v1/decide?slot=hero&user_id={}", "user_id", False),
    ("get", "/v1/decide?slot=hero&user_id={}&anonymous_id=d1", "user_id", False),
    ("get", "/v1/decide?slot={}&anonymous_id=d1", "slot", False),
    ("get", "/v1/recommendations?user_id={}", "user_id", False),
    ("get", "/v1/items/{}/similar", "item_id", False),
    ("get", "/v1/items/{}", "item_id", True),
    ("delete", "/v1/items/{}", "item_id", True),
    ("get", "/v1/profiles/{}", "user_id", True),
    ("get", "/v1/users/{}/export", "user_id", True),
    ("delete", "/v1/users/{}", "user_id", True),
    ("get", "/v1/groups/{}", "group_id", True),
    ("get", "/v1/segments/{}", "segment_id", True),
    ("get", "/v1/segments/{}/members", "segment_id", True),
]


def _refused_by_name(r, field: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "invalid_request" and body["errors"][0]["field"] == field, body
    assert body["message"].startswith(f"{field}: "), body


def _stored_profiles(services: Services) -> int:
    with services.store.transaction(write=False) as tx:
        return tx.count_profiles()


@pytest.fixture
def with_slot(services: Services) -> Services:
    services.decide.put_block({"id": "b1", "type": "headline", "content": {"title": "Hello"}})
    services.decide.put_slot({"id": "hero", "variants": {"a": "b1"}, "default": {"kind": "variant", "variant": "a"}})
    return services


@pytest.mark.parametrize("blank", ["%20", "%09%E2%80%83"])
@pytest.mark.parametrize("method,url,field,admin", ROUTES)
def test_a_blank_id_in_a_path_or_query_is_a_400_naming_it(any_client, with_slot, method, url, field, admin, blank):
    r = getattr(any_client, method)(url.format(blank), headers=ADMIN if admin else {})
    _refused_by_name(r, field)
    assert _stored_profiles(with_slot) == 0  # nobody called " " was created


def test_an_empty_query_id_is_refused_by_name_too(any_client, with_slot):
    for url, field in [
        ("/v1/decide?slot=hero&anonymous_id=", "anonymous_id"),
        ("/v1/decide?slot=&anonymous_id=d1", "slot"),
        ("/v1/recommendations?user_id=", "user_id"),
    ]:
        _refused_by_name(any_client.get(url), field)


def test_ids_with_spaces_around_them_are_still_ids(any_client, with_slot):
    """Only blank ids are refused: ids are opaque and kept verbatim."""
    assert any_client.post("/v1/track", json={"userId": " u1 ", "event": "E"}).status_code == 200
    assert any_client.get("/v1/profiles/%20u1%20", headers=ADMIN).status_code == 200
    assert any_client.get("/v1/profiles/u1", headers=ADMIN).status_code == 404
    assert any_client.get("/v1/decide?slot=hero&anonymous_id=%20d1").status_code == 200


def test_consent_refuses_a_blank_id_by_name(any_client, with_slot):
    for body, field in [
        ({"userId": " ", "purposes": {"analytics": True}}, "userId"),
        ({"anonymousId": "\t", "purposes": {"analytics": True}}, "anonymousId"),
        ({"userId": " ", "anonymousId": "d1", "purposes": {"analytics": True}}, "userId"),
    ]:
        _refused_by_name(any_client.post("/v1/consent", json=body), field)
    assert _stored_profiles(with_slot) == 0


def test_ingestion_takes_a_blank_user_or_anonymous_id_as_absent(any_client, services):
    """As an empty one (Segment's libraries send "" for none): alone, the message names nobody and is refused by
    name; beside the other id, the message is that id's. A blank previousId or groupId is refused by name. Each
    refusal fails its message alone."""
    batch = [
        {"type": "track", "event": "E", "userId": " \t"},
        {"type": "track", "event": "E", "anonymousId": "\u3000"},
        {"type": "identify", "userId": " ", "anonymousId": "d1", "traits": {"plan": "pro"}},
        {"type": "track", "event": "E", "userId": "u1", "anonymousId": "  "},
        {"type": "alias", "userId": "u1", "previousId": "  "},
        {"type": "group", "userId": "u1", "groupId": " "},
    ]
    r = any_client.post("/v1/batch", json={"batch": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] == 2 and body["rejected"] == 4
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (0, "batch[0].userId"),
        (1, "batch[1].userId"),
        (4, "batch[4].previousId"),
        (5, "batch[5].groupId"),
    ]
    assert all("only whitespace" in e["message"] for e in body["errors"][2:])
    assert any_client.get("/v1/profiles/d1", headers=ADMIN).json()["traits"] == {"plan": "pro"}
    assert any_client.get("/v1/profiles/u1", headers=ADMIN).status_code == 200
    assert _stored_profiles(services) == 2  # d1 and u1: nobody called " "
    single = any_client.post("/v1/identify", json={"userId": " ", "traits": {"plan": "x"}})
    _refused_by_name(single, "userId")


# ------------------------------------------------------------------------------------------------ property
@pytest.fixture(scope="module")
def blank_client(tmp_path_factory) -> Iterator[tuple[Services, TestClient]]:
    svc = Services.build(make_settings(tmp_path_factory.mktemp("blank")))
    svc.decide.put_block({"id": "b1", "type": "headline", "content": {"title": "Hello"}})
    svc.decide.put_slot({"id": "hero", "variants": {"a": "b1"}, "default": {"kind": "variant", "variant": "a"}})
    try:
        for client in api_client(svc):
            yield svc, client
    finally:
        svc.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blank=BLANKS, route=st.sampled_from(ROUTES))
def test_any_whitespace_id_is_refused_by_name_and_creates_nobody(blank_client, blank, route):
    svc, client = blank_client
    method, url, field, admin = route
    r = getattr(client, method)(url.format(quote(blank, safe="")), headers=ADMIN if admin else {})
    _refused_by_name(r, field)
    sent = client.post("/v1/track", json={"userId": blank, "anonymousId": blank, "event": "E"})
    assert sent.status_code == 400 and sent.json()["errors"][0]["field"] == "userId", sent.text
    assert _stored_profiles(svc) == 0
