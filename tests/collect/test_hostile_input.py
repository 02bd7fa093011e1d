"""Hostile or careless messages on both backends: NUL characters, times no reader can show, nesting deeper than the
stores can hold, a write key of the wrong type. Each bad message gets a 400 naming its field; its neighbours are
stored; nothing answers 500 (issue 17, items 1-4)."""

from __future__ import annotations

import base64
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import text

from pertinent.runtime.limits import MAX_DEPTH
from tests.support.common import ADMIN


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def stored_ids(services) -> Counter[str]:
    with services.store.engine.connect() as conn:
        return Counter(r[0] for r in conn.execute(text("SELECT message_id FROM events")))


def nested(levels: int, leaf: object = 1) -> object:
    """``levels`` objects, one in the other."""
    for _ in range(levels):
        leaf = {"a": leaf}
    return leaf


def track(mid: str, **fields: object) -> dict[str, object]:
    return {"type": "track", "userId": "u1", "event": "E", "messageId": mid, **fields}


def assert_rejected_alone(r, services, field: str, fragment: str) -> None:
    """A batch of [ok-1, bad, ok-2]: 200, the bad one rejected by field, the others stored once."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["stored"], body["rejected"]) == (2, 1), body
    assert body["errors"] == [{"index": 1, "field": f"batch[1].{field}", "message": body["errors"][0]["message"]}]
    assert fragment in body["errors"][0]["message"]
    ids = stored_ids(services)
    assert ids["ok-1"] == 1 and ids["ok-2"] == 1 and sum(ids.values()) == 2


# ----------------------------------------------------------------------------------------------- 1: NUL characters
NUL_CASES = [
    ({"event": "E\u0000"}, "event"),
    ({"messageId": "m\u0000"}, "messageId"),
    ({"userId": "u\u0000"}, "userId"),
    ({"anonymousId": "\u0000", "userId": None}, "anonymousId"),
    ({"properties": {"title": "a\u0000b"}}, "properties.title"),
    ({"properties": {"k\u0000": 1}}, "properties"),
    ({"properties": {"products": [{"sku": "p"}, {"sku": "\u0000"}]}}, "properties.products[1].sku"),
    ({"context": {"page": {"url": "https://x.test/\u0000"}}}, "context.page.url"),
    ({"integrations": {"All": "\u0000"}}, "integrations.All"),
]


@pytest.mark.parametrize("change,field", NUL_CASES)
def test_a_nul_character_fails_its_message_alone(any_client, services, change, field):
    bad = {**track("bad"), **change}
    r = any_client.post("/v1/track", json=bad)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == field and "NUL" in r.json()["message"]
    r = any_client.post("/v1/batch", json={"batch": [track("ok-1"), {**track("bad"), **change}, track("ok-2")]})
    assert_rejected_alone(r, services, field, "NUL")


def test_a_nul_character_in_traits_and_group_and_alias_fields(any_client, services):
    for path, body, field in [
        ("/v1/identify", {"userId": "u1", "traits": {"name": "\u0000"}}, "traits.name"),
        ("/v1/group", {"userId": "u1", "groupId": "g\u0000"}, "groupId"),
        ("/v1/alias", {"userId": "u1", "previousId": "p\u0000"}, "previousId"),
        ("/v1/page", {"userId": "u1", "name": "Home\u0000"}, "name"),
    ]:
        r = any_client.post(path, json=body)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == field, (path, r.text)
    assert sum(stored_ids(services).values()) == 0


def test_a_nul_character_in_the_batch_context_rejects_each_message_by_name(any_client, services):
    r = any_client.post("/v1/batch", json={"context": {"locale": "\u0000"}, "batch": [track("a"), track("b")]})
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["batch[0].context.locale", "batch[1].context.locale"]


@pytest.mark.parametrize(
    "method,url,field",
    [
        ("get", "/v1/items/a%00b", "path"),
        ("delete", "/v1/items/a%00b", "path"),
        ("get", "/v1/items/a%00b/similar", "path"),
        ("get", "/v1/catalog?ids=a%00b", "ids"),
        ("get", "/v1/segments/%00", "path"),
        ("get", "/v1/profiles/a%00b", "path"),
        ("get", "/v1/decide?slot=s&user_id=a%00b", "user_id"),  # the fast lane
        ("get", "/v1/recommendations?user_id=%00", "user_id"),
    ],
)
def test_a_nul_character_in_a_path_or_query_is_a_400_naming_it(any_client, method, url, field):
    """A lookup by an id with a NUL reached PostgreSQL, which refused it: 500."""
    r = getattr(any_client, method)(url, headers=ADMIN if "items/a%00b" in url and "similar" not in url else {})
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == [{"field": field, "message": r.json()["errors"][0]["message"]}]
    assert "NUL" in r.json()["message"]


# ----------------------------------------------------------------------------------------------- 2: event times
NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    "change,field,fragment",
    [
        ({"timestamp": "9999-12-31T23:59:59-23:59"}, "timestamp", "years 1 to 9999"),
        ({"originalTimestamp": "0001-01-01T00:00:00+23:59"}, "originalTimestamp", "years 1 to 9999"),
        ({"sentAt": "9999-12-31T23:59:59-23:59"}, "sentAt", "years 1 to 9999"),
        ({"receivedAt": "9999-12-31T23:59:59-23:59"}, "receivedAt", "years 1 to 9999"),
        ({"timestamp": "9999-12-31T23:59:59Z"}, "timestamp", "1970-01-01T00:00:00Z and 24 hours"),
        ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp", "1970-01-01T00:00:00Z"),
        ({"timestamp": "1969-12-31T23:59:59Z"}, "timestamp", "1970-01-01T00:00:00Z"),
        ({"timestamp": iso(NOW + timedelta(days=2))}, "timestamp", "24 hours after the message is received"),
        # the clock-skew correction (received - (sentAt - timestamp)) pushes the time out of range
        ({"timestamp": iso(NOW), "sentAt": "0001-01-01T00:00:00Z"}, "timestamp", "correction for clock skew"),
        ({"timestamp": "0001-01-02T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"}, "timestamp", "clock skew"),
        ({"originalTimestamp": "9999-12-01T00:00:00Z", "sentAt": "2000-01-01T00:00:00Z"}, "originalTimestamp", "skew"),
    ],
)
def test_a_time_outside_the_window_fails_its_message_alone(any_client, services, change, field, fragment):
    r = any_client.post("/v1/track", json={**track("bad"), **change})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == field and fragment in r.json()["message"], r.text
    r = any_client.post("/v1/batch", json={"batch": [track("ok-1"), {**track("bad"), **change}, track("ok-2")]})
    assert_rejected_alone(r, services, field, fragment)


def test_times_inside_the_window_are_kept(any_client, services):
    cases = {
        "history": "1995-07-01T00:00:00Z",  # MovieLens starts in 1995
        "epoch": "1970-01-01T00:00:00Z",
        "an hour ahead": iso(NOW + timedelta(hours=1)),
        "offset": "2024-01-01T00:00:00-23:59",
    }
    batch = [track(name, timestamp=ts) for name, ts in cases.items()]
    # a client clock in year 9999 that says so in sentAt is corrected to the time received
    batch.append(track("skewed", timestamp="9999-12-30T00:00:00Z", sentAt="9999-12-30T00:00:10Z"))
    r = any_client.post("/v1/batch", json={"batch": batch})
    assert r.status_code == 200 and r.json()["stored"] == len(batch), r.text
    with services.store.engine.connect() as conn:
        got = dict(conn.execute(text("SELECT message_id, timestamp FROM events")).all())
    assert got["epoch"] == 0.0 and got["history"] == datetime(1995, 7, 1, tzinfo=UTC).timestamp()
    assert abs(got["skewed"] - (time.time() - 10)) < 60


def test_a_batch_sent_at_outside_utc_is_refused_by_name(any_client):
    r = any_client.post("/v1/batch", json={"sentAt": "9999-12-31T23:59:59-23:59", "batch": [track("a")]})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "sentAt"
    assert "years 1 to 9999" in r.json()["message"]


def test_a_batch_sent_at_that_pushes_times_out_of_range_rejects_those_messages(any_client, services):
    batch = [track("no-time"), track("dated", timestamp=iso(NOW))]
    r = any_client.post("/v1/batch", json={"sentAt": "0001-01-01T00:00:00Z", "batch": batch})
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    assert r.json()["errors"][0]["field"] == "batch[1].timestamp" and "skew" in r.json()["errors"][0]["message"]
    assert set(stored_ids(services)) == {"no-time"}


# ----------------------------------------------------------------------------------------------- 3: deep nesting
@pytest.mark.parametrize("field", ["properties", "context", "integrations"])
@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 300, 1000])
def test_nesting_deeper_than_the_limit_fails_its_message_alone(any_client, services, field, levels):
    # orjson (and httpx's json=) cannot write 1000 levels: the body is written by hand
    deep = '{"a":' * levels + "1" + "}" * levels
    bad = '{"type":"track","userId":"u1","event":"E","messageId":"bad","' + field + '":' + deep + "}"
    body = (
        '{"batch":['
        + ",".join([orjson.dumps(track("ok-1")).decode(), bad, orjson.dumps(track("ok-2")).decode()])
        + "]}"
    )
    r = any_client.post("/v1/batch", content=body, headers={"Content-Type": "application/json"})
    assert_rejected_alone(r, services, field, f"deeper than {MAX_DEPTH} levels")
    r = any_client.post("/v1/track", content=bad, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == field


def test_traits_nested_too_deep_are_refused_and_the_limit_itself_is_kept(any_client, services):
    r = any_client.post("/v1/identify", json={"userId": "u1", "traits": nested(MAX_DEPTH + 1)})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "traits", r.text
    r = any_client.post("/v1/identify", json={"userId": "u1", "traits": nested(MAX_DEPTH)})
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    r = any_client.post(
        "/v1/track", json={**track("deep-list"), "properties": {"x": nested(MAX_DEPTH - 2, [])}}
    )  # 64 levels
    assert r.status_code == 200, r.text
    assert any_client.get("/v1/profiles/u1", headers=ADMIN).status_code == 200  # and it reads back


def test_many_objects_side_by_side_are_not_nesting(any_client, services):
    wide = [{"sku": f"p{i}", "tags": [str(i)]} for i in range(300)]
    r = any_client.post("/v1/track", json={**track("wide"), "properties": {"products": wide}})
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    wide[250]["tags"].append("\u0000")
    r = any_client.post("/v1/track", json={**track("wide-nul"), "properties": {"products": wide}})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "properties.products[250].tags[1]", r.text
    r = any_client.post("/v1/track", json={**track("text"), "properties": {"note": "\\u0000 as six characters"}})
    assert r.status_code == 200, r.text


def test_a_body_nested_past_what_json_parsing_allows_is_one_clear_400(any_client):
    body = '{"batch":[{"type":"track","userId":"u1","event":"E","properties":' + "[" * 1100 + "]" * 1100 + "}]}"
    r = any_client.post("/v1/batch", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"


def test_item_attributes_nested_too_deep_or_with_nul_fail_their_item_alone(any_client, services):
    items = [
        {"item_id": "ok-1", "title": "Mug"},
        {"item_id": "deep", "attributes": nested(300)},
        {"item_id": "nul", "title": "Mu\u0000g"},
        {"item_id": "ok-2", "attributes": {"sizes": [{"eu": 42}]}},
    ]
    body = {"items": items}
    r = any_client.post("/v1/items", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 2
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(1, "items[1].attributes"), (2, "items[2].title")]
    assert any_client.get("/v1/items/ok-2", headers=ADMIN).json()["attributes"] == {"sizes": [{"eu": 42}]}
    assert any_client.get("/v1/items/deep", headers=ADMIN).status_code == 404


# ----------------------------------------------------------------------------------------------- 4: write key types
@pytest.mark.parametrize("key", [5, 1.5, True, [1], ["test-write-key"], {"k": "v"}])
@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_a_write_key_in_the_body_that_is_no_string_is_refused_by_name(any_client, path, key):
    del any_client.headers["Authorization"]
    body = {"writeKey": key, **({"batch": [track("a")]} if path == "/v1/batch" else track("a"))}
    r = any_client.post(path, json=body)
    assert r.status_code == 401, r.text
    assert r.json()["errors"] == [{"field": "writeKey", "message": "must be a string"}]


def test_a_write_key_of_the_wrong_type_beside_the_header_fails_only_its_message(any_client, services):
    r = any_client.post("/v1/batch", json={"batch": [track("ok-1"), {**track("bad"), "writeKey": 5}, track("ok-2")]})
    assert_rejected_alone(r, services, "writeKey", "string")


def test_a_string_write_key_in_the_body_still_works(any_client):
    del any_client.headers["Authorization"]
    assert any_client.post("/v1/track", json={**track("a"), "writeKey": "test-write-key"}).status_code == 200
    r = any_client.post("/v1/track", json={**track("b"), "writeKey": "wrong"})
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "authorization"
    basic = "Basic " + base64.b64encode(b"test-write-key:").decode()
    assert (
        any_client.post("/v1/track", json={**track("c"), "writeKey": 5}, headers={"Authorization": basic}).status_code
        == 400
    )
