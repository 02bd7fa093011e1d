"""PostgreSQL's one-statement writes of an ingest transaction (``PostgresTx``: identities, profiles, consent, the
profile lock, the suppression and identity reads) store and return exactly what the portable ``SqlTx`` statements
did, read back as raw text, including duplicates within one call and rows already stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError

from pertinent.storage.base import ConsentRow, IdentityRow, ProfileRow, SuppressionRow
from pertinent.storage.sql import SqlStore
from pertinent.storage.sql_postgres import PostgresTx
from pertinent.storage.sql_tx import SqlTx
from tests.conftest import _truncate

RAW = {
    "identities": "SELECT key, kind, profile_id, created_at::text FROM identities ORDER BY key",
    "profiles": "SELECT profile_id, traits::text, state::text, consent::text, created_at::text, updated_at::text "
    "FROM profiles ORDER BY profile_id",
    "consent_log": "SELECT id, profile_id, purpose, granted::text, source, at::text FROM consent_log ORDER BY id",
}


@pytest.fixture
def pg(postgres_url: str) -> Iterator[SqlStore]:
    s = SqlStore(postgres_url)
    s.migrate()
    _truncate(s)
    yield s
    s.close()


def stored_by(store: SqlStore, calls: list[Callable[[SqlTx], object]]) -> tuple[list[object], dict[str, list]]:
    """What each call returned (each in a transaction of its own) and every row of the three tables as raw text."""
    _truncate(store)
    returned = []
    for call in calls:
        with store.transaction() as tx:
            returned.append(call(tx))
    with store.engine.connect() as conn:
        return returned, {name: [tuple(r) for r in conn.execute(text(sql))] for name, sql in RAW.items()}


def both(store: SqlStore, calls: Callable[[type[SqlTx]], list[Callable[[SqlTx], object]]]) -> None:
    before = stored_by(store, calls(SqlTx))
    after = stored_by(store, calls(PostgresTx))
    assert after == before


def ident(key: str, profile: str, kind: str = "anonymous", at: float = 1.5) -> IdentityRow:
    return IdentityRow(key, kind, profile, at)


def test_identities_duplicates_and_known_keys_as_before(pg):
    def calls(cls: type[SqlTx]) -> list[Callable[[SqlTx], object]]:
        first = [ident("a", "pa"), ident("b", "pb", "user", 2)]
        again = [ident("c", "pc", at=3), ident("a", "pz", "user", 9), ident("c", "pd", "user", 4), ident("b", "pb")]
        return [
            lambda tx: cls.put_identities(tx, first),
            lambda tx: cls.put_identities(tx, again),
            lambda tx: cls.put_identities(tx, []),
            lambda tx: sorted(cls.get_identities(tx, ["a", "c", "nobody", "a"]).items()),
            lambda tx: cls.get_identities(tx, []),
        ]

    both(pg, calls)


def test_profiles_created_locked_and_upserted_as_before(pg):
    def calls(cls: type[SqlTx]) -> list[Callable[[SqlTx], object]]:
        p1 = ProfileRow("p1", {"name": "Zoë ✓", "q": 'a "b" \\ c'}, {"n": 1.5, "x": None}, {}, 10.0, 11)
        p1b = ProfileRow("p1", {"name": "later"}, {"n": 2}, {"analytics": {"granted": True, "at": 3}}, 99.0, 12.0)
        p2 = ProfileRow("p2", {}, {}, {}, 5, 6)
        return [
            lambda tx: sorted(cls.lock_profiles(tx, ["p3", "p1", "p3"], 7.25).items()),  # created: p1, p3
            lambda tx: cls.put_profiles(tx, [p1, p2, p1b]),  # p1 twice: the last wins, its row kept its creation
            lambda tx: sorted(cls.lock_profiles(tx, ["p1", "p2", "p4"], 8).items()),
            lambda tx: cls.put_profiles(tx, []),
            lambda tx: cls.lock_profiles(tx, [], 9),
        ]

    both(pg, calls)


def test_consent_rows_in_the_order_given(pg):
    def calls(cls: type[SqlTx]) -> list[Callable[[SqlTx], object]]:
        rows = [ConsentRow("p1", "analytics", True, "event", 3), ConsentRow("p1", "personalization", False, "api", 1)]
        rows += [ConsentRow("p2", "analytics", 1, "event", 2)]  # type: ignore[arg-type]  (an int where a bool is)
        return [lambda tx: cls.append_consent(tx, rows), lambda tx: cls.append_consent(tx, rows[:1])]

    both(pg, calls)


def test_suppressed_as_before(pg):
    with pg.transaction() as tx:
        tx.suppress([SuppressionRow("k1", "user", 1.0), SuppressionRow("k2", "anonymous", 1.0)])
    with pg.transaction() as tx:
        assert SqlTx.suppressed(tx, ["k1", "k3", "k2", "k1"]) == PostgresTx.suppressed(tx, ["k1", "k3", "k2", "k1"])
        assert PostgresTx.suppressed(tx, ["k1", "k3", "k2"]) == {"k1", "k2"}
        assert PostgresTx.suppressed(tx, []) == set()


@pytest.mark.parametrize(
    "write",
    [
        lambda tx: tx.put_identities([ident("a\x00b", "p")]),
        lambda tx: tx.put_identities([ident("a", "p\x00")]),
        lambda tx: tx.put_profiles([ProfileRow("p\x00", created_at=1, updated_at=1)]),
        lambda tx: tx.append_consent([ConsentRow("p", "analytics\x00", True, "event", 1)]),
        lambda tx: tx.lock_profiles(["ok", "p\x00"], 1.0),
    ],
)
def test_a_nul_character_in_a_text_column_is_refused_by_psycopg(pg, write):
    # validation refuses these at the edge (runtime/limits.py); a caller that skipped it gets psycopg's error
    with pytest.raises(DataError, match="NUL"), pg.transaction() as tx:
        assert isinstance(tx, PostgresTx)
        write(tx)
    with pg.engine.connect() as conn:
        assert all(not list(conn.execute(text(sql))) for sql in RAW.values())


@pytest.mark.parametrize("cls", [SqlTx, PostgresTx])
def test_a_key_with_a_nul_is_refused_on_reads_as_before(pg, cls):
    for read in (cls.get_identities, cls.suppressed):
        with pytest.raises(DataError, match="NUL"), pg.transaction(write=False) as tx:
            read(tx, ["a", "b\x00"])
