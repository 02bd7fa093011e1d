"""New items are served at once (the cold-item layer, ``recommend/fresh.py``), end to end through the API on
SQLite and PostgreSQL: an item added with ``POST /v1/items`` after training reaches the lists of users whose
recent items it resembles, within its bound, and the similar-items lists both ways; a retrained model without
events of the item still serves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pertinent.recommend.base import registered_kinds
from pertinent.recommend.training import train_from_store
from pertinent.services import Services
from pertinent.settings import Settings
from pertinent.storage.sql import SqlStore
from tests.support.common import ADMIN, api_client, make_settings

CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}
GARDEN = [("hose", "green garden hose"), ("rake", "steel garden rake"), ("spade", "garden spade"),
          ("gloves", "garden gloves"), ("pots", "terracotta flower pots")]  # fmt: skip
KITCHEN = [("mug", "red coffee mug"), ("kettle", "steel kettle"), ("pan", "frying pan"), ("whisk", "egg whisk"),
           ("knife", "chef knife")]  # fmt: skip
NEW = {"item_id": "trowel", "title": "garden trowel", "categories": ["garden"], "tags": ["planting"]}


def catalogue() -> list[dict[str, Any]]:
    return [{"item_id": i, "title": t, "categories": ["garden"]} for i, t in GARDEN] + [
        {"item_id": i, "title": t, "categories": ["kitchen"]} for i, t in KITCHEN
    ]


def view(user: str, item: str, n: int) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Product Viewed",
        "properties": {"product_id": item},
        "context": CONSENT,
        "messageId": f"v-{user}-{item}-{n}",
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, recommend={"model": "ease", "reload_interval_s": 0, "result_cache_size": 0})


@pytest.fixture
def shop(services: Services, tmp_path: Path) -> Iterator[TestClient]:
    """20 gardeners and 20 cooks, each viewing 4 items of their side; an EASE model trained on them."""
    events = []
    for u in range(20):
        for side, items in (("g", GARDEN), ("k", KITCHEN)):
            events += [view(f"{side}{u}", items[(u + j) % 5][0], j) for j in range(4)]
    services.ingest.ingest(events, prefix="batch")
    services.recommend.upsert_items(catalogue())
    assert train_from_store(services.store, tmp_path, model="ease").version == "v1"
    yield from api_client(services)


def recs(client: TestClient, user: str, k: int = 4, **params: Any) -> dict[str, Any]:
    res = client.get("/v1/recommendations", params={"user_id": user, "k": k, **params})
    assert res.status_code == 200, res.text
    return res.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def add_new_item(client: TestClient, item: dict[str, Any] | None = None) -> None:
    res = client.post("/v1/items", json={"items": [item or NEW]}, headers=ADMIN)
    assert res.status_code == 200 and res.json()["stored"] == 1, res.text


def test_before_the_item_exists_nobody_gets_it(shop: TestClient, store: SqlStore) -> None:
    assert "trowel" not in ids(recs(shop, "g1"))
    assert shop.get("/v1/items/trowel/similar").status_code == 404


def test_a_new_item_is_recommended_at_once_to_users_of_its_category(shop: TestClient, store: SqlStore) -> None:
    add_new_item(shop)
    gardener = recs(shop, "g1", k=5)
    assert gardener["source"] == "model" and gardener["version"] == "v1"
    fresh = [i for i in gardener["items"] if i["item_id"] == "trowel"]
    assert len(fresh) == 1 and fresh[0]["rule"] == "fresh" and fresh[0]["reason"].startswith("new")
    assert [i["rank"] for i in gardener["items"]] == list(range(1, len(gardener["items"]) + 1))
    assert "trowel" not in ids(recs(shop, "k1", k=5))  # a cook has no affinity for it: no place for it
    assert sum(i["rule"] == "fresh" for i in gardener["items"]) <= 1  # the bound: max(1, 0.2 * 5)


def test_the_bound_holds_with_many_new_items(shop: TestClient, store: SqlStore) -> None:
    for n in range(6):
        add_new_item(shop, {"item_id": f"seed{n}", "title": f"garden seeds {n}", "categories": ["garden"]})
    body = recs(shop, "g2", k=10)
    fresh = [i["item_id"] for i in body["items"] if i["rule"] == "fresh"]
    assert len(fresh) == 2 and all(f.startswith("seed") for f in fresh)  # floor(0.2 * 10)
    assert len(body["items"]) == 8 and body["items"][0]["rule"] != "fresh"  # the 6 unseen known items, 2 new


def test_filters_and_exclusions_apply_to_new_items(shop: TestClient, store: SqlStore) -> None:
    add_new_item(shop)
    assert "trowel" not in ids(recs(shop, "g1", k=5, exclude="trowel"))
    assert "trowel" not in ids(recs(shop, "g1", k=5, exclude_categories="garden"))
    later = {**NEW, "item_id": "later", "title": "garden trowel deluxe", "available_from": 4e9}
    add_new_item(shop, later)
    assert "later" not in ids(recs(shop, "g1", k=10))
    res = shop.post("/v1/track", json={**view("g1", "trowel", 9), "messageId": "seen-it"})
    assert res.status_code == 200, res.text
    assert "trowel" not in ids(recs(shop, "g1", k=5))  # seen: not recommended again


def test_a_new_user_gets_the_freshest_item_when_configured(
    shop: TestClient, services: Services, store: SqlStore
) -> None:
    add_new_item(shop)
    assert "trowel" not in ids(recs(shop, "someone-new", k=5))  # the default: nothing to match it against
    services.recommend.config.fresh.for_new_users = True
    body = recs(shop, "someone-new", k=5)
    assert body["source"] == "popularity" and "trowel" in ids(body)


def test_pins_of_new_items_are_honoured(shop: TestClient, store: SqlStore) -> None:
    add_new_item(shop)
    body = recs(shop, "k1", k=4, pin="trowel")
    assert body["items"][0] == {**body["items"][0], "item_id": "trowel", "rule": "pin", "reason": "pinned"}
    similar = shop.get("/v1/items/trowel/similar", params={"k": 3, "pin": "knife"}).json()
    assert ids(similar)[0] == "knife" and similar["items"][0]["rule"] == "pin"


def test_a_new_items_similar_items_come_from_content(shop: TestClient, store: SqlStore) -> None:
    add_new_item(shop)
    res = shop.get("/v1/items/trowel/similar", params={"k": 3})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["source"] == "content" and len(body["items"]) == 3
    assert {i["item_id"] for i in body["items"]} <= {i for i, _ in GARDEN}
    assert all(i["reason"] == "similar to garden trowel" for i in body["items"])


def test_a_new_item_appears_as_similar_to_related_items(shop: TestClient, store: SqlStore) -> None:
    add_new_item(shop)
    related = shop.get("/v1/items/spade/similar", params={"k": 5}).json()
    assert related["source"] == "model" and "trowel" in ids(related)
    entry = related["items"][ids(related).index("trowel")]
    assert entry["rule"] == "fresh" and entry["reason"] == "similar to garden spade (new)"
    unrelated = shop.get("/v1/items/kettle/similar", params={"k": 5}).json()
    assert "trowel" not in ids(unrelated)


def test_a_retrained_model_still_serves_the_new_item(
    shop: TestClient, services: Services, store: SqlStore, tmp_path: Path
) -> None:
    add_new_item(shop)
    assert train_from_store(services.store, tmp_path, model="ease").version == "v2"  # no event of the item yet
    body = recs(shop, "g3", k=5)
    assert body["version"] == "v2" and "trowel" in ids(body)


def test_the_layer_can_be_turned_off(shop: TestClient, services: Services, store: SqlStore) -> None:
    services.recommend.config.fresh.share = 0
    add_new_item(shop)
    assert "trowel" not in ids(recs(shop, "g1", k=5))
    assert shop.get("/v1/items/spade/similar").json()["source"] == "model"


@pytest.mark.parametrize("kind", sorted(registered_kinds()))
def test_every_model_kind_serves_a_new_item(kind: str, tmp_path: Path) -> None:
    """The layer sits on top of whatever model answers: every registered kind gets it (SQLite: the backend
    does not matter here, the API tests above run on both)."""
    svc = Services.build(make_settings(tmp_path, recommend={"model": kind, "reload_interval_s": 0}))
    svc.store.migrate()
    try:
        events = [view(f"g{u}", GARDEN[(u + j) % 5][0], j) for u in range(20) for j in range(4)]
        events += [view(f"k{u}", KITCHEN[(u + j) % 5][0], j) for u in range(20) for j in range(4)]
        svc.ingest.ingest(events, prefix="batch")
        svc.recommend.upsert_items(catalogue())
        assert train_from_store(svc.store, tmp_path, model=kind).version == "v1"
        assert "trowel" not in [i["item_id"] for i in svc.recommend.recommend("g1", k=5)["items"]]  # now cached
        svc.recommend.upsert_items([NEW])  # a catalogue write: cached lists are made again
        body = svc.recommend.recommend("g1", k=5)
        assert body["source"] == "model" and "trowel" in [i["item_id"] for i in body["items"]]
        assert "trowel" in [i.get("item_id") for i in svc.recommend.similar("spade", k=5).items]
    finally:
        svc.close()
