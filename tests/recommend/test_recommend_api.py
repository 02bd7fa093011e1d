"""Recommendation serving end to end: a synthetic shop ingested through the ingest service, a model trained
with the function behind ``pertinent train``, then the items, recommendations and similar-items endpoints."""

from __future__ import annotations

import base64
import string
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.api.app import create_app
from pertinent.recommend.interactions import InteractionConfig
from pertinent.recommend.items import validate_items
from pertinent.recommend.registry import ModelRegistry
from pertinent.recommend.training import product_ids, train_from_store
from pertinent.services import Services
from pertinent.synthetic import SyntheticConfig, SyntheticGenerator
from tests.support.common import ADMIN, ADMIN_KEY, WRITE_KEY, make_settings

BASIC = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}


class Shop:
    def __init__(self, root: Path) -> None:
        self.gen = SyntheticGenerator(SyntheticConfig(n_users=200, n_items=100, seed=1))
        self.messages = [m for b in self.gen.batches(500) for m in b]
        self.services = Services.build(make_settings(root))
        self.services.store.migrate()
        for start in range(0, len(self.messages), 500):
            self.services.ingest.ingest(self.messages[start : start + 500], prefix="batch")
        self.trained = train_from_store(self.services.store, root, "default")
        self.services.recommend.config.reload_interval_s = 0.0  # check the registry on every call
        self.catalogue = self.gen.catalogue()
        self.category = {r.item_id: list(r.categories) for r in self.catalogue.itertuples()}
        users = self.gen.users()
        self.users = [u for u in users[users.user_id.notna() & users.personalization_consent].user_id]
        self.registry = ModelRegistry.for_data_dir(root)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    s = Shop(tmp_path_factory.mktemp("shop"))
    yield s
    s.services.close()


@pytest.fixture(scope="module")
def api(shop: Shop) -> Iterator[TestClient]:
    with TestClient(create_app(shop.services.settings, services=shop.services), raise_server_exceptions=False) as c:
        items = [
            {
                "item_id": r.item_id,
                "title": r.title,
                "categories": list(r.categories),
                "tags": list(r.tags),
                "attributes": {"price": float(r.price)},
            }
            for r in shop.catalogue.itertuples()
        ]
        res = c.post("/v1/items", json={"items": items}, headers=ADMIN)
        assert res.status_code == 200 and res.json()["stored"] == len(items)
        yield c


def recs(api: TestClient, user: str, **params: Any) -> dict[str, Any]:
    res = api.get("/v1/recommendations", params={"user_id": user, **params}, headers=BASIC)
    assert res.status_code == 200, res.text
    return res.json()


def consumed(shop: Shop, api: TestClient, user: str) -> set[str]:
    """Items of the user's stored events that count as interactions (read from the event store)."""
    profile_id = api.get(f"/v1/profiles/{user}", headers=ADMIN).json()["profile_id"]
    config = InteractionConfig()
    with shop.services.store.transaction(write=False) as tx:
        events = tx.events_of(profile_id)
    return {
        p
        for e in events
        if e.type == "track" and config.weight_for(e.event or "") > 0
        for p in product_ids(e.properties)
    }


def test_training_saved_a_version_with_holdout_metrics(shop: Shop) -> None:
    assert shop.trained.version == shop.registry.latest_version("default")
    assert shop.trained.n_items <= 100 and shop.trained.n_users > 100
    holdout = shop.registry.metrics("default", shop.trained.version)["holdout"]
    assert holdout["n_users"] > 0 and 0 < holdout["metrics"]["ndcg"] <= 1


def test_recommendations_exclude_consumed_items(shop: Shop, api: TestClient) -> None:
    checked = 0
    for user in shop.users[:15]:
        seen = consumed(shop, api, user)
        if not seen:
            continue
        body = recs(api, user, k=20)
        assert body["source"] == "model" and body["version"] is not None
        got = [i["item_id"] for i in body["items"]]
        assert got and not set(got) & seen
        assert [i["rank"] for i in body["items"]] == list(range(1, len(got) + 1))
        scores = [i["score"] for i in body["items"]]
        assert scores == sorted(scores, reverse=True)
        assert all(i["reason"] for i in body["items"])
        checked += 1
    assert checked >= 5


