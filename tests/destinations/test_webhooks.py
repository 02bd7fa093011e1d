"""Webhook destinations against a real HTTP receiver on a loopback port: signed deliveries, retries with backoff,
the dead-letter list and its replay (service, admin API and CLI), opt-outs, segment changes, restarts, merges,
and export and erasure of the outbox (both backends)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertinent.services import Services
from pertinent.storage.sql import SqlStore
from tests.support.common import ADMIN, api_client, make_settings
from tests.support.receiver import Receiver

SECRET = "hook-secret"
RULE = {"type": "event_count", "event": "Order Completed", "window_days": 30, "value": 1}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([200])
    yield r
    r.stop()


def _build(tmp_path: Path, store: SqlStore, url: str, **hook: Any) -> Services:
    webhook = {"name": "hook", "url": url, "secret": SECRET, "backoff_s": 0, "max_attempts": 3, **hook}
    return Services.build(make_settings(tmp_path, destinations={"webhooks": [webhook]}), store)


@pytest.fixture
def hooked(tmp_path: Path, store: SqlStore, receiver: Receiver) -> Iterator[Services]:
    svc = _build(tmp_path, store, receiver.url)
    yield svc
    svc.segments.close()
    svc.destinations.close()


def _track(svc: Services, user: str = "u1", event: str = "Order Completed", **extra: Any) -> None:
    msg = {"type": "track", "userId": user, "event": event, "properties": {"revenue": 12.5}, **extra}
    result = svc.ingest.ingest([msg])
    assert result.stored == 1, result.errors


def _outbox(svc: Services, status: str | None = None) -> list[Any]:
    with svc.store.transaction(write=False) as tx:
        return tx.deliveries(status, None, 0, 1000)


def test_delivery_is_signed_and_shaped_like_segment(hooked, receiver):
    _track(hooked, messageId="m-1", context={"ip": "81.2.69.142"}, integrations={"Mixpanel": False})
    assert len(_outbox(hooked, "pending")) == 1  # queued in the ingest transaction
    assert hooked.destinations.deliver_due().delivered == 1
    (got,) = receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-pertinent-signature"] == expected
    assert got.headers["content-type"] == "application/json" and got.headers["x-pertinent-attempt"] == "1"
    body = got.json
    assert body["type"] == "track" and body["event"] == "Order Completed" and body["messageId"] == "m-1"
    assert body["userId"] == "u1" and body["profileId"].startswith("u_")
    assert body["properties"] == {"revenue": 12.5} and body["integrations"] == {"Mixpanel": False}
    assert body["context"]["ip"] == "81.2.69.0" and body["context"]["location"]["country"] == "GB"
    assert _outbox(hooked) == []  # delivered rows are deleted


def test_receiver_failing_twice_then_succeeding(hooked, receiver):
    receiver.answer(503, 500, 200)
    _track(hooked)
    first = hooked.destinations.deliver_due()
    assert (first.delivered, first.retried, first.dead) == (0, 1, 0)
    (row,) = _outbox(hooked, "pending")
    assert row.attempts == 1 and row.last_error.startswith("HTTP 503")
    assert hooked.destinations.deliver_due().retried == 1
    assert hooked.destinations.deliver_due().delivered == 1
    assert [r.headers["x-pertinent-attempt"] for r in receiver.received] == ["1", "2", "3"]
    assert len({r.headers["x-pertinent-delivery"] for r in receiver.received}) == 1  # one delivery, retried
    assert len({r.json["messageId"] for r in receiver.received}) == 1
    assert _outbox(hooked) == []


def test_backoff_doubles_until_due(tmp_path, store, receiver):
    receiver.answer(500)
    svc = _build(tmp_path, store, receiver.url, backoff_s=10.0, max_backoff_s=15.0, max_attempts=5)
    try:
        _track(svc)
        (queued,) = _outbox(svc)
        now = [queued.next_at]  # queued due at once
        svc.destinations.clock = lambda: now[0]
        assert svc.destinations.deliver_due(now=now[0]).retried == 1
        (row,) = _outbox(svc)
        assert row.attempts == 1 and row.next_at == now[0] + 10.0
        assert svc.destinations.deliver_due(now=now[0] + 9.0).retried == 0  # not due yet
        assert svc.destinations.deliver_due(now=now[0] + 10.0).retried == 1
        (row,) = _outbox(svc)
        assert row.next_at == now[0] + 15.0  # 20 s capped at max_backoff_s
    finally:
        svc.destinations.close()
        svc.segments.close()


def test_always_failing_goes_dead_then_replays_over_the_api(tmp_path, store, receiver):
    receiver.answer(500)
    svc = _build(tmp_path, store, receiver.url)
    try:
        for c in api_client(svc):
            assert c.post("/v1/track", json={"userId": "u1", "event": "Signed Up"}).status_code == 200
            for _ in range(3):
                svc.destinations.deliver_due()
            assert len(receiver.received) == 3  # max_attempts
            listed = c.get("/v1/destinations", headers=ADMIN).json()["destinations"]
            assert listed == [{"name": "hook", "url": receiver.url, "pending": 0, "dead": 1}]
            page = c.get("/v1/destinations/hook/deliveries", headers=ADMIN).json()
            (dead,) = page["deliveries"]
            assert dead["status"] == "dead" and dead["attempts"] == 3 and dead["last_error"].startswith("HTTP 500")
            assert dead["payload"]["event"] == "Signed Up"
            assert svc.destinations.deliver_due().delivered == 0  # dead letters are not retried on their own
            receiver.answer(200)  # the receiver is fixed
            r = c.post("/v1/destinations/hook/replay", headers=ADMIN)
            assert r.status_code == 200 and r.json() == {"destination": "hook", "requeued": 1}
            assert svc.destinations.deliver_due().delivered == 1
            assert receiver.received[-1].json["event"] == "Signed Up"
            assert c.get("/v1/destinations/hook/deliveries", headers=ADMIN).json()["deliveries"] == []
            audit = c.get("/v1/audit", headers=ADMIN).json()["entries"]
            assert any(e["kind"] == "destination.replay" and e["actor"] == "admin_key" for e in audit)
            # errors name the field
            assert c.get("/v1/destinations/nope/deliveries", headers=ADMIN).status_code == 404
            assert c.get("/v1/destinations/hook/deliveries?limit=0", headers=ADMIN).status_code == 400
            assert c.post("/v1/destinations/hook/replay", json={"ids": ["x"]}, headers=ADMIN).status_code == 400
            assert c.get("/v1/destinations").status_code == 401
    finally:
        svc.destinations.close()
        svc.segments.close()


def test_a_client_error_is_dead_at_once_and_replays_by_id(hooked, receiver):
    receiver.answer(404)
    _track(hooked, user="a")
    _track(hooked, user="b")
    assert hooked.destinations.deliver_due().dead == 2
    first, second = _outbox(hooked, "dead")
    receiver.answer(200)
    assert hooked.destinations.replay("hook", [second.id]).requeued == 1
    assert hooked.destinations.deliver_due().delivered == 1
    assert [r.id for r in _outbox(hooked, "dead")] == [first.id]


def test_integrations_and_filters_opt_messages_out(tmp_path, store, receiver):
    svc = _build(tmp_path, store, receiver.url, events=["Order Completed"], types=["track", "identify"])
    try:
        _track(svc, integrations={"All": False})
        _track(svc, integrations={"Webhook": False})
        _track(svc, event="Product Viewed")  # not in events
        assert svc.ingest.ingest([{"type": "page", "userId": "u1", "name": "Home"}]).stored == 1  # not in types
        assert _outbox(svc) == []
        _track(svc, integrations={"All": False, "Webhook": True})
        assert svc.ingest.ingest([{"type": "identify", "userId": "u1", "traits": {"email": "a@b.test"}}]).stored == 1
        kinds = sorted(r.kind for r in _outbox(svc))
        assert kinds == ["identify", "track"]
        identify = next(r for r in _outbox(svc) if r.kind == "identify")
        assert identify.payload["traits"]["email"] != "a@b.test"  # as stored: PII pseudonymised
    finally:
        svc.destinations.close()
        svc.segments.close()


def test_raw_traits_when_asked(tmp_path, store, receiver):
    svc = _build(tmp_path, store, receiver.url, raw_traits=True, types=["identify"])
    try:
        assert svc.ingest.ingest([{"type": "identify", "userId": "u1", "traits": {"email": "a@b.test"}}]).stored == 1
        (row,) = _outbox(svc)
        assert row.payload["traits"] == {"email": "a@b.test"}
    finally:
        svc.destinations.close()
        svc.segments.close()


def test_segment_entries_and_exits_are_forwarded(hooked, receiver):
    hooked.segments.create({"id": "buyers", "name": "Buyers", "rule": RULE}, backfill="none")
    _track(hooked)
    assert hooked.segments.wait_idle(30)
    rows = [r for r in _outbox(hooked) if r.kind == "segment"]
    assert len(rows) == 1 and rows[0].payload["event"] == "Segment Entered"
    assert rows[0].payload["properties"] == {"segment_id": "buyers", "entered": True}
    assert hooked.destinations.deliver_due().delivered == 2  # the order and the entry
    assert {r.json["event"] for r in receiver.received} == {"Order Completed", "Segment Entered"}
    profile_id = receiver.received[0].json["profileId"]
    assert {r.json["profileId"] for r in receiver.received} == {profile_id}  # joins the entry to the user


def test_outbox_survives_a_restart(tmp_path, store, receiver):
    first = _build(tmp_path, store, receiver.url)
    _track(first)
    first.segments.close()
    first.destinations.close()  # the process stops before delivering
    second = _build(tmp_path, store, receiver.url)
    try:
        assert second.destinations.deliver_due().delivered == 1
        assert receiver.received[0].json["userId"] == "u1"
    finally:
        second.segments.close()
        second.destinations.close()


def test_background_delivery_after_commit(hooked, receiver):
    hooked.destinations.start()
    _track(hooked)
    assert hooked.destinations.wait_idle(30)
    assert len(receiver.received) == 1 and _outbox(hooked) == []


def test_merged_profiles_take_their_deliveries_and_erasure_removes_them(hooked, receiver):
    receiver.answer(404)
    assert hooked.ingest.ingest([{"type": "track", "anonymousId": "anon-1", "event": "Viewed"}]).stored == 1
    hooked.destinations.deliver_due()  # dead
    assert hooked.ingest.ingest([{"type": "identify", "userId": "ann", "anonymousId": "anon-1"}]).stored == 1
    export = hooked.privacy.export("ann")
    assert export.profile_id.startswith("u_")
    kinds = sorted(d["kind"] for d in export.destination_deliveries)
    assert kinds == ["identify", "track"]  # the anonymous visitor's dead letter moved with the merge
    assert all(d["profile_id"] == export.profile_id for d in export.destination_deliveries)
    erased = hooked.privacy.erase("ann")
    assert erased.deleted["destination_outbox"] == 2
    assert _outbox(hooked) == []


def test_no_webhook_no_outbox(tmp_path, store):
    svc = Services.build(make_settings(tmp_path), store)
    try:
        _track(svc)
        assert _outbox(svc) == [] and svc.destinations.statuses().destinations == []
    finally:
        svc.segments.close()


def test_cli_lists_dead_letters_and_replays(tmp_path, monkeypatch, receiver):
    import orjson
    from typer.testing import CliRunner

    from pertinent.cli import app

    receiver.answer(500)
    hook = {"name": "hook", "url": receiver.url, "backoff_s": 0, "max_attempts": 1}
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PERTINENT_DESTINATIONS__WEBHOOKS", orjson.dumps([hook]).decode())
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    runner = CliRunner()
    from pertinent.privacy.keys import ensure_keys
    from pertinent.settings import load_settings

    svc = Services.build(ensure_keys(load_settings()))  # what the CLI reads: the same data directory and webhooks
    try:
        _track(svc, event="Signed Up")
    finally:
        svc.close()
    out = runner.invoke(app, ["destinations", "deliver"])
    assert out.exit_code == 0 and "dead 1" in out.output, out.output
    out = runner.invoke(app, ["destinations", "list"])
    assert "hook" in out.output and "dead 1" in out.output
    out = runner.invoke(app, ["destinations", "dead", "hook"])
    assert out.exit_code == 0 and "Signed Up" in out.output and "HTTP 500" in out.output
    receiver.answer(200)
    out = runner.invoke(app, ["destinations", "replay", "hook"])
    assert out.exit_code == 0 and "requeued 1; delivered 1" in out.output, out.output
    assert runner.invoke(app, ["destinations", "dead", "nope"]).exit_code == 2
