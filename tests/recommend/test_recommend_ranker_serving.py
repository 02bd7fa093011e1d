"""The ranker at request time: candidates from precomputed lists agree with scoring every item, the features of
the candidates are the training ones, contributions from decision paths add up to the prediction, and the
request path is the one used unless configured otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.recommend import Catalogue, Interactions
from pertinent.recommend.ranking.candidates import last_affinity
from pertinent.recommend.ranking.config import ServingConfig
from pertinent.recommend.ranking.contrib import PathContributions
from pertinent.recommend.ranking.ranker import RankerRecommender
from pertinent.recommend.ranking.retrieval import Scored, history_keys, merge, top_per_row
from pertinent.recommend.ranking.serving import Serving
from pertinent.recommend.recency import ages, decayed, newest_item, weigh

DAY = 86400.0
BIG = ServingConfig(neighbours=100_000, sources=100_000, pool=100_000)


def shop(n_users: int = 220, n_items: int = 300, seed: int = 1) -> tuple[Interactions, Catalogue]:
    """Users browse within one of six groups of items, in order with some jumps, plus a few popular items: more
    items than any generator's candidate count, so every top-k selection matters."""
    rng = np.random.default_rng(seed)
    rows = []
    group_size = n_items // 6
    for u in range(n_users):
        g = u % 6
        t = float(rng.integers(0, 60)) * DAY
        pos = int(rng.integers(0, group_size))
        for _ in range(int(rng.integers(6, 18))):
            pos = (pos + int(rng.integers(1, 4))) % group_size
            rows.append((f"u{u}", f"i{g * group_size + pos}", t))
            t += float(rng.integers(1, 48)) * 3600.0
        if rng.random() < 0.5:
            rows.append((f"u{u}", f"i{int(rng.integers(0, 5))}", t - 30 * DAY))
    df = pd.DataFrame(rows, columns=["user", "item", "t"])
    ids = sorted(df["item"].unique(), key=lambda i: int(i[1:]))
    cat = Catalogue.from_frame(
        pd.DataFrame(
            {
                "id": ids,
                "title": ids,
                "categories": [[f"g{int(i[1:]) // group_size}"] for i in ids],
                "price": [1.0 + int(i[1:]) % 9 for i in ids],
            }
        )
    )
    return Interactions.from_frame(df, timestamp_col="t", item_ids=cat.ids), cat


@pytest.fixture(scope="module")
def fitted() -> tuple[RankerRecommender, Interactions]:
    data, cat = shop()
    model = RankerRecommender(rounds=30, min_data_in_leaf=5, max_train_users=400).fit(data, cat)
    assert model.booster is not None and model.chosen is None
    return model, data


def with_serving(model: RankerRecommender, serving: ServingConfig) -> RankerRecommender:
    """The same trained model served with other settings (shares the generators and the booster)."""
    other = RankerRecommender(model.config.model_copy(update={"serving": serving}))
    other.__dict__.update({k: v for k, v in model.__dict__.items() if k not in ("config", "_serving")})
    other._serving = None
    return other


def exhaustive_top(scores: np.ndarray, seen: np.ndarray, k: int) -> tuple[set[int], float]:
    """The unseen items strictly above the k-th best unseen score and above 0 (scoring every item also fills its
    k with items no list holds, scored 0 or below), and that k-th score (ties at it may go either way)."""
    s = np.where(seen, -np.inf, scores)
    kth = float(np.sort(s)[::-1][k - 1])
    return set(np.flatnonzero(s > max(kth, 0.0)).tolist()), kth


def test_the_lists_find_every_generators_top_candidates(fitted) -> None:
    model, data = fitted
    gens, stats = model.generators, model.stats
    serving = Serving(gens, stats, model.config.model_copy(update={"serving": BIG}), model.feature_names)
    for user in list(model.user_index)[:40]:
        h, t = model.history_for(user), model.times_for(user)
        full = gens.scores(h, t)
        weighted, _ = weigh(h, t, serving.recency)
        seen = np.zeros(data.n_items, bool)
        seen[h.indices] = True
        for spec in gens.specs:
            if not spec.candidates:
                continue
            scored = Scored(serving.sources[spec.name], weighted[serving.recency_of[spec.name]], history_keys(h), BIG)
            above, kth = exhaustive_top(full[spec.name][0], seen, spec.candidates)
            picked = set(scored.picks[1].tolist())
            assert above <= picked, (user, spec.name)
            # every pick is a top-k item too (its exact score reaches the k-th best), and is unseen
            exact = full[spec.name][0][scored.picks[1]]
            assert (exact >= kth - 1e-5).all(), (user, spec.name)
            assert not seen[scored.picks[1]].any()


