"""The fused recommender (EASE + the ranker, mixed by its own validation): the validation split it carves out of its
training data, the share it chooses, scores that do not depend on the batch, and persistence."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pertinent.recommend import EASERecommender, Recommender
from pertinent.recommend.models.fused import FusedRecommender, fuse_scores, per_row_candidates, standardise
from tests.recommend.test_recommend_ranking import journeys


def small(**kwargs) -> FusedRecommender:
    config = {
        "ease_lambdas": [5.0, 50.0],
        "ease": {"regularization": 5.0},
        "ranker": {"rounds": 40, "min_data_in_leaf": 5},
        "weights": [0.0, 0.5, 0.8],
        **kwargs,
    }
    return FusedRecommender(**config)


def test_the_validation_folds_hold_out_each_users_newest_items_or_random_ones() -> None:
    data, _ = journeys()
    nxt, likes = small()._folds(data)
    ev = data.events.assign(t=data.events["timestamp"])
    newest = ev.groupby("user")["t"].max()
    older = 0
    for fold in (nxt, likes):
        assert len(fold.users) and fold.truth.nnz
        assert fold.data.matrix.nnz == data.matrix.nnz - fold.truth.nnz  # only the scored users gave labels here
        assert not fold.data.matrix[fold.users].multiply(fold.truth).nnz
        for row, u in enumerate(fold.users):
            items = fold.truth.indices[fold.truth.indptr[row] : fold.truth.indptr[row + 1]]
            assert set(items) <= set(data.matrix[u].indices)
            latest = ev[(ev["user"] == u) & ev["item"].isin(items)]["t"].max()
            if fold is nxt:  # "next" labels are each user's newest items
                assert latest == newest[u]
            else:
                older += latest < newest[u]
    assert 0 < older < len(likes.users)  # "likes" labels are drawn at random, the newest item among them or not


def test_it_chooses_a_share_from_its_validation_and_reports_why() -> None:
    data, cat = journeys()
    model = small().fit(data, cat)
    trials = model.report["trials"]
    assert [t["share"] for t in trials] == [0.0, 0.5, 0.8]
    floor = trials[0]["likes_ndcg"]
    allowed = [t for t in trials if t["likes_ndcg"] >= floor]
    assert model.share == max(allowed, key=lambda t: (t["next_ndcg"], -t["share"]))["share"]
    assert model.ease_lambda in (5.0, 50.0)
    # on these journeys "next" is the next item of the user's chain: the ranker helps, EASE alone ranks it lower
    assert trials[-1]["next_ndcg"] > trials[0]["next_ndcg"]


def test_share_zero_is_ease_alone() -> None:
    data, cat = journeys()
    model = small(weights=[0.0]).fit(data, cat)
    assert model.share == 0.0 and model.ranker is None
    ease = EASERecommender(regularization=model.ease_lambda).fit(data, cat)
    np.testing.assert_allclose(model.score(data.matrix[:7]), ease.score(data.matrix[:7]), rtol=1e-5, atol=1e-6)


def test_a_row_scores_the_same_alone_and_in_a_batch() -> None:
    data, cat = journeys()
    model = small(weights=[0.5], tolerance=0.99).fit(data, cat)
    assert model.share == 0.5 and model.ranker is not None
    rows = data.matrix[:6]
    batch = model.score(rows, None)
    for r in range(6):
        alone = model.score(rows[r], None)
        np.testing.assert_allclose(alone[0], batch[r], rtol=1e-5, atol=1e-5)


def test_save_and_load_give_the_same_scores(tmp_path) -> None:
    data, cat = journeys()
    model = small(weights=[0.5], tolerance=0.99).fit(data, cat)
    again = Recommender.load(model.save(tmp_path / "fused"))
    assert isinstance(again, FusedRecommender) and again.share == 0.5 and again.ranker is not None
    np.testing.assert_allclose(again.score(data.matrix[:9]), model.score(data.matrix[:9]), rtol=1e-5, atol=1e-5)
    assert again.report == model.report


def test_fusion_helpers() -> None:
    seen = sp.csr_matrix(np.array([[0, 0, 0, 1], [1, 0, 0, 0]]))
    z = standardise(np.array([[1.0, 2.0, 3.0, 100.0], [-50.0, 0.0, 1.0, 2.0]]), seen)
    assert np.allclose(z[0, :3].mean(), 0) and np.allclose(z[1, 1:].std(), 1)
    shifted = per_row_candidates(np.array([[5.0, 7.0, -1.5, -2.0], [1.0, 3.0, -1.0, -1.2]]))
    assert shifted[0].tolist() == [1.0, 3.0, -1.5, -2.0] and shifted[1].tolist() == [1.0, 3.0, -1.0, -1.2]
    anchor = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    assert fuse_scores(anchor, shifted, seen, 0.0).tolist() == anchor.tolist()
    assert np.array_equal(fuse_scores(anchor, shifted, seen, 1.0), standardise(shifted, seen).astype(np.float32))
