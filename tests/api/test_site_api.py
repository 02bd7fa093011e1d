"""What pages load, over HTTP (no browser): the snippet, the public catalogue, the demo pages and CORS.
The browser itself is driven in tests/browser/test_browser.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.api.app import create_app
from pertinent.services import Services
from tests.support.common import ADMIN, ADMIN_KEY, WRITE_KEY, make_settings


def _items() -> list[dict]:
    return [
        {"item_id": "boots", "title": "Hiking boots", "categories": ["Shoes"], "attributes": {"price": 89.5}},
        {"item_id": "mug", "title": "Red mug", "categories": ["kitchen"], "tags": ["red"]},
        {"item_id": "pan", "title": "Frying pan", "categories": ["kitchen"]},
        {"item_id": "old", "title": "Withdrawn", "categories": ["kitchen"], "available_until": "2001-01-01T00:00:00Z"},
        {"item_id": "soon", "title": "Not yet", "categories": ["kitchen"], "available_from": "2999-01-01T00:00:00Z"},
    ]


@pytest.fixture
def site(tmp_path) -> Iterator[TestClient]:
    svc = Services.build(make_settings(tmp_path, demo_site=True))
    svc.store.migrate()
    assert svc.recommend.upsert_items(_items()).stored == 5
    with TestClient(create_app(svc.settings, services=svc), raise_server_exceptions=False) as c:
        c.auth = (WRITE_KEY, "")
        yield c
    svc.close()


def test_snippet_is_served_as_javascript(site: TestClient) -> None:
    res = site.get("/pertinent.js", auth=None)
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/javascript")
    assert "max-age" in res.headers["cache-control"]
    assert "sendBeacon" in res.text and "/v1/batch" in res.text and "data-pertinent-slot" in res.text


def test_catalogue_by_ids_keeps_order_and_lists_missing_and_unavailable(site: TestClient) -> None:
    body = site.get("/v1/catalog", params={"ids": "pan,boots,old,soon,ghost"}).json()
    assert [i["item_id"] for i in body["items"]] == ["pan", "boots"]
    assert body["missing"] == ["old", "soon", "ghost"]
    boots = body["items"][1]
    assert boots == {
        "item_id": "boots",
        "title": "Hiking boots",
        "text": "",
        "categories": ["Shoes"],
        "tags": [],
        "attributes": {"price": 89.5},
    }


def test_catalogue_pages_and_categories(site: TestClient) -> None:
    first = site.get("/v1/catalog", params={"limit": 2}).json()
    assert [i["item_id"] for i in first["items"]] == ["boots", "mug"] and first["next"] == "mug"
    second = site.get("/v1/catalog", params={"limit": 2, "after": first["next"]}).json()
    assert [i["item_id"] for i in second["items"]] == ["pan"] and second["next"] is None
    kitchen = site.get("/v1/catalog", params={"category": "KITCHEN"}).json()
    assert [i["item_id"] for i in kitchen["items"]] == ["mug", "pan"]
    assert site.get("/v1/catalog/categories").json() == {
        "categories": [{"name": "kitchen", "items": 2}, {"name": "Shoes", "items": 1}]
    }


def test_catalogue_reads_with_the_admin_key_too_and_never_without_a_key(site: TestClient) -> None:
    assert site.get("/v1/catalog", auth=None, headers=ADMIN).status_code == 200
    res = site.get("/v1/catalog", auth=None)
    assert res.status_code == 401 and res.json()["errors"][0]["field"] == "authorization"
    assert site.get("/v1/catalog", auth=("wrong", "")).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"ids": "a,,b"}, "ids"),
        ({"ids": ",".join(f"i{n}" for n in range(101))}, "ids"),
        ({"category": ""}, "category"),
        ({"after": "x" * 201}, "after"),
    ],
)
def test_catalogue_rejects_bad_parameters_by_name(site: TestClient, params: dict, field: str) -> None:
    res = site.get("/v1/catalog", params=params)
    assert res.status_code == 400, res.text
    assert res.json()["errors"][0]["field"] == field


def test_demo_pages_carry_the_write_key_and_never_the_admin_key(site: TestClient) -> None:
    for path in ("/demo/", "/demo/products/boots", "/demo/category/kitchen", "/demo/cart"):
        res = site.get(path, auth=None)
        assert res.status_code == 200, path
        assert res.headers["content-type"].startswith("text/html")
        assert f'data-write-key="{WRITE_KEY}"' in res.text and '<script src="/pertinent.js' in res.text
        assert ADMIN_KEY not in res.text
    assert 'data-similar-to="boots"' in site.get("/demo/products/boots").text
    assert site.get("/demo/static/shop.js").headers["content-type"].startswith("text/javascript")
    assert site.get("/demo/static/shop.css").headers["content-type"].startswith("text/css")


def test_demo_escapes_what_comes_from_the_url(site: TestClient) -> None:
    page = site.get("/demo/category/<script>alert(1)</script>").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_demo_static_serves_only_its_own_files(site: TestClient) -> None:
    for name in ("../pertinent.js", "..%2F..%2Fcatalogue.py", "nope.js"):
        assert site.get(f"/demo/static/{name}").status_code == 404


def test_demo_is_off_unless_enabled(client: TestClient) -> None:
    res = client.get("/demo/")
    assert res.status_code == 404 and "PERTINENT_DEMO_SITE" in res.json()["message"]
    assert client.get("/demo/static/shop.js").status_code == 404
    assert client.get("/pertinent.js").status_code == 200  # the snippet is always there


def test_cors_lets_pages_on_other_sites_send_events(site: TestClient) -> None:
    pre = site.options(
        "/v1/batch",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    res = site.post(
        "/v1/batch",
        headers={"Origin": "https://shop.example"},
        json={"batch": [{"type": "track", "event": "E", "anonymousId": "a1"}]},
    )
    assert res.status_code == 200 and res.headers["access-control-allow-origin"] == "*"


def test_cors_origins_can_be_restricted(tmp_path) -> None:
    svc = Services.build(make_settings(tmp_path, cors_origins=["https://shop.example"]))
    svc.store.migrate()
    with TestClient(create_app(svc.settings, services=svc)) as c:
        ok = c.options("/v1/batch", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
        bad = c.options("/v1/batch", headers={"Origin": "https://bad.example", "Access-Control-Request-Method": "POST"})
    svc.close()
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["ids", "category", "limit", "after"]),
        st.text(max_size=300) | st.integers(-5, 500).map(str),
        max_size=4,
    )
)
def test_catalogue_answers_any_query_without_a_server_error(site: TestClient, params: dict) -> None:
    res = site.get("/v1/catalog", params=params)
    assert res.status_code in (200, 400), (params, res.text)
    if res.status_code == 400:
        assert res.json()["errors"][0]["field"] in params