def test_category_filters_and_exclude_list(shop: Shop, api: TestClient) -> None:
    user = shop.users[0]
    category = Counter(c for cats in shop.category.values() for c in cats).most_common(1)[0][0]
    only = recs(api, user, k=10, include_categories=category)["items"]
    assert only and all(category in shop.category[i["item_id"]] for i in only)
    without = recs(api, user, k=30, exclude_categories=category)["items"]
    assert without and not any(category in shop.category[i["item_id"]] for i in without)
    top = [i["item_id"] for i in recs(api, user, k=3)["items"]]
    after = [i["item_id"] for i in recs(api, user, k=10, exclude=",".join(top))["items"]]
    assert after and not set(top) & set(after)


def test_a_new_view_changes_the_next_list_without_retraining(shop: Shop, api: TestClient) -> None:
    user = shop.users[1]
    before = recs(api, user, k=10)
    viewed = before["items"][0]["item_id"]
    res = api.post(
        "/v1/track",
        json={"userId": user, "event": "Product Viewed", "properties": {"product_id": viewed}, "context": CONSENT},
        headers=BASIC,
    )
    assert res.status_code == 200, res.text
    after = recs(api, user, k=10)
    assert after["version"] == before["version"] == shop.registry.latest_version("default")
    assert viewed not in [i["item_id"] for i in after["items"]]


def test_a_new_model_version_is_served_without_restart(shop: Shop, api: TestClient) -> None:
    user = shop.users[2]
    first = recs(api, user, k=5)["version"]
    newer = shop.registry.save("default", shop.registry.load("default", first))  # as another process would
    assert newer != first
    # the due check loads it in the background; requests keep being served meanwhile, never kept waiting
    assert recs(api, user, k=5)["version"] in (first, newer)
    shop.services.recommend.wait_background(30)
    assert recs(api, user, k=5)["version"] == newer


def test_reload_is_checked_at_most_every_interval(shop: Shop, api: TestClient) -> None:
    service = shop.services.recommend
    user = shop.users[3]
    serving = recs(api, user, k=3)["version"]
    service.config.reload_interval_s = 3600.0
    try:
        newer = shop.registry.save("default", shop.registry.load("default", serving))
        assert recs(api, user, k=3)["version"] == serving  # not checked again yet
        service.refresh()
        assert recs(api, user, k=3)["version"] == newer
    finally:
        service.config.reload_interval_s = 0.0


def test_unknown_user_gets_popular_items(shop: Shop, api: TestClient) -> None:
    body = recs(api, "never-seen-user", k=10)
    assert body["source"] == "popularity" and body["version"] is None
    assert len(body["items"]) == 10 and all(i["reason"] == "popular" for i in body["items"])
    config = InteractionConfig()
    counts = Counter(
        p
        for m in shop.messages
        if m.get("type") == "track" and config.weight_for(m["event"]) > 0
        for p in product_ids(m.get("properties"))
    )
    top_by_count = {item for item, _ in counts.most_common(10)}
    assert body["items"][0]["item_id"] in top_by_count


def test_unavailable_items_are_never_recommended(shop: Shop, api: TestClient) -> None:
    top = recs(api, "another-new-user", k=1)["items"][0]["item_id"]
    item = api.get(f"/v1/items/{top}", headers=ADMIN).json()
    gone = {
        **{k: item[k] for k in ("item_id", "title", "categories", "tags", "attributes")},
        "available_until": "2001-01-01T00:00:00Z",
    }
    assert api.post("/v1/items", json={"items": [gone]}, headers=ADMIN).status_code == 200
    try:
        assert top not in [i["item_id"] for i in recs(api, "another-new-user", k=20)["items"]]
        for user in shop.users[4:8]:
            assert top not in [i["item_id"] for i in recs(api, user, k=20)["items"]]
    finally:
        api.post("/v1/items", json={"items": [{**gone, "available_until": None}]}, headers=ADMIN)


