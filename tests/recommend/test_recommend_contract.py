"""One contract every recommender satisfies; each implementation inherits the base test class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pertinent.recommend import (
    ALSRecommender,
    BPRRecommender,
    Catalogue,
    Component,
    ContentRecommender,
    DefaultRecommender,
    EASERecommender,
    Filters,
    HybridConfig,
    HybridRecommender,
    Interactions,
    ItemKNNRecommender,
    NotFittedError,
    PopularityRecommender,
    Recommender,
)


def clustered(seed: int = 0, n_users: int = 60, n_items: int = 30) -> tuple[Interactions, Catalogue]:
    """Two taste clusters: even users like items 0..14 ('red' things), odd users 15..29 ('blue')."""
    rng = np.random.default_rng(seed)
    rows = []
    half = n_items // 2
    for u in range(n_users):
        lo = 0 if u % 2 == 0 else half
        for i in rng.choice(np.arange(lo, lo + half), size=8, replace=False):
            rows.append((f"u{u}", f"i{i}"))
    df = pd.DataFrame(rows, columns=["user", "item"])
    cat = Catalogue.from_frame(
        pd.DataFrame(
            {
                "id": [f"i{i}" for i in range(n_items + 2)],  # two items nobody has seen yet
                "title": [f"{'red' if i < half or i == n_items else 'blue'} thing {i}" for i in range(n_items + 2)],
                "categories": [["red"] if i < half or i == n_items else ["blue"] for i in range(n_items + 2)],
            }
        )
    )
    return Interactions.from_frame(df, item_ids=cat.ids), cat


class RecommenderContract:
    """Subclasses set ``make`` (a fresh unfitted model); ``learns_taste`` marks collaborative models."""

    learns_taste = True

    def make(self) -> Recommender:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls) -> tuple[Recommender, Interactions, Catalogue]:
        data, cat = clustered()
        return cls().make().fit(data, cat), data, cat

    def test_config_round_trips_json(self) -> None:
        model = self.make()
        again = type(model.config).model_validate_json(model.config.model_dump_json())
        assert again == model.config

    def test_unfitted_model_says_so(self) -> None:
        with pytest.raises(NotFittedError):
            self.make().recommend("u0")

    def test_scores_have_one_row_per_history(self, fitted) -> None:
        model, data, _ = fitted
        scores = model.score(data.matrix[:5])
        assert scores.shape == (5, data.n_items)
        assert np.isfinite(scores).all()

    def test_recommend_excludes_seen_and_is_ranked(self, fitted) -> None:
        model, data, _ = fitted
        recs = model.recommend("u0", k=5)
        assert len(recs) == 5
        assert [r.rank for r in recs] == [1, 2, 3, 4, 5]
        assert not set(r.item for r in recs) & set(data.history_items("u0"))
        scores = [r.score for r in recs]
        assert scores == sorted(scores, reverse=True)
        assert all(r.reason for r in recs)

    def test_new_events_change_next_list_without_retraining(self, fitted) -> None:
        model, _, _ = fitted
        first = model.recommend("u0", k=3)
        top = first[0].item
        after = model.recommend("u0", items=[top], k=3)
        assert top not in [r.item for r in after]

    def test_unknown_user_and_fold_in_history(self, fitted) -> None:
        model, data, _ = fitted
        assert len(model.recommend("nobody", k=4)) == 4
        recs = model.recommend(history=data.vector(["i0", "i1", "i2"]), k=4)
        assert len(recs) == 4 and not {"i0", "i1", "i2"} & {r.item for r in recs}

    def test_learns_taste_from_history(self, fitted) -> None:
        if not self.learns_taste:
            pytest.skip("popularity ignores the user's taste")
        model, _, _ = fitted
        # a new user who liked red items should get mostly red items (ids below 15)
        recs = model.recommend(items=["i0", "i1", "i2", "i3", "i4"], k=5)
        red = sum(int(r.item[1:]) < 15 or r.item == "i30" for r in recs)
        assert red >= 4, [r.item for r in recs]

    def test_filters_are_applied(self, fitted) -> None:
        model, _, _ = fitted
        base = model.recommend("u1", k=3)
        banned = base[0].item
        recs = model.recommend("u1", k=3, filters=Filters(exclude_items=[banned], exclude_categories=["red"]))
        assert banned not in {r.item for r in recs}
        assert all(int(r.item[1:]) >= 15 and r.item != "i30" for r in recs)

    def test_save_load_round_trip(self, fitted, tmp_path) -> None:
        model, data, _ = fitted
        model.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(model)
        np.testing.assert_allclose(loaded.score(data.matrix[:4]), model.score(data.matrix[:4]), rtol=1e-5, atol=1e-6)
        assert [r.item for r in loaded.recommend("u2", k=5)] == [r.item for r in model.recommend("u2", k=5)]

    def test_recommend_batch_matches_single(self, fitted) -> None:
        model, _, _ = fitted
        frame = model.recommend_batch(["u0", "u3", "ghost"], k=3)
        assert list(frame.columns) == ["user", "item", "rank", "score"]
        single = [r.item for r in model.recommend("u3", k=3)]
        assert frame[frame.user == "u3"].sort_values("rank")["item"].tolist() == single
        assert (frame.user == "ghost").sum() == 3

    def test_pair_similarity_is_the_item_similarity_block(self, fitted) -> None:
        model, _, _ = fitted
        items = np.asarray([0, 3, 7, 20, 29])
        rows = [model.item_similarity(int(j)) for j in items]
        pairs = model.pair_similarity(items)
        if rows[0] is None:
            assert pairs is None
        else:
            np.testing.assert_allclose(pairs, np.vstack([r[items] for r in rows]), rtol=1e-5, atol=1e-6)

    def test_similar_items_excludes_the_item(self, fitted) -> None:
        model, _, _ = fitted
        sims = model.similar_items("i0", k=3)
        assert "i0" not in {r.item for r in sims}
        assert model.similar_items("no-such-item") == []


class TestPopularity(RecommenderContract):
    learns_taste = False

    def make(self) -> Recommender:
        return PopularityRecommender()


class TestItemKNN(RecommenderContract):
    def make(self) -> Recommender:
        return ItemKNNRecommender(neighbors=20)


class TestALS(RecommenderContract):
    def make(self) -> Recommender:
        return ALSRecommender(factors=8, iterations=10, regularization=0.1)


class TestSparkALS(RecommenderContract):
    """The ``spark_als`` kind (pertinent.spark.model), fitted in-process here; tests/spark trains it on Spark."""

    def make(self) -> Recommender:
        from pertinent.spark.model import SparkALSRecommender

        return SparkALSRecommender(rank=8, max_iter=10, reg_param=0.1)


class TestBPR(RecommenderContract):
    def make(self) -> Recommender:
        return BPRRecommender(factors=8, iterations=200, learning_rate=0.05)


class TestEASE(RecommenderContract):
    def make(self) -> Recommender:
        return EASERecommender(regularization=10.0)


class TestEASEFallback(RecommenderContract):
    def make(self) -> Recommender:
        return EASERecommender(regularization=10.0, max_dense_items=5)

    def test_it_really_fell_back(self, fitted) -> None:
        model, _, _ = fitted
        assert model.uses_fallback and "max_dense_items" in model.fallback_reason


class TestContent(RecommenderContract):
    def make(self) -> Recommender:
        return ContentRecommender()

    def test_needs_a_catalogue(self) -> None:
        data, _ = clustered()
        with pytest.raises(ValueError, match="catalogue"):
            ContentRecommender().fit(data)


class TestContentEmbedding(RecommenderContract):
    """The same contract with packaged sentence embeddings (``pertinent[embeddings]``, installed by make)."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _needs_extra(cls) -> None:
        pytest.importorskip("wordllama", reason="the embeddings extra is not installed")

    def make(self) -> Recommender:
        return ContentRecommender(encoder="embedding")

    def test_meaning_without_shared_words(self) -> None:
        # no word in common: TF-IDF sees nothing, embeddings see a scarf next to a shawl
        cat = Catalogue.from_frame(
            pd.DataFrame(
                {
                    "id": ["a", "b", "c", "d"],
                    "title": ["red wool scarf", "warm knitted shawl", "garden hose", "cordless lawn mower"],
                }
            )
        )
        data = Interactions.from_frame(pd.DataFrame({"user": ["u"], "item": ["a"]}), item_ids=cat.ids)
        model = ContentRecommender(encoder="embedding").fit(data, cat)
        assert model.similar_items("a", k=1)[0].item == "b"
        assert model.similar_items("c", k=1)[0].item == "d"
        assert np.allclose(ContentRecommender().fit(data, cat).score(data.vector(["a"]))[0, 1:], 0.0)

    def test_works_offline_from_the_installed_package(self, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
        import requests

        from pertinent.recommend.embeddings import load_encoder

        def no_network(*_args, **_kwargs):
            raise AssertionError("the embeddings model tried to download something")

        monkeypatch.setattr(requests, "get", no_network)
        monkeypatch.setattr(requests.Session, "request", no_network)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HOME", str(tmp_path))  # no cache folder to fall back on
        load_encoder.cache_clear()
        try:
            data, cat = clustered()
            model = ContentRecommender(encoder="embedding", embedding_dim=64).fit(data, cat)
            assert model.features.shape == (data.n_items, 64)
        finally:
            load_encoder.cache_clear()

    def test_hybrid_cold_start_through_embeddings(self) -> None:
        data, cat = clustered()
        cfg = HybridConfig(components=[Component(kind="itemknn")], content={"encoder": "embedding"})
        model = HybridRecommender(cfg).fit(data, cat)
        recs = model.recommend(items=["i0", "i1", "i2", "i3", "i4", "i5"], k=30)
        assert "i30" in {r.item for r in recs}  # the unseen red item, reached by its title's meaning

    def test_serving_a_saved_model_needs_no_encoder(self, fitted, tmp_path, monkeypatch) -> None:
        import pertinent.recommend.embeddings as embeddings

        model, data, _ = fitted
        model.save(tmp_path / "m")
        monkeypatch.setattr(embeddings, "load_encoder", None)  # any use would fail
        loaded = Recommender.load(tmp_path / "m")
        assert [r.item for r in loaded.recommend("u0", k=5)] == [r.item for r in model.recommend("u0", k=5)]


def test_embedding_encoder_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from pertinent.recommend.embeddings import load_encoder

    monkeypatch.setitem(sys.modules, "wordllama", None)  # import fails as if not installed
    load_encoder.cache_clear()
    try:
        data, cat = clustered()
        with pytest.raises(ValueError, match=r"pertinent\[embeddings\]"):
            ContentRecommender(encoder="embedding").fit(data, cat)
    finally:
        load_encoder.cache_clear()


class TestHybrid(RecommenderContract):
    def make(self) -> Recommender:
        return HybridRecommender(
            HybridConfig(components=[Component(kind="itemknn"), Component(kind="popularity", weight=0.1)])
        )

    def test_reasons_do_not_depend_on_the_cached_parts(self, fitted) -> None:
        model, data, _ = fitted
        row = data.matrix[3]
        items = np.argsort(-model.score(row)[0])[:6]
        cached = model.because(row, items)  # reuses the parts of the score() just above
        assert cached == model.because(row.copy(), items)  # another row object: computed afresh

    def test_cold_start_chain(self, fitted) -> None:
        model, _, _ = fitted
        assert {r.reason for r in model.recommend("nobody", k=3)} == {"popular"}
        # a new (never interacted) red item is reachable through content similarity
        recs = model.recommend(items=["i0", "i1", "i2", "i3", "i4", "i5"], k=30)
        assert "i30" in {r.item for r in recs}
        assert "i31" not in {r.item for r in recs[:10]}


class TestDefault(RecommenderContract):
    def make(self) -> Recommender:
        return DefaultRecommender(als_weights=[0.0, 0.2], als={"factors": 8, "iterations": 5}, min_validation_items=5)

    def test_report_says_what_was_chosen(self, fitted) -> None:
        model, _, _ = fitted
        assert model.report["base"] == "ease"
        assert "trials" in model.report


class TestEASERecent(RecommenderContract):
    """EASE with the history weighted by age (no times in the contract data: it scores the row as it is)."""

    def make(self) -> Recommender:
        return EASERecommender(regularization=10.0, recency={"decay": 0.8})


class TestTransitions(RecommenderContract):
    def make(self) -> Recommender:
        from pertinent.recommend.models.transitions import TransitionRecommender

        return TransitionRecommender(window=5, symmetric=0.5)


class TestTrending(RecommenderContract):
    learns_taste = False

    def make(self) -> Recommender:
        from pertinent.recommend.models.trending import TrendingRecommender

        return TrendingRecommender()


class TestFresh(RecommenderContract):
    learns_taste = False

    def make(self) -> Recommender:
        from pertinent.recommend.models.fresh import FreshRecommender

        return FreshRecommender()


class TestRepeat(RecommenderContract):
    learns_taste = False

    def make(self) -> Recommender:
        from pertinent.recommend.models.repeat import RepeatRecommender

        return RepeatRecommender(mode="on")


class TestRanker(RecommenderContract):
    def make(self) -> Recommender:
        from pertinent.recommend.ranking.ranker import RankerRecommender

        return RankerRecommender(rounds=30, min_data_in_leaf=5)

    def test_it_learned_a_ranker(self, fitted) -> None:
        model, _, _ = fitted
        assert model.booster is not None and model.report["positives"] >= 10

    def test_reasons_do_not_depend_on_the_cached_scores(self, fitted) -> None:
        model, data, _ = fitted
        row = data.matrix[3]
        items = np.argsort(-model.score(row)[0])[:6]
        cached = model.because(row, items)  # reuses the generators' scores of the score() just above
        assert cached == model.because(row.copy(), items)
        other = data.matrix[4]
        model.score(other)
        assert model.because(row, items) == cached  # another row was scored since: computed afresh


class TestFused(RecommenderContract):
    """EASE fused with the ranker; ``tolerance`` near 1 and one share so the fusion itself is what is tested."""

    def make(self) -> Recommender:
        from pertinent.recommend.models.fused import FusedRecommender

        return FusedRecommender(
            ease_lambdas=[10.0],
            ease={"regularization": 10.0},
            ranker={"rounds": 30, "min_data_in_leaf": 5},
            weights=[0.5],
            tolerance=0.99,
        )

    def test_it_fused_the_ranker(self, fitted) -> None:
        model, _, _ = fitted
        assert model.share == 0.5 and model.ranker is not None
        assert [t["share"] for t in model.report["trials"]] == [0.0, 0.5]
