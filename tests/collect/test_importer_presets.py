"""Presets on the real datasets in ../shared/datasets (first few thousand rows; skipped when absent).

Expected values are recomputed here straight from the raw files with pandas, independently of the
importer's code path (pyarrow streaming, vectorised cleaning, invoice grouping)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from pertinent.events.importing import CATALOGUE_COLUMNS, extract_catalogue, import_file, message_problems
from pertinent.events.importing.presets.online_retail import NON_PRODUCT_CODES
from pertinent.events.schema import validate_message
from pertinent.settings import Limits
from tests.support.common import DATASETS

ROWS = 3000


def dataset(*parts: str) -> Path:
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dataset not available: {path} (see ../shared/datasets/README.md)")
    return path


def run(job: Any) -> list[dict[str, Any]]:
    return [m for batch in job for m in batch]


def check_all(msgs: list[dict[str, Any]]) -> None:
    limit = Limits().max_event_bytes
    for m in msgs:
        assert message_problems(m) == [], m
        assert validate_message(m)[1] == [], m
        assert len(orjson.dumps(m)) <= limit


def test_movielens_ratings() -> None:
    folder = dataset("movielens-latest-small")
    job = import_file(folder, "movielens", limit=ROWS)
    msgs = run(job)
    check_all(msgs)
    raw = pd.read_csv(folder / "ratings.csv", nrows=ROWS)
    movies = pd.read_csv(folder / "movies.csv").set_index("movieId")
    assert job.total_rows == ROWS and len(msgs) == ROWS and job.report.rows_skipped == 0
    for m, (_, row) in zip(msgs[::97], raw.iloc[::97].iterrows(), strict=True):
        assert m["event"] == "Product Reviewed"
        assert m["userId"] == str(int(row.userId))
        assert m["properties"]["product_id"] == str(int(row.movieId))
        assert m["properties"]["rating"] == row.rating
        assert m["properties"]["name"] == movies.loc[row.movieId, "title"]
        genres = movies.loc[row.movieId, "genres"]
        assert m["properties"]["category"] == [g for g in genres.split("|") if g != "(no genres listed)"]
        expected_ts = pd.Timestamp(int(row.timestamp), unit="s", tz="UTC")
        assert pd.Timestamp(m["timestamp"]) == expected_ts
    assert len({m["messageId"] for m in msgs}) == len(msgs)


def test_movielens_catalogue() -> None:
    folder = dataset("movielens-latest-small")
    cat = extract_catalogue(folder, "movielens")
    movies = pd.read_csv(folder / "movies.csv")
    assert list(cat.columns) == CATALOGUE_COLUMNS
    assert len(cat) == len(movies) and cat["item_id"].is_unique
    toy = cat.set_index("item_id").loc["1"]
    assert toy["title"] == "Toy Story (1995)" and "Animation" in toy["categories"]
    assert "pixar" in toy["tags"]


def test_taobao_behaviours() -> None:
    path = dataset("taobao-userbehavior-sample", "UserBehavior.csv")
    job = import_file(path, "taobao", limit=ROWS)
    msgs = run(job)
    check_all(msgs)
    raw = pd.read_csv(path, header=None, names=["u", "i", "c", "b", "t"], nrows=ROWS)
    names = {
        "pv": "Product Viewed",
        "cart": "Product Added",
        "fav": "Product Added to Wishlist",
        "buy": "Order Completed",
    }
    assert Counter(m["event"] for m in msgs) == Counter(raw["b"].map(names))
    buys = [m for m in msgs if m["event"] == "Order Completed"]
    raw_buys = raw[raw["b"] == "buy"]
    assert [m["properties"]["products"][0]["product_id"] for m in buys] == raw_buys["i"].astype(str).tolist()
    assert [m["properties"]["products"][0]["category"] for m in buys] == raw_buys["c"].astype(str).tolist()
    assert len({m["messageId"] for m in msgs}) == len(msgs)


def test_taobao_catalogue() -> None:
    path = dataset("taobao-userbehavior-sample", "UserBehavior.csv")
    cat = extract_catalogue(path, "taobao")
    raw = pd.read_csv(path, header=None, names=["u", "i", "c", "b", "t"], usecols=["i", "c"])
    assert len(cat) == raw["i"].nunique()
    first = raw.iloc[0]
    assert cat.set_index("item_id").loc[str(first.i), "categories"] == [str(first.c)]


def test_online_retail_orders_match_a_pandas_recomputation() -> None:
    path = dataset("online-retail", "online_retail.parquet")
    job = import_file(path, "online-retail", limit=ROWS)
    msgs = run(job)
    check_all(msgs)
    raw = pd.read_parquet(path).iloc[:ROWS]
    code = raw["StockCode"].str.upper()
    good = raw[
        ~code.isin(NON_PRODUCT_CODES) & ~code.str.startswith("GIFT_") & (raw["UnitPrice"] > 0) & (raw["Quantity"] != 0)
    ]
    expected = good.assign(v=good["Quantity"].abs() * good["UnitPrice"]).groupby("InvoiceNo")["v"].sum().round(2)
    orders = [m for m in msgs if m["type"] == "track"]
    revenue: Counter[str] = Counter()
    for m in orders:  # orders with many lines come in several parts with the same order_id
        revenue[m["properties"]["order_id"]] += m["properties"]["revenue"]
    got = pd.Series(revenue).sort_index()
    assert any("order_parts" in m["properties"] for m in orders)
    pd.testing.assert_series_equal(got, expected.sort_index(), check_names=False, atol=0.01)
    for m in orders:
        refund = m["properties"]["order_id"].startswith("C")
        assert m["event"] == ("Order Refunded" if refund else "Order Completed")
        assert all(p["product_id"].upper() not in NON_PRODUCT_CODES for p in m["properties"]["products"])
        assert m["properties"]["revenue"] > 0
    skipped = len(raw) - len(good)
    assert job.report.rows_skipped == skipped
    customers = raw["CustomerID"].dropna().astype(int).astype(str)
    identified = {m["userId"] for m in msgs if m["type"] == "identify"}
    assert identified <= set(customers) and len(identified) >= 0.9 * customers.nunique()


def test_online_retail_catalogue() -> None:
    path = dataset("online-retail", "online_retail.parquet")
    cat = extract_catalogue(path, "online-retail")
    assert cat["item_id"].is_unique and (cat["price"] > 0).all()
    assert not cat["item_id"].str.upper().isin(NON_PRODUCT_CODES).any()
    heart = cat.set_index("item_id").loc["85123A"]
    assert heart["categories"] == ["holder"] and "heart" in heart["tags"]
    assert 3500 < len(cat) < 4100
