"""What the API fuzzer (test_fuzz.py) found, each pinned down on both backends: a 400 naming the field, never a 500
or work without bound."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.common import ADMIN


@pytest.fixture
def with_buyers(any_client: TestClient) -> Iterator[TestClient]:
    """A client over twelve profiles with orders: enough for an ML segment to be fitted."""
    batch = [
        {"type": "track", "userId": f"u{i}", "event": "Order Completed", "properties": {"revenue": 10 * i}}
        for i in range(12)
    ]
    assert any_client.post("/v1/batch", json={"batch": batch}).json()["stored"] == 12
    yield any_client


def ml_preview(client: TestClient, clustering: dict[str, Any]) -> Any:
    body = {"id": "ml", "name": "ML", "kind": "ml", "config": {"clustering": {"k": 2, **clustering}}}
    return client.post("/v1/segments/preview", json=body, headers=ADMIN)


@pytest.mark.parametrize(
    ("clustering", "field"),
    [
        ({"seed": -1}, "config.clustering.seed"),  # numpy refused it while fitting: 500
        ({"seed": 2**32}, "config.clustering.seed"),  # scikit-learn's random_state takes 32 bits
        ({"n_init": 10**9}, "config.clustering.n_init"),  # a billion restarts: a request that never ends
    ],
)
def test_ml_clustering_settings_out_of_range_are_refused_by_name(
    with_buyers: TestClient, clustering: dict[str, Any], field: str
) -> None:
    r = ml_preview(with_buyers, clustering)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == field


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(-(2**70), 2**70))
def test_any_seed_fits_or_is_refused_by_name(with_buyers: TestClient, seed: int) -> None:
    r = ml_preview(with_buyers, {"seed": seed})
    if 0 <= seed < 2**32:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "config.clustering.seed", r.text


def test_a_nul_in_a_consent_purpose_is_refused_by_name(any_client: TestClient) -> None:
    r = any_client.post("/v1/consent", json={"anonymousId": "a1", "purposes": {"ads\x00": False}})
    assert r.status_code == 400, r.text  # PostgreSQL's text columns cannot hold it: a 500 there
    assert r.json()["errors"][0]["field"] == "purposes"
    assert any_client.post("/v1/consent", json={"anonymousId": "a1", "purposes": {"ads": False}}).status_code == 200


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(purposes=st.dictionaries(st.text(min_size=1, max_size=64), st.booleans(), min_size=1, max_size=3))
def test_any_purpose_names_are_stored_or_refused_by_name(any_client: TestClient, purposes: dict[str, bool]) -> None:
    r = any_client.post("/v1/consent", json={"anonymousId": "a1", "purposes": purposes})
    if any("\x00" in p for p in purposes):
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "purposes", r.text
    else:
        assert r.status_code == 200 and r.json()["success"] is True, r.text  # (purposes are stored lower-cased)


# ------------------------------------------------------- blocks, slots and experiments that could not be stored
def _nested_and(levels: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"type": "context", "field": "country", "op": "eq", "value": "FR"}
    for _ in range(levels):
        condition = {"type": "and", "conditions": [condition]}
    return condition


def _blocks(client: TestClient) -> None:
    for bid in ("hero-a", "hero-b"):
        block = {"type": "headline", "content": {"title": bid}}
        assert client.put(f"/v1/blocks/{bid}", json=block, headers=ADMIN).status_code == 200


SLOT = {"variants": {"a": "hero-a", "b": "hero-b"}, "default": {"kind": "variant", "variant": "a"}}


@pytest.mark.parametrize("levels", [130, 200])
def test_slot_rules_nested_past_what_can_be_stored_are_refused_by_name(any_client: TestClient, levels: int) -> None:
    """Targeting rules 130 'and's deep passed validation, then orjson could not write them: a 500."""
    _blocks(any_client)
    rules = [{"then": {"kind": "variant", "variant": "b"}, "when": _nested_and(levels)}]
    r = any_client.put("/v1/slots/deep", json={**SLOT, "rules": rules}, headers=ADMIN)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0] == {"field": "rules", "message": "nested deeper than 64 levels"}
    shallow = [{"then": {"kind": "variant", "variant": "b"}, "when": _nested_and(20)}]
    assert any_client.put("/v1/slots/deep", json={**SLOT, "rules": shallow}, headers=ADMIN).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/blocks/b4", '{"type":"headline","content":{"title":"A","x":' + "[" * 300 + "]" * 300 + "}}", "content"),
        ("/v1/experiments/e2", '{"variants":["a","b"],"x":' + "[" * 300 + "]" * 300 + "}", "x"),
        ("/v1/blocks/b5", '{"type":"headline","content":{"title":"A\\u0000"}}', "content.title"),
        (
            "/v1/slots/s5",
            '{"variants":{"a":"hero-a"},"default":{"kind":"variant","variant":"a"},"description":"\\u0000"}',
            "description",
        ),
    ],
)
def test_documents_that_cannot_be_stored_are_refused_by_name(
    any_client: TestClient, path: str, body: str, field: str
) -> None:
    """A block's content nested 300 levels was a 500 (pydantic could not serialise it); every document now follows
    the rule of events and items (runtime/limits.py): no NUL, at most 64 levels per field."""
    _blocks(any_client)
    r = any_client.put(path, content=body, headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == field
