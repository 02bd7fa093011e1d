"""Machine-learned segments: contract every algorithm passes, blob recovery, stable ids, thin data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from pertinent.segments.kselect import KScore, elbow_k, select_k
from pertinent.segments.ml import FeatureError, SegmentModel, discover, select_features
from pertinent.segments.pipeline import ClusteringConfig, FeatureConfig, SegmentationConfig

FEATURES = ["recency_days", "frequency", "monetary", "tenure_days"]


def blobs(n: int = 600, centers: int = 4, seed: int = 3, std: float = 0.5) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_blobs(
        n_samples=n, n_features=len(FEATURES), centers=centers, cluster_std=std, center_box=(-10, 10), random_state=seed
    )
    frame = pd.DataFrame(X, columns=FEATURES, index=[f"p{i:05d}" for i in range(n)])
    return frame, y


def config(algorithm: str, k_range: tuple[int, int] = (2, 7), **clustering) -> SegmentationConfig:
    return SegmentationConfig(
        features=FeatureConfig(clip_quantiles=None, log_features="none"),
        clustering=ClusteringConfig(algorithm=algorithm, k_range=k_range, **clustering),
    )


class SegmentAlgorithmContract:
    """Every clustering algorithm must pass these; subclasses set ``algorithm``."""

    algorithm: str = ""
    # share of training rows whose fast assignment equals the fitted label
    min_assign_agreement: float = 0.99

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> tuple[pd.DataFrame, np.ndarray]:
        return blobs()

    @pytest.fixture(scope="class")
    @classmethod
    def found(cls, data):
        return discover(data[0], config(cls.algorithm))

    def test_every_row_gets_a_label(self, data, found):
        assert found.ok, found.report.message
        assert found.labels.index.equals(data[0].index)
        assert found.labels.notna().all()
        assert set(found.labels.unique()) <= {s.id for s in found.report.segments}

    def test_report_sizes_sum_to_n(self, data, found):
        sizes = [s.size for s in found.report.segments]
        assert sum(sizes) == len(data[0]) == found.report.n_profiles
        assert sum(s.share for s in found.report.segments) == pytest.approx(1.0)
        counts = found.labels.value_counts()
        for seg in found.report.segments:
            assert counts[seg.id] == seg.size

    def test_descriptions_mention_real_features(self, found):
        for seg in found.report.segments:
            assert seg.description and seg.name
            assert seg.contrasts, f"segment {seg.id} has no distinctive feature on well-separated blobs"
            for contrast in seg.contrasts:
                assert contrast.feature in FEATURES
                assert contrast.feature in contrast.phrase
                assert contrast.phrase in seg.description
        names = [s.name for s in found.report.segments]
        assert len(set(names)) == len(names)

    def test_deterministic_with_a_seed(self, data, found):
        again = discover(data[0], config(self.algorithm))
        pd.testing.assert_series_equal(found.labels, again.labels)
        assert [s.name for s in found.report.segments] == [s.name for s in again.report.segments]

    def test_k_scores_reported(self, found):
        assert found.report.k_scores
        assert found.report.selection
        for row in found.report.k_scores:
            assert {"k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz"} <= set(row)

    def test_fast_assignment_matches_training_labels(self, data, found):
        frame = data[0]
        batch = found.model.assign_many(frame)
        clustered = found.labels >= 0
        agreement = (batch[clustered] == found.labels[clustered]).mean()
        assert agreement >= self.min_assign_agreement
        for pid in frame.index[:25]:
            assert found.model.assign(frame.loc[pid].to_dict()) == batch[pid]

    def test_save_and_load_round_trip(self, data, found, tmp_path):
        found.model.save(tmp_path / "model")
        loaded = SegmentModel.load(tmp_path / "model")
        assert loaded.config == found.model.config
        assert loaded.names == found.model.names
        pd.testing.assert_series_equal(loaded.assign_many(data[0]), found.model.assign_many(data[0]))


class TestKMeans(SegmentAlgorithmContract):
    algorithm = "kmeans"


class TestMiniBatchKMeans(SegmentAlgorithmContract):
    algorithm = "minibatch"


class TestGaussianMixture(SegmentAlgorithmContract):
    algorithm = "gmm"


class TestAgglomerative(SegmentAlgorithmContract):
    algorithm = "agglomerative"
    min_assign_agreement = 0.97  # Ward labels are not exactly nearest-centroid


class TestDBSCAN(SegmentAlgorithmContract):
    algorithm = "dbscan"
    min_assign_agreement = 0.97


class TestHDBSCAN(SegmentAlgorithmContract):
    algorithm = "hdbscan"
    min_assign_agreement = 0.97


@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch", "gmm", "agglomerative"])
@pytest.mark.parametrize("centers", [3, 5])
def test_k_selection_recovers_known_blobs(algorithm, centers):
    frame, truth = blobs(n=500, centers=centers, seed=centers, std=0.4)
    found = discover(frame, config(algorithm, k_range=(2, 8)))
    assert found.report.k == centers, found.report.selection
    assert f"k={centers}" in found.report.selection
    assert adjusted_rand_score(truth, found.labels) > 0.95


@pytest.mark.parametrize("algorithm", ["dbscan", "hdbscan"])
def test_density_algorithms_recover_known_blobs(algorithm):
    frame, truth = blobs(n=500, centers=4, seed=11, std=0.4)
    found = discover(frame, config(algorithm))
    kept = found.labels.to_numpy() >= 0
    assert kept.mean() > 0.8
    assert adjusted_rand_score(truth[kept], found.labels[kept]) > 0.95


def test_stable_ids_across_retrain_with_shuffled_rows():
    frame, _ = blobs(n=600, centers=5, seed=7)
    first = discover(frame, config("kmeans"))
    shuffled = frame.sample(frac=1.0, random_state=42)
    second = discover(shuffled, config("kmeans", seed=99), previous=first.model)
    assert second.report.k == first.report.k
    # same profiles keep the same segment id
    assert (second.labels.loc[frame.index] == first.labels).all()
    assert second.report.stability_ari == pytest.approx(1.0)
    assert all(s.overlap_with_previous == pytest.approx(1.0) for s in second.report.segments)
    names_first = {s.id: s.name for s in first.report.segments}
    assert {s.id: s.name for s in second.report.segments} == names_first


def test_stable_ids_by_centroid_when_no_profile_is_shared():
    X, y = make_blobs(n_samples=1200, n_features=4, centers=4, cluster_std=0.5, random_state=5)
    old = pd.DataFrame(X[:600], columns=FEATURES, index=[f"a{i}" for i in range(600)])
    new = pd.DataFrame(X[600:], columns=FEATURES, index=[f"b{i}" for i in range(600)])
    first = discover(old, config("kmeans"))
    second = discover(new, config("kmeans"), previous=first.model)
    # the blob each id stands for must be the same in both runs
    blob_of_old = pd.crosstab(first.labels.to_numpy(), y[:600]).idxmax(axis=1).to_dict()
    blob_of_new = pd.crosstab(second.labels.to_numpy(), y[600:]).idxmax(axis=1).to_dict()
    assert blob_of_new == blob_of_old
    assert any("centroid distance" in note for note in second.report.notes)


def test_new_cluster_on_retrain_gets_a_fresh_id():
    frame, _ = blobs(n=600, centers=3, seed=2)
    first = discover(frame, config("kmeans", k=3))
    second = discover(frame, config("kmeans", k=4), previous=first.model)
    ids = sorted(s.id for s in second.report.segments)
    assert set(first.model.segment_ids.tolist()) < set(ids)
    assert len(ids) == 4 and max(ids) == 3


def test_silhouette_is_sampled_on_large_inputs():
    frame, truth = blobs(n=3000, centers=3, seed=1)
    cfg = config("minibatch", k_range=(2, 5), search_sample=1000, silhouette_sample=300)
    found = discover(frame, cfg)
    assert "sample of 1,000 of 3,000" in found.report.selection
    assert adjusted_rand_score(truth, found.labels) > 0.95


# ---- thin and bad data ---------------------------------------------------------------------------


def test_fewer_rows_than_three_is_a_message_not_a_crash():
    frame = pd.DataFrame({"frequency": [1.0, 2.0]}, index=["a", "b"])
    found = discover(frame)
    assert not found.ok and found.model is None
    assert "at least 3" in found.report.message and "got 2" in found.report.message


def test_fewer_rows_than_k_caps_the_k_range():
    frame = pd.DataFrame({"frequency": [1.0, 2.0, 10.0, 11.0, 30.0], "monetary": [5.0, 6, 50, 55, 300]})
    found = discover(frame, config("kmeans", k_range=(2, 12)))
    assert found.ok
    assert 2 <= found.report.k <= 4
    assert any("capped" in note for note in found.report.notes)
    assert max(row["k"] for row in found.report.k_scores) <= 4


def test_constant_columns_are_dropped_with_a_note():
    frame, _ = blobs(n=200, centers=3)
    frame["country_code"] = 44.0
    found = discover(frame, config("kmeans"))
    assert found.ok
    assert "country_code" not in found.report.features
    assert any("constant" in note and "country_code" in note for note in found.report.notes)


def test_all_constant_data_gives_a_message():
    frame = pd.DataFrame({"a": [1.0] * 10, "b": [2.0] * 10})
    found = discover(frame)
    assert not found.ok
    assert "no usable numeric feature" in found.report.message


def test_missing_values_are_imputed():
    frame, truth = blobs(n=400, centers=3, seed=4)
    rng = np.random.default_rng(0)
    holes = rng.random(frame.shape) < 0.1
    frame = frame.mask(holes)
    frame["all_missing"] = np.nan
    found = discover(frame, config("kmeans", k_range=(2, 6)))
    assert found.ok
    assert found.labels.notna().all() and len(found.labels) == 400
    assert any("missing" in note for note in found.report.notes)
    assert "all_missing" not in found.report.features
    assert adjusted_rand_score(truth, found.labels) > 0.8
    # a profile with no values at all still gets a segment
    assert found.model.assign({}) in set(found.model.segment_ids.tolist())


def test_unknown_and_non_numeric_features_are_named():
    frame = pd.DataFrame({"frequency": [1.0, 2.0, 3.0], "country": ["UK", "FR", "DE"]})
    with pytest.raises(FeatureError, match="'country' is not numeric"):
        discover(frame, SegmentationConfig(features=FeatureConfig(features=["frequency", "country"])))
    with pytest.raises(FeatureError, match=r"unknown feature\(s\) \['spend'\]"):
        select_features(frame, ["spend"])


def test_duplicate_profile_ids_are_rejected():
    frame = pd.DataFrame({"frequency": [1.0, 2.0, 3.0]}, index=["a", "a", "b"])
    with pytest.raises(FeatureError, match="duplicated"):
        discover(frame)


def test_assign_rejects_a_non_numeric_value_by_name():
    frame, _ = blobs(n=200, centers=3)
    model = discover(frame, config("kmeans")).model
    with pytest.raises(FeatureError, match="'monetary'"):
        model.assign({"monetary": "lots"})


def test_heavy_tailed_columns_are_logged_and_clipped():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"monetary": rng.lognormal(5, 1.5, 1000), "score": rng.normal(0, 1, 1000)})
    found = discover(frame, SegmentationConfig(clustering=ClusteringConfig(k_range=(2, 4))))
    model = found.model
    assert model.log_mask.tolist() == [True, False]
    assert model.upper[0] == pytest.approx(np.quantile(np.log1p(frame["monetary"]), 0.99))


# ---- k selection -----------------------------------------------------------------------------------


def test_select_k_explains_each_rule():
    scores = [
        KScore(2, 2, 100.0, 0.30, 1.2, 40.0),
        KScore(3, 3, 40.0, 0.55, 0.7, 90.0),
        KScore(4, 4, 35.0, 0.60, 0.8, 70.0),
        KScore(5, 5, 32.0, 0.50, 0.9, 60.0),
    ]
    by_silhouette = select_k(scores, "silhouette")
    assert by_silhouette.k == 4
    assert "silhouette" in by_silhouette.explanation and "k=3" in by_silhouette.explanation
    assert select_k(scores, "davies_bouldin").k == 3
    assert select_k(scores, "calinski_harabasz").k == 3
    assert select_k(scores, "elbow").k == elbow_k(scores) == 3
    assert select_k(scores, "vote").k == 3  # three of four rules pick 3


def test_select_k_falls_back_when_a_rule_cannot_decide():
    scores = [KScore(2, 2, 10.0, 0.4, 0.9, 30.0), KScore(3, 3, 8.0, 0.5, 0.8, 35.0)]
    selection = select_k(scores, "elbow")  # elbow needs at least three k values
    assert selection.k == 3 and selection.rule == "silhouette"
    assert "could not decide" in selection.explanation


@pytest.mark.parametrize("scaling", ["standard", "minmax"])
def test_fast_transform_equals_the_sklearn_pipeline(scaling):
    from pertinent.segments.pipeline import build_preprocessor

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"monetary": rng.lognormal(5, 1.5, 500), "frequency": rng.geometric(0.3, 500), "score": rng.normal(0, 1, 500)}
    ).astype(float)
    features = FeatureConfig(scaling=scaling, clip_quantiles=(0.05, 0.95))
    model = discover(frame, SegmentationConfig(features=features, clustering=ClusteringConfig(k_range=(2, 4)))).model
    pipeline = build_preprocessor(features, list(frame.columns)).fit(frame.to_numpy())
    np.testing.assert_allclose(model.transform(frame.to_numpy()), pipeline.transform(frame.to_numpy()), atol=1e-9)
    one = {"monetary": 1e6, "frequency": 0.0, "score": -50.0}  # far outside the training range: clipped
    np.testing.assert_allclose(
        model.transform(np.array([[1e6, 0.0, -50.0]])), pipeline.transform(np.array([[1e6, 0.0, -50.0]])), atol=1e-9
    )
    assert model.assign(one) == model.assign_many(pd.DataFrame([one])).iloc[0]


def test_sampled_knn_imputer_matches_sklearn_on_complete_donors():
    from sklearn.impute import KNNImputer

    from pertinent.segments.pipeline import SampledKNNImputer

    rng = np.random.default_rng(8)
    X = rng.normal(size=(400, 5)) + rng.integers(0, 3, (400, 1)) * 4.0
    holes = rng.random(X.shape) < 0.08
    holes[holes.all(axis=1)] = False  # keep at least one observed value per row
    X[holes] = np.nan
    ours = SampledKNNImputer(n_neighbors=3, max_rows=10_000).fit(X).transform(X)
    complete = X[~np.isnan(X).any(axis=1)]
    reference = KNNImputer(n_neighbors=3).fit(complete).transform(X)
    np.testing.assert_allclose(ours, reference, atol=1e-9)
    assert not np.isnan(ours).any()


def test_retrain_keeps_names_of_matched_segments_unless_told_not_to():
    frame, _ = blobs(n=600, centers=4, seed=12)
    first = discover(frame, config("kmeans"))
    # monetary becomes pure noise: descriptions and names change, membership (other features) does not
    shifted = frame.assign(monetary=np.random.default_rng(0).normal(0, 1, len(frame)))
    kept = discover(shifted, config("kmeans"), previous=first.model)
    assert {s.id: s.name for s in kept.report.segments} == {s.id: s.name for s in first.report.segments}
    assert kept.model.names == first.model.names
    fresh_cfg = config("kmeans").model_copy(update={"keep_names": False})
    fresh = discover(shifted, fresh_cfg, previous=first.model)
    assert [s.id for s in fresh.report.segments] == [s.id for s in kept.report.segments]
    renamed = [n for n in kept.report.notes if "keeps its name" in n]
    changed = sum(a.name != b.name for a, b in zip(fresh.report.segments, kept.report.segments, strict=True))
    assert len(renamed) == changed > 0


def test_bic_rule_for_gaussian_mixture():
    frame, truth = blobs(n=500, centers=3, seed=21, std=0.4)
    found = discover(frame, config("gmm", k_range=(2, 6), k_rule="bic"))
    assert found.report.k == 3
    assert "Bayesian information criterion" in found.report.selection
    bics = {row["k"]: row["bic"] for row in found.report.k_scores}
    assert min(bics, key=bics.get) == 3


def test_bic_rule_without_bic_falls_back():
    frame, _ = blobs(n=300, centers=3, seed=22)
    found = discover(frame, config("kmeans", k_rule="bic"))
    assert found.ok and "could not decide" in found.report.selection


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 12),
    st.lists(st.sampled_from(["float", "int", "const", "nan", "inf", "text", "bool"]), min_size=1, max_size=4),
    st.integers(0, 2**16),
)
def test_any_frame_gives_a_result_or_a_named_error(rows, kinds, seed):
    rng = np.random.default_rng(seed)
    columns = {}
    for i, kind in enumerate(kinds):
        values = {
            "float": rng.normal(size=rows),
            "int": rng.integers(0, 5, rows),
            "const": np.full(rows, 3.0),
            "nan": np.where(rng.random(rows) < 0.5, np.nan, rng.normal(size=rows)),
            "inf": np.where(rng.random(rows) < 0.3, np.inf, rng.normal(size=rows)),
            "text": np.array(["a"] * rows, dtype=object),
            "bool": rng.random(rows) < 0.5,
        }[kind]
        columns[f"{kind}_{i}"] = values
    frame = pd.DataFrame(columns)
    try:
        found = discover(frame, config("kmeans", k_range=(2, 4)))
    except FeatureError as exc:
        assert str(exc)
        return
    if found.ok:
        assert len(found.labels) == rows
        assert sum(s.size for s in found.report.segments) == rows
        assert found.model.assign({}) in set(found.model.segment_ids.tolist())
    else:
        assert found.report.message and found.model is None


def test_forgetting_a_profile_after_a_restart_does_not_hang(tmp_path):
    """Erasure removes the profile from every saved ML segment model (``ModelStore.forget``), holding the store's
    lock; a version not yet in this process's cache (any version after a restart) was loaded under that lock, which
    took it again: the erasure hung for ever inside its transaction, with SQLite's write lock held, and every later
    write and the server's thread pool with it (found by erasing a user after restarting a server with an ML
    segment)."""
    import threading

    from pertinent.segments.model_store import ModelStore

    frame, _ = blobs(n=60, centers=2)
    found = discover(frame, config("kmeans", k_range=(2, 3)))
    ModelStore(tmp_path).save("clusters", found.model)
    restarted = ModelStore(tmp_path)  # an empty cache, as after a restart
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(restarted.forget("p00007")), daemon=True)
    worker.start()
    worker.join(60)  # a deadlock never ends: a bound, not a timing (it takes milliseconds)
    assert done == [1], "ModelStore.forget deadlocked on its own lock"
    assert "p00007" not in ModelStore(tmp_path).latest("clusters").training_ids.astype(str)
