"""The audit log on both backends: each kind of change is recorded with who, when, what and the state before and
after; ``GET /v1/audit`` pages and filters; secrets appear by fingerprint and people by pseudonymous profile id."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.api.app import create_app
from pertinent.privacy.audit import Actor, fingerprint
from pertinent.recommend.retrain import Retrainer
from pertinent.recommend.training import train_from_store
from pertinent.services import Services
from tests.privacy.test_privacy import consent_ctx
from tests.segments.test_segments_api import _orders
from tests.support.common import ADMIN, WRITE_KEY, make_settings

HEADLINE = {"type": "headline", "content": {"title": "Hello"}}


def audit(c: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = c.get("/v1/audit", params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def timed(entry: dict[str, Any], t0: float) -> None:
    assert t0 <= entry["at"] <= time.time()


# ------------------------------------------------------------------------------------------ each kind of change
def test_blocks_are_audited_with_the_bodies_before_and_after(any_client):
    c, t0 = any_client, time.time()
    v1 = ok(c.put("/v1/blocks/hero", json=HEADLINE, headers=ADMIN))["body"]
    v2 = ok(c.put("/v1/blocks/hero", json={**HEADLINE, "content": {"title": "Bye"}}, headers=ADMIN))["body"]
    ok(c.delete("/v1/blocks/hero", headers=ADMIN))
    assert c.put("/v1/blocks/bad", json={"type": "nope"}, headers=ADMIN).status_code == 400  # refused: no row
    rows = audit(c, kind="block")
    assert [(e["kind"], e["subject"], e["actor"]) for e in rows] == [
        ("block.delete", "block:hero", "admin_key"),
        ("block.put", "block:hero", "admin_key"),
        ("block.put", "block:hero", "admin_key"),
    ]
    assert [(e["before"], e["after"]) for e in rows] == [(v2, None), (v1, v2), (None, v1)]
    for e in rows:
        timed(e, t0)


def test_slots_and_experiments_are_audited(any_client):
    c, t0 = any_client, time.time()
    for bid in ("hero-a", "hero-b"):
        ok(c.put(f"/v1/blocks/{bid}", json=HEADLINE, headers=ADMIN))
    slot = {"variants": {"a": "hero-a", "b": "hero-b"}, "default": {"kind": "variant", "variant": "a"}}
    stored = ok(c.put("/v1/slots/home.hero", json=slot, headers=ADMIN))["body"]
    ok(c.delete("/v1/slots/home.hero", headers=ADMIN))
    assert [(e["kind"], e["before"], e["after"]) for e in audit(c, kind="slot")] == [
        ("slot.delete", stored, None),
        ("slot.put", None, stored),
    ]
    draft = ok(c.put("/v1/experiments/hero-test", json={"variants": ["a", "b"]}, headers=ADMIN))["body"]
    running = ok(c.post("/v1/experiments/hero-test/start", headers=ADMIN))["body"]
    stopped = ok(c.post("/v1/experiments/hero-test/stop", headers=ADMIN))["body"]
    ok(c.delete("/v1/experiments/hero-test", headers=ADMIN))
    rows = audit(c, kind="experiment")
    assert [(e["kind"], e["subject"], e["actor"]) for e in rows] == [
        ("experiment.delete", "experiment:hero-test", "admin_key"),
        ("experiment.stop", "experiment:hero-test", "admin_key"),
        ("experiment.start", "experiment:hero-test", "admin_key"),
        ("experiment.put", "experiment:hero-test", "admin_key"),
    ]
    assert [(e["before"], e["after"]) for e in rows] == [
        (stopped, None),
        (running, stopped),
        (draft, running),
        (None, draft),
    ]
    assert (draft["status"], running["status"], stopped["status"]) == ("draft", "running", "stopped")
    for e in rows:
        timed(e, t0)


def test_segment_definitions_are_audited(any_client):
    c, t0 = any_client, time.time()
    rule = {
        "id": "buyers",
        "name": "Buyers",
        "rule": {"type": "event_count", "event": "Order Completed", "window_days": 30, "value": 1},
    }
    ok(c.post("/v1/segments", json=rule, headers=ADMIN), 201)
    ok(c.put("/v1/segments/buyers", json={**rule, "name": "Customers"}, headers=ADMIN))
    for i in range(6):  # six customers: enough to fit RFM thresholds
        ok(c.post("/v1/batch", json=_orders(f"c{i}", 6 - i)))
    c.app.state.services.segments.wait_idle()
    ok(c.post("/v1/segments", json={"id": "rfm", "name": "RFM", "kind": "rfm"}, headers=ADMIN), 201)
    retrained = ok(c.post("/v1/segments/rfm/retrain", headers=ADMIN))
    ok(c.delete("/v1/segments/buyers", headers=ADMIN))
    rows = audit(c, kind="segment")
    assert [(e["kind"], e["subject"], e["actor"]) for e in rows] == [
        ("segment.delete", "segment:buyers", "admin_key"),
        ("segment.retrain", "segment:rfm", "admin_key"),
        ("segment.create", "segment:rfm", "admin_key"),
        ("segment.replace", "segment:buyers", "admin_key"),
        ("segment.create", "segment:buyers", "admin_key"),
    ]
    delete, retrain, create_rfm, replace, create = rows
    assert create["before"] is None and create["after"]["name"] == "Buyers" and create["after"]["rule"]
    assert replace["before"] == create["after"] and replace["after"]["name"] == "Customers"
    assert delete["before"] == replace["after"] and delete["after"] is None
    assert retrain["before"] == create_rfm["after"]
    assert retrain["after"]["fitted"]["customers"] == retrained["fitted"]["customers"] == 6
    for e in rows:
        timed(e, t0)


def test_items_are_audited(any_client):
    c, t0 = any_client, time.time()
    ok(c.post("/v1/items", json={"items": [{"item_id": "mug", "title": "Mug"}, {"item_id": "cup"}]}, headers=ADMIN))
    ok(c.post("/v1/items", json={"items": [{"item_id": "mug", "title": "Red mug", "tags": ["red"]}]}, headers=ADMIN))
    ok(c.delete("/v1/items/cup", headers=ADMIN))
    assert c.delete("/v1/items/cup", headers=ADMIN).status_code == 404  # nothing deleted: no row
    delete, update, create = rows = audit(c, kind="item")
    assert [(e["kind"], e["subject"], e["actor"]) for e in rows] == [
        ("item.delete", "item:cup", "admin_key"),
        ("item.upsert", "item:mug", "admin_key"),
        ("item.upsert", None, "admin_key"),  # two items: the ids are in before/after
    ]
    assert create["before"] == {} and set(create["after"]) == {"mug", "cup"}
    assert create["detail"] == {"count": 2, "created": 2}
    assert update["before"] == {"mug": create["after"]["mug"]}
    assert update["after"]["mug"]["title"] == "Red mug" and update["after"]["mug"]["tags"] == ["red"]
    assert delete["before"] == create["after"]["cup"] and delete["after"] is None
    for e in rows:
        timed(e, t0)


def test_a_large_catalogue_write_lists_its_ids_and_keeps_some_bodies(services):
    from pertinent.recommend.items import AUDIT_BODIES

    n = AUDIT_BODIES + 5
    services.recommend.upsert_items([{"item_id": f"i{k}"} for k in range(n)], Actor.cli())
    [row] = services.audit.page(kind="item").entries
    assert row.actor.startswith("cli") and row.detail is not None
    assert row.detail["count"] == n and row.detail["ids"] == [f"i{k}" for k in range(n)]
    assert len(row.after) == AUDIT_BODIES


def test_merges_are_audited_by_profile_id_and_erasure_takes_them(any_client):
    c, t0 = any_client, time.time()
    ok(c.post("/v1/track", json={"anonymousId": "anon-7", "event": "Product Viewed"}))
    anon = ok(c.get("/v1/profiles/anon-7", headers=ADMIN))["profile_id"]
    ok(c.post("/v1/identify", json={"userId": "ann@example.com", "anonymousId": "anon-7"}))
    ok(c.post("/v1/track", json={"userId": "bob@example.com", "event": "Product Viewed"}))
    bob = ok(c.get("/v1/profiles/bob@example.com", headers=ADMIN))["profile_id"]
    ok(c.post("/v1/alias", json={"previousId": "bob@example.com", "userId": "ann@example.com"}))
    ann = ok(c.get("/v1/profiles/ann@example.com", headers=ADMIN))["profile_id"]
    alias, identify = rows = audit(c, kind="identity")
    assert [(e["kind"], e["subject"], e["actor"]) for e in rows] == [
        ("identity.merge", ann, "write_key"),
        ("identity.merge", ann, "write_key"),
    ]
    assert (identify["before"], identify["after"]) == ([anon, ann], ann)
    assert identify["detail"] == {"via": "identify", "known_user": False}
    assert (alias["before"], alias["after"]) == ([bob, ann], ann)
    assert alias["detail"] == {"via": "alias", "known_user": True}
    for e in rows:
        timed(e, t0)
    text = json.dumps(audit(c))
    assert "example.com" not in text and "anon-7" not in text  # people appear by pseudonymous profile id only

    erased = ok(c.delete("/v1/users/ann@example.com", headers=ADMIN))
    assert erased["deleted"]["audit_log"] == 2  # the merges say when the person logged in: erased with them
    [erase] = audit(c, subject=ann)
    assert (erase["kind"], erase["actor"], erase["after"]) == ("erase", "admin_key", None)
    assert erase["before"]["rows"]["events"] == 4  # ann's, the anonymous visit's and bob's
    assert audit(c, kind="identity") == []


def test_export_is_audited(any_client):
    c = any_client
    ok(c.post("/v1/track", json={"userId": "ann", "event": "Product Viewed", "context": consent_ctx(True, True)}))
    pid = ok(c.get("/v1/users/ann/export", headers=ADMIN))["profile_id"]
    [row] = audit(c, kind="export")
    assert (row["subject"], row["actor"], row["detail"]) == (pid, "admin_key", {"events": 1})


def _views(n_users: int = 6) -> list[dict[str, Any]]:
    return [
        {"type": "track", "event": "Product Viewed", "userId": f"u{u}", "properties": {"product_id": f"p{(u + j) % 5}"}}
        for u in range(n_users)
        for j in range(3)
    ]


def test_model_training_is_audited_with_the_version_it_replaces(services, tmp_path):
    services.ingest.ingest(_views(), prefix="batch")
    first = train_from_store(services.store, tmp_path, "popularity", actor=Actor.cli())
    services.recommend.config.retrain_interval_s = 1e-9
    services.recommend.config.model = "popularity"
    services.ingest.ingest(
        [{"type": "track", "event": "Product Viewed", "userId": "z", "properties": {"product_id": "p9"}}]
    )
    second = Retrainer(services.recommend).run_once()
    assert first.version == "v1" and second is not None and second.version == "v2"
    scheduled, manual = services.audit.page(kind="model.train").entries
    assert manual.actor.startswith("cli") and scheduled.actor == "system:retrain"
    assert manual.subject == scheduled.subject == "model:popularity"
    assert manual.before is None and manual.after["version"] == "v1" and manual.after["n_users"] == 6
    assert scheduled.before == {"version": "v1"} and scheduled.after["version"] == "v2"


def test_cli_changes_are_audited_as_the_command_line(store, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pertinent.cli import app

    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PERTINENT_DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    for name, value in (("WRITE_KEY", WRITE_KEY), ("ADMIN_KEY", "ak"), ("PSEUDONYM_KEYS", "pk")):
        monkeypatch.setenv(f"PERTINENT_{name}", value)
    runner = CliRunner()
    (tmp_path / "items.csv").write_text("item_id,title\na1,Mug\n")
    (tmp_path / "seg.json").write_text(json.dumps({"template": "browsers"}))
    for args in (
        ["items", "import", str(tmp_path / "items.csv")],
        ["segments", "create", "--file", str(tmp_path / "seg.json")],
        ["segments", "delete", "browsers"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
    with store.transaction(write=False) as tx:
        rows = tx.audit_entries()
    expected = str(Actor.cli())
    assert [(r.action, r.subject, r.actor) for r in rows] == [
        ("segment.delete", "segment:browsers", expected),
        ("segment.create", "segment:browsers", expected),
        ("item.upsert", "item:a1", expected),
    ]
    assert expected.startswith("cli")


# ------------------------------------------------------------------------------------------ keys and settings
def _start(settings_: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start and stop the server's app once (its lifespan builds and closes its own services)."""
    monkeypatch.setattr("pertinent.api.app.gc.freeze", lambda: None)  # not this test process's collector
    monkeypatch.setattr("pertinent.api.app.gc.set_threshold", lambda *a: None)
    with TestClient(create_app(settings_)) as c:
        assert c.get("/healthz").status_code == 200