def test_deleted_items_are_no_longer_recommended(shop: Shop, api: TestClient) -> None:
    user = shop.users[8]
    top = recs(api, user, k=1)["items"][0]["item_id"]
    item = api.get(f"/v1/items/{top}", headers=ADMIN).json()
    assert api.delete(f"/v1/items/{top}", headers=ADMIN).status_code == 200
    try:
        assert top not in [i["item_id"] for i in recs(api, user, k=20)["items"]]
        assert top not in [i["item_id"] for i in recs(api, "yet-another-new-user", k=20)["items"]]
    finally:
        restore = {k: item[k] for k in ("item_id", "title", "categories", "tags", "attributes")}
        assert api.post("/v1/items", json={"items": [restore]}, headers=ADMIN).status_code == 200
    assert top in [i["item_id"] for i in recs(api, user, k=20)["items"]]


def test_similar_items(shop: Shop, api: TestClient) -> None:
    item = shop.catalogue.item_id.iloc[0]
    res = api.get(f"/v1/items/{item}/similar", params={"k": 5}, headers=BASIC)
    assert res.status_code == 200, res.text
    got = res.json()["items"]
    assert len(got) == 5 and item not in [i["item_id"] for i in got]
    title = shop.catalogue.title.iloc[0]
    assert all(i["reason"] == f"similar to {title}" for i in got)  # named by catalogue title, not id
    # the planted world clusters items by category: most neighbours share the item's category
    same = sum(bool(set(shop.category[i["item_id"]]) & set(shop.category[item])) for i in got)
    assert same >= 3
    assert api.get(f"/v1/items/{item}/similar", headers=ADMIN).status_code == 200


def test_catalogue_only_item_gets_items_of_its_category_by_content(shop: Shop, api: TestClient) -> None:
    category = shop.category[shop.catalogue.item_id.iloc[0]][0]
    new = {"item_id": "brand-new-item", "title": "New", "categories": [category]}
    assert api.post("/v1/items", json={"items": [new]}, headers=ADMIN).status_code == 200
    body = api.get("/v1/items/brand-new-item/similar", params={"k": 5}, headers=BASIC).json()
    assert body["source"] == "content" and body["items"]  # the cold-item layer (tests/recommend/test_recommend_fresh)
    assert all(category in shop.category[i["item_id"]] for i in body["items"])


def test_items_api_keeps_valid_rows_and_names_bad_fields(api: TestClient) -> None:
    res = api.post(
        "/v1/items",
        headers=ADMIN,
        json={
            "items": [
                {"item_id": "ok-1", "title": "Fine", "available_from": 100, "available_until": "2100-01-01T00:00:00Z"},
                {"item_id": "bad-1", "categories": "not-a-list"},
                {"title": "no id"},
                {"item_id": "bad-2", "colour": "red"},
                {"item_id": "bad-3", "available_from": 200, "available_until": 100},
                "not an object",
            ]
        },
    )
    assert res.status_code == 200
    body = res.json()
    assert body["stored"] == 1 and body["rejected"] == 5
    fields = {e["field"] for e in body["errors"]}
    assert {
        "items[1].categories",
        "items[2].item_id",
        "items[3].colour",
        "items[4].available_until",
        "items[5]",
    } <= fields
    assert {e["index"] for e in body["errors"]} == {1, 2, 3, 4, 5}
    got = api.get("/v1/items/ok-1", headers=ADMIN).json()
    assert got["title"] == "Fine" and got["available_from"] == 100.0 and got["available_until"] > 4e9
    assert api.delete("/v1/items/ok-1", headers=ADMIN).status_code == 200
    assert api.get("/v1/items/ok-1", headers=ADMIN).status_code == 404
    assert api.delete("/v1/items/ok-1", headers=ADMIN).status_code == 404
    all_bad = api.post("/v1/items", headers=ADMIN, json={"items": [{"item_id": ""}]})
    assert all_bad.status_code == 400 and all_bad.json()["message"].startswith("items[0].item_id")
    for body in ({"items": "x"}, {"nope": []}, []):
        res = api.post("/v1/items", headers=ADMIN, json=body)
        assert res.status_code == 400 and res.json()["errors"][0]["field"] == "items"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"user_id": "u", "k": 0}, "k"),
        ({"user_id": "u", "k": 101}, "k"),
        ({"user_id": "u", "k": "ten"}, "k"),
        ({"k": 5}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "u", "include_categories": "a,,b"}, "include_categories"),
        ({"user_id": "u", "exclude": ","}, "exclude"),
    ],
)
def test_bad_recommendation_params_name_the_param(api: TestClient, params: dict[str, Any], field: str) -> None:
    res = api.get("/v1/recommendations", params=params, headers=BASIC)
    assert res.status_code == 400
    assert res.json()["errors"][0]["field"] == field and res.json()["message"].startswith(field)


