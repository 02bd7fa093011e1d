"""A tracking plan whose schema holds an integer beyond 64 bits is never a 500 (fuzzer finding: one was, on
PostgreSQL). Its body is read as every body of the API is (api/body.py): such an integer is read as the nearest
double, which both databases store, and the plan is stored and read back with it."""

from __future__ import annotations

from tests.support.common import ADMIN


def test_a_schema_with_an_integer_beyond_64_bits_is_stored_as_a_double(client):
    body = {"event": "E", "mode": "allow", "schema": {"type": "object", "x": [-22936900706609889037284016128]}}
    r = client.post("/v1/quality/tracking-plans", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["schema"]["x"] == [-2.293690070660989e28]
    plans = client.get("/v1/quality/tracking-plans", headers=ADMIN).json()
    assert [p["schema"]["x"] for p in plans if p["event"] == "E"] == [[-2.293690070660989e28]]
