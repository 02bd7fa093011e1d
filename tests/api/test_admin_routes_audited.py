"""Every admin write route is audited: the test walks the app's routes, finds each one that is not a GET and needs
the admin key (or a dashboard session), calls it successfully and checks that an audit row appeared, recorded
under the caller. A new admin route fails here until it has a scenario below (and records its change), or is
listed as read-only with the reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from pertinent.api.deps import AdminAuth, DashboardSession
from tests.segments.test_segments_api import _orders
from tests.support.common import ADMIN
from tests.support.models import save_popularity

HEADLINE = {"type": "headline", "content": {"title": "Hello"}}
SLOT = {"variants": {"a": "hero"}, "default": {"kind": "variant", "variant": "a"}}
RULE = {"name": "Buyers", "rule": {"type": "event_count", "event": "Order Completed", "window_days": 30, "value": 1}}

Call = Callable[[TestClient], Any]


def _block(c: TestClient, bid: str = "hero") -> None:
    assert c.put(f"/v1/blocks/{bid}", json=HEADLINE, headers=ADMIN).status_code == 200


def _slot(c: TestClient) -> None:
    _block(c)
    assert c.put("/v1/slots/s-del", json=SLOT, headers=ADMIN).status_code == 200


def _experiment(key: str) -> Call:
    def setup(c: TestClient) -> None:
        assert c.put(f"/v1/experiments/{key}", json={"variants": ["a", "b"]}, headers=ADMIN).status_code == 200

    return setup


def _segment(c: TestClient) -> None:
    assert c.post("/v1/segments", json={"id": "seg", **RULE}, headers=ADMIN).status_code == 201


def _rfm(c: TestClient) -> None:
    for i in range(6):
        assert c.post("/v1/batch", json=_orders(f"r{i}", 6 - i, prefix="rfm")).status_code == 200
    c.app.state.services.segments.wait_idle()  # type: ignore[attr-defined]
    assert c.post("/v1/segments", json={"id": "rfm", "name": "RFM", "kind": "rfm"}, headers=ADMIN).status_code == 201


def _item(c: TestClient) -> None:
    assert c.post("/v1/items", json={"items": [{"item_id": "gone"}]}, headers=ADMIN).status_code == 200


def _user(c: TestClient) -> None:
    assert c.post("/v1/track", json={"userId": "leaving", "event": "Product Viewed"}).status_code == 200


def _none(c: TestClient) -> None:
    return None


def _replay(c: TestClient) -> Any:
    from pertinent.destinations.config import WebhookConfig

    destinations = c.app.state.services.destinations  # type: ignore[attr-defined]
    destinations.hooks.setdefault("audited", WebhookConfig(name="audited", url="http://127.0.0.1:9/"))
    return c.post("/v1/destinations/audited/replay", json={"ids": [1]}, headers=ADMIN)


# (method, path) -> (setup, the call that must succeed and be audited)
SCENARIOS: dict[tuple[str, str], tuple[Call, Call]] = {
    ("PUT", "/v1/blocks/{doc_id}"): (_none, lambda c: c.put("/v1/blocks/new", json=HEADLINE, headers=ADMIN)),
    ("DELETE", "/v1/blocks/{doc_id}"): (
        lambda c: _block(c, "old"),
        lambda c: c.delete("/v1/blocks/old", headers=ADMIN),
    ),
    ("PUT", "/v1/slots/{doc_id}"): (_block, lambda c: c.put("/v1/slots/s-new", json=SLOT, headers=ADMIN)),
    ("DELETE", "/v1/slots/{doc_id}"): (_slot, lambda c: c.delete("/v1/slots/s-del", headers=ADMIN)),
    ("PUT", "/v1/experiments/{doc_id}"): (
        _none,
        lambda c: c.put("/v1/experiments/e-new", json={"variants": ["a", "b"]}, headers=ADMIN),
    ),
    ("DELETE", "/v1/experiments/{doc_id}"): (
        _experiment("e-del"),
        lambda c: c.delete("/v1/experiments/e-del", headers=ADMIN),
    ),
    ("POST", "/v1/experiments/{doc_id}/start"): (
        _experiment("e-run"),
        lambda c: c.post("/v1/experiments/e-run/start", headers=ADMIN),
    ),
    ("POST", "/v1/experiments/{doc_id}/stop"): (
        _experiment("e-stop"),
        lambda c: c.post("/v1/experiments/e-stop/stop", headers=ADMIN),
    ),
    ("POST", "/v1/segments"): (_none, lambda c: c.post("/v1/segments", json={"id": "new", **RULE}, headers=ADMIN)),
    ("PUT", "/v1/segments/{segment_id}"): (_segment, lambda c: c.put("/v1/segments/seg", json=RULE, headers=ADMIN)),
    ("DELETE", "/v1/segments/{segment_id}"): (
        lambda c: c.post("/v1/segments", json={"id": "seg-del", **RULE}, headers=ADMIN),
        lambda c: c.delete("/v1/segments/seg-del", headers=ADMIN),
    ),
    ("POST", "/v1/segments/{segment_id}/retrain"): (_rfm, lambda c: c.post("/v1/segments/rfm/retrain", headers=ADMIN)),
    ("POST", "/v1/items"): (_none, lambda c: c.post("/v1/items", json={"items": [{"item_id": "i"}]}, headers=ADMIN)),
    ("DELETE", "/v1/items/{item_id:id}"): (_item, lambda c: c.delete("/v1/items/gone", headers=ADMIN)),
    ("DELETE", "/v1/users/{user_id:id}"): (_user, lambda c: c.delete("/v1/users/leaving", headers=ADMIN)),
    # with no webhook configured the name is unknown (404): the scenario replays on a configured one
    ("POST", "/v1/destinations/{name}/replay"): (_none, lambda c: _replay(c)),
}

PLAN = {"event": "E", "schema": {"type": "object", "required": ["x"]}, "mode": "block"}


def _plan(c: TestClient) -> None:
    assert c.post("/v1/quality/tracking-plans", json=PLAN, headers=ADMIN).status_code == 200


def _blocked(c: TestClient) -> None:
    _plan(c)
    assert c.post("/v1/track", json={"userId": "b", "event": "E"}).json()["rejected"] == 1


def _twins(c: TestClient) -> None:
    for uid in ("t1", "t2"):
        assert c.post("/v1/identify", json={"userId": uid, "traits": {"email": "t@x.org"}}).status_code == 200
    assert c.post("/v1/quality/duplicates/scan", headers=ADMIN).status_code == 200


def _accept_first(c: TestClient) -> Any:
    pair = c.get("/v1/quality/duplicates", headers=ADMIN).json()[0]
    return c.post(f"/v1/quality/duplicates/{pair['id']}", json={"decision": "accept"}, headers=ADMIN)


SCENARIOS.update(
    {
        ("POST", "/v1/quality/tracking-plans"): (
            _none,
            lambda c: c.post("/v1/quality/tracking-plans", json=PLAN, headers=ADMIN),
        ),  # fmt: skip
        ("DELETE", "/v1/quality/tracking-plans/{event}"): (
            _plan,
            lambda c: c.delete("/v1/quality/tracking-plans/E", headers=ADMIN),
        ),
        ("POST", "/v1/quality/failed-events/replay"): (
            _blocked,
            lambda c: c.post("/v1/quality/failed-events/replay", json={}, headers=ADMIN),
        ),
        ("POST", "/v1/quality/outliers/scan"): (_none, lambda c: c.post("/v1/quality/outliers/scan", headers=ADMIN)),
        ("POST", "/v1/quality/impute"): (_none, lambda c: c.post("/v1/quality/impute", headers=ADMIN)),
        ("POST", "/v1/quality/duplicates/scan"): (
            _none,
            lambda c: c.post("/v1/quality/duplicates/scan", headers=ADMIN),
        ),
        ("POST", "/v1/quality/duplicates/{candidate_id}"): (_twins, _accept_first),
    }
)


def _two_versions(c: TestClient) -> None:
    for _ in range(2):
        save_popularity(c.app.state.services)  # type: ignore[attr-defined]


def _model(c: TestClient) -> str:
    return str(c.app.state.services.recommend.config.model)  # type: ignore[attr-defined]


SCENARIOS.update(
    {
        ("POST", "/v1/models/{name}/promote"): (
            _two_versions,
            lambda c: c.post(f"/v1/models/{_model(c)}/promote", json={"version": "v1"}, headers=ADMIN),
        ),
        ("POST", "/v1/models/{name}/rollback"): (
            _two_versions,
            lambda c: c.post(f"/v1/models/{_model(c)}/rollback", headers=ADMIN),
        ),
        ("POST", "/v1/models/{name}/resume"): (
            _two_versions,
            lambda c: c.post(f"/v1/models/{_model(c)}/resume", headers=ADMIN),
        ),
    }
)

# admin routes that change nothing served (no audit row expected), with the reason
READ_ONLY: dict[tuple[str, str], str] = {
    ("POST", "/v1/segments/preview"): "sizes a definition over the stored profiles; saves nothing",
    ("POST", "/dashboard/segments/report"): "clusters a sample for the page; changes nothing served",
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def admin_write_routes(app: Any) -> dict[tuple[str, str], str]:
    """(method, path) -> "admin_key" or "dashboard" for every non-GET route behind the admin key or a session."""
    guards = {AdminAuth.dependency: "admin_key", DashboardSession.dependency: "dashboard"}
    found = {}
    for route in iter_route_contexts(app.routes):  # routes of included routers, with their routers' dependencies
        if not isinstance(route.original_route, APIRoute):
            continue
        who = next((guards[call] for call in _calls(route.dependant) if call in guards), None)
        if who is None:
            continue
        for method in (route.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
            found[(method, route.path)] = who
    return found


def _last_id(c: TestClient) -> int:
    entries = c.get("/v1/audit", params={"limit": 1}, headers=ADMIN).json()["entries"]
    return entries[0]["id"] if entries else 0


def test_every_admin_write_route_writes_an_audit_row(any_client):
    c = any_client
    routes = admin_write_routes(c.app)
    assert len(routes) >= len(SCENARIOS)  # the walk finds the admin routes at all
    missing = sorted(set(routes) - set(SCENARIOS) - set(READ_ONLY))
    assert not missing, f"admin routes without an audit scenario (add one, and audit the change): {missing}"
    assert not set(SCENARIOS) - set(routes), "a scenario for a route that is gone or no longer admin-only"
    for key, (setup, call) in SCENARIOS.items():
        setup(c)
        before = _last_id(c)
        r = call(c)
        assert 200 <= r.status_code < 300, (key, r.status_code, r.text)
        rows = [e for e in c.get("/v1/audit", headers=ADMIN).json()["entries"] if e["id"] > before]
        assert rows, f"{key[0]} {key[1]} succeeded without an audit row"
        assert {e["actor"] for e in rows} == {routes[key]}, (key, rows)


def test_read_only_admin_routes_write_nothing(client):
    before = _last_id(client)
    r = client.post("/v1/segments/preview", json={"template": "browsers"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert _last_id(client) == before