def test_k_above_the_configured_maximum_is_a_named_400(shop: Shop, api: TestClient) -> None:
    shop.services.recommend.config.max_k = 5
    try:
        for path in ("/v1/recommendations", f"/v1/items/{shop.catalogue.item_id.iloc[0]}/similar"):
            res = api.get(path, params={"user_id": "u", "k": 6}, headers=BASIC)
            assert res.status_code == 400 and res.json()["errors"][0]["field"] == "k", res.text
            assert api.get(path, params={"user_id": "u", "k": 5}, headers=BASIC).status_code == 200
    finally:
        shop.services.recommend.config.max_k = 100


def test_auth_and_not_found(shop: Shop, api: TestClient) -> None:
    assert api.get("/v1/recommendations", params={"user_id": "u"}, headers={"Authorization": ""}).status_code == 401
    bad_basic = {"Authorization": "Basic " + base64.b64encode(b"wrong:").decode()}
    assert api.get("/v1/recommendations", params={"user_id": "u"}, headers=bad_basic).status_code == 401
    assert (
        api.get("/v1/recommendations", params={"user_id": "u"}, headers={"Authorization": "Bearer wrong"}).status_code
        == 403
    )
    assert api.get("/v1/recommendations", params={"user_id": "u"}, headers=ADMIN).status_code == 200
    admin_as_basic = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN_KEY}:".encode()).decode()}
    assert api.get("/v1/recommendations", params={"user_id": "u"}, headers=admin_as_basic).status_code == 200
    # catalogue writes need the admin key; the write key is not enough
    assert api.post("/v1/items", json={"items": []}, headers=BASIC).status_code == 401
    assert api.get(f"/v1/items/{shop.catalogue.item_id.iloc[0]}", headers=BASIC).status_code == 401
    res = api.get("/v1/items/no-such-item/similar", headers=BASIC)
    assert res.status_code == 404 and res.json()["errors"][0]["field"] == "item_id"
    assert api.get("/v1/items/x/similar", params={"k": 0}, headers=BASIC).status_code == 400


def test_without_model_or_events_never_an_error(tmp_path: Path) -> None:
    svc = Services.build(make_settings(tmp_path))
    svc.store.migrate()
    try:
        with TestClient(create_app(svc.settings, services=svc), raise_server_exceptions=False) as c:
            empty = c.get("/v1/recommendations", params={"user_id": "u"}, headers=BASIC)
            assert empty.status_code == 200 and empty.json()["items"] == []
            svc.ingest.ingest(
                [
                    {
                        "type": "track",
                        "userId": f"u{i}",
                        "event": "Product Viewed",
                        "properties": {"product_id": p},
                        "context": CONSENT,
                        "messageId": f"m{i}{p}",
                    }
                    for i in range(3)
                    for p in ("a", "b")[: i % 2 + 1]
                ],
                prefix="batch",
            )
            svc.recommend.refresh()
            body = c.get("/v1/recommendations", params={"user_id": "u0", "k": 5}, headers=BASIC).json()
            assert body["source"] == "popularity"
            assert [i["item_id"] for i in body["items"]] == ["b"]  # "a" was consumed by u0
            assert c.get("/v1/items/a/similar", headers=BASIC).status_code == 200
    finally:
        svc.close()


