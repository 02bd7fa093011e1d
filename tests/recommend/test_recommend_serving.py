"""The serving path of recommendations: the per-profile cache of finished lists (what invalidates an entry), the
history row built from the training matrix, and the lean routes of the hot GET endpoints."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import pertinent.recommend.lists as lists_module
import pertinent.recommend.serving as serving_module
from pertinent.api.app import create_app
from pertinent.recommend.config import BusinessRules
from pertinent.recommend.items import catalogue_from_rows
from pertinent.recommend.lists import history_row
from pertinent.recommend.registry import ModelRegistry
from pertinent.recommend.service import RecommendService
from pertinent.recommend.training import train_from_store
from pertinent.services import Services
from pertinent.storage.base import EventRow, ItemRow
from tests.support.common import ADMIN, WRITE_KEY, make_settings

BASIC = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}
ITEMS = [f"i{n}" for n in range(12)]


def views(prefix: str, user: str, items: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "userId": user,
            "event": "Product Viewed",
            "properties": {"product_id": item},
            "context": CONSENT,
            "messageId": f"{prefix}-{user}-{item}",
        }
        for item in items
    ]


@pytest.fixture()
def svc(tmp_path: Path) -> Iterator[Services]:
    services = Services.build(make_settings(tmp_path, recommend={"model": "ease", "reload_interval_s": 0}))
    services.store.migrate()
    events = []
    for u in range(30):  # overlapping item sets: EASE learns co-occurrence
        events += views("train", f"u{u}", [ITEMS[(u + j) % len(ITEMS)] for j in range(4)])
    services.ingest.ingest(events, prefix="batch")
    services.recommend.upsert_items([{"item_id": i, "title": f"Item {i}", "categories": ["c"]} for i in ITEMS])
    assert train_from_store(services.store, tmp_path, model="ease").version == "v1"
    yield services
    services.close()


def ids(body: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def profile_of(svc: Services, user: str) -> str:
    with svc.store.transaction(write=False) as tx:
        pid = svc.profiles.find(tx, user)
    assert pid is not None
    return pid


def test_a_repeated_request_is_answered_from_the_cache(svc: Services) -> None:
    rec = svc.recommend
    first = rec.recommend("u1", k=5)
    pid = profile_of(svc, "u1")
    assert first["source"] == "model" and [k for k in rec.lists._results if k[0] == pid]
    assert rec.recommend("u1", k=5) == first
    first["items"][0]["item_id"] = "changed by the caller"  # the cache keeps its own copy
    assert rec.recommend("u1", k=5)["items"][0]["item_id"] != "changed by the caller"
    assert rec.recommend("u1", k=3)["items"] == rec.recommend("u1", k=5)["items"][:3]  # k is part of the key


def test_a_new_event_gives_a_new_list(svc: Services) -> None:
    rec = svc.recommend
    before = rec.recommend("u2", k=5)
    top = before["items"][0]["item_id"]
    svc.ingest.ingest(views("new", "u2", [top]), prefix="batch")
    after = rec.recommend("u2", k=5)
    assert top not in ids(after) and after["version"] == before["version"]


def test_erasure_removes_the_cached_lists(svc: Services) -> None:
    rec = svc.recommend
    pid = profile_of(svc, "u3")
    assert rec.recommend("u3", k=5)["source"] == "model" and any(k[0] == pid for k in rec.lists._results)
    svc.privacy.erase("u3")
    assert not any(k[0] == pid for k in rec.lists._results)
    assert rec.recommend("u3", k=5)["source"] == "popularity"


def test_a_new_model_version_gives_new_results(svc: Services, tmp_path: Path) -> None:
    rec = svc.recommend
    assert rec.recommend("u4", k=5)["version"] == "v1"
    registry = ModelRegistry.for_data_dir(tmp_path)
    model = registry.load("ease", "v1")
    model.weights = np.zeros_like(model.weights)  # a version that scores every item 0: ranks by index order
    model.weights[:, -1] = 1.0  # ... except the last item, first for everyone who has not seen it
    v2 = registry.save("ease", model)
    rec.refresh_model()  # what training in this process does (another process's version: the background check)
    after = rec.recommend("u4", k=5)
    assert after["version"] == v2 != "v1"
    assert after["items"][0]["item_id"] == str(model.item_ids[-1])


def test_a_due_model_check_never_keeps_a_request_waiting(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    rec = svc.recommend
    assert rec.recommend("u4", k=3)["version"] == "v1"
    rec.popularity()  # loaded, as once any unknown visitor asked: what runs_inline waits for
    registry = ModelRegistry.for_data_dir(tmp_path)
    v2 = registry.save("ease", registry.load("ease", "v1"))  # as another process would
    started, release = threading.Event(), threading.Event()
    original = rec.registry.load

    def slow_load(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(rec.registry, "load", slow_load)
    assert rec.recommend("u4", k=3)["version"] == "v1"  # answered while v2 is being loaded
    assert started.wait(10) and rec.runs_inline()
    assert rec.recommend("u4", k=3)["version"] == "v1"
    release.set()
    rec.wait_background(30)
    assert rec.recommend("u4", k=3)["version"] == v2


def test_catalogue_changes_and_configured_rules_are_never_served_stale(svc: Services) -> None:
    rec = svc.recommend
    plain = ids(rec.recommend("u5", k=5))
    assert rec.delete_item(plain[0])
    assert plain[0] not in ids(rec.recommend("u5", k=5))
    rec.config.rules = BusinessRules(bury=[plain[1]])
    try:
        assert plain[1] not in ids(rec.recommend("u5", k=3))
    finally:
        rec.config.rules = BusinessRules()
    assert plain[1] in ids(rec.recommend("u5", k=5))


def test_withdrawn_consent_is_checked_before_the_cache(svc: Services) -> None:
    rec = svc.recommend
    assert rec.recommend("u6", k=5)["source"] == "model"
    svc.privacy.set_consent({"personalization": False}, user_id="u6")
    assert rec.recommend("u6", k=5)["source"] == "popularity"


class _Clock:
    """``time`` for the serving modules with a settable wall clock (``monotonic`` stays real)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        import time

        return time.monotonic()


