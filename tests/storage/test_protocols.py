"""The per-area storage protocols: ``Tx`` is exactly their union and both SQL transactions implement all of it."""

from __future__ import annotations

import inspect

import pytest

from pertinent.storage import protocols
from pertinent.storage.base import Tx
from pertinent.storage.protocols import ServingReader
from pertinent.storage.sql_postgres import PostgresTx
from pertinent.storage.sql_sqlite import SqliteReader, SqliteTx
from pertinent.storage.sql_tx import SqlTx

AREAS = [
    p
    for name, p in vars(protocols).items()
    if inspect.isclass(p) and p.__module__ == protocols.__name__ and p is not ServingReader
]


def _methods(protocol: type) -> set[str]:
    return {n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")}


def test_tx_composes_every_area_and_each_method_belongs_to_one_area() -> None:
    assert set(AREAS) <= set(Tx.__mro__)
    owners: dict[str, list[str]] = {}
    for area in AREAS:
        for name in _methods(area):
            owners.setdefault(name, []).append(area.__name__)
    assert {n: o for n, o in owners.items() if len(o) > 1} == {}
    assert _methods(Tx) == set()  # Tx declares nothing of its own
    assert _methods(ServingReader) <= set(owners)


@pytest.mark.parametrize("impl", [SqlTx, SqliteTx, PostgresTx])
def test_sql_transactions_implement_every_area(impl: type) -> None:
    for area in AREAS:
        missing = {n for n in _methods(area) if not callable(getattr(impl, n, None))}
        assert missing == set(), f"{impl.__name__} lacks {area.__name__} methods {sorted(missing)}"


def test_sqlite_reader_serves_exactly_the_serving_reads() -> None:
    assert {n for n in _methods(ServingReader) if callable(getattr(SqliteReader, n, None))} == _methods(ServingReader)
    assert not hasattr(SqliteReader, "count_events")


def test_each_backend_gets_its_transaction_class(store) -> None:
    expected = SqliteTx if store.backend == "sqlite" else PostgresTx
    with store.transaction() as tx:
        assert type(tx) is expected
    with store.transaction(write=False) as tx:
        assert type(tx) is expected
    with store.reader() as r:  # a SQLite file reads on its own connection; PostgreSQL in a read transaction
        assert type(r) is (SqliteReader if store.backend == "sqlite" else PostgresTx)
