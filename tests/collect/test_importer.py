"""Importer contract tests (every preset and the generic mapping) on small hand-written files, plus
property tests of the generic mapping. Real-dataset tests live in test_importer_presets.py."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames

from pertinent.events.importing import (
    CATALOGUE_COLUMNS,
    ColumnMapping,
    GenericConverter,
    ImportFileError,
    ImportReport,
    extract_catalogue,
    import_file,
    message_id,
    message_problems,
    parse_event_map,
)
from pertinent.events.importing.cleaning import parse_timestamps
from pertinent.events.importing.readers import count_rows
from pertinent.events.schema import validate_message
from pertinent.settings import Limits


def assert_valid(msg: dict[str, Any]) -> None:
    assert message_problems(msg) == [], (message_problems(msg), msg)
    parsed, errors = validate_message(msg)  # the ingestion service's own validator
    assert errors == [], (errors, msg)
    assert len(orjson.dumps(msg)) <= Limits().max_event_bytes


def run(job: Any) -> list[dict[str, Any]]:
    return [m for batch in job for m in batch]


# ---------------------------------------------------------------------------------------------------
# One case per implementation: a small file with good rows and bad rows of known kinds.


def movielens_case(tmp: Path) -> dict[str, Any]:
    d = tmp / "ml"
    d.mkdir()
    (d / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n2,"Heat, The (1995)",Action|Crime\n'
        "3,Odd (2001),(no genres listed)\n"
    )
    (d / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,Pixar,1\n2,1,pixar,2\n2,1,fun,3\n")
    (d / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,964982703\n1,2,4.5,964981247\n2,1,3.0,964982224\n2,3,0.5,964982225\n"
        ",1,4.0,964982703\n"  # missing user
        "3,1,4.0,notatime\n"  # bad timestamp
        "3,2,7.5,964982703\n"  # bad rating
        "3,2,4,5,6,7\n"  # malformed line
    )
    return {
        "path": d,
        "kwargs": {"preset": "movielens"},
        "good_rows": 4,
        "messages": 4,
        "reasons": {"missing user id": 1, "bad timestamp": 1, "bad rating": 1, "malformed CSV line": 1},
        "items": 3,
    }


def taobao_case(tmp: Path) -> dict[str, Any]:
    path = tmp / "UserBehavior.csv"
    path.write_text(
        "1,100,7,pv,1511544070\n1,100,7,cart,1511544080\n1,101,8,fav,1511544090\n1,100,7,buy,1511544100\n"
        "2,102,7,pv,1511544200\n"
        "3,103,7,teleport,1511544070\n"  # unknown behavior
        ",104,7,pv,1511544070\n"  # missing user
        "4,105,7,pv,\n"  # missing timestamp
    )
    return {
        "path": path,
        "kwargs": {"preset": "taobao"},
        "good_rows": 5,
        "messages": 5,
        "reasons": {"unknown behavior": 1, "missing user id": 1, "bad timestamp": 1},
        "items": 6,
    }


def retail_frame() -> pd.DataFrame:
    rows = [
        # invoice, code, description, qty, date, price, customer, country
        (
            "536365",
            "85123A",
            "WHITE HANGING HEART T-LIGHT HOLDER",
            6,
            "2010-12-01 08:26",
            2.55,
            17850.0,
            "United Kingdom",
        ),
        ("536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26", 3.39, 17850.0, "United Kingdom"),
        ("536365", "POST", "POSTAGE", 1, "2010-12-01 08:26", 18.0, 17850.0, "United Kingdom"),  # non-product
        ("536366", "22633", "HAND WARMER UNION JACK", 6, "2010-12-01 08:28", 1.85, 17850.0, "United Kingdom"),
        ("C536379", "22633", "HAND WARMER UNION JACK", -2, "2010-12-01 09:41", 1.85, 17850.0, "United Kingdom"),
        ("536380", "22961", "JAM MAKING SET PRINTED", 24, "2010-12-01 09:41", 1.45, None, "France"),  # guest
        ("536381", "22139", "Unknown", 56, "2010-12-01 11:52", 0.0, None, "United Kingdom"),  # zero price
        ("536382", "22139", "RETROSPOT TEA SET", 3, "not a date", 4.95, 12583.0, "France"),  # bad date
        ("536383", "84029G", "KNITTED UNION FLAG HOT WATER BOTTLE", 6, "2010-12-01 12:00", 3.39, 12583.0, "France"),
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )


def retail_parquet_case(tmp: Path) -> dict[str, Any]:
    df = retail_frame()
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"], errors="coerce")
    path = tmp / "online_retail.parquet"
    df.to_parquet(path)
    # Orders: 536365, 536366, refund C536379, guest 536380, 536383; identify for 17850 and 12583.
    return {
        "path": path,
        "kwargs": {"preset": "online-retail"},
        "good_rows": 6,
        "messages": 7,
        "reasons": {"non-product stock code": 1, "non-positive price": 1, "bad timestamp": 1},
        "items": 6,
    }


def retail_csv_case(tmp: Path) -> dict[str, Any]:
    df = retail_frame()
    # The original UCI export's date format.
    df["InvoiceDate"] = [
        pd.Timestamp(d).strftime("%-m/%-d/%Y %-H:%M") if d != "not a date" else d for d in df["InvoiceDate"]
    ]
    path = tmp / "online_retail.csv"
    df.to_csv(path, index=False)
    case = retail_parquet_case(tmp)
    return {**case, "path": path}


def generic_case(tmp: Path, fmt: str) -> dict[str, Any]:
    df = pd.DataFrame(
        {
            "who": ["u1", "u1", "u2", "u2", "", "u3", "u4"],
            "what": ["A", "B", "A", "C", "A", "A", "B"],
            "kind": ["pv", "buy", "pv", "rate", "pv", "pv", "pv"],
            "when": [
                "1700000000",
                "1700000100",
                "2023-11-14T22:15:00Z",
                "1700000200000",
                "1700000000",
                "yesterday",
                "1700000300",
            ],
            "stars": ["", "", "", "4", "", "", ""],
            "amount": ["", "9.5", "", "", "", "", "3"],
            "n": ["", "2", "", "", "", "", ""],
            "cat": ["x|y", "y", "x", "z", "x", "x", "y"],
        }
    )
    path = tmp / f"events.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path)
    mapping = ColumnMapping(
        user_col="who",
        item_col="what",
        event_col="kind",
        timestamp_col="when",
        rating_col="stars",
        price_col="amount",
        quantity_col="n",
        category_col="cat",
        category_separator="|",
        event_map=parse_event_map(["pv=Product Viewed", "buy=Order Completed", "rate=Product Reviewed"]),
    )
    return {
        "path": path,
        "kwargs": {"mapping": mapping},
        "good_rows": 5,
        "messages": 5,
        "reasons": {"missing user id": 1, "bad timestamp": 1},
        "items": 3,
    }


CASES = {
    "movielens": movielens_case,
    "taobao": taobao_case,
    "online-retail-parquet": retail_parquet_case,
    "online-retail-csv": retail_csv_case,
    "generic-csv": lambda tmp: generic_case(tmp, "csv"),
    "generic-parquet": lambda tmp: generic_case(tmp, "parquet"),
}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return CASES[request.param](tmp_path)


class TestConverterContract:
    """Every converter: valid messages, counted skips, idempotent ids, chunk-size independence."""

    def test_messages_are_valid_segment(self, case: dict[str, Any]) -> None:
        msgs = run(import_file(case["path"], **case["kwargs"]))
        assert len(msgs) == case["messages"]
        for m in msgs:
            assert_valid(m)

    def test_bad_rows_are_counted_and_good_rows_kept(self, case: dict[str, Any]) -> None:
        job = import_file(case["path"], **case["kwargs"])
        run(job)
        assert dict(job.report.skipped) == case["reasons"]
        assert job.report.rows_read == case["good_rows"] + job.report.rows_skipped - job.report.skipped.get(
            "malformed CSV line", 0
        )
        assert job.report.messages == case["messages"]
        for ex in job.report.examples:
            assert ex.reason in case["reasons"] and ex.row is not None and ex.row >= 1

    def test_message_ids_are_idempotent_and_unique(self, case: dict[str, Any]) -> None:
        first = [m["messageId"] for m in run(import_file(case["path"], **case["kwargs"]))]
        again = [m["messageId"] for m in run(import_file(case["path"], **case["kwargs"]))]
        assert first == again
        assert len(set(first)) == len(first)

    def test_chunk_size_does_not_change_the_output(self, case: dict[str, Any]) -> None:
        big_job = import_file(case["path"], chunk_rows=10_000, **case["kwargs"])
        big = run(big_job)
        small_job = import_file(case["path"], chunk_rows=2, **case["kwargs"])
        small = run(small_job)
        assert small == big
        assert small_job.report.skipped == big_job.report.skipped

    def test_batches_and_total_rows(self, case: dict[str, Any]) -> None:
        job = import_file(case["path"], batch_size=2, **case["kwargs"])
        total = job.total_rows  # known before reading
        batches = list(job)
        assert all(1 <= len(b) <= 2 for b in batches)
        assert total >= job.report.rows_read

    def test_limit_reads_only_the_first_rows(self, case: dict[str, Any]) -> None:
        job = import_file(case["path"], limit=2, **case["kwargs"])
        run(job)
        assert job.total_rows == 2
        assert job.report.rows_read == 2

    def test_catalogue_shape(self, case: dict[str, Any]) -> None:
        cat = extract_catalogue(case["path"], **case["kwargs"])
        assert list(cat.columns[: len(CATALOGUE_COLUMNS)]) == CATALOGUE_COLUMNS
        assert cat["item_id"].is_unique
        assert len(cat) == case["items"]
        assert all(isinstance(c, list) for c in cat["categories"])
        assert all(isinstance(t, list) for t in cat["tags"])


# ---------------------------------------------------------------------------------------------------
# Specific behaviour


def test_movielens_genres_title_and_catalogue_tags(tmp_path: Path) -> None:
    c = movielens_case(tmp_path)
    msgs = run(import_file(c["path"], "movielens"))
    by_movie = {m["properties"]["product_id"]: m for m in msgs}
    assert by_movie["1"]["properties"]["category"] == ["Adventure", "Animation", "Children"]
    assert by_movie["2"]["properties"]["name"] == "Heat, The (1995)"
    assert by_movie["3"]["properties"]["category"] == []
    assert {m["event"] for m in msgs} == {"Product Reviewed"}
    cat = extract_catalogue(c["path"], "movielens").set_index("item_id")
    assert cat.loc["1", "tags"] == ["pixar", "fun"]  # two users tagged Pixar (case-folded), one fun


def test_taobao_behaviours_map_to_events(tmp_path: Path) -> None:
    msgs = run(import_file(taobao_case(tmp_path)["path"], "taobao"))
    events = [m["event"] for m in msgs if m["userId"] == "1"]
    assert events == ["Product Viewed", "Product Added", "Product Added to Wishlist", "Order Completed"]
    order = msgs[3]["properties"]
    assert order["products"] == [{"product_id": "100", "quantity": 1, "category": "7"}]
    assert msgs[0]["timestamp"] == "2017-11-24T17:21:10.000Z"


def test_online_retail_orders_refunds_and_guests(tmp_path: Path) -> None:
    msgs = run(import_file(retail_parquet_case(tmp_path)["path"], "online-retail"))
    tracks = {m["properties"]["order_id"]: m for m in msgs if m["type"] == "track"}
    first = tracks["536365"]
    assert first["event"] == "Order Completed"
    assert [p["product_id"] for p in first["properties"]["products"]] == ["85123A", "71053"]  # no POST
    assert first["properties"]["revenue"] == pytest.approx(6 * 2.55 + 6 * 3.39)
    assert first["properties"]["currency"] == "GBP"
    assert first["context"]["location"]["country"] == "United Kingdom"
    refund = tracks["C536379"]
    assert refund["event"] == "Order Refunded"
    assert refund["properties"]["revenue"] == pytest.approx(2 * 1.85)
    assert refund["properties"]["products"][0]["quantity"] == 2
    guest = tracks["536380"]
    assert "userId" not in guest and guest["anonymousId"]
    identifies = [m for m in msgs if m["type"] == "identify"]
    assert {(m["userId"], m["traits"]["country"]) for m in identifies} == {
        ("17850", "United Kingdom"),
        ("12583", "France"),
    }
    # Naive InvoiceDate is London time (GMT in December).
    assert first["timestamp"] == "2010-12-01T08:26:00.000Z"


def test_online_retail_skip_guests_option(tmp_path: Path) -> None:
    path = retail_parquet_case(tmp_path)["path"]
    job = import_file(path, "online-retail", missing_customer="skip")
    msgs = run(job)
    assert all("userId" in m for m in msgs)
    assert job.report.skipped["missing CustomerID"] == 1
    with pytest.raises(ValueError, match="missing_customer"):
        import_file(path, "online-retail", missing_customer="maybe")


def test_online_retail_big_order_is_split_under_the_size_limit(tmp_path: Path) -> None:
    n = 400
    df = pd.DataFrame(
        {
            "InvoiceNo": ["600000"] * n,
            "StockCode": [f"{20000 + i}" for i in range(n)],
            "Description": ["SET OF 6 SPICE TINS PANTRY DESIGN WITH A LONG NAME"] * n,
            "Quantity": [12] * n,
            "InvoiceDate": pd.Timestamp("2011-06-01 10:00"),
            "UnitPrice": [1.25] * n,
            "CustomerID": [13000.0] * n,
            "Country": ["United Kingdom"] * n,
        }
    )
    path = tmp_path / "big.parquet"
    df.to_parquet(path)
    msgs = [m for m in run(import_file(path, "online-retail", chunk_rows=64)) if m["type"] == "track"]
    assert len(msgs) > 1
    assert {m["properties"]["order_id"] for m in msgs} == {"600000"}
    assert sum(len(m["properties"]["products"]) for m in msgs) == n
    assert sum(m["properties"]["revenue"] for m in msgs) == pytest.approx(n * 12 * 1.25)
    assert len({m["messageId"] for m in msgs}) == len(msgs)
    for m in msgs:
        assert_valid(m)


def test_online_retail_invoice_split_across_chunks_and_repeated_later(tmp_path: Path) -> None:
    df = retail_frame().iloc[[0, 1, 3, 0]].reset_index(drop=True)  # 536365 comes back after 536366
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"])
    path = tmp_path / "r.parquet"
    df.to_parquet(path)
    msgs = [m for m in run(import_file(path, "online-retail", chunk_rows=1)) if m["type"] == "track"]
    assert [m["properties"]["order_id"] for m in msgs] == ["536365", "536366", "536365"]
    assert len(msgs[0]["properties"]["products"]) == 2
    assert len({m["messageId"] for m in msgs}) == 3


def test_generic_mapping_details(tmp_path: Path) -> None:
    c = generic_case(tmp_path, "csv")
    msgs = run(import_file(c["path"], mapping=c["kwargs"]["mapping"]))
    by_event = {m["event"]: m for m in msgs}
    order = by_event["Order Completed"]["properties"]
    assert order["revenue"] == pytest.approx(19.0) and order["products"][0]["quantity"] == 2
    assert by_event["Product Reviewed"]["properties"]["rating"] == 4.0
    # ms epoch recognised in "auto" mode; ISO with Z kept as UTC.
    assert by_event["Product Reviewed"]["timestamp"] == "2023-11-14T22:16:40.000Z"
    views = [m for m in msgs if m["event"] == "Product Viewed"]
    assert views[0]["properties"]["category"] == ["x", "y"]
    assert "2023-11-14T22:15:00.000Z" in {m["timestamp"] for m in views}


def test_generic_unmapped_events_can_be_skipped(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    pd.DataFrame({"u": ["1", "2"], "e": ["pv", "zzz"], "t": ["2020-01-01", "2020-01-02"]}).to_csv(path, index=False)
    mapping = ColumnMapping(
        user_col="u", event_col="e", timestamp_col="t", event_map={"pv": "Product Viewed"}, keep_unmapped_events=False
    )
    job = import_file(path, mapping=mapping)
    assert [m["event"] for m in run(job)] == ["Product Viewed"]
    assert job.report.skipped == {"unmapped event": 1}
    kept = run(import_file(path, mapping=mapping.model_copy(update={"keep_unmapped_events": True})))
    assert [m["event"] for m in kept] == ["Product Viewed", "zzz"]


def test_timestamp_formats_and_timezones() -> None:
    s = pd.Series(["01/12/2010 08:26", "31/12/2010 23:00", "13/13/2010 00:00"])
    ts = parse_timestamps(s, "%d/%m/%Y %H:%M", "Europe/Paris")
    assert ts[0] == pd.Timestamp("2010-12-01 07:26", tz="UTC")
    assert ts[1] == pd.Timestamp("2010-12-31 22:00", tz="UTC")
    assert ts[2] is pd.NaT
    ms = parse_timestamps(pd.Series([1511544070123, 0, -5, 10**20]), "unix_ms")
    assert ms[0] == pd.Timestamp("2017-11-24 17:21:10.123", tz="UTC")
    assert ms[1:].isna().all()
    iso = parse_timestamps(pd.Series(["2021-06-01T12:00:00+02:00", "2021-06-01T12:00:00"]), "iso", "America/New_York")
    assert iso.tolist() == [pd.Timestamp("2021-06-01 10:00", tz="UTC"), pd.Timestamp("2021-06-01 16:00", tz="UTC")]


def test_clear_errors_for_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ImportFileError, match="'user' not found.*'a', 'b'"):
        run(import_file(path, mapping=ColumnMapping(user_col="user", timestamp_col="b")))
    with pytest.raises(ImportFileError, match="unknown preset"):
        import_file(path, "nope")
    with pytest.raises(ImportFileError, match="file not found"):
        import_file(tmp_path / "missing.csv", "taobao")
    with pytest.raises(ImportFileError, match="is a folder"):
        import_file(tmp_path, mapping=ColumnMapping(user_col="a", timestamp_col="b"))
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(ImportFileError, match="unknown file type"):
        import_file(tmp_path / "x.xlsx", mapping=ColumnMapping(user_col="a", timestamp_col="b"))
    with pytest.raises(ValueError, match="exactly one"):
        import_file(path)
    with pytest.raises(ValueError, match="timestamp_format"):
        ColumnMapping(user_col="a", timestamp_col="b", timestamp_format="yyyy")
    with pytest.raises(ValueError, match="unknown timezone"):
        ColumnMapping(user_col="a", timestamp_col="b", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="RAW=Event Name"):
        parse_event_map(["pv"])


def test_count_rows_and_report_summary(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("a\n1\n2\n3")  # no trailing newline
    assert count_rows(path) == 3
    r = ImportReport()
    r.skip("bad timestamp", [1, 2], ["x", "y"])
    assert "skipped 2: bad timestamp" in r.summary()
    assert r.to_dict()["rows_skipped"] == 2


def test_message_id_matches_uuid5() -> None:
    import uuid

    from pertinent.events.importing.messages import MESSAGE_NAMESPACE

    for parts in [("taobao", "1", "2", "pv", "2017"), ("x",), ("é", 1.5, None)]:
        name = "\x1f".join(str(p) for p in parts)
        assert message_id(*parts) == str(uuid.uuid5(MESSAGE_NAMESPACE, name))


# ---------------------------------------------------------------------------------------------------
# Property tests: arbitrary cell values never crash the generic mapping.

cells = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "NaN", "1700000000", "pv", "buy", "2020-02-30", "2021-01-01T00:00:00Z"]),
)
MAPPING = ColumnMapping(
    user_col="u",
    item_col="i",
    event_col="e",
    timestamp_col="t",
    rating_col="r",
    price_col="p",
    quantity_col="q",
    category_col="c",
    anonymous_col="a",
    event_map={"pv": "Product Viewed", "buy": "Order Completed", "rev": "Product Reviewed"},
)
frames = data_frames([column(name, elements=cells, dtype=object) for name in "uietrpqca"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_generic_mapping_never_crashes_on_arbitrary_values(df: pd.DataFrame) -> None:
    report = ImportReport()
    msgs = list(GenericConverter(MAPPING).convert(df, 1, report))
    assert len(msgs) + report.rows_skipped == len(df)
    for m in msgs:
        assert message_problems(m) == []
        assert validate_message(m)[1] == []
        for key in ("price", "rating", "quantity", "revenue"):
            v = m["properties"].get(key)
            assert v is None or math.isfinite(v)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(frames, st.sampled_from(["csv", "parquet"]))
def test_generic_import_of_arbitrary_files(tmp_path: Path, df: pd.DataFrame, fmt: str) -> None:
    path = tmp_path / f"f.{fmt}"
    text = df.map(lambda v: None if v is None else str(v))
    if fmt == "csv":
        # Quote everything: a bare "\r" in an unquoted field is a line break to any CSV reader.
        text.to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    else:
        text.to_parquet(path)
    job = import_file(path, mapping=MAPPING, chunk_rows=3, batch_size=4)
    msgs = run(job)
    assert job.report.messages == len(msgs)
    assert len(msgs) + job.report.rows_skipped == len(df) == job.report.rows_read
    for m in msgs:
        assert message_problems(m) == []
    ids = [m["messageId"] for m in msgs]
    assert ids == [m["messageId"] for m in run(import_file(path, mapping=MAPPING))]


def test_ingestion_service_accepts_imports_idempotently(sqlite_services: Any, tmp_path: Path) -> None:
    for name in ("movielens", "online-retail-parquet", "generic-csv"):
        folder = tmp_path / name
        folder.mkdir()
        c = CASES[name](folder)
        for batch in import_file(c["path"], **c["kwargs"]):
            result = sqlite_services.ingest.ingest(batch)
            assert result.errors == [] and result.stored == len(batch)
        for batch in import_file(c["path"], **c["kwargs"]):
            assert sqlite_services.ingest.ingest(batch).duplicates == len(batch)


# ---------------------------------------------------------------------------------------------------
# Property tests of the small parsers.

raw_names = st.text(min_size=1, max_size=10).filter(lambda s: "=" not in s and "," not in s and s.strip() != "")
event_names = st.text(min_size=1, max_size=20).filter(lambda s: "," not in s and s.strip() != "")


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(raw_names, event_names, max_size=5))
def test_parse_event_map_round_trips(mapping: dict[str, str]) -> None:
    pairs = [f"{k}={v}" for k, v in mapping.items()]
    expected: dict[str, str] = {}
    for k, v in mapping.items():
        expected[k.strip()] = v.strip()
    assert parse_event_map(pairs) == expected
    assert parse_event_map(",".join(pairs)) == expected


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(
        min_value=pd.Timestamp("1971-01-01").to_pydatetime(), max_value=pd.Timestamp("2099-12-31").to_pydatetime()
    )
)
def test_parse_timestamps_round_trips_every_format(when: Any) -> None:
    ts = pd.Timestamp(when, tz="UTC").floor("ms")
    seconds = ts.value / 1e9
    cases = [
        (str(ts.isoformat()), "iso"),
        (ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z", "auto"),
        (repr(seconds), "unix_s"),
        (str(int(round(seconds * 1000))), "unix_ms"),
        (str(int(round(seconds * 1000))), "auto"),
        (ts.strftime("%d.%m.%Y %H:%M:%S.%f"), "%d.%m.%Y %H:%M:%S.%f"),
    ]
    for text, fmt in cases:
        got = parse_timestamps(pd.Series([text]), fmt)[0]
        assert abs((got - ts).total_seconds()) < 0.002, (text, fmt, got)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=30), st.floats(), st.integers(), st.none()), max_size=8),
    st.sampled_from(["auto", "iso", "unix_s", "unix_ms", "%Y/%m/%d"]),
)
def test_parse_timestamps_never_raises(values: list[Any], fmt: str) -> None:
    out = parse_timestamps(pd.Series(values, dtype=object), fmt)
    assert len(out) == len(values)
    ok = out.dropna()
    assert ((ok > pd.Timestamp("1970-01-01", tz="UTC")) & (ok < pd.Timestamp("2100-01-01", tz="UTC"))).all()


def test_non_utf8_csv_gives_a_clear_error_and_imports_with_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("user,item,ts\nJosé,crème brûlée,2021-03-04T05:06:07Z\n".encode("latin-1"))
    mapping = ColumnMapping(user_col="user", item_col="item", timestamp_col="ts")
    with pytest.raises(ImportFileError, match="encoding"):
        run(import_file(path, mapping=mapping))
    msgs = run(import_file(path, mapping=mapping.model_copy(update={"encoding": "latin-1"})))
    assert msgs[0]["userId"] == "José" and msgs[0]["properties"]["product_id"] == "crème brûlée"


def test_corrupt_parquet_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ImportFileError, match="not a readable Parquet file"):
        run(import_file(path, "online-retail"))


def test_anonymous_only_files_and_orders_without_items(tmp_path: Path) -> None:
    path = tmp_path / "anon.csv"
    pd.DataFrame({"device": ["d1", ""], "t": ["2022-01-01T00:00:00Z"] * 2, "total": ["12.5", "3"]}).to_csv(
        path, index=False
    )
    mapping = ColumnMapping(
        anonymous_col="device", timestamp_col="t", price_col="total", default_event="Order Completed"
    )
    job = import_file(path, mapping=mapping)
    msgs = run(job)
    assert len(msgs) == 1 and msgs[0]["anonymousId"] == "d1" and "userId" not in msgs[0]
    assert msgs[0]["properties"]["products"] == [] and msgs[0]["properties"]["revenue"] == 12.5
    assert message_problems(msgs[0]) == []
    assert job.report.skipped == {"missing user id": 1}
    with pytest.raises(ValueError, match="user_col or anonymous_col"):
        ColumnMapping(timestamp_col="t")


def test_spreadsheet_exports_bom_and_semicolons_import_by_their_columns(tmp_path: Path) -> None:
    mapping = ColumnMapping(user_col="user", item_col="item", timestamp_col="ts")
    bom = tmp_path / "bom.csv"  # Excel's "CSV UTF-8" starts with a byte-order mark
    bom.write_bytes(b"\xef\xbb\xbfuser,item,ts\nu1,a,2021-03-04T05:06:07Z\n")
    assert [m["userId"] for m in run(import_file(bom, mapping=mapping))] == ["u1"]
    semi = tmp_path / "semi.csv"  # a European spreadsheet's separator; a comma inside a value stays in it
    semi.write_text("user;item;ts\nu1;a,b;2021-03-04T05:06:07Z\nu2;c;2021-03-04T05:06:08Z\n")
    msgs = run(import_file(semi, mapping=mapping))
    assert [(m["userId"], m["properties"]["product_id"]) for m in msgs] == [("u1", "a,b"), ("u2", "c")]
    piped = tmp_path / "piped.txt"
    piped.write_text("user|item|ts\nu1|a|2021-03-04T05:06:07Z\n")
    assert len(run(import_file(piped, mapping=mapping.model_copy(update={"delimiter": "|"})))) == 1
    assert len(run(import_file(piped, mapping=mapping))) == 1  # sniffed too


def test_a_used_column_named_twice_is_refused_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("user,user,item,ts\nu1,u2,a,2021-03-04T05:06:07Z\n")
    with pytest.raises(ImportFileError, match="'user' appear more than once"):
        run(import_file(path, mapping=ColumnMapping(user_col="user", item_col="item", timestamp_col="ts")))


def test_mapping_refuses_an_unknown_encoding_or_a_long_delimiter() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        ColumnMapping(user_col="a", timestamp_col="b", encoding="utf-9")
    with pytest.raises(ValueError, match="one character"):
        ColumnMapping(user_col="a", timestamp_col="b", delimiter=";;")
    assert ColumnMapping(user_col="a", timestamp_col="b", delimiter="\\t").delimiter == "\t"


def test_integer_ids_written_as_floats_read_the_same_from_csv_and_parquet(tmp_path: Path) -> None:
    """pandas writes an integer id column with missing values as 17850.0: the Parquet file's ids were 17850 and
    the CSV's were "17850.0", so the same customers got two ids depending on the file format (and matched
    neither the site's "17850"). Such text ids now lose the ".0", value by value (chunking never changes an id)."""
    frame = pd.DataFrame({"user": [17850.0, None, 12.0], "item": ["a", "b", "c"], "ts": [1.7e9, 1.7e9 + 1, 1.7e9 + 2]})
    mapping = ColumnMapping(user_col="user", item_col="item", timestamp_col="ts")
    frame.to_csv(tmp_path / "f.csv", index=False)
    frame.to_parquet(tmp_path / "f.parquet")
    for name in ("f.csv", "f.parquet"):
        msgs = run(import_file(tmp_path / name, mapping=mapping))
        assert [m.get("userId") for m in msgs] == ["17850", "12"], name  # the row without a user is skipped
    (tmp_path / "mixed.csv").write_text("user,item,ts\n1.0,a,1700000000\nA-1,b,1700000000\n1.5,c,1700000000\n")
    assert [m["userId"] for m in run(import_file(tmp_path / "mixed.csv", mapping=mapping))] == ["1", "A-1", "1.5"]


def test_a_file_without_header_is_read_by_commas_whatever_its_values_hold(tmp_path: Path) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("u1,Tom;Jerry;Spike;Tyke,1700000000\n")
    mapping = ColumnMapping(user_col="u", item_col="i", timestamp_col="t", column_names=["u", "i", "t"])
    assert [m["properties"]["product_id"] for m in run(import_file(path, mapping=mapping))] == ["Tom;Jerry;Spike;Tyke"]


def test_a_list_column_of_categories_gives_lists_not_their_printed_form(tmp_path: Path) -> None:
    path = tmp_path / "cats.parquet"
    frame = pd.DataFrame({"u": ["u1", "u2", "u3"], "i": ["a", "b", "c"], "t": [1.7e9] * 3})
    frame["c"] = pd.Series([["shoes", " red "], [], None], dtype=object)
    frame.to_parquet(path)
    mapping = ColumnMapping(user_col="u", item_col="i", timestamp_col="t", category_col="c")
    msgs = run(import_file(path, mapping=mapping))
    assert [m["properties"].get("category") for m in msgs] == [["shoes", "red"], None, None]
    catalogue = extract_catalogue(path, mapping=mapping)
    assert catalogue.set_index("item_id").loc["a", "categories"] == ["shoes", "red"]