def test_a_list_expires_when_an_item_becomes_available(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    rec = svc.recommend
    start = time.time()
    plain = ids(rec.recommend("u7", k=5))
    # the best item is hidden until a moment in the future; the list without it is cached
    rec.upsert_rows([ItemRow(plain[0], title="soon", categories=["c"], available_from=start + 3600, updated_at=start)])
    clock = _Clock(start)
    monkeypatch.setattr(lists_module, "time", clock)  # the cached lists' expiry
    monkeypatch.setattr(serving_module, "time", clock)  # the catalogue's availability
    hidden = ids(rec.recommend("u7", k=5))
    assert plain[0] not in hidden and ids(rec.recommend("u7", k=5)) == hidden
    clock.now = start + 3601  # it is available now: the cached list has expired with it
    assert ids(rec.recommend("u7", k=5))[0] == plain[0]


def test_serving_catalogue_next_change() -> None:
    cat = catalogue_from_rows([ItemRow("a"), ItemRow("b", available_from=100.0, available_until=200.0)])
    aligned = serving_module.ServingCatalogue(cat, np.asarray(["a", "b"], dtype=object), only_listed=True)
    assert aligned.next_change(50.0) == 100.0 and aligned.next_change(150.0) == 200.0
    assert aligned.next_change(250.0) == float("inf")
    ids_ = aligned.item_ids
    assert aligned.available(ids_).tolist() == [True, False]  # (now: b expired long ago)
    with pytest.raises(ValueError):
        aligned.available(ids_)[0] = False  # the shared mask is read-only


def test_history_row_merges_recent_items_with_training(svc: Services) -> None:
    rec = svc.recommend
    _version, model = rec.model()
    assert model is not None
    pid = profile_of(svc, "u8")
    trained = model.history_for(pid)
    row = history_row(model, pid, [])
    assert row.indices.tolist() == trained.indices.tolist() and row.data.tolist() == trained.data.tolist()
    assert row.data.base is None or not np.shares_memory(row.data, model._train_rows.data)
    extra = next(i for i in ITEMS if model.item_index[i] not in set(trained.indices.tolist()))
    merged = history_row(model, pid, [[extra, "Product Viewed", 0.0, 5.0], ["unknown", "x", 0.0, 1.0]])
    j = model.item_index[extra]
    assert dict(zip(merged.indices.tolist(), merged.data.tolist(), strict=True))[j] == 5.0
    assert merged.nnz == trained.nnz + 1 and list(merged.indices) == sorted(merged.indices)
    assert history_row(model, None, []).nnz == 0


def test_event_rows_are_read_by_position() -> None:
    from pertinent.storage.sqlutil import EVENT_COLS as _EVENT_COLS

    assert [f.name for f in dataclasses.fields(EventRow)][: len(_EVENT_COLS)] == _EVENT_COLS


def test_hot_routes_take_the_fast_lane_and_stay_documented(svc: Services) -> None:
    app = create_app(svc.settings, services=svc)
    assert set(app.fast_lane) == {"/v1/decide", "/v1/recommendations"}
    paths = app.openapi()["paths"]
    params = {p["name"] for p in paths["/v1/recommendations"]["get"]["parameters"]}
    assert {"user_id", "k", "include_categories", "pin", "boost", "diversity"} <= params
    decide_params = {p["name"] for p in paths["/v1/decide"]["get"]["parameters"]}
    assert {"slot", "user_id", "anonymous_id", "timezone"} <= decide_params
    with TestClient(app, raise_server_exceptions=False) as api:
        for origin in ({}, {"Origin": "https://shop.example"}):  # fast lane, then the full stack (CORS)

            def get(path: str, params: dict, headers: dict | None = None, origin: dict = origin) -> Any:
                return api.get(path, params=params, headers={**(headers or {}), **origin})

            body = get("/v1/recommendations", {"user_id": "u9", "k": 3}, BASIC).json()
            assert body["source"] == "model" and len(body["items"]) == 3
            assert get("/v1/recommendations", {"user_id": "u9"}, ADMIN).status_code == 200
            assert get("/v1/recommendations", {"user_id": "u9"}).status_code == 401
            bad = get("/v1/recommendations", {"user_id": "u9", "k": "x"}, BASIC)
            assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "k"
            assert get("/v1/decide", {"slot": "none", "user_id": "u9"}, BASIC).status_code == 404
            assert get("/v1/decide", {"user_id": "u9"}, BASIC).json()["errors"][0]["field"] == "slot"
            assert ("access-control-allow-origin" in bad.headers) == bool(origin)


def test_a_bug_in_the_fast_lane_is_a_logged_json_500(
    svc: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("bug")

    app = create_app(svc.settings, services=svc)
    monkeypatch.setattr(svc.recommend, "recommend", broken)
    with TestClient(app, raise_server_exceptions=False) as api:
        res = api.get("/v1/recommendations", params={"user_id": "u9"}, headers=BASIC)
    assert res.status_code == 500 and res.json()["code"] == "internal_error"
    assert any("unhandled error" in r.message for r in caplog.records)


def test_unknown_users_share_one_cached_popularity_list(svc: Services) -> None:
    rec = svc.recommend
    a, b = rec.recommend("stranger-a", k=4), rec.recommend("stranger-b", k=4)
    assert a["source"] == b["source"] == "popularity" and a["items"] == b["items"]
    assert a["user_id"] == "stranger-a" and b["user_id"] == "stranger-b"
    assert any(k[0] == "" for k in rec.lists._results)


def test_cached_lists_are_not_tracked_by_the_garbage_collector(svc: Services) -> None:
    import gc

    rec = svc.recommend
    for u in range(10, 20):
        rec.recommend(f"u{u}", k=4)
    for _ in range(3):  # nested tuples are untracked from the inside out, one level per pass
        gc.collect()
    assert rec.lists._results and not any(gc.is_tracked(v) or gc.is_tracked(k) for k, v in rec.lists._results.items())


def reload_popularity(rec: RecommendService) -> Any:
    """A due refresh of the popularity ranking, run to its end: the ranking served afterwards."""
    rec.serving.load_popularity_in_background()
    rec.wait_background(30)
    return rec.popularity()


def test_popularity_is_recomputed_only_after_new_events_or_an_erasure(svc: Services) -> None:
    rec = svc.recommend
    first = reload_popularity(rec)
    assert first is not None and reload_popularity(rec) is first  # nothing new: the same ranking is kept
    # Exposures and other events that are no interaction cannot change the ranking: still the same one.
    svc.ingest.ingest(
        [
            {
                "type": "track",
                "userId": "u20",
                "event": "Experiment Viewed",
                "messageId": "x1",
                "properties": {"experiment_id": "e", "variation_id": "b"},
            }
        ],
        prefix="batch",
    )
    assert reload_popularity(rec) is first
    svc.ingest.ingest(views("more", "u20", ["i0"]), prefix="batch")
    second = reload_popularity(rec)
    assert second is not first
    pid = profile_of(svc, "u21")
    assert pid in second.user_index
    svc.privacy.erase("u21")
    assert pid not in second.user_index  # at once; and the next refresh recomputes without the events
    third = reload_popularity(rec)
    assert third is not second and pid not in third.user_index


def test_known_users_alone_get_served_inline_once_popularity_loaded_in_the_background(tmp_path: Path) -> None:
    services = Services.build(make_settings(tmp_path, recommend={"model": "ease", "reload_interval_s": 3600}))
    services.store.migrate()
    try:
        services.ingest.ingest(views("train", "u1", ITEMS[:4]) + views("train", "u2", ITEMS[2:6]), prefix="batch")
        services.recommend.upsert_items([{"item_id": i, "title": i, "categories": ["c"]} for i in ITEMS])
        train_from_store(services.store, tmp_path, model="ease")
        rec = services.recommend
        assert rec.recommend("u1", k=2)["source"] == "model"  # model and catalogue loaded; popularity never asked
        assert not rec.serving.popularity_loaded() and rec.runs_inline() is False  # which starts loading it
        rec.wait_background(30)
        assert rec.serving.popularity_loaded() and rec.runs_inline() is True
    finally:
        services.close()
