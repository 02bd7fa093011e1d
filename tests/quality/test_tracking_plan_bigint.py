"""A tracking plan whose schema holds what the database cannot store is a 400 naming ``schema`` (fuzzer finding)."""

from __future__ import annotations

from tests.support.common import ADMIN


def test_a_schema_with_an_integer_beyond_64_bits_is_a_400(client):
    body = {"event": "E", "mode": "allow", "schema": {"type": "object", "x": [-22936900706609889037284016128]}}
    r = client.post("/v1/quality/tracking-plans", json=body, headers=ADMIN)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == "schema"
