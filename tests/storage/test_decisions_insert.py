"""The decision writer's batch insert (``insert_decisions``; on PostgreSQL one ``unnest`` statement per batch,
``PostgresTx``): every column comes back as given, on both backends."""

from __future__ import annotations

import pytest

from pertinent.storage.base import DecisionRow


def test_a_batch_of_decisions_reads_back_column_for_column(store):
    rows = [
        DecisionRow(f"d{i:04d}", f"p{i % 7}", "home.hero", f"v{i % 3}", "experiment", 1000.0 + i, "exp", 0.5, {"i": i})
        for i in range(300)
    ]
    rows += [
        DecisionRow("n1", "p1", "home.hero", None, "default", 5.0),  # no variant, experiment, propensity or detail
        DecisionRow("n2", "p2", "home.recs", None, "recommender", 6, None, 1, {"items": ["a", "b"], "x": [0.25, 1]}),
        DecisionRow("n3", "p3", "home.hero", "é ünïcode", "rule", 7.5, None, 1.0, {"why": "rule 0: 'vip' \"q\""}),
    ]
    with store.transaction() as tx:
        tx.insert_decisions(rows)
    with store.transaction(write=False) as tx:
        got = tx.get_decisions([r.decision_id for r in rows])
    assert got == {r.decision_id: r for r in rows}
    assert isinstance(got["n2"].at, float) and got["n2"].propensity == 1.0


def test_a_duplicate_decision_id_fails_the_batch(store):
    row = DecisionRow("d1", "p1", "home.hero", "a", "rule", 1.0)
    with pytest.raises(Exception):  # noqa: B017 (the driver's integrity error, as before)
        with store.transaction() as tx:
            tx.insert_decisions([row, row])
    with store.transaction(write=False) as tx:
        assert tx.get_decisions(["d1"]) == {}
