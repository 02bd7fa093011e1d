"""The ranker served end to end: trained from stored events by the function behind ``pertinent train`` (and
scheduled retraining), served by ``/v1/recommendations`` with the profile's newest events and their times, and an
unreadable version on disk never turning into a 500."""

from __future__ import annotations

import base64
import gc
import shutil
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pertinent.api.app import create_app
from pertinent.recommend.ranking.ranker import RankerRecommender
from pertinent.recommend.registry import ModelRegistry
from pertinent.recommend.training import train_from_store
from pertinent.services import Services
from pertinent.synthetic import SyntheticConfig, SyntheticGenerator
from tests.support.common import ADMIN, WRITE_KEY, make_settings

BASIC = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
CONFIG = {"rounds": 20, "min_data_in_leaf": 5}


class Shop:
    def __init__(self, root: Path) -> None:
        self.root = root
        gen = SyntheticGenerator(SyntheticConfig(n_users=150, n_items=60, seed=3))
        self.services = Services.build(
            make_settings(root, recommend={"model": "ranker", "train_config": CONFIG, "result_cache_size": 0})
        )
        self.services.store.migrate()
        messages = [m for b in gen.batches(500) for m in b]
        for start in range(0, len(messages), 500):
            self.services.ingest.ingest(messages[start : start + 500], prefix="batch")
        self.trained = train_from_store(self.services.store, root, "ranker", config=CONFIG)
        self.services.recommend.config.reload_interval_s = 0.0
        self.catalogue = gen.catalogue()
        users = gen.users()
        self.users = [u for u in users[users.user_id.notna() & users.personalization_consent].user_id]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    s = Shop(tmp_path_factory.mktemp("ranker-shop"))
    yield s
    s.services.close()


@pytest.fixture(scope="module")
def api(shop: Shop) -> Iterator[TestClient]:
    with TestClient(create_app(shop.services.settings, services=shop.services), raise_server_exceptions=False) as c:
        items = [
            {"item_id": r.item_id, "title": r.title, "categories": list(r.categories)}
            for r in shop.catalogue.itertuples()
        ]
        assert c.post("/v1/items", json={"items": items}, headers=ADMIN).status_code == 200
        yield c


def test_the_ranker_is_trained_and_served(shop: Shop, api: TestClient) -> None:
    assert shop.trained.version is not None and shop.trained.metrics["report"]["label_users"] > 0
    served = 0
    for user in shop.users[:15]:
        res = api.get("/v1/recommendations", params={"user_id": user, "k": 5}, headers=BASIC)
        assert res.status_code == 200, res.text
        body = res.json()
        if body["source"] == "model":
            served += 1
            assert body["model"] == "ranker" and all(i["reason"] for i in body["items"])
    assert served > 0


def test_a_new_event_reaches_the_ranker_with_its_time(shop: Shop, api: TestClient) -> None:
    user = shop.users[0]
    model = shop.services.recommend.model()[1]
    assert model is not None and model.wants_times()
    item = str(model.item_ids[0])
    event = {
        "type": "track",
        "userId": user,
        "event": "Product Viewed",
        "properties": {"product_id": item},
        "messageId": "ranker-new-view",
    }
    assert api.post("/v1/track", json=event, headers=BASIC).status_code in (200, 202)
    body = api.get("/v1/recommendations", params={"user_id": user, "k": 5}, headers=BASIC).json()
    assert item not in {i["item_id"] for i in body["items"]}  # now seen: excluded


def test_unknown_user_and_unreadable_version_never_a_500(shop: Shop, api: TestClient) -> None:
    res = api.get("/v1/recommendations", params={"user_id": "nobody-at-all", "k": 3}, headers=BASIC)
    assert res.status_code == 200
    registry = ModelRegistry.for_data_dir(shop.root)
    folder = registry.path("ranker")
    # a newer version written by an older Pertinent: config fields this version does not know
    broken = folder.parent / "v99"
    broken.mkdir()
    (broken / "config.json").write_text('{"kind": "ranker", "config": {"old_option": 1}}')
    (broken / "state.npz").write_bytes(b"old")
    (folder.parent / "latest").write_text("v99")
    try:
        shop.services.recommend.refresh_model()
        for user in shop.users[:3]:
            res = api.get("/v1/recommendations", params={"user_id": user, "k": 3}, headers=BASIC)
            assert res.status_code == 200, res.text
    finally:
        (folder.parent / "latest").write_text(folder.name)
        shutil.rmtree(broken)  # later tests in this module serve the trained version


def test_erasure_drops_what_serving_threads_kept_of_the_last_request(shop: Shop) -> None:
    """A serving thread keeps its last one-row answer (the user's history, times and candidate features) for the
    reasons asked next; erasing the user frees it in every thread, one that is still alive included, and that
    thread's next request finds nothing kept."""
    model = shop.services.recommend.model()[1]
    assert isinstance(model, RankerRecommender) and model.booster is not None
    chosen, model.chosen = model.chosen, None  # served by its booster, not by the generator it preferred here
    serving = model.serving()
    assert serving is not None
    user = shop.users[-1]
    kept: list[weakref.ref[object]] = []
    after: list[object] = []
    served, release = threading.Event(), threading.Event()

    def serve() -> None:
        try:
            assert shop.services.recommend.recommend(user, k=5)["source"] == "model"
            kept.append(weakref.ref(serving._recent.get("served")))
        finally:
            served.set()
        release.wait(60)
        after.append((serving._recent.get("served"), serving._recent.get("key")))

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert served.wait(60) and kept and kept[0]() is not None  # the user's features, kept by a live thread
        shop.services.privacy.erase(user)
        gc.collect()
        assert kept[0]() is None
    finally:
        release.set()
        thread.join(60)
        model.chosen = chosen
    assert after == [(None, None)]
