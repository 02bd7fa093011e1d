"""JSON that orjson refuses but the grammar allows, inside one message of a batch: a lone UTF-16 surrogate (what
JavaScript's ``JSON.stringify`` writes for a string cut inside an emoji) or a number beyond a double (``1e309``).
Before, the whole body was a 400 ``invalid_json`` and every neighbour was lost; now that message alone is refused,
naming its field, on both backends, and its neighbours are stored once (api/body.py ``salvage``)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.support.common import ADMIN, ADMIN_KEY

JSON = {"Content-Type": "application/json"}


def stored_ids(services) -> Counter[str]:
    with services.store.engine.connect() as conn:
        return Counter(r[0] for r in conn.execute(text("SELECT message_id FROM events")))


def track(mid: str, extra: str = "") -> str:
    """A track message as JSON text, ``extra`` (raw JSON members) spliced in as written."""
    return '{"type":"track","userId":"u1","event":"E","messageId":"%s"%s}' % (mid, extra)  # noqa: UP031


CASES = [
    (',"properties":{"title":"\\ud83d"}', "properties.title", "surrogate"),  # a high surrogate, its pair cut off
    (',"properties":{"title":"a\\udc00b"}', "properties.title", "surrogate"),  # a low one alone
    (',"properties":{"\\ud800":1}', "properties", "surrogate"),  # in a key: named by its object
    (',"event":"\\ud800"', "event", "surrogate"),
    (',"userId":"\\udfff"', "userId", "surrogate"),
    (',"context":{"page":{"title":"\\ud83d"}}', "context.page.title", "surrogate"),
    (',"timestamp":"\\ud800"', "timestamp", "surrogate"),
    (',"properties":{"n":1e309}', "properties.n", "double"),
    (',"properties":{"n":-1e400}', "properties.n", "double"),
    (',"properties":{"n":[1,2,1e999]}', "properties.n[2]", "double"),
    (',"properties":{"n":1' + "0" * 400 + "}", "properties.n", "double"),  # an integer of 401 digits
    (',"properties":{"n":1' + "0" * 5000 + "}", "properties.n", "double"),  # past what Python's int() reads
]


@pytest.mark.parametrize(("extra", "field", "fragment"), CASES)
def test_one_unreadable_value_fails_its_message_alone(any_client, services, extra, field, fragment):
    body = '{"batch":[' + ",".join([track("ok-1"), track("bad", extra), track("ok-2")]) + "]}"
    r = any_client.post("/v1/batch", content=body.encode(), headers=JSON)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["stored"], answer["rejected"]) == (2, 1), answer
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, f"batch[1].{field}")]
    assert fragment in answer["errors"][0]["message"]
    assert stored_ids(services) == Counter({"ok-1": 1, "ok-2": 1})
    alone = any_client.post("/v1/track", content=track("solo", extra).encode(), headers=JSON)
    assert alone.status_code == 400 and alone.json()["errors"][0]["field"] == field, alone.text


def test_a_paired_surrogate_and_a_big_integer_are_stored(any_client, services):
    """What is storable stays stored: an escaped emoji (a surrogate pair) and an integer beyond 64 bits (read as a
    double, as orjson reads it) in a body that needed the second parser."""
    big = "123456789012345678901234567890"
    body = (
        '{"batch":['
        + track("pair", ',"properties":{"e":"\\ud83d\\ude00","n":' + big + "}")
        + ","
        + track("cut", ',"properties":{"e":"\\ud83d"}')
        + "]}"
    )
    answer = any_client.post("/v1/batch", content=body.encode(), headers=JSON).json()
    assert (answer["stored"], answer["rejected"]) == (1, 1), answer
    profile = services.profiles.get("u1")
    assert profile is not None and stored_ids(services) == Counter({"pair": 1})


def test_unreadable_values_in_the_batch_envelope_are_named(any_client, services):
    context = any_client.post(
        "/v1/batch", content=('{"batch":[' + track("c1") + '],"context":{"x":"\\ud800"}}').encode(), headers=JSON
    )
    assert context.status_code == 400 and context.json()["errors"][0]["field"] == "batch[0].context.x", context.text
    sent_at = any_client.post(
        "/v1/batch", content=('{"batch":[' + track("c2") + '],"sentAt":1e309}').encode(), headers=JSON
    )
    assert sent_at.status_code == 400 and sent_at.json()["errors"][0]["field"] == "sentAt", sent_at.text
    key = any_client.post(  # a write key with a lone surrogate: a 401, not a 500 comparing it
        "/v1/batch",
        content=('{"batch":[' + track("c3") + '],"writeKey":"\\ud800"}').encode(),
        headers={**JSON, "Authorization": ""},
    )
    assert key.status_code == 401, key.text
    assert sum(stored_ids(services).values()) == 0


def test_what_both_parsers_refuse_is_still_one_400(any_client):
    for body in ('{"batch":[' + track("n") + '],"x":NaN}', '{"batch":[' + track("t") + ",]}", '{"batch":"\\ud800'):
        r = any_client.post("/v1/batch", content=body.encode(), headers=JSON)
        assert r.status_code == 400 and r.json()["code"] == "invalid_json", (body, r.text)


def test_an_item_with_an_unreadable_value_fails_alone(any_client, services):
    body = b'{"items":[{"item_id":"a","title":"\\ud800"},{"item_id":"b","price":1e309},{"item_id":"c","title":"ok"}]}'
    r = any_client.post("/v1/items", content=body, headers={**ADMIN, **JSON})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["stored"], answer["rejected"]) == (1, 2), answer
    assert [e["field"] for e in answer["errors"]] == ["items[0].title", "items[1].price"]
    assert any_client.get("/v1/items/c", headers=ADMIN).status_code == 200


# Any message with any of these values spliced in, among valid neighbours: never a 500, never a neighbour lost.
odd_json = st.sampled_from(
    [
        '"\\ud800"',
        '"x\\udfff"',
        '"\\ud83d\\ude00"',
        "1e309",
        "-1e309",
        "1e-400",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "1" + "0" * 330,
        '{"\\udc00":1}',
        "[" * 70 + "]" * 70,
    ]
)
odd_field = st.sampled_from(
    ["properties.p", "context.c", "traits.t", "integrations.i", "event", "userId", "anonymousId", "properties"]
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spliced=st.lists(st.tuples(odd_field, odd_json), min_size=1, max_size=4),
    valid=st.integers(1, 4),
    seed=st.randoms(),
)
def test_spliced_odd_values_never_cost_a_neighbour(any_client, services, spliced, valid, seed):
    before = stored_ids(services)
    run = len(before)
    good = [track(f"g{run}-{i}") for i in range(valid)]
    odd = []
    for i, (field, value) in enumerate(spliced):
        top, _, inner = field.partition(".")
        member = f'"{top}":{{"{inner}":{value}}}' if inner else f'"{top}":{value}'
        odd.append('{"type":"track","userId":"u1","event":"E","messageId":"o%d-%d",%s}' % (run, i, member))  # noqa: UP031
    batch = good + odd
    seed.shuffle(batch)
    r = any_client.post("/v1/batch", content=('{"batch":[' + ",".join(batch) + "]}").encode(), headers=JSON)
    assert r.status_code in (200, 400), r.text
    answer = r.json()
    assert answer["stored"] + answer["rejected"] + answer["duplicates"] == len(batch), answer
    after = stored_ids(services)
    assert all(after[f"g{run}-{i}"] == 1 for i in range(valid)), answer
    for error in answer["errors"]:
        assert error["field"].startswith(f"batch[{error['index']}]") and error["message"]
    for message in json.loads("[" + ",".join(odd) + "]", parse_constant=str):  # stored ones read back as stored
        assert after[message["messageId"]] <= 1


def test_the_admin_key_in_the_body_still_authorises(any_client, services):
    body = (
        '{"batch":['
        + track("k1", ',"properties":{"s":"\\ud800"}')
        + ","
        + track("k2")
        + '],"writeKey":"'
        + ADMIN_KEY
        + '"}'
    )
    r = any_client.post("/v1/batch", content=body.encode(), headers={**JSON, "Authorization": ""})
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text


item_values = odd_json | st.sampled_from(
    ['""', '" "', "null", "true", "0", "-1", "1.5", '"2024-01-01T00:00:00Z"', '"9999-12-31"', '["a",1,null]',
     '{"a":{}}', '"' + "x" * 5000 + '"', '"\\u0000"', '"\\u202e"', '[' + ",".join(['"c"'] * 300) + "]"]
)  # fmt: skip
item_fields = st.sampled_from(
    ["item_id", "title", "text", "categories", "tags", "price", "available", "available_from", "available_until",
     "attributes", "brand", "image_url"]
)  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(odd=st.lists(st.dictionaries(item_fields, item_values, min_size=1, max_size=3), min_size=1, max_size=4))
def test_odd_items_are_stored_or_refused_by_name_and_never_cost_a_neighbour(any_client, odd) -> None:
    rows = ['{"item_id":"keep","title":"kept"}']
    for fields in odd:
        members = ",".join(f'"{k}":{v}' for k, v in fields.items())
        rows.append("{" + ('"item_id":"odd",' if "item_id" not in fields else "") + members + "}")
    r = any_client.post("/v1/items", content=('{"items":[' + ",".join(rows) + "]}").encode(), headers={**ADMIN, **JSON})
    assert r.status_code == 200, r.text  # the first item is always storable
    answer = r.json()
    assert answer["stored"] >= 1 and answer["stored"] + answer["rejected"] == len(rows), answer
    assert all(e["field"].startswith(f"items[{e['index']}]") and e["message"] for e in answer["errors"]), answer
    assert any_client.get("/v1/items/keep", headers=ADMIN).json()["title"] == "kept"
    assert any_client.get("/v1/catalog").status_code == 200