_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_keys = st.sampled_from(
    ["item_id", "title", "text", "categories", "tags", "attributes", "available_from", "available_until", "other"]
) | st.text(alphabet=string.ascii_lowercase, max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.dictionaries(_keys, _value, max_size=6), _value), max_size=5))
def test_item_validation_never_crashes_and_accounts_for_every_row(raws: list[Any]) -> None:
    rows, errors = validate_items(raws)
    bad = {e["index"] for e in errors}
    assert len(rows) + len(bad) == len(raws)
    for e in errors:
        assert e["field"].startswith(f"items[{e['index']}]") and e["message"]
    for row in rows:
        assert row.item_id and isinstance(row.categories, list)


# ------------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def _cli_services() -> Services:
    from pertinent.privacy.keys import ensure_keys
    from pertinent.settings import load_settings

    return Services.build(ensure_keys(load_settings()))


def test_cli_items_import_and_train(cli_env: Path) -> None:
    from typer.testing import CliRunner

    from pertinent.cli import app

    runner = CliRunner()
    path = cli_env / "items.csv"
    path.write_text(
        "item_id,title,categories,price,available_until\n"
        "a1,Red mug,kitchen|sale,9.5,\n2,Blue cup,kitchen,3,2020-01-01T00:00:00Z\n,No id,x,1,\n"
    )
    res = runner.invoke(app, ["items", "import", str(path)])
    assert res.exit_code == 0, res.output
    assert "stored 2, rejected 1" in res.output and "row[2].item_id" in res.output
    nothing = runner.invoke(app, ["train"])
    assert nothing.exit_code == 1 and "no track events" in nothing.output
    svc = _cli_services()
    try:
        with svc.store.transaction(write=False) as tx:
            items = tx.get_items(["a1", "2"])
        assert items["a1"].categories == ["kitchen", "sale"] and items["a1"].attributes == {"price": 9.5}
        assert items["2"].available_until == 1577836800.0
        gen = SyntheticGenerator(SyntheticConfig(n_users=60, n_items=40, seed=3))
        for batch in gen.batches(500):
            svc.ingest.ingest(batch, prefix="batch")
    finally:
        svc.close()
    res = runner.invoke(app, ["train", "--model", "popularity", "--max-events", "300"])
    assert res.exit_code == 0, res.output
    assert "version v1" in res.output
    assert ModelRegistry.for_data_dir(cli_env).latest_version("popularity") == "v1"
    bad = runner.invoke(app, ["train", "--model", "nope"])
    assert bad.exit_code != 0 and "nope" in bad.output
    missing = runner.invoke(app, ["items", "import", str(cli_env / "absent.csv")])
    assert missing.exit_code == 2 and "not found" in missing.output


def test_cli_items_import_refuses_infinite_numbers_alone(cli_env: Path) -> None:
    """A price beyond a double (read as infinity) would be stored as null: that row is refused, naming the
    field, and its neighbours are stored; an empty cell stays a missing value."""
    from typer.testing import CliRunner

    from pertinent.cli import app

    path = cli_env / "items.csv"
    path.write_text("item_id,price\nok1,2.5\nbig,1e309\nneg,-1e999\nblank,\nok2,4\n")
    res = CliRunner().invoke(app, ["items", "import", str(path)])
    assert res.exit_code == 0, res.output
    assert "stored 3, rejected 2" in res.output
    assert "row[1].attributes.price" in res.output and "row[2].attributes.price" in res.output
    svc = _cli_services()
    try:
        with svc.store.transaction(write=False) as tx:
            items = tx.get_items(["ok1", "big", "neg", "blank", "ok2"])
        assert set(items) == {"ok1", "blank", "ok2"} and items["blank"].attributes == {}
    finally:
        svc.close()


