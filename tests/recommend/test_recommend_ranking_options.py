"""The ranker's training options of issue 13's quality work: several label cutoffs per user, time features
relative to the user's own newest event, and rank fusion with an anchor generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from pertinent.recommend import Interactions, Recommender
from pertinent.recommend.ranking.features import USER_TIME_FEATURES, ItemStats, user_time_features
from pertinent.recommend.ranking.fusion import fuse, ranks
from pertinent.recommend.ranking.ranker import RankerRecommender
from tests.recommend.test_recommend_ranking import DAY, journeys


def next_item_hits(model: RankerRecommender, interactions: Interactions, users: range) -> int:
    hits = 0
    for u in users:
        chain = [h for h in interactions.history_items(f"u{u}") if h[0] in "cd"]
        last = max(chain, key=lambda i: int(i[1:]))
        hits += f"{last[0]}{int(last[1:]) + 1}" in {r.item for r in model.recommend(f"u{u}", k=3)}
    return hits


def test_fusion_weights_move_from_the_ranker_to_the_anchor() -> None:
    ranker = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]])
    anchor = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])
    seen = sp.csr_matrix(np.array([[0.0, 0.0, 0.0, 0.0, 1.0]]))
    assert ranks(anchor, seen).tolist() == [[3.0, 2.0, 1.0, 0.0, 4.0]]  # the seen item last
    assert np.argsort(-fuse(ranker, anchor, seen, 0.0)[0]).tolist()[:4] == [0, 1, 2, 3]
    assert np.argsort(-fuse(ranker, anchor, seen, 1.0)[0]).tolist()[:4] == [3, 2, 1, 0]
    assert fuse(ranker, anchor, seen, 0.5)[0, 4] == fuse(ranker, anchor, seen, 0.5).min()


def test_anchor_must_name_a_generator() -> None:
    with pytest.raises(ValidationError, match="anchor"):
        RankerRecommender(anchor="no_such_generator", anchor_weight=0.5)
    with pytest.raises(ValidationError, match="anchor_weight"):
        RankerRecommender(anchor="ease", anchor_weight=1.5)


def test_user_time_features_are_relative_to_the_users_newest_event() -> None:
    import pandas as pd

    df = pd.DataFrame(
        {
            "user": ["a", "a", "b", "b", "c"],
            "item": ["x", "y", "x", "z", "z"],
            "t": [DAY, 11 * DAY, 41 * DAY, 51 * DAY, 56 * DAY],  # 0 would read as "no time"
        }
    )
    data = Interactions.from_frame(df, timestamp_col="t")
    stats = ItemStats.fit(data, event_keys=True)
    x, z = data.item_index["x"], data.item_index["z"]
    assert stats.count_between(np.array([x, z]), np.array([0.0, 0.0]), np.array([41 * DAY, 53 * DAY])).tolist() == [
        2.0,
        1.0,
    ]
    from pertinent.recommend.recency import last_times

    times = last_times(data.events, data.shape)
    a = data.user_index["a"]
    out = user_time_features(data.matrix[[a]], times[[a]], np.array([0, 0]), np.array([x, z]), stats)
    assert out["item_born_rel_days"].tolist() == [-10.0, 40.0]  # x appeared before a's newest event, z after
    assert out["hist_span_days"].tolist() == [10.0, 10.0]
    assert out["item_pop_user_30d"].tolist() == [pytest.approx(np.log1p(1.0)), 0.0]  # a's own x is 10 days old
    restored = ItemStats.from_state(stats.state())
    assert restored.keys.tolist() == stats.keys.tolist() and restored.t0 == stats.t0
    # without the time features the per-event keys are not kept; everything else is the same
    lean = ItemStats.fit(data)
    assert len(lean.keys) == 0 and np.isnan(lean.count_between(np.array([x]), np.array([0.0]), np.array([DAY]))).all()
    for name in ("now", "first", "last", "price"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(stats, name))
    assert lean.columns().keys() == stats.columns().keys()
    for name, values in stats.columns().items():
        np.testing.assert_array_equal(lean.columns()[name], values)


def test_cutoffs_and_time_features_train_and_round_trip(tmp_path: Path) -> None:
    interactions, cat = journeys()
    model = RankerRecommender(rounds=40, min_data_in_leaf=5, label_cutoffs=2, user_time_features=True)
    model.fit(interactions, cat)
    assert model.booster is not None and model.stats is not None and len(model.stats.keys) > 0
    per_cutoff = model.report["label_users_per_cutoff"]
    assert len(per_cutoff) == 2 and model.report["label_users"] == per_cutoff[0]
    assert set(USER_TIME_FEATURES) <= set(model.feature_names)
    assert next_item_hits(model, interactions, range(40)) >= 32
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert [r.item for r in loaded.recommend("u3", k=5)] == [r.item for r in model.recommend("u3", k=5)]


def test_full_anchor_weight_ranks_like_the_anchor_alone() -> None:
    interactions, cat = journeys()
    fused = RankerRecommender(rounds=20, min_data_in_leaf=5, anchor="ease", anchor_weight=1.0).fit(interactions, cat)
    assert fused.booster is not None
    ease = fused.generators.model(next(s for s in fused.config.generators if s.name == "ease"))
    for user in ("u1", "u2", "u7"):
        assert [r.item for r in fused.recommend(user, k=5)] == [r.item for r in ease.recommend(user, k=5)]
    half = RankerRecommender(rounds=20, min_data_in_leaf=5, anchor="ease", anchor_weight=0.3).fit(interactions, cat)
    assert next_item_hits(half, interactions, range(40)) >= 28
