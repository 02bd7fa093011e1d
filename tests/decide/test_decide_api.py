"""The decision API: /v1/decide (write key), the admin CRUD of blocks, slots and experiments, results and OPE;
errors name the field; no input gives a 500 (hypothesis)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.common import ADMIN, WRITE_KEY

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
SLOT = {
    "variants": {"a": "hero-a", "b": "hero-b"},
    "default": {"kind": "variant", "variant": "a"},
    "rules": [
        {
            "name": "french mobile",
            "then": {"kind": "variant", "variant": "b"},
            "when": {
                "type": "and",
                "conditions": [
                    {"type": "context", "field": "country", "op": "eq", "value": "FR"},
                    {"type": "context", "field": "device_type", "op": "eq", "value": "mobile"},
                ],
            },
        }
    ],
}


def setup(c) -> None:
    for bid, title in (("hero-a", "A"), ("hero-b", "B")):
        r = c.put(
            f"/v1/blocks/{bid}",
            headers=ADMIN,
            json={"type": "headline", "content": {"title": title}, "template": "<h1>{{ title }}</h1>"},
        )
        assert r.status_code == 200, r.text
    r = c.put("/v1/slots/home.hero", headers=ADMIN, json=SLOT)
    assert r.status_code == 200, r.text


def error_shape(r) -> dict[str, Any]:
    body = r.json()
    assert body["success"] is False and body["code"] and body["message"]
    assert body["errors"] and all(set(e) >= {"field", "message"} for e in body["errors"])
    return body


def test_decide_contract_and_context_from_headers(any_client):
    setup(any_client)
    r = any_client.get(
        "/v1/decide",
        params={"slot": "home.hero", "anonymous_id": "v1"},
        headers={"User-Agent": IPHONE, "CF-IPCountry": "FR"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"decision_id", "slot", "variant", "block", "html", "reason"}
    assert (body["slot"], body["variant"], body["html"]) == ("home.hero", "b", "<h1>B</h1>")
    assert body["block"] == {"type": "headline", "content": {"title": "B"}}
    assert body["reason"]["kind"] == "rule" and "french mobile" in body["reason"]["detail"]
    assert isinstance(body["decision_id"], str) and len(body["decision_id"]) == 32
    desktop = any_client.get("/v1/decide", params={"slot": "home.hero", "anonymous_id": "v1", "country": "fr"})
    assert (desktop.json()["variant"], desktop.json()["reason"]["kind"]) == ("a", "default")


def test_decide_errors_name_the_field(client):
    setup(client)
    r = client.get("/v1/decide", params={"slot": "nope", "user_id": "u"})
    assert r.status_code == 404 and error_shape(r)["errors"][0]["field"] == "slot"
    r = client.get("/v1/decide", params={"slot": "home.hero"})
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"] == "user_id"
    r = client.get("/v1/decide", params={"slot": "home.hero", "user_id": "u", "timezone": "Mars/Olympus"})
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"] == "timezone"
    r = client.get("/v1/decide", params={"user_id": "u"})
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"] == "slot"


def test_decide_needs_the_write_key_or_the_admin_key(client):
    setup(client)
    params = {"slot": "home.hero", "user_id": "u"}
    assert client.get("/v1/decide", params=params, headers={"Authorization": ""}).status_code == 401
    bad = "Basic " + base64.b64encode(b"wrong:").decode()
    assert client.get("/v1/decide", params=params, headers={"Authorization": bad}).status_code == 401
    assert client.get("/v1/decide", params=params, headers=ADMIN).status_code == 200
    assert client.get("/v1/decide", params=params).status_code == 200  # the client sends the write key


def test_admin_routes_need_the_admin_key(client):
    for method, path in (
        ("GET", "/v1/slots"),
        ("PUT", "/v1/blocks/x"),
        ("DELETE", "/v1/experiments/x"),
        ("GET", "/v1/experiments/x/results"),
        ("GET", "/v1/block-types"),
    ):
        r = client.request(method, path, json={})  # write key only
        assert r.status_code == 401, (method, path)


def test_block_slot_and_experiment_crud_with_versions_and_errors(client):
    setup(client)
    r = client.put("/v1/blocks/bad", headers=ADMIN, json={"type": "call_to_action", "content": {"text": "Go"}})
    assert r.status_code == 400 and error_shape(r)["errors"] == [
        {"field": "content", "message": "'url' is a required property"}
    ]
    r = client.put(
        "/v1/blocks/bad", headers=ADMIN, json={"type": "text", "content": {"text": "x"}, "template": "{% if %}"}
    )
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"] == "template"
    r = client.put("/v1/blocks/hero-a", headers=ADMIN, json={"id": "other", "type": "text", "content": {"text": "x"}})
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"] == "id"
    r = client.put("/v1/blocks/hero-a", headers=ADMIN, content=b"{not json")
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"] == "body"
    assert (
        client.put("/v1/blocks/hero-a", headers=ADMIN, json={"type": "headline", "content": {"title": "A2"}}).json()[
            "version"
        ]
        == 2
    )
    assert [v["version"] for v in client.get("/v1/blocks/hero-a/history", headers=ADMIN).json()["versions"]] == [1, 2]
    assert {b["id"] for b in client.get("/v1/blocks", headers=ADMIN).json()["blocks"]} == {"hero-a", "hero-b"}
    r = client.delete("/v1/blocks/hero-a", headers=ADMIN)
    assert r.status_code == 409 and error_shape(r)["code"] == "conflict"
    r = client.put(
        "/v1/slots/home.hero", headers=ADMIN, json={**SLOT, "rules": [{"then": {"kind": "variant", "variant": "zz"}}]}
    )
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"] == "rules[0].then.variant"
    r = client.put(
        "/v1/slots/home.hero",
        headers=ADMIN,
        json={
            **SLOT,
            "rules": [
                {
                    "when": {"type": "context", "field": "shoe_size", "op": "eq", "value": 1},
                    "then": {"kind": "variant", "variant": "a"},
                }
            ],
        },
    )
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"].startswith("rules[0].when.field")
    r = client.put("/v1/experiments/exp1", headers=ADMIN, json={"variants": ["a", "b"], "weights": [0.9, 0.3]})
    assert r.status_code == 400 and "weights" in error_shape(r)["message"]
    assert client.get("/v1/experiments/ghost", headers=ADMIN).status_code == 404
    assert client.get("/v1/slots/bad id", headers=ADMIN).status_code == 400  # the id pattern, named


def test_experiment_lifecycle_and_results_end_to_end_over_http(any_client, services):
    setup(any_client)
    exp = {"variants": ["a", "b"], "metrics": [{"name": "clicked", "kind": "conversion", "events": ["Slot Clicked"]}]}
    assert any_client.put("/v1/experiments/hero-test", headers=ADMIN, json=exp).json()["body"]["status"] == "draft"
    r = any_client.put(
        "/v1/slots/home.hero",
        headers=ADMIN,
        json={**SLOT, "rules": [{"then": {"kind": "experiment", "experiment": "hero-test"}}]},
    )
    assert r.status_code == 200, r.text
    assert (
        any_client.get("/v1/decide", params={"slot": "home.hero", "user_id": "u0"}).json()["reason"]["kind"]
        == "default"
    )  # draft: not running
    assert any_client.post("/v1/experiments/hero-test/start", headers=ADMIN).json()["body"]["status"] == "running"
    for i in range(30):
        d = any_client.get("/v1/decide", params={"slot": "home.hero", "user_id": f"u{i}"}).json()
        assert d["reason"]["kind"] == "experiment" and d["experiment"]["id"] == "hero-test"
        if i % 3 == 0:  # the snippet reports the click with the decision id
            r = any_client.post(
                "/v1/track",
                json={"userId": f"u{i}", "event": "Slot Clicked", "properties": {"decision_id": d["decision_id"]}},
            )
            assert r.status_code == 200
    services.decide.flush()
    res = any_client.get("/v1/experiments/hero-test/results", headers=ADMIN).json()
    assert sum(res["units"].values()) == 30 and "thin data" in res["message"]
    metric = res["metrics"][0]
    assert sum(v["units"] * v["mean"] for v in metric["variants"].values()) == 10  # every click attributed
    assert any_client.post("/v1/experiments/hero-test/stop", headers=ADMIN).json()["body"]["status"] == "stopped"
    r = any_client.delete("/v1/experiments/hero-test", headers=ADMIN)
    assert r.status_code == 409  # the slot still runs it


def test_ope_and_bandit_routes(client, sqlite_services):
    setup(client)
    client.put(
        "/v1/slots/home.hero",
        headers=ADMIN,
        json={
            **SLOT,
            "rules": [{"then": {"kind": "bandit", "policy": "epsilon_greedy", "params": {"epsilon": 1.0, "seed": 1}}}],
        },
    )
    for i in range(20):
        assert (
            client.get("/v1/decide", params={"slot": "home.hero", "anonymous_id": f"v{i}"}).json()["reason"]["kind"]
            == "bandit"
        )
    r = client.get("/v1/slots/home.hero/ope", headers=ADMIN, params={"target": "arm:b"})
    assert r.status_code == 200 and r.json()["decisions"] == 20 and len(r.json()["estimates"]) == 3
    assert "thin data" in r.json()["message"]
    r = client.get("/v1/slots/home.hero/ope", headers=ADMIN, params={"target": "best"})
    assert r.status_code == 400 and error_shape(r)["errors"][0]["field"] == "target"
    bandits = client.get("/v1/slots/home.hero/bandits", headers=ADMIN).json()["bandits"]
    assert bandits[0]["policy"] == "epsilon_greedy" and bandits[0]["arms"] == ["a", "b"]
    assert client.get("/v1/slots/ghost/bandits", headers=ADMIN).status_code == 404


def test_block_types_lists_the_json_schemas(client):
    types = client.get("/v1/block-types", headers=ADMIN).json()["types"]
    assert {"headline", "image", "call_to_action", "product_list", "html", "text"} <= set(types)
    assert types["image"]["required"] == ["src", "alt"]


# ------------------------------------------------------------------------------------------ properties
api = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.text(max_size=40)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
slot_keys = st.sampled_from(
    [
        "id",
        "variants",
        "rules",
        "default",
        "when",
        "then",
        "kind",
        "variant",
        "type",
        "field",
        "op",
        "value",
        "conditions",
        "experiment",
        "policy",
        "arms",
        "min_share",
        "k",
        "block",
        "segment",
        "hours",
        "params",
        "min_events",
    ]
)
slot_like = st.recursive(
    json_scalars | st.sampled_from(["a", "hero-a", "variant", "bandit", "context", "and"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(slot_keys, inner, max_size=5),
    max_leaves=20,
)


@api
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["slot", "user_id", "anonymous_id", "country", "region", "timezone", "locale", "url", "referrer"]
        ),
        text,
        max_size=9,
    ),
    headers=st.dictionaries(
        st.sampled_from(["User-Agent", "CF-IPCountry", "X-Region", "Accept-Language", "Origin"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
        max_size=4,
    ),
)
def test_decide_never_500(client, params, headers):
    if not client.get("/v1/slots/home.hero", headers=ADMIN).status_code == 200:
        setup(client)
    r = client.get("/v1/decide", params=params, headers=headers)
    assert r.status_code in (200, 400, 404), r.text
    if r.status_code != 200:
        error_shape(r)
    else:
        assert r.json()["variant"] in ("a", "b")


@api
@given(
    body=slot_like | json_values,
    kind=st.sampled_from(["blocks", "slots", "experiments"]),
    doc_id=st.sampled_from(["x", "home.hero", "hero-a", "a:b"]),
)
def test_admin_puts_never_500(client, body, kind, doc_id):
    r = client.put(
        f"/v1/{kind}/{doc_id}", headers={**ADMIN, "Content-Type": "application/json"}, content=orjson.dumps(body)
    )
    assert r.status_code in (200, 400, 409), r.text
    if r.status_code != 200:
        error_shape(r)


def test_write_key_is_the_snippet_credential(client):
    setup(client)
    basic = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    r = client.get("/v1/decide", params={"slot": "home.hero", "user_id": "u"}, headers={"Authorization": basic})
    assert r.status_code == 200
