"""Catalogue storage contract (items table), run on SQLite and PostgreSQL through the ``store`` fixture."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.storage.base import EventRow, ItemRow


def _item(i: int, **kw: object) -> ItemRow:
    base = {
        "title": f"Item {i}",
        "text": "",
        "categories": ["c"],
        "tags": [],
        "attributes": {"price": i * 1.5},
        "available_from": None,
        "available_until": None,
        "updated_at": 100.0 + i,
    }
    return ItemRow(f"i{i}", **{**base, **kw})  # type: ignore[arg-type]


def test_upsert_then_get_round_trips_every_field(store) -> None:
    row = _item(
        1,
        text="long text",
        categories=["kitchen", "sale"],
        tags=["red"],
        attributes={"price": 9.5, "brand": "Acme", "sizes": [1, 2]},
        available_from=10.0,
        available_until=20.5,
    )
    with store.transaction() as tx:
        tx.upsert_items([row])
    with store.transaction() as tx:
        got = tx.get_items(["i1", "missing"])
    assert got == {"i1": row}


def test_upsert_replaces_existing_row_and_keeps_others(store) -> None:
    with store.transaction() as tx:
        tx.upsert_items([_item(1), _item(2)])
    with store.transaction() as tx:
        tx.upsert_items([_item(1, title="Renamed", categories=[], available_until=5.0)])
    with store.transaction() as tx:
        got = tx.get_items(["i1", "i2"])
        assert tx.count_items() == 2
    assert got["i1"].title == "Renamed" and got["i1"].categories == [] and got["i1"].available_until == 5.0
    assert got["i2"] == _item(2)


def test_duplicate_ids_in_one_call_keep_the_last(store) -> None:
    with store.transaction() as tx:
        tx.upsert_items([_item(1, title="first"), _item(1, title="second")])
    with store.transaction() as tx:
        assert tx.get_items(["i1"])["i1"].title == "second"
        assert tx.count_items() == 1


def test_iter_items_pages_through_everything_in_id_order(store) -> None:
    rows = [_item(i) for i in range(25)]
    with store.transaction() as tx:
        tx.upsert_items(rows)
    with store.transaction() as tx:
        seen = list(tx.iter_items(batch_size=7))
    assert [r.item_id for r in seen] == sorted(r.item_id for r in rows)
    assert {r.item_id: r for r in seen} == {r.item_id: r for r in rows}


def test_delete_items_reports_what_was_removed(store) -> None:
    with store.transaction() as tx:
        tx.upsert_items([_item(i) for i in range(3)])
    with store.transaction() as tx:
        assert tx.delete_items(["i0", "i2", "nope"]) == 2
    with store.transaction() as tx:
        assert tx.count_items() == 1
        assert list(tx.get_items(["i0", "i1", "i2"])) == ["i1"]
        assert tx.delete_items([]) == 0


def test_empty_calls_are_no_ops(store) -> None:
    with store.transaction() as tx:
        tx.upsert_items([])
        assert tx.get_items([]) == {}
        assert list(tx.iter_items()) == []
        assert tx.count_items() == 0


def test_iter_events_newest_first_by_type_with_limit(store) -> None:
    rows = [
        EventRow(
            f"m{i}",
            "track" if i % 3 else "identify",
            "Product Viewed",
            "p",
            float(i),
            float(i),
            True,
            {"product_id": str(i)},
        )
        for i in range(20)
    ]
    with store.transaction() as tx:
        tx.insert_events(rows)
    with store.transaction() as tx:
        all_track = [e.message_id for e in tx.iter_events("track", batch_size=4)]
        limited = [e.message_id for e in tx.iter_events("track", limit=5, batch_size=2)]
    expected = [r.message_id for r in reversed(rows) if r.type == "track"]
    assert all_track == expected
    assert limited == expected[:5]


_text = st.text(alphabet=string.ascii_letters + string.digits + " -_éü/", max_size=30)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    item_id=st.text(alphabet=string.printable + "éß中", min_size=1, max_size=200),
    title=_text,
    cats=st.lists(_text, max_size=4),
    price=st.floats(allow_nan=False, allow_infinity=False, width=32),
)
def test_any_id_and_text_round_trip(store, item_id: str, title: str, cats: list[str], price: float) -> None:
    row = ItemRow(item_id.replace("\x00", ""), title, "", cats, [], {"price": price}, None, None, 1.0)
    if not row.item_id:
        return
    with store.transaction() as tx:
        tx.upsert_items([row])
    with store.transaction() as tx:
        assert tx.get_items([row.item_id])[row.item_id] == row
        tx.delete_items([row.item_id])