def test_cli_items_import_keeps_ids_as_written(cli_env: Path) -> None:
    """Catalogue ids are read as text, as the events' ids are: a SKU "007" or "1e3" is not turned into a number
    (7, 1000) that no event names; integers written as floats (a pandas export's "12.0") lose the ".0"."""
    from typer.testing import CliRunner

    from pertinent.cli import app

    path = cli_env / "items.csv"
    path.write_text("item_id,title\n007,Bond\n1e3,Sci\n")
    floats = cli_env / "floats.csv"
    floats.write_text("item_id,title\n12.0,Twelve\n,No id\n")
    assert CliRunner().invoke(app, ["items", "import", str(path)]).exit_code == 0
    res = CliRunner().invoke(app, ["items", "import", str(floats)])
    assert res.exit_code == 0 and "stored 1, rejected 1" in res.output, res.output
    svc = _cli_services()
    try:
        with svc.store.transaction(write=False) as tx:
            assert set(tx.get_items(["007", "1e3", "7", "1000", "12", "12.0"])) == {"007", "1e3", "12"}
    finally:
        svc.close()


def test_cli_items_import_movielens_preset(cli_env: Path) -> None:
    from typer.testing import CliRunner

    from pertinent.cli import app
    from tests.support.common import DATASETS

    folder = DATASETS / "movielens-latest-small"
    if not (folder / "movies.csv").exists():
        pytest.skip(f"MovieLens not found at {folder}")
    res = CliRunner().invoke(app, ["items", "import", str(folder), "--preset", "movielens"])
    assert res.exit_code == 0, res.output
    n_movies = sum(1 for _ in (folder / "movies.csv").open()) - 1
    svc = _cli_services()
    try:
        with svc.store.transaction(write=False) as tx:
            assert tx.count_items() == n_movies
            toy = tx.get_items(["1"])["1"]
        assert "Toy Story" in toy.title and "Animation" in toy.categories
    finally:
        svc.close()