def test_key_rotation_and_settings_changes_are_recorded_at_start(store, tmp_path, monkeypatch):
    url = store.engine.url.render_as_string(hide_password=False)
    secrets = {"write_key": "wk-secret-1", "admin_key": "ak-secret-1", "pseudonym_keys": ["pk-secret-1"]}
    first = make_settings(tmp_path, database_url=url, **secrets)
    _start(first, monkeypatch)
    _start(first, monkeypatch)  # nothing changed: nothing recorded
    rotated = {**secrets, "pseudonym_keys": ["pk-secret-2", "pk-secret-1"]}
    _start(make_settings(tmp_path, database_url=url, recommend={"model": "ease"}, **rotated), monkeypatch)
    svc = Services.build(first, store)
    try:
        rows = svc.audit.page().entries
    finally:
        svc.segments.close()
    assert [(e.kind, e.subject, e.actor) for e in rows] == [
        ("settings.change", "settings", "system:startup"),
        ("keys.rotate", "keys", "system:startup"),
        ("settings.change", "settings", "system:startup"),
        ("keys.rotate", "keys", "system:startup"),
    ]
    settings_now, keys_now, settings_first, keys_first = rows
    assert keys_first.before is None
    assert keys_first.after == {
        "write_key": fingerprint("wk-secret-1"),
        "admin_key": fingerprint("ak-secret-1"),
        "pseudonym_keys": [fingerprint("pk-secret-1")],
        "identity_secret": None,  # a secret too (unset here): recorded by fingerprint, never in clear
    }
    assert keys_now.before == {"pseudonym_keys": [fingerprint("pk-secret-1")]}
    assert keys_now.after == {"pseudonym_keys": [fingerprint("pk-secret-2"), fingerprint("pk-secret-1")]}
    assert settings_first.before is None and settings_first.after["recommend.model"] == "default"
    assert settings_now.before == {"recommend.model": "default"} and settings_now.after == {"recommend.model": "ease"}
    text = json.dumps([e.model_dump() for e in rows])
    assert "secret-" not in text  # keys by fingerprint only
    if store.backend == "postgres":
        assert store.engine.url.password is None or store.engine.url.password not in text


