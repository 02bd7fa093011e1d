"""Background work of recommendation serving. Scheduled retraining: the running server retrains from new events
and serves the new version without a restart; rounds without new events, or too soon after the last version,
train nothing. Expired popularity and catalogue caches are reloaded off the request path."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from pertinent.api.app import create_app
from pertinent.recommend.registry import ModelRegistry
from pertinent.recommend.retrain import Retrainer
from pertinent.services import Services
from pertinent.storage.claims import StoreClaims
from tests.support.common import WRITE_KEY, make_settings

BASIC = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}


def views(prefix: str, users: range, items: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "userId": f"u{u}",
            "event": "Product Viewed",
            "properties": {"product_id": item},
            "context": CONSENT,
            "messageId": f"{prefix}-{u}-{item}",
        }
        for u in users
        for item in items
    ]


def wait_for(check: Any, limit_s: float = 60.0) -> Any:
    """Poll ``check`` until it returns something truthy (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not reached within {limit_s} s")


def test_server_retrains_on_new_events_and_serves_the_new_version(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, recommend={"model": "popularity", "retrain_interval_s": 0.2, "reload_interval_s": 0}
    )
    svc = Services.build(settings)
    svc.store.migrate()
    svc.ingest.ingest(views("a", range(6), ["a", "b"]) + views("c", range(3, 6), ["c"]), prefix="batch")
    registry = ModelRegistry.for_data_dir(tmp_path)
    try:
        with TestClient(create_app(settings, services=svc)) as api:

            def served() -> dict[str, Any] | None:
                body = api.get("/v1/recommendations", params={"user_id": "u0", "k": 3}, headers=BASIC).json()
                return body if body["source"] == "model" else None

            first = wait_for(served)
            assert first["version"] == "v1" == registry.latest_version("popularity")
            assert registry.meta("popularity")["events_seen"] == 6 * 2 + 3
            assert [i["item_id"] for i in first["items"]] == ["c"]  # u0 saw a and b
            # a new item becomes the most viewed one: the next version must rank it first
            svc.ingest.ingest(views("z", range(10, 30), ["z"]), prefix="batch")
            second = wait_for(lambda: (b := served()) and b["version"] != "v1" and b)
            assert second["version"] == registry.latest_version("popularity")
            assert [i["item_id"] for i in second["items"]] == ["z", "c"]
            assert registry.meta("popularity")["events_seen"] == 6 * 2 + 3 + 20
    finally:
        svc.close()
    assert registry.versions("popularity") == ["v1", "v2"]  # quiet intervals trained nothing


def test_a_round_trains_only_when_due(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, recommend={"model": "popularity", "retrain_interval_s": 3600})
    svc = Services.build(settings)
    svc.store.migrate()
    registry = ModelRegistry.for_data_dir(tmp_path)
    try:
        retrainer = Retrainer(svc.recommend)
        assert retrainer.run_once() is None and registry.versions("popularity") == []  # no events
        svc.ingest.ingest(views("a", range(4), ["a", "b"]), prefix="batch")
        assert retrainer.run_once().version == "v1"  # no version yet: train now
        assert retrainer.run_once() is None  # no new events
        svc.ingest.ingest(views("b", range(4, 8), ["b"]), prefix="batch")
        assert retrainer.run_once() is None  # new events, but v1 is younger than the interval
        svc.recommend.config.retrain_interval_s = 0.001
        assert retrainer.run_once().version == "v2"
        # another worker holding the round's claim: this one skips instead of training the same data again
        svc.ingest.ingest(views("c", range(8, 9), ["c"]), prefix="batch")
        other = StoreClaims(svc.store, holder="other-worker")
        held = other.claim(retrainer.job, 0.001, time.time())
        assert held is not None
        assert retrainer.run_once() is None
        other.release(held, time.time())
        time.sleep(0.01)  # the claim's interval (1 ms) passes
        assert retrainer.run_once().version == "v3"
    finally:
        svc.close()


def test_no_thread_without_an_interval(tmp_path: Path) -> None:
    svc = Services.build(make_settings(tmp_path))
    try:
        assert svc.recommend.config.retrain_interval_s == 0 and svc.recommend.start_retraining() is None
    finally:
        svc.close()


def test_served_model_name_comes_from_settings(tmp_path: Path) -> None:
    svc = Services.build(make_settings(tmp_path, recommend={"model": "ease", "max_k": 7}))
    try:
        assert (svc.recommend.config.model, svc.recommend.config.max_k) == ("ease", 7)
        svc.recommend.config.max_k = 3  # the service's copy: the settings object is not changed
        assert svc.settings.recommend.max_k == 7
    finally:
        svc.close()


def test_a_user_erased_while_a_round_trains_is_erased_from_the_new_version(tmp_path: Path, monkeypatch: Any) -> None:
    import pertinent.recommend.retrain as retrain_module

    settings = make_settings(tmp_path, recommend={"model": "popularity", "retrain_interval_s": 3600})
    svc = Services.build(settings)
    svc.store.migrate()
    registry = ModelRegistry.for_data_dir(tmp_path)
    try:
        svc.ingest.ingest(views("a", range(4), ["a", "b"]), prefix="batch")
        with svc.store.transaction(write=False) as tx:
            victim = svc.profiles.find(tx, "u1")
        real = retrain_module.train_from_store

        def erasure_during_training(*args: Any, **kwargs: Any) -> Any:
            # the erasure lands after this round read the events: no saved version holds the user yet
            assert svc.recommend.forget_user(victim) == 0
            return real(*args, **kwargs)

        monkeypatch.setattr(retrain_module, "train_from_store", erasure_during_training)
        assert Retrainer(svc.recommend).run_once().version == "v1"
        assert registry.user_rows(victim) == []
        with svc.store.transaction(write=False) as tx:
            other = svc.profiles.find(tx, "u2")
        assert registry.user_rows(other)[0]["items"]  # everybody else is still in it
    finally:
        svc.close()


def test_expired_popularity_and_catalogue_are_served_while_they_reload_in_the_background(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, recommend={"popularity_ttl_s": 0, "catalogue_ttl_s": 0})
    svc = Services.build(settings)
    svc.store.migrate()
    rec = svc.recommend
    try:
        svc.ingest.ingest(views("a", range(5), ["a"]) + views("b", range(5, 8), ["b"]), prefix="batch")
        rec.upsert_items([{"item_id": i} for i in ("a", "b", "z")])

        def ranking() -> list[str]:
            return [i["item_id"] for i in rec.recommend("newcomer", k=3)["items"]]

        assert ranking() == ["a", "b"]  # first call: computed synchronously
        svc.ingest.ingest(views("z", range(10, 20), ["z"]), prefix="batch")
        assert ranking() == ["a", "b"]  # expired: the old ranking answers, a refresh starts
        assert wait_for(lambda: ranking() == ["z", "a", "b"])
        with svc.store.transaction() as tx:  # a catalogue change behind the service's back
            from pertinent.storage.base import ItemRow

            tx.upsert_items([ItemRow("z", available_until=1.0, updated_at=time.time())])
        assert wait_for(lambda: ranking() == ["a", "b"])  # the reloaded catalogue says z has expired
    finally:
        svc.close()
