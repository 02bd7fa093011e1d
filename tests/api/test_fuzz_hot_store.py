"""Hostile input through a node with the hot store (Redis in front of SQLite or PostgreSQL): any user id through
ingestion, /v1/decide, /v1/recommendations, profiles, export and erasure, and any query string on the serving
routes. Never a 500; an id that was accepted is found again, and gone after its erasure."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.services import Services
from tests.support.common import ADMIN, api_client, make_settings

hostile = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
# Ids a client may send: any text the stores can hold (no NUL, no lone surrogate: those are refused by name), with
# what Redis keys, URLs and SQL make special.
ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
) | st.sampled_from(["*", "a*b", "?", "[a]", "a\nb", "\r\nSET x y", "{u}", "%", "..", "\\", "'; DROP TABLE events;--"])


@pytest.fixture
def hot_client(store, redis_url, tmp_path) -> Iterator[tuple[Services, TestClient]]:
    svc = Services.build(make_settings(tmp_path, redis_url=redis_url), store)
    svc.decide.put_block({"id": "b1", "type": "headline", "content": {"title": "Hello"}})
    svc.decide.put_slot({"id": "hero", "variants": {"a": "b1"}, "default": {"kind": "variant", "variant": "a"}})
    try:
        for client in api_client(svc):
            yield svc, client
    finally:
        svc.close()


@hostile
@given(user=ids)
def test_any_user_id_round_trips_through_the_hot_store(hot_client, user: str) -> None:
    svc, client = hot_client
    if not user.strip():
        return  # (a blank id is refused by name: tests/api/test_blank_ids.py)
    batch = [
        {"type": "identify", "userId": user, "traits": {"plan": "pro"}},
        {"type": "track", "userId": user, "event": "E"},
    ]
    r = client.post("/v1/batch", json={"batch": batch})  # the write key (HTTP Basic)
    assert r.status_code == 200, r.text
    stored = r.json()["stored"] == 2
    q = quote(user, safe="")
    for _ in range(2):  # a miss filled from SQL, then a hit
        decided = client.get(f"/v1/decide?slot=hero&user_id={q}", headers=ADMIN)
        assert decided.status_code == 200, decided.text
        assert client.get(f"/v1/recommendations?user_id={q}", headers=ADMIN).status_code == 200
    if not stored or len(user) > 200 or user in (".", ".."):
        return  # ("." and ".." are dot segments: every HTTP client removes them from a path, RFC 3986 5.2.4)
    profile = client.get(f"/v1/profiles/{q}", headers=ADMIN)
    assert profile.status_code == 200 and profile.json()["traits"]["plan"] == "pro", (repr(user), profile.text)
    assert client.get(f"/v1/users/{q}/export", headers=ADMIN).status_code == 200
    assert client.delete(f"/v1/users/{q}", headers=ADMIN).status_code == 200
    assert client.get(f"/v1/profiles/{q}", headers=ADMIN).status_code == 404


serving_params = st.lists(
    st.tuples(
        st.sampled_from(["slot", "user_id", "anonymous_id", "k", "timezone", "locale", "url", "boost", "pin", "exclude",
                         "diversity", "include_categories", "user_hash", "country"]) | st.text(max_size=5),
        st.text(max_size=30) | st.sampled_from(["hero", "-1", "0", "101", "1e309", "nan", "a:0", "a:inf", ",", "%ff"]),
    ),
    max_size=6,
)  # fmt: skip


@hostile
@given(params=serving_params, path=st.sampled_from(["/v1/decide", "/v1/recommendations", "/v1/items/p1/similar"]))
def test_any_query_string_on_the_serving_routes_is_answered_or_refused_by_name(hot_client, params, path) -> None:
    _, client = hot_client
    r = client.get(f"{path}?{urlencode(params)}")
    assert r.status_code in (200, 400, 403, 404), r.text
    if r.status_code == 400:
        assert r.json()["errors"][0]["field"], r.text