# ------------------------------------------------------------------------------------------------ business rules
def _ids(body: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def test_pin_puts_items_first_in_order_unless_consumed_or_unknown(shop: Shop, api: TestClient) -> None:
    user = shop.users[9]
    plain = recs(api, user, k=30)
    seen = consumed(shop, api, user)
    a, b = _ids(plain)[20], _ids(plain)[25]
    body = recs(api, user, k=5, pin=f"{b},{a},no-such-item" + (f",{next(iter(seen))}" if seen else ""))
    assert _ids(body)[:2] == [b, a]
    assert [(i["reason"], i["rule"]) for i in body["items"][:2]] == [("pinned", "pin")] * 2
    assert body["items"][2]["rule"] is None and body["items"][2]["reason"] not in ("", "pinned")
    assert not set(_ids(body)) & seen and "no-such-item" not in _ids(body)
    assert _ids(body)[2:] == [i for i in _ids(plain) if i not in (a, b)][:3]


def test_boost_lifts_an_item_and_says_so(shop: Shop, api: TestClient) -> None:
    user = shop.users[10]
    plain = _ids(recs(api, user, k=40))
    low = plain[30]
    body = recs(api, user, k=10, boost=f"{low}:3")
    got = {i["item_id"]: i for i in body["items"]}
    assert low in got and got[low]["rule"] == "boost" and got[low]["reason"]
    assert _ids(body).index(low) < 5
    lowered = recs(api, user, k=100, boost=f"{plain[0]}:0.2")  # 0.2 x a score in [1, 2] is below every other
    assert _ids(lowered)[-1] == plain[0]
    assert next(i for i in lowered["items"] if i["item_id"] == plain[0])["rule"] == "demote"


def test_boost_and_bury_categories(shop: Shop, api: TestClient) -> None:
    user = shop.users[11]
    plain = recs(api, user, k=10)
    cats = Counter(c for i in _ids(plain) for c in shop.category[i])
    top_category = cats.most_common(1)[0][0]
    rare = min((c for cats_ in shop.category.values() for c in cats_), key=lambda c: cats.get(c, 0))
    boosted = recs(api, user, k=10, boost_categories=f"{rare}:3")
    share = sum(rare in shop.category[i] for i in _ids(boosted))
    assert share > sum(rare in shop.category[i] for i in _ids(plain))
    assert all(i["rule"] == "boost" for i in boosted["items"] if rare in shop.category[i["item_id"]])
    buried = recs(api, user, k=10, bury_categories=top_category)
    assert not any(top_category in shop.category[i] for i in _ids(buried))
    everything = recs(api, user, k=100, bury_categories=top_category)["items"]
    tail = [i for i in everything if top_category in shop.category[i["item_id"]]]
    assert tail and everything[-len(tail) :] == tail and all(i["rule"] == "bury" for i in tail)


def test_bury_moves_items_below_all_others(shop: Shop, api: TestClient) -> None:
    user = shop.users[12]
    plain = _ids(recs(api, user, k=100))
    body = recs(api, user, k=100, bury=f"{plain[0]},{plain[1]}")
    assert _ids(body)[-2:] == plain[:2] and [i["rule"] for i in body["items"][-2:]] == ["bury", "bury"]
    assert _ids(recs(api, user, k=5, bury=plain[0]))[:4] == plain[1:5]


def test_diversity_spreads_the_list_over_more_categories(shop: Shop, api: TestClient) -> None:
    gained = 0
    for user in shop.users[13:23]:
        plain = _ids(recs(api, user, k=10))
        diverse = _ids(recs(api, user, k=10, diversity=0.8))
        assert len(diverse) == len(plain) and diverse[0] == plain[0]  # the most relevant item stays first
        n = len({c for i in plain for c in shop.category.get(i, [])})  # items added by other tests: no category
        gained += len({c for i in diverse for c in shop.category.get(i, [])}) - n
    assert gained > 0
    # popularity (unknown user) has no item similarity: categories decide what is redundant
    pop = _ids(recs(api, "diverse-new-user", k=10))
    pop_diverse = _ids(recs(api, "diverse-new-user", k=10, diversity=0.8))
    assert len({c for i in pop_diverse for c in shop.category[i]}) > len({c for i in pop for c in shop.category[i]})


def test_configured_rules_apply_and_requests_add_to_them(shop: Shop, api: TestClient) -> None:
    from pertinent.recommend.config import BusinessRules

    service = shop.services.recommend
    user = shop.users[13]
    plain = _ids(recs(api, user, k=10))
    service.config.rules = BusinessRules(bury=[plain[0]], pin=[plain[5]])
    try:
        body = recs(api, user, k=10)
        assert _ids(body)[0] == plain[5] and plain[0] not in _ids(body)
        both = recs(api, user, k=10, pin=plain[7])
        assert _ids(both)[:2] == [plain[7], plain[5]]
        assert _ids(recs(api, "rules-new-user", k=3, pin=plain[5]))[0] == plain[5]  # popularity fallback too
    finally:
        service.config.rules = BusinessRules()


def test_similar_items_take_rules(shop: Shop, api: TestClient) -> None:
    item = shop.catalogue.item_id.iloc[0]
    path = f"/v1/items/{item}/similar"
    plain = [i["item_id"] for i in api.get(path, params={"k": 10}, headers=BASIC).json()["items"]]
    pin = shop.catalogue.item_id.iloc[-1]
    body = api.get(path, params={"k": 5, "pin": pin, "bury": plain[0]}, headers=BASIC).json()
    assert body["items"][0] == {**body["items"][0], "item_id": pin, "reason": "pinned", "rule": "pin"}
    assert plain[0] not in [i["item_id"] for i in body["items"]]
    assert all(i["reason"].startswith("similar to") for i in body["items"][1:])
    # a catalogue-only item: items of its category answer by content, and rules still apply
    category = shop.category[item][0]
    same = [i for i, cats in shop.category.items() if category in cats]
    assert (
        api.post(
            "/v1/items", json={"items": [{"item_id": "rules-new-item", "categories": [category]}]}, headers=ADMIN
        ).status_code
        == 200
    )
    new = api.get("/v1/items/rules-new-item/similar", params={"k": 3, "pin": same[-1]}, headers=BASIC).json()
    assert new["source"] == "content" and new["items"][0]["item_id"] == same[-1]
    assert new["items"][0]["rule"] == "pin"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"boost": "a:0"}, "boost"),
        ({"boost": "a"}, "boost"),
        ({"boost": ":2"}, "boost"),
        ({"boost": "a:inf"}, "boost"),
        ({"boost_categories": "x:-1"}, "boost_categories"),
        ({"pin": "a,,b"}, "pin"),
        ({"pin": ",".join(f"i{n}" for n in range(101))}, "pin"),
        ({"bury": ","}, "bury"),
        ({"bury_categories": "x,"}, "bury_categories"),
        ({"diversity": 1.5}, "diversity"),
        ({"diversity": "much"}, "diversity"),
    ],
)
def test_bad_rule_params_name_the_param(shop: Shop, api: TestClient, params: dict[str, Any], field: str) -> None:
    for path in ("/v1/recommendations", f"/v1/items/{shop.catalogue.item_id.iloc[0]}/similar"):
        res = api.get(path, params={"user_id": "u", **params}, headers=BASIC)
        assert res.status_code == 400, res.text
        body = res.json()
        assert body["success"] is False and body["errors"][0]["field"] == field and body["message"].startswith(field)