def test_a_database_password_never_enters_the_log(services):
    s = services.settings.model_copy(update={"database_url": "postgresql+psycopg://app:hunter2@db:5432/p"})
    services.audit.record_configuration(s)
    [settings_row, _keys] = services.audit.page().entries
    assert settings_row.after["database_url"] == "postgresql+psycopg://app:***@db:5432/p"
    assert "hunter2" not in json.dumps(settings_row.model_dump())


# ------------------------------------------------------------------------------------------ reading the log
def test_pages_and_filters(any_client):
    c = any_client
    t0 = time.time()
    for i in range(5):
        ok(c.put(f"/v1/blocks/b{i}", json=HEADLINE, headers=ADMIN))
    ok(c.delete("/v1/blocks/b0", headers=ADMIN))
    ok(c.post("/v1/items", json={"items": [{"item_id": "x"}]}, headers=ADMIN))
    everything = audit(c)
    assert [e["kind"] for e in everything] == ["item.upsert", "block.delete"] + ["block.put"] * 5
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = ok(c.get("/v1/audit", params=params, headers=ADMIN))
        seen += [e["id"] for e in page["entries"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    assert [e["subject"] for e in audit(c, kind="block.put", limit=2)] == ["block:b4", "block:b3"]
    assert [e["kind"] for e in audit(c, subject="block:b0")] == ["block.delete", "block.put"]
    assert len(audit(c, actor="admin_key")) == 7 and audit(c, actor="cli") == []
    assert audit(c, since=time.time() + 60) == [] and len(audit(c, since=t0, until=time.time() + 1)) == 7
    assert audit(c, until=t0 - 1) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "abc"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"kind": "block put"}, "kind"),
        ({"actor": "a\u0000b"}, "actor"),
        ({"subject": "a\u0000b"}, "subject"),
        ({"since": "nan"}, "since"),
        ({"since": 10, "until": 5}, "until"),
    ],
)
def test_bad_queries_are_400_naming_the_field(any_client, params, field):
    r = any_client.get("/v1/audit", params=params, headers=ADMIN)
    assert r.status_code == 400, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


def test_the_log_needs_the_admin_key(client):
    assert client.get("/v1/audit").status_code == 401  # the client sends the write key (Basic)
    assert client.get("/v1/audit", headers={"Authorization": f"Bearer {WRITE_KEY}"}).status_code == 403


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["kind", "subject", "actor", "since", "until", "cursor", "limit"]),
        st.one_of(st.text(max_size=40), st.integers(-5, 10**20).map(str), st.floats().map(str)),
        max_size=4,
    )
)
def test_no_query_gives_a_500(client, params):
    r = client.get("/v1/audit", params=params, headers=ADMIN)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["errors"][0]["field"] in params


def test_audit_page_is_typed_in_the_openapi_document(client):
    doc = client.get("/openapi.json").json()
    schema = doc["paths"]["/v1/audit"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AuditPage"}
    assert set(doc["components"]["schemas"]["AuditEntry"]["properties"]) >= {
        "id",
        "at",
        "actor",
        "kind",
        "subject",
        "before",
        "after",
    }
