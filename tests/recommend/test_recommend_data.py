"""Interactions, catalogue, filters/re-ranking and the model registry."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.recommend import (
    Catalogue,
    Filters,
    InteractionConfig,
    InteractionError,
    Interactions,
    ItemKNNRecommender,
    ModelRegistry,
    PopularityRecommender,
)
from pertinent.recommend.registry import RegistryError
from tests.support.common import DATASETS


def test_event_weights_order_and_review_threshold() -> None:
    df = pd.DataFrame(
        {
            "user": ["u"] * 5,
            "item": ["view", "cart", "buy", "good", "bad"],
            "event": ["Product Viewed", "Product Added", "Order Completed", "Product Reviewed", "Product Reviewed"],
            "rating": [None, None, None, 5.0, 2.0],
        }
    )
    data = Interactions.from_frame(df, event_col="event", rating_col="rating")
    w = {data.item_ids[j]: v for j, v in zip(data.matrix[0].indices, data.matrix[0].data, strict=True)}
    assert w["view"] < w["cart"] < w["buy"]
    assert "good" in w and "bad" not in w


def test_raw_event_names_and_custom_weights() -> None:
    df = pd.DataFrame({"user": ["u", "u", "u"], "item": ["a", "b", "c"], "event": ["pv", "fav", "nonsense"]})
    cfg = InteractionConfig(event_weights={"pv": 1.0, "fav": 4.0})
    data = Interactions.from_frame(df, event_col="event", config=cfg)
    assert data.history_items("u") == ["a", "b"]
    assert InteractionConfig.model_validate_json(cfg.model_dump_json()) == cfg


def test_duplicates_aggregate_by_max_or_sum() -> None:
    df = pd.DataFrame({"user": ["u", "u"], "item": ["a", "a"], "w": [2.0, 3.0]})
    assert Interactions.from_frame(df, weight_col="w").matrix[0, 0] == 3.0
    assert Interactions.from_frame(df, weight_col="w", config=InteractionConfig(aggregate="sum")).matrix[0, 0] == 5.0


def test_numeric_ids_become_strings() -> None:
    data = Interactions.from_frame(pd.DataFrame({"user": [1.0, 2.0], "item": [10, 11]}))
    assert list(data.user_ids) == ["1", "2"] and list(data.item_ids) == ["10", "11"]


def test_missing_column_is_named() -> None:
    with pytest.raises(InteractionError, match="item_col.*'product'"):
        Interactions.from_frame(pd.DataFrame({"user": ["u"]}), item_col="product")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.text(max_size=3), st.integers(-5, 5)),
            st.one_of(st.none(), st.text(max_size=3), st.floats(allow_nan=True)),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=2)),
        ),
        max_size=20,
    )
)
def test_messy_input_never_crashes(rows) -> None:
    df = pd.DataFrame(rows, columns=["user", "item", "w"]) if rows else pd.DataFrame(columns=["user", "item", "w"])
    try:
        data = Interactions.from_frame(df, weight_col="w")
    except InteractionError:
        return
    assert data.matrix.shape == (len(data.user_ids), len(data.item_ids))
    assert (data.matrix.data > 0).all()


def catalogue() -> Catalogue:
    return Catalogue.from_frame(
        pd.DataFrame(
            {
                "id": ["a", "b", "c", "d"],
                "title": ["A", "B", "C", "D"],
                "categories": ["toys", "toys|sale", "books", None],
                "available_from": [None, None, "2030-01-01", None],
                "available_until": [None, "2020-01-01", None, None],
            }
        )
    )


def test_catalogue_availability_and_categories() -> None:
    cat = catalogue()
    assert cat.available(at=datetime(2025, 1, 1, tzinfo=UTC)).tolist() == [True, False, False, True]
    assert cat.available(at=datetime(2031, 1, 1)).tolist() == [True, False, True, True]
    assert cat.in_categories(["toys"]).tolist() == [True, True, False, False]
    assert cat.available(["zz", "a"]).tolist() == [True, True]


def fitted_popularity() -> PopularityRecommender:
    rows = [(f"u{u}", item) for u in range(10) for item in "abcd"[: 1 + u % 4]]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item"]))
    return PopularityRecommender().fit(data, catalogue())


def test_unavailable_items_are_never_recommended() -> None:
    model = fitted_popularity()
    recs = model.recommend(k=4, filters=Filters(at=datetime(2025, 1, 1, tzinfo=UTC)))
    assert [r.item for r in recs] == ["a", "d"]


def test_include_categories_pin_boost_bury() -> None:
    model = fitted_popularity()
    always = Filters(only_available=False)
    assert [r.item for r in model.recommend(k=4, filters=always)] == ["a", "b", "c", "d"]
    f = always.model_copy(update={"include_categories": ["toys"]})
    assert [r.item for r in model.recommend(k=4, filters=f)] == ["a", "b"]
    f = always.model_copy(update={"bury": ["a"], "boost": {"d": 3.0}})
    items = [r.item for r in model.recommend(k=4, filters=f)]
    assert items[0] == "d" and items[-1] == "a"
    f = always.model_copy(update={"pin": ["c"]})
    recs = model.recommend(k=2, filters=f)
    assert [r.item for r in recs] == ["c", "a"] and recs[0].reason == "pinned"


def test_bad_filter_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="boost"):
        Filters(boost={"a": 0.0})
    with pytest.raises(ValueError, match="diversity"):
        Filters(diversity=2.0)


def test_mmr_diversifies() -> None:
    # items x1..x3 always co-occur (a tight cluster); y is liked by the same users less often
    rows = [(f"u{u}", i) for u in range(20) for i in ("seed", "x1", "x2", "x3")]
    rows += [(f"v{u}", i) for u in range(8) for i in ("seed", "y")]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item"]))
    model = ItemKNNRecommender().fit(data)
    plain = [r.item for r in model.recommend(items=["seed"], k=2)]
    diverse = [r.item for r in model.recommend(items=["seed"], k=2, filters=Filters(diversity=0.7))]
    assert "y" not in plain and "y" in diverse


def test_reasons_name_the_source_item() -> None:
    rows = [(f"u{u}", i) for u in range(5) for i in ("a", "b")] + [("w", "c")]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item"]))
    model = ItemKNNRecommender().fit(data)
    rec = model.recommend(items=["a"], k=1)[0]
    assert (rec.item, rec.reason) == ("b", "similar to a")


def test_registry_versions_latest_and_has_newer(tmp_path) -> None:
    reg = ModelRegistry.for_data_dir(tmp_path)
    model = fitted_popularity()
    assert reg.latest_version("pop") is None and not reg.has_newer("pop", None)
    v1 = reg.save("pop", model, metrics={"ndcg": 0.5})
    assert reg.has_newer("pop", None) and not reg.has_newer("pop", v1)
    v2 = reg.save("pop", model)
    assert (v1, v2) == ("v1", "v2") and reg.versions("pop") == ["v1", "v2"]
    assert reg.has_newer("pop", v1) and reg.latest_version("pop") == "v2"
    assert reg.metrics("pop", v1) == {"ndcg": 0.5}
    assert (tmp_path / "models" / "pop" / "v1" / "config.json").exists()
    loaded = reg.load("pop", "v1")
    assert [r.item for r in loaded.recommend(k=2)] == [r.item for r in model.recommend(k=2)]
    with pytest.raises(RegistryError, match="name"):
        reg.save("../evil", model)
    with pytest.raises(RegistryError, match="v9"):
        reg.load("pop", "v9")


def test_movielens_catalogue_loader() -> None:
    folder = DATASETS / "movielens-latest-small"
    if not folder.exists():
        pytest.skip(f"MovieLens not available at {folder}")
    cat = Catalogue.from_movielens(folder)
    row = cat.frame.set_index("id").loc["1"]
    assert row["title"].startswith("Toy Story") and "Animation" in row["categories"]
    assert any(len(t) > 0 for t in cat.frame["tags"])


def test_online_retail_catalogue_loader() -> None:
    path = DATASETS / "online-retail" / "online_retail.parquet"
    if not path.exists():
        pytest.skip(f"Online Retail not available at {path}")
    cat = Catalogue.from_online_retail(path)
    assert "POST" not in set(cat.ids) and len(cat) > 3000
    assert np.isfinite(cat.frame["price"]).mean() > 0.99
