"""PostgreSQL's ``insert_events`` (one INSERT .. SELECT FROM unnest) stores exactly what SQLAlchemy's multi-row
INSERT stored before it: the same bytes in every column, the same rows kept and reported, the same errors."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DataError

from pertinent.storage import sql_postgres
from pertinent.storage.base import EventRow
from pertinent.storage.sql import SqlStore
from pertinent.storage.sql_postgres import PostgresTx
from pertinent.storage.sql_tx import SqlTx
from tests.conftest import _truncate

# Every column as text (and whether it is SQL NULL): what a byte-for-byte comparison reads.
RAW = text(
    "SELECT message_id, type, event, profile_id, timestamp::text, received_at::text, personalize::text, "
    "properties::text, properties IS NULL, traits::text, traits IS NULL, context::text, context IS NULL, "
    "integrations::text, integrations IS NULL, group_id, previous_id FROM events ORDER BY id"
)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[SqlStore]:
    s = SqlStore(postgres_url)
    s.migrate()
    _truncate(s)
    yield s
    s.close()


def old_path(tx: SqlTx, rows: list[EventRow]) -> set[tuple[str, str]]:
    return SqlTx.insert_events(tx, rows)  # SQLAlchemy's INSERT .. VALUES (insertmanyvalues), as before


def new_path(tx: SqlTx, rows: list[EventRow]) -> set[tuple[str, str]]:
    return PostgresTx.insert_events(tx, rows)


def stored_by(store: SqlStore, insert, calls: list[list[EventRow]]) -> tuple[list[set], list[tuple]]:
    """What each call of ``insert`` returned and every stored row as raw text, on an emptied table."""
    _truncate(store)
    returned = []
    for rows in calls:
        with store.transaction() as tx:
            returned.append(insert(tx, rows))
    with store.engine.connect() as conn:
        return returned, [tuple(r) for r in conn.execute(RAW)]


def ev(mid: str, profile: str = "p1", **kw: object) -> EventRow:
    base: dict[str, object] = dict(type="track", event="Viewed", timestamp=1.5, received_at=2.5, personalize=True)
    return EventRow(message_id=mid, profile_id=profile, **{**base, **kw})  # type: ignore[arg-type]


AWKWARD = [
    ev("none"),  # every JSON column None
    ev("empty", properties={}, traits={}, context={}, integrations={}),
    ev(
        "nested",
        "p2",
        properties={"price": 9.99, "tags": ["a", None, True], "n": {"x": None}, "big": 2**62, "neg": -0.0},
        traits={"name": "Zoë ✓ 日本 🎉", "nul": "a\x00b", "esc": 'quote " back \\ slash\n\t'},
        context={"ip": "1.2.3.0", "library": {"name": "x", "version": "1"}},
        integrations={"All": False, "Mailchimp": True},
        group_id="acme",
        previous_id="prev-key",
    ),
    ev("non-str-keys", properties={1: "one", 2.5: "x"}),  # the engine's serializer writes these keys as strings
    ev("floats", timestamp=1.7e9 + 0.123456789, received_at=1e-300, properties={"inf": 1e308, "tiny": 5e-324}),
    ev("int-times", timestamp=1_700_000_000, received_at=3),  # ints where floats are expected
    ev("no-personal", personalize=False, event=None, type="identify"),
    ev("unicode-id-é✓", "p-ü", event="Ünïcode 🎉 event"),
]


class TestSameBytesAsBefore:
    def test_every_column_is_stored_identically(self, pg):
        before = stored_by(pg, old_path, [AWKWARD])
        after = stored_by(pg, new_path, [AWKWARD])
        assert after == before
        assert len(after[1]) == len(AWKWARD) and len(after[0][0]) == len(AWKWARD)

    def test_none_is_json_null_not_sql_null(self, pg):
        # SQLAlchemy's JSON type (none_as_null=False) wrote Python None as the JSON value null; so does unnest
        for insert in (old_path, new_path):
            _, raw = stored_by(pg, insert, [[ev("m1")]])
            (row,) = raw
            assert row[7:15] == ("null", False, "null", False, "null", False, "null", False)

    def test_nul_inside_json_is_kept_escaped(self, pg):
        for insert in (old_path, new_path):
            _, raw = stored_by(pg, insert, [[ev("m1", properties={"a": "x\x00y"})]])
            assert raw[0][7] == '{"a":"x\\u0000y"}'
        with pg.transaction(write=False) as tx:
            assert tx.events_of("p1")[0].properties == {"a": "x\x00y"}

    def test_duplicate_key_in_one_call_keeps_the_first(self, pg):
        rows = [ev("m1", event="first"), ev("m2"), ev("m1", event="second", properties={"a": 1}), ev("m2", "p2")]
        before = stored_by(pg, old_path, [rows])
        after = stored_by(pg, new_path, [rows])
        assert after == before
        assert after[0] == [{("p1", "m1"), ("p1", "m2"), ("p2", "m2")}]
        assert [r[2] for r in after[1] if r[0] == "m1"] == ["first"]

    def test_returns_only_the_rows_it_inserted(self, pg):
        calls = [[ev("m1"), ev("m2")], [ev("m2", event="again"), ev("m3"), ev("m1", "p2")], [ev("m3")]]
        before = stored_by(pg, old_path, calls)
        after = stored_by(pg, new_path, calls)
        assert after == before
        assert after[0] == [{("p1", "m1"), ("p1", "m2")}, {("p1", "m3"), ("p2", "m1")}, set()]

    def test_chunks_behave_as_one_call(self, pg, monkeypatch):
        monkeypatch.setattr(sql_postgres, "ROWS_PER_STATEMENT", 2)
        rows = [ev("a"), ev("b"), ev("c"), ev("a", event="dup"), ev("d", "p2")]  # a's duplicate in a later chunk
        before = stored_by(pg, old_path, [rows])
        after = stored_by(pg, new_path, [rows])
        assert after == before
        assert after[0] == [{("p1", "a"), ("p1", "b"), ("p1", "c"), ("p2", "d")}]

    def test_nothing_to_insert(self, pg):
        with pg.transaction() as tx:
            assert tx.insert_events([]) == set()


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_rows = st.lists(
    st.builds(
        EventRow,
        message_id=st.sampled_from(["m1", "m2", "m3", "é✓"]),  # few keys: duplicates inside one call
        type=st.sampled_from(["track", "identify", "page"]),
        event=st.none() | _text,
        profile_id=st.sampled_from(["p1", "p2"]),
        timestamp=st.floats(allow_nan=False) | st.integers(0, 2**40),
        received_at=st.floats(allow_nan=False),
        personalize=st.booleans(),
        properties=st.none() | st.dictionaries(st.text(max_size=5), _json, max_size=4),
        traits=st.none() | st.dictionaries(_text, _json, max_size=3),
        context=st.none() | st.dictionaries(_text, _json, max_size=3),
        integrations=st.none() | st.dictionaries(_text, st.booleans(), max_size=2),
        group_id=st.none() | _text,
        previous_id=st.none() | _text,
    ),
    max_size=8,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(_rows, min_size=1, max_size=2))
def test_any_rows_are_stored_as_before(pg, calls):
    assert stored_by(pg, new_path, calls) == stored_by(pg, old_path, calls)


class TestSameErrorsAsBefore:
    @pytest.mark.parametrize("insert", [old_path, new_path])
    @pytest.mark.parametrize("field", ["event", "profile_id", "group_id"])
    def test_nul_in_a_text_column_is_refused(self, pg, insert, field):
        # validation refuses these at the edge (runtime/limits.py); a caller that skipped it gets psycopg's error
        with pytest.raises(DataError, match="NUL"), pg.transaction() as tx:
            insert(tx, [ev("ok"), ev("bad", **{field: "a\x00b"}) if field != "profile_id" else ev("bad", "a\x00b")])
        with pg.transaction(write=False) as tx:
            assert tx.count_events() == 0  # nothing of the call is stored

    @pytest.mark.parametrize("insert", [old_path, new_path])
    def test_too_long_a_value_is_refused(self, pg, insert):
        with pytest.raises(DataError, match="too long"), pg.transaction() as tx:
            insert(tx, [ev("x" * 201)])

    @pytest.mark.parametrize("insert", [old_path, new_path])
    def test_nan_is_stored(self, pg, insert):
        _truncate(pg)
        with pg.transaction() as tx:
            insert(tx, [ev("m1", timestamp=math.nan)])
            assert math.isnan(tx.events_of("p1")[0].timestamp)
