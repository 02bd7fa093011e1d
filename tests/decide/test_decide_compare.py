"""Recommender versions side by side on a slot (``recommender_experiment``), end to end over HTTP on SQLite and
PostgreSQL: assignment splits the traffic, each variant's list comes from its version, clicks and conversions
are counted per version from the decision log, and bad versions are 4xx naming the field."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pertinent.recommend.registry import ModelRegistry
from pertinent.recommend.training import train_from_store
from pertinent.services import Services
from pertinent.settings import Settings
from tests.support.common import ADMIN, api_client, dashboard_login, make_settings

CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}
ITEMS = [f"i{n}" for n in range(12)]
USERS = [f"u{n}" for n in range(40)]
SPECIAL = ITEMS[-1]  # version v2 ranks this item first for everyone who has not seen it


def compare_slot(a: str = "v1", b: str = "v2", **extra: Any) -> dict[str, Any]:
    versions = {"a": {"model": "ease", "version": a}, "b": {"model": "ease", "version": b}}
    action = {"kind": "recommender_experiment", "experiment": "rec-ab", "k": 3, "versions": versions, **extra}
    return {"variants": {}, "rules": [{"name": "compare", "then": action}], "default": {"kind": "recommender"}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, recommend={"model": "ease", "reload_interval_s": 0})


@pytest.fixture
def shop(services: Services, tmp_path: Path) -> Iterator[TestClient]:
    """40 users viewing 4 overlapping items each (never the special one); ease v1 trained on them, and v2: the
    same model with weights that put the special item first."""
    events = [
        {
            "type": "track",
            "userId": user,
            "event": "Product Viewed",
            "properties": {"product_id": ITEMS[(u + j) % (len(ITEMS) - 1)]},
            "context": CONSENT,
            "messageId": f"v-{user}-{j}",
        }
        for u, user in enumerate(USERS)
        for j in range(4)
    ]
    events.append({**events[0], "userId": "fan", "properties": {"product_id": SPECIAL}, "messageId": "fan"})
    services.ingest.ingest(events, prefix="batch")
    services.recommend.upsert_items([{"item_id": i, "title": f"Item {i}"} for i in ITEMS])
    assert train_from_store(services.store, tmp_path, model="ease").version == "v1"
    registry = ModelRegistry.for_data_dir(tmp_path)
    model = registry.load("ease", "v1")
    model.weights = np.zeros_like(model.weights)
    model.weights[:, model.item_index[SPECIAL]] = 1.0
    assert registry.save("ease", model) == "v2"
    for client in api_client(services):
        exp = {"variants": ["a", "b"]}
        assert client.put("/v1/experiments/rec-ab", headers=ADMIN, json=exp).status_code == 200
        res = client.put("/v1/slots/home.recs", headers=ADMIN, json=compare_slot())
        assert res.status_code == 200, res.text
        assert client.post("/v1/experiments/rec-ab/start", headers=ADMIN).status_code == 200
        yield client


def decide(client: TestClient, user: str) -> dict[str, Any]:
    res = client.get("/v1/decide", params={"slot": "home.recs", "user_id": user})
    assert res.status_code == 200, res.text
    return res.json()


def items_of(decision: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in decision["block"]["content"]["items"]]


def test_assignment_splits_traffic_and_each_variant_serves_its_version(shop: TestClient, services: Services) -> None:
    decisions = {user: decide(shop, user) for user in USERS}
    split = Counter(d["variant"] for d in decisions.values())
    assert set(split) == {"a", "b"} and min(split.values()) >= 8  # 50/50 of 40 units, by hashing
    for user, d in decisions.items():
        assert d["reason"]["kind"] == "experiment" and d["experiment"]["id"] == "rec-ab"
        assert d["experiment"]["variant"] == d["variant"] and d["propensity"] == 0.5
        version = "v1" if d["variant"] == "a" else "v2"
        expected = services.recommend.recommend(user, k=3, version=("ease", version))
        assert expected["version"] == version and items_of(d) == [i["item_id"] for i in expected["items"]]
        assert (items_of(d)[0] == SPECIAL) == (d["variant"] == "b")  # only v2 puts it first
        assert decide(shop, user)["variant"] == d["variant"]  # sticky


def test_results_per_version_count_clicks_and_conversions(shop: TestClient, services: Services) -> None:
    shown: Counter[str] = Counter()
    clicked: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    for n, user in enumerate(USERS):
        d = decide(shop, user)
        shown[d["variant"]] += 1
        if n % 3 == 0:  # the snippet reports the click with the decision id (twice: still one clicked impression)
            for _ in range(2):
                click = {"userId": user, "event": "Slot Clicked", "properties": {"decision_id": d["decision_id"]}}
                assert shop.post("/v1/track", json=click).status_code == 200
            clicked[d["variant"]] += 1
        if n % 4 == 0:  # an order after the decision: attributed to it (last touch on the slot)
            order = {"userId": user, "event": "Order Completed", "properties": {"revenue": 10.0}}
            assert shop.post("/v1/track", json=order).status_code == 200
            converted[d["variant"]] += 1
    services.decide.flush()
    res = shop.get("/v1/experiments/rec-ab/versions", headers=ADMIN)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["experiment"] == "rec-ab" and body["slots"] == ["home.recs"] and body["status"] == "running"
    rows = {r["variant"]: r for r in body["versions"]}
    assert [(r["model"], r["version"]) for r in body["versions"]] == [("ease", "v1"), ("ease", "v2")]
    for variant in ("a", "b"):
        row = rows[variant]
        assert row["impressions"] == shown[variant] == row["units"]
        assert row["clicked"] == clicked[variant] and row["converted"] == converted[variant]
        assert row["ctr"] == pytest.approx(clicked[variant] / shown[variant])
        assert row["ctr_ci"][0] <= row["ctr"] <= row["ctr_ci"][1]
        assert row["revenue"] == pytest.approx(10.0 * converted[variant])
        assert row["served_versions"] == {"v1" if variant == "a" else "v2": shown[variant]}
    assert sum(body["analysis"]["units"].values()) == len(USERS)  # the experiment's own analysis, alongside


@pytest.mark.parametrize(
    ("slot", "field", "says"),
    [
        (compare_slot(b="v9"), "rules[0].then.versions.b.version", "no version 'v9'"),
        ({**compare_slot(), "rules": [{"then": {**compare_slot()["rules"][0]["then"], "versions": {
            "a": {"model": "ease"}, "b": {"model": "nope"}}}}]}, "rules[0].then.versions.b.model", "no saved model"),
        (compare_slot(b="2"), "rules[0].then.versions.b.version", "pattern"),
        ({**compare_slot(), "rules": [{"then": {**compare_slot()["rules"][0]["then"], "versions": {
            "a": {"model": "ease"}, "c": {"model": "ease", "version": "v1"}}}}]}, "rules[0].then.versions", "['b']"),
        ({**compare_slot(), "rules": [{"then": {**compare_slot()["rules"][0]["then"], "experiment": "zz"}}]},
         "rules[0].then.experiment", "unknown experiment"),
    ],
)  # fmt: skip
def test_bad_versions_are_400s_naming_the_field(shop: TestClient, slot: dict[str, Any], field: str, says: str) -> None:
    res = shop.put("/v1/slots/home.recs", headers=ADMIN, json=slot)
    assert res.status_code == 400, res.text
    errors = res.json()["errors"]
    assert any(e["field"] == field and says in e["message"] for e in errors), errors


def test_missing_or_broken_model_files_are_400s_and_never_500s(shop: TestClient, tmp_path: Path) -> None:
    registry = ModelRegistry.for_data_dir(tmp_path)
    v3 = registry.save("ease", registry.load("ease", "v1"))
    (registry.root / "ease" / v3 / "state.npz").unlink()
    res = shop.put("/v1/slots/home.recs", headers=ADMIN, json=compare_slot(b=v3))
    assert res.status_code == 400 and res.json()["errors"][0]["field"] == "rules[0].then.versions.b.version"
    assert "missing its files ['state.npz']" in res.json()["errors"][0]["message"]
    v4 = registry.save("ease", registry.load("ease", "v1"))
    (registry.root / "ease" / v4 / "state.npz").write_bytes(b"not a model")
    res = shop.put("/v1/slots/home.recs", headers=ADMIN, json=compare_slot(b=v4))
    assert res.status_code == 400 and "cannot be loaded" in res.json()["errors"][0]["message"]


def test_a_version_deleted_after_saving_the_slot_falls_through(
    shop: TestClient, services: Services, tmp_path: Path
) -> None:
    registry = ModelRegistry.for_data_dir(tmp_path)
    v3 = registry.save("ease", registry.load("ease", "v1"))
    assert shop.put("/v1/slots/home.recs", headers=ADMIN, json=compare_slot(a=v3, b=v3)).status_code == 200
    (registry.root / "ease" / v3 / "state.npz").unlink()
    (registry.root / "ease" / v3 / "config.json").unlink()
    services.recommend.serving._versions.clear()  # as in a server process that had not loaded it yet
    for user in USERS[:5]:
        d = decide(shop, user)
        assert d["reason"]["kind"] == "recommender" and d["experiment"] is None  # the default answers, no 500


def test_versions_of_an_ordinary_or_unknown_experiment(shop: TestClient) -> None:
    assert shop.put("/v1/experiments/plain", headers=ADMIN, json={"variants": ["a", "b"]}).status_code == 200
    res = shop.get("/v1/experiments/plain/versions", headers=ADMIN)
    assert res.status_code == 409 and res.json()["errors"][0]["field"] == "key"
    assert shop.get("/v1/experiments/nope/versions", headers=ADMIN).status_code == 404


def test_erasure_reaches_the_versions_served_by_the_experiment(shop: TestClient, services: Services) -> None:
    for user in USERS[:6]:  # both versions get loaded
        decide(shop, user)
    with services.store.transaction(write=False) as tx:
        pid = services.profiles.find(tx, USERS[0])
    loaded = list(services.recommend.serving._versions.values())
    assert pid is not None and loaded and all(pid in m.user_index for m in loaded)
    services.privacy.erase(USERS[0])
    assert not any(pid in m.user_index for m in loaded)  # at once, in memory (the files: registry.forget_user)


def test_the_dashboard_shows_the_comparison(shop: TestClient, services: Services) -> None:
    shown: Counter[str] = Counter()
    clicked: Counter[str] = Counter()
    for n, user in enumerate(USERS[:20]):
        d = decide(shop, user)
        shown[d["variant"]] += 1
        if n % 2 == 0:
            click = {"userId": user, "event": "Slot Clicked", "properties": {"decision_id": d["decision_id"]}}
            assert shop.post("/v1/track", json=click).status_code == 200
            clicked[d["variant"]] += 1
    services.decide.flush()
    assert dashboard_login(shop).status_code == 303
    html = shop.get("/dashboard/recommendations", params={"window": "24h"}).text
    assert 'data-testid="rec-experiment-rec-ab"' in html
    for variant, version in (("a", "v1"), ("b", "v2")):
        row = re.search(rf'data-testid="rec-variant-rec-ab-{variant}">(.*?)</tr>', html, re.S)
        assert row is not None and f"<td>ease</td><td>{version}</td>" in row.group(1)
        assert f'data-testid="rec-impressions-rec-ab-{variant}">{shown[variant]}<' in html
        assert f'data-testid="rec-clicked-rec-ab-{variant}">{clicked[variant]}<' in html