_param_text = st.text(alphabet=string.ascii_letters + string.digits + ",:.-_ e", max_size=20)


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "pin": _param_text,
            "boost": _param_text,
            "boost_categories": _param_text,
            "bury": _param_text,
            "bury_categories": _param_text,
            "diversity": _param_text | st.floats(allow_nan=True),
        },
    )
)
def test_rule_params_never_crash(api: TestClient, shop: Shop, params: dict[str, Any]) -> None:
    res = api.get("/v1/recommendations", params={"user_id": shop.users[0], "k": 5, **params}, headers=BASIC)
    assert res.status_code in (200, 400), res.text
    if res.status_code == 400:
        assert res.json()["errors"][0]["field"] in params
    else:
        assert all(i["reason"] for i in res.json()["items"])


def test_cli_train_with_a_model_config(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pertinent.cli import app

    runner = CliRunner()
    svc = _cli_services()
    try:
        gen = SyntheticGenerator(SyntheticConfig(n_users=60, n_items=40, seed=4))
        for batch in gen.batches(500):
            svc.ingest.ingest(batch, prefix="batch")
        svc.recommend.upsert_items(
            [
                {"item_id": r.item_id, "title": r.title, "categories": list(r.categories)}
                for r in gen.catalogue().itertuples()
            ]
        )
    finally:
        svc.close()
    bad = runner.invoke(app, ["train", "--model", "content", "--config", '{"encoder": "word2vec"}'])
    assert bad.exit_code == 2 and "encoder" in bad.output
    assert runner.invoke(app, ["train", "--config", "[1]"]).exit_code == 2
    pytest.importorskip("wordllama", reason="the embeddings extra is not installed")
    res = runner.invoke(app, ["train", "--model", "content", "--config", '{"encoder": "embedding"}'])
    assert res.exit_code == 0, res.output
    registry = ModelRegistry.for_data_dir(cli_env)
    assert registry.load("content").config.encoder == "embedding"
    # without --config, the served model's training config comes from the settings
    monkeypatch.setenv("PERTINENT_RECOMMEND__MODEL", "content")
    monkeypatch.setenv("PERTINENT_RECOMMEND__TRAIN_CONFIG", '{"encoder": "embedding", "embedding_dim": 64}')
    assert runner.invoke(app, ["train", "--model", "content"]).exit_code == 0
    assert registry.load("content").features.shape[1] == 64