def test_the_candidates_features_are_the_training_ones(fitted) -> None:
    model, _ = fitted
    gens, stats = model.generators, model.stats
    serving = Serving(gens, stats, model.config.model_copy(update={"serving": BIG}), model.feature_names)
    for user in list(model.user_index)[:40]:
        h, t = model.history_for(user), model.times_for(user)
        ex = model._candidates(gens, stats, h, t, stats.now)
        fast = serving.candidates(h, t, stats.now, (ex.rows, ex.items))
        for j, name in enumerate(model.feature_names):
            a, b = ex.features[:, j], fast.features[:, j]
            if name.endswith("_rank"):  # ranks among equal scores may swap (float32 vs float64 sums)
                continue
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"{user} {name}")


def test_lists_and_scoring_every_item_recommend_the_same(fitted) -> None:
    model, _ = fitted
    fast = with_serving(model, BIG)
    slow = with_serving(model, ServingConfig(exhaustive=True))
    assert fast.serving() is not None and slow.serving() is None
    same = total = 0
    for user in list(model.user_index)[:40]:
        a = [r.item for r in fast.recommend(user, k=10)]
        b = [r.item for r in slow.recommend(user, k=10)]
        same += len(set(a) & set(b))
        total += len(b)
    assert same / total >= 0.95  # the same top 10 but for ties among equal candidates' predictions


def test_default_serving_uses_lists_and_explains(fitted) -> None:
    model, _ = fitted
    assert model.serving() is not None
    user = next(iter(model.user_index))
    recs = model.recommend(user, k=10)
    assert len(recs) == 10
    assert all(r.reason for r in recs)
    seen = set(model.fitted_item_ids[model.history_for(user).indices].tolist())
    assert not seen & {r.item for r in recs}
    # items filtered out of the candidates still come, below them (tail), and the row scores every item
    scores = model.score(model.history_for(user), None)
    assert scores.shape == (1, model.n_items) and np.isfinite(scores).all()


def test_a_feature_unknown_at_request_time_scores_every_item(fitted) -> None:
    model, _ = fitted
    serving = Serving(model.generators, model.stats, model.config, [*model.feature_names, "something_new"])
    assert not serving.usable


def test_path_contributions_add_up_to_the_raw_score(fitted) -> None:
    model, _ = fitted
    user = next(iter(model.user_index))
    served = model.serving().candidates(model.history_for(user), model.times_for(user), model.stats.now)
    x = served.features[:25]
    contrib = PathContributions(model.booster)(x)
    raw = model.booster.predict(x, raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=1e-6, atol=1e-9)
    shap = model.booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(contrib[:, -1], contrib[0, -1])  # one bias for every row, like TreeSHAP's
    assert contrib.shape == shap.shape


