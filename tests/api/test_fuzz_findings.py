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
