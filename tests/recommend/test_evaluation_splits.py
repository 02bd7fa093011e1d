"""The production-like splits (per-user temporal, global time cut), the peers and the cold-user report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.evaluation import EvaluationResult, evaluate, global_time_split, temporal_user_split
from pertinent.evaluation.evaluate import cold_warning, score_ranked
from pertinent.evaluation.peers import (
    PEER_NAMES,
    EASEFit,
    EASEPeer,
    ModelRanker,
    PopularityPeer,
    TransitionsPeer,
    compare,
    make_peer,
    recency_history,
)
from pertinent.recommend import Interactions
from pertinent.recommend.models import make_model


def events(seed: int, n_users: int = 12, n_items: int = 30, max_events: int = 14, repeats: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for _ in range(int(rng.integers(1, max_events + 1))):
            item = int(rng.integers(0, n_items if repeats else 10**6))
            rows.append((f"u{u}", f"i{item}", float(rng.integers(0, 50))))
    return pd.DataFrame(rows, columns=["user", "item", "ts"])


def first_times(df: pd.DataFrame) -> dict[tuple[str, str], float]:
    return df.groupby(["user", "item"])["ts"].min().to_dict()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), fraction=st.floats(0.05, 0.9), min_items=st.integers(2, 8))
def test_temporal_user_split_never_leaks_the_future(seed: int, fraction: float, min_items: int) -> None:
    df = events(seed)
    data = Interactions.from_frame(df, timestamp_col="ts")
    split = temporal_user_split(data, fraction=fraction, min_items=min_items)
    train_ev = split.train.events
    first = first_times(df)
    assert split.train.has_timestamps
    for u in range(data.n_users):
        uid = str(data.user_ids[u])
        n_distinct = data.matrix[u].nnz
        test_items = [str(data.item_ids[j]) for j in split.test[u].indices]
        train_times = train_ev.loc[train_ev.user == u, "timestamp"]
        if n_distinct < min_items:
            # small users keep every event in train and have no test items
            assert not test_items
            assert len(train_times) == int((df.user == uid).sum())
            continue
        assert len(test_items) == min(n_distinct - 1, max(1, round(fraction * n_distinct)))
        # every test item starts at or after the user's last train event, and is not in train
        assert min(first[(uid, i)] for i in test_items) >= train_times.max()
        assert split.train.matrix[u, split.test[u].indices].nnz == 0
        # the test items are the latest-starting ones
        train_firsts = [first[(uid, str(data.item_ids[j]))] for j in split.train.matrix[u].indices]
        assert max(train_firsts) <= min(first[(uid, i)] for i in test_items)


def test_temporal_user_split_holds_out_the_latest_distinct_items() -> None:
    df = pd.DataFrame(
        {"user": ["a"] * 7 + ["b"] * 3, "item": list("pqrstup") + list("xyz"), "ts": [1, 2, 3, 4, 5, 6, 9, 1, 2, 3]}
    )
    data = Interactions.from_frame(df, timestamp_col="ts")
    split = temporal_user_split(data, fraction=0.2, min_items=5)
    a, b = data.user_index["a"], data.user_index["b"]
    assert sorted(str(data.item_ids[j]) for j in split.test[a].indices) == ["u"]
    # p's repeat at 9 comes after the held-out u (6): it is dropped from train, not leaked
    assert split.train.events.loc[split.train.events.user == a, "timestamp"].max() == 5
    assert split.test[b].nnz == 0 and split.train.matrix[b].nnz == 3
    assert split.cold_share == 0.0 and split.name == "temporal"


def test_global_time_split_includes_new_users_and_reports_them() -> None:
    df = pd.DataFrame(
        {
            "user": ["old", "old", "old", "new1", "new2", "new2"],
            "item": ["x", "y", "z", "x", "y", "z"],
            "ts": [1, 2, 10, 11, 12, 13],
        }
    )
    data = Interactions.from_frame(df, timestamp_col="ts")
    split = global_time_split(data, at=5)
    assert split.cut == 5
    assert split.train.events["timestamp"].max() < 5
    assert split.test.nnz == 4 and len(split.test_users) == 3
    assert len(split.cold_test_users) == 2 and split.cold_share == pytest.approx(2 / 3)
    assert "2 = 67% without training history" in split.describe()
    quantile = global_time_split(data, quantile=0.5)
    assert (quantile.train.events["timestamp"] < quantile.cut).all()


def test_time_splits_need_timestamps_and_a_sane_fraction() -> None:
    data = Interactions.from_frame(pd.DataFrame({"user": ["a"], "item": ["x"]}))
    with pytest.raises(ValueError, match="timestamp"):
        temporal_user_split(data)
    with pytest.raises(ValueError, match="timestamp"):
        global_time_split(data)
    timed = Interactions.from_frame(events(0), timestamp_col="ts")
    with pytest.raises(ValueError, match="fraction"):
        temporal_user_split(timed, fraction=1.2)
    with pytest.raises(ValueError, match="quantile"):
        global_time_split(timed, quantile=0)


def clusters(n_users: int = 40) -> Interactions:
    """Two item clusters; each user walks its cluster in order (a sequence the transition peer can learn)."""
    rows = []
    for u in range(n_users):
        lo = 0 if u % 2 == 0 else 10
        start = u % 5
        for t in range(8):
            rows.append((f"u{u}", f"i{lo + (start + t) % 10}", float(t + u % 3)))
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item", "ts"]), timestamp_col="ts")


def test_peers_beat_popularity_on_structured_data_and_never_recommend_seen_items() -> None:
    split = temporal_user_split(clusters())
    shared: dict[float, EASEFit] = {}
    rankers = [PopularityPeer(), EASEPeer(EASEFit(10.0)), EASEPeer(EASEFit(10.0), decay=0.8), TransitionsPeer()]
    results = {r.name: r for r in compare(split, rankers, k=5, recall_k=10)}
    pop = results["popularity"].result.metrics["ndcg"]
    for name in ("EASE λ10", "rw-EASE λ10 (0.8^age)", "item transitions"):
        assert results[name].result.metrics["ndcg"] > pop, name
        assert 0 <= results[name].result.metrics["recall@10"] <= 1
    users = split.test_users
    for ranker in rankers:
        ranked = ranker.rank(users, 5)
        for row, u in zip(ranked, users, strict=True):
            assert not set(row[row >= 0]) & set(split.train.matrix[u].indices), ranker.name
    assert all(make_peer(name, shared) is not None for name in PEER_NAMES)
    assert make_peer("nope") is None


def test_recency_history_weights_newest_item_highest() -> None:
    df = pd.DataFrame({"user": ["u"] * 4, "item": ["a", "b", "c", "a"], "ts": [1, 2, 3, 4]})
    data = Interactions.from_frame(df, timestamp_col="ts")
    row = recency_history(data, 0.5).toarray()[0]
    weights = dict(zip(data.item_ids, row, strict=True))
    assert weights == {"a": 1.0, "c": 0.5, "b": 0.25}
    assert recency_history(data, 0.5, max_items=2).nnz == 2


def test_peers_without_timestamps_are_skipped_with_the_reason() -> None:
    from pertinent.evaluation import random_holdout

    untimed = Interactions.from_frame(events(1)[["user", "item"]])
    split = random_holdout(untimed, seed=1)
    (res,) = compare(split, [TransitionsPeer()])
    assert res.note.startswith("skipped") and "timestamps" in res.note
    assert res.result.metrics == {}


def test_model_ranker_matches_evaluate() -> None:
    split = temporal_user_split(clusters())
    (res,) = compare(split, [ModelRanker("itemknn")], k=5)
    direct = evaluate(make_model("itemknn").fit(split.train), split, k=5)
    assert res.result.metrics["ndcg"] == pytest.approx(direct.metrics["ndcg"])
    assert "recall@20" in direct.metrics
    with pytest.raises(ValueError, match="kind"):
        ModelRanker("no-such-kind")


def test_cold_users_are_reported_loudly() -> None:
    df = pd.DataFrame(
        {
            "user": ["old"] * 4 + [f"new{i}" for i in range(3) for _ in range(2)],
            "item": ["a", "b", "c", "d"] + ["a", "b"] * 3,
            "ts": [1, 2, 3, 20] + [30, 31] * 3,
        }
    )
    split = global_time_split(Interactions.from_frame(df, timestamp_col="ts"), at=10)
    ranked = np.tile(np.arange(split.train.n_items), (len(split.test_users), 1))
    result = score_ranked(ranked, split, split.test_users, k=2, recall_k=3)
    assert result.n_cold == 3 and result.cold_share == pytest.approx(0.75)
    assert result.message.startswith("WARNING: 3 of 4 test users (75%) have no training history")
    assert "ndcg_warm" in result.metrics
    assert cold_warning(1, 4) == "" and isinstance(result, EvaluationResult)
    assert result.to_dict()["cold_share"] == pytest.approx(0.75)


def test_peers_serve_users_without_history_the_popular_items() -> None:
    df = pd.DataFrame(
        {
            "user": ["a", "a", "b", "b", "b", "new", "new"],
            "item": ["x", "y", "x", "z", "w", "y", "z"],
            "ts": [1, 2, 1, 2, 3, 10, 11],
        }
    )
    split = global_time_split(Interactions.from_frame(df, timestamp_col="ts"), at=5)
    pop, ease = compare(split, [PopularityPeer(), EASEPeer(EASEFit(1.0))], k=2, recall_k=2)
    assert pop.result.n_cold == 1 == ease.result.n_cold
    assert ease.result.metrics["ndcg"] == pytest.approx(pop.result.metrics["ndcg"])


def test_score_ranked_reports_recall_at_its_own_cutoff_and_map() -> None:
    import scipy.sparse as sp

    from pertinent.evaluation import Split

    items = [f"i{j}" for j in range(6)]
    data = Interactions.from_frame(pd.DataFrame({"user": ["u"] * 6, "item": items}))
    train = data.with_events(data.events[data.events.item == 0])
    test = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 1]], dtype=np.float32))  # relevant: items 2 and 5
    split = Split(train, test, "hand")
    # ranks 1..4: 2 (hit), 1, 3, 5 (hit)
    result = score_ranked(np.array([[2, 1, 3, 5]]), split, np.array([0]), k=2, recall_k=4)
    m = result.metrics
    assert m["recall"] == pytest.approx(0.5) and m["recall@4"] == pytest.approx(1.0)
    assert m["map"] == pytest.approx((1 / 1) / 2)  # MAP@2: one hit at rank 1, two relevant items
    assert m["ndcg"] == pytest.approx(1 / (1 + 1 / np.log2(3)))
    assert m["coverage"] == pytest.approx(2 / 6) and result.n_cold == 0


def test_time_columns_of_mixed_formats_are_read_value_by_value() -> None:
    """A text time column mixing dates, date-times and seconds is read per value (pandas inferred one format from
    the first row and made the rest NaN), and a row with no readable time is left out: a NaN time used to put
    every user's whole history in the test part, so no test user had any training history."""
    times = ["2024-01-01", "2024-01-02 10:00", "1704326400", "bad", "2024-01-05T00:00:00+00:00", None]
    rows = [(f"u{u}", f"i{(u + k) % 9}", times[k]) for u in range(6) for k in range(6)]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item", "ts"]), timestamp_col="ts")
    assert data.events["timestamp"].notna().all() and len(data.events) == 6 * 4
    assert sorted(set(data.events["timestamp"])) == [1704067200.0, 1704189600.0, 1704326400.0, 1704412800.0]
    split = temporal_user_split(data, fraction=0.25, min_items=2)
    assert split.train.events["user"].nunique() == 6  # every test user keeps a history to learn from