def test_merging_lists_is_the_sparse_product() -> None:
    rng = np.random.default_rng(0)
    m = sp.random(50, 50, density=0.2, random_state=1, format="csr", dtype=np.float32)
    h = sp.random(4, 50, density=0.1, random_state=2, format="csr", dtype=np.float32)
    rows = np.repeat(np.arange(4), np.diff(h.indptr))
    r, i, v = merge(m, rows, h.indices.astype(np.int64), h.data.astype(np.float64), 4)
    expect = (h @ m).toarray()
    got = np.zeros_like(expect)
    got[r, i] = v
    np.testing.assert_allclose(got, expect, rtol=1e-5)
    assert rng is not None
    dense = np.array([[0.0, 3.0, -1.0, 2.0], [1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    assert top_per_row(dense, 2).toarray().tolist() == [[0.0, 3.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.0]]


def test_weighing_once_matches_the_recency_module(fitted) -> None:
    model, _ = fitted
    users = list(model.user_index)[:30]
    h = sp.vstack([model.history_for(u) for u in users]).tocsr()
    t = sp.vstack([model.times_for(u) for u in users]).tocsr()
    serving = model.serving()
    weighted, newest = weigh(h, t, serving.recency)
    for key, cfg in serving.recency.items():
        np.testing.assert_allclose(weighted[key].toarray(), decayed(h, t, cfg).toarray(), rtol=1e-6)
    assert newest.tolist() == newest_item(h, t).tolist()
    age = ages(h, t)  # the newest item, one row at a time, as the ranker's training read it before
    slow = [
        int(age.indices[s:e][np.argsort(age.data[s:e], kind="stable")[0]]) if e > s else -1
        for s, e in zip(age.indptr[:-1], age.indptr[1:], strict=True)
    ]
    assert newest.tolist() == slow


def test_affinity_to_the_newest_item_matches_a_loop_over_rows(fitted) -> None:
    """Training's like_last / after_last columns (``last_affinity``, once per distinct newest item) equal the
    per-row loop they replace, and the request path's (read from the lists where it can) agrees with them."""
    model, data = fitted
    gens = model.generators
    users = list(model.user_index)[:40]
    h = sp.vstack([model.history_for(u) for u in users]).tocsr()
    t = sp.vstack([model.times_for(u) for u in users]).tocsr()
    h = sp.vstack([h, sp.csr_matrix((1, h.shape[1]), dtype=h.dtype)]).tocsr()  # and an empty row
    t = sp.vstack([t, sp.csr_matrix((1, t.shape[1]))]).tocsr()
    rng = np.random.default_rng(5)
    rows = np.sort(rng.integers(0, h.shape[0], 600))
    items = rng.integers(0, data.n_items, 600)
    newest = newest_item(h, t)
    after = next(gens.model(s) for s in gens.specs if s.kind == "transitions")
    for m in (gens.base(), after):
        expect = np.full(len(rows), np.nan)
        for r, j in enumerate(newest.tolist()):
            sel = rows == r
            if j >= 0 and sel.any():
                sims = m.item_similarity(int(j))
                if sims is not None:
                    expect[sel] = np.asarray(sims)[items[sel]]
        np.testing.assert_array_equal(last_affinity(m, newest[rows], items), expect)
    assert np.isnan(last_affinity(gens.base(), newest[rows], items)[rows == h.shape[0] - 1]).all()
    assert np.isnan(last_affinity(None, newest[rows], items)).all()


def test_the_serving_lists_survive_a_round_trip(fitted, tmp_path) -> None:
    model, _ = fitted
    model.save(tmp_path / "m")
    loaded = RankerRecommender.load(tmp_path / "m")
    user = next(iter(model.user_index))
    assert loaded.serving() is not None
    assert [r.item for r in loaded.recommend(user, k=10)] == [r.item for r in model.recommend(user, k=10)]


def by_definition(h: sp.csr_matrix, rows: np.ndarray, items: np.ndarray, cats: sp.csr_matrix) -> np.ndarray:
    """Category affinity with sparse products: the row's category profile over its total, at the candidate's
    categories, over their number."""
    profile = sp.csr_matrix(h @ cats)
    totals = np.maximum(np.asarray(h.sum(axis=1)).ravel(), 1e-9)
    cand = cats[items]
    hit = np.asarray(cand.multiply(profile[rows]).sum(axis=1)).ravel()
    return hit / totals[rows] / np.maximum(np.diff(cand.indptr), 1)


def test_pair_features_of_training_and_serving_follow_the_definition(fitted) -> None:
    """Training and requests read the pair features from one CSR implementation (``features.pair_features``); it
    equals the sparse-product definition, and the request path's features hold its values."""
    from pertinent.recommend.ranking.features import pair_features, price_ratio

    model, data = fitted
    users = list(model.user_index)[:25]
    h = sp.vstack([model.history_for(u) for u in users]).tocsr()
    rng = np.random.default_rng(3)
    rows = np.sort(rng.integers(0, len(users), 400))
    items = rng.integers(0, data.n_items, 400)
    got = pair_features(h, rows, items, model.stats)
    assert model.stats.categories.shape[1] and np.isfinite(got["category_affinity"]).all()
    expect = by_definition(h, rows, items, model.stats.categories)
    np.testing.assert_allclose(got["category_affinity"], expect, rtol=1e-6)  # float32 sums in the product
    np.testing.assert_array_equal(got["price_ratio"], price_ratio(h, rows, items, model.stats.price))
    serving = model.serving()
    one = h[:1]
    asked = rng.integers(0, data.n_items, 30)
    x = serving.candidates(one, None, model.stats.now, (np.zeros(30, np.int64), asked)).features
    column = model.feature_names.index("category_affinity")
    zeros = np.zeros(30, np.int64)
    np.testing.assert_allclose(x[:, column], by_definition(one, zeros, asked, model.stats.categories), rtol=1e-5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 11), max_size=9, unique=True), min_size=1, max_size=6),
    st.lists(
        st.one_of(st.just(np.nan), st.floats(0.5, 50.0), st.sampled_from([1.0, 2.0, 3.0])), min_size=12, max_size=12
    ),
)
def test_usual_price_is_each_rows_median(histories: list[list[int]], prices: list[float]) -> None:
    """The vectorised median of training and serving equals ``np.median`` of each row's known prices, exactly."""
    from pertinent.recommend.ranking.features import usual_price

    price = np.asarray(prices)
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.asarray([j for h in histories for j in h], dtype=np.int64)
    h = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(histories), 12))
    expect = []
    for items in histories:
        known = price[items][np.isfinite(price[items])] if items else np.zeros(0)
        expect.append(float(np.median(known)) if len(known) else np.nan)
    np.testing.assert_array_equal(usual_price(h, price), np.asarray(expect))
