"""Feature pipeline and clustering configuration for machine-learned segments.

The configuration is plain pydantic (round-trips to JSON); the learned state lives in the fitted
scikit-learn objects and, once a segmentation is finished, in :class:`pertinent.segments.ml.SegmentModel`.

Preprocessing order (one scikit-learn ``Pipeline``): outliers (log1p of heavy-tailed non-negative
columns, then clip to training quantiles) -> scaling (standard / min-max) -> KNN imputation of missing
values (done last so that neighbours are found in scaled space; earlier steps pass NaN through).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import KNNImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

Algorithm = Literal["kmeans", "minibatch", "gmm", "agglomerative", "dbscan", "hdbscan"]
DENSITY_ALGORITHMS: tuple[str, ...] = ("dbscan", "hdbscan")
KRule = Literal["silhouette", "elbow", "davies_bouldin", "calinski_harabasz", "vote", "bic"]


class FeatureConfig(BaseModel):
    """How per-profile features are selected and cleaned before clustering.

    >>> cfg = FeatureConfig(features=["frequency", "monetary"], scaling="minmax")
    >>> FeatureConfig.model_validate_json(cfg.model_dump_json()) == cfg
    True
    """

    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = Field(None, description="Columns to use; None = every numeric column.")
    impute: Literal["knn", "median"] = "knn"
    knn_neighbors: int = Field(5, ge=1)
    knn_max_rows: int = Field(5_000, ge=10, description="Complete rows kept as KNN donors (sampled).")
    log_features: list[str] | Literal["auto", "none"] = Field(
        "auto", description="log1p these columns; 'auto' = non-negative columns with skewness > 2."
    )
    clip_quantiles: tuple[float, float] | None = Field((0.01, 0.99), description="None = no clipping.")
    scaling: Literal["standard", "minmax"] = "standard"

    @field_validator("clip_quantiles")
    @classmethod
    def _check_quantiles(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0.0 <= value[0] < value[1] <= 1.0:
            raise ValueError(f"clip_quantiles must satisfy 0 <= low < high <= 1, got {value}")
        return value


class ClusteringConfig(BaseModel):
    """Which algorithm to run and how k is chosen.

    >>> ClusteringConfig(algorithm="gmm", k_range=(2, 6)).k_range
    (2, 6)
    >>> ClusteringConfig(k_range=(5, 2))
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ClusteringConfig
    k_range
      Value error, k_range must be (low, high) with 2 <= low <= high, got (5, 2) ...
    """

    model_config = ConfigDict(extra="forbid")

    algorithm: Algorithm = "kmeans"
    k_range: tuple[int, int] = (2, 12)
    k: int | None = Field(None, ge=1, description="Fixed k: skips the k search.")
    k_rule: KRule = "silhouette"
    seed: int = Field(0, ge=0, lt=2**32, description="Random seed (numpy and scikit-learn take 0 to 2**32 - 1).")
    search_sample: int = Field(20_000, ge=100, description="Rows used to try each k on large inputs.")
    silhouette_sample: int = Field(5_000, ge=100, description="Rows used to compute the silhouette.")
    max_fit_rows: int = Field(
        20_000, ge=100, description="agglomerative / DBSCAN / HDBSCAN fit on at most this many rows."
    )
    n_init: int = Field(3, ge=1, le=100, description="Restarts per k (each one a full fit).")
    dbscan_eps: float | None = Field(None, gt=0, description="None = from the k-distance quantile.")
    min_samples: int = Field(10, ge=2)
    min_cluster_size: int | None = Field(None, ge=2, description="HDBSCAN; None = max(10, 1% of rows).")
    linkage: Literal["ward", "average", "complete", "single"] = "ward"
    threads: int | None = Field(
        1,
        ge=1,
        description="BLAS/OpenMP threads (None = library default). 1 is fastest on small or shared "
        "machines: OpenMP start-up and contention cost more than they save on these sizes.",
    )

    @field_validator("k_range")
    @classmethod
    def _check_k_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 2 <= value[0] <= value[1]:
            raise ValueError(f"k_range must be (low, high) with 2 <= low <= high, got {value}")
        return value


class SegmentationConfig(BaseModel):
    """Everything needed to reproduce a segmentation (features + clustering).

    >>> cfg = SegmentationConfig(clustering=ClusteringConfig(algorithm="minibatch"))
    >>> SegmentationConfig.model_validate_json(cfg.model_dump_json()) == cfg
    True
    """

    model_config = ConfigDict(extra="forbid")

    features: FeatureConfig = Field(default_factory=FeatureConfig)
    clustering: ClusteringConfig = Field(default_factory=ClusteringConfig)
    entity_noun: str = Field("customers", description="Word used in generated names and descriptions.")
    keep_names: bool = Field(True, description="On retrain, segments matched to an old id keep the old name.")

    @model_validator(mode="after")
    def _check(self) -> SegmentationConfig:
        if self.features.features is not None and len(self.features.features) == 0:
            raise ValueError("features.features must not be an empty list (use None for all columns)")
        return self


class OutlierTransformer(TransformerMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn has no stubs
    """log1p heavy-tailed non-negative columns, then clip every column to training quantiles.

    NaN passes through untouched (imputation happens later).

    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [1000.0, 3.0]])
    >>> t = OutlierTransformer(log_mask=[True, False], clip_quantiles=None).fit(X)
    >>> bool(np.allclose(t.transform(X)[:, 0], np.log1p(X[:, 0])))
    True
    """

    def __init__(self, log_mask: Any = "auto", clip_quantiles: tuple[float, float] | None = (0.01, 0.99)):
        self.log_mask = log_mask
        self.clip_quantiles = clip_quantiles

    def fit(self, X: np.ndarray, y: Any = None) -> OutlierTransformer:
        X = np.asarray(X, dtype=float)
        if isinstance(self.log_mask, str):
            self.log_mask_ = auto_log_mask(X) if self.log_mask == "auto" else np.zeros(X.shape[1], bool)
        else:
            self.log_mask_ = np.asarray(self.log_mask, dtype=bool)
        if np.any(self.log_mask_ & (np.nanmin(X, axis=0, initial=np.inf) < 0)):
            self.log_mask_ = self.log_mask_ & ~(np.nanmin(X, axis=0, initial=np.inf) < 0)
        Z = self._log(X)
        if self.clip_quantiles is None:
            self.lower_ = np.full(X.shape[1], -np.inf)
            self.upper_ = np.full(X.shape[1], np.inf)
        else:
            quantile = np.nanquantile if np.isnan(Z).any() else np.quantile
            self.lower_, self.upper_ = quantile(Z, list(self.clip_quantiles), axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def _log(self, X: np.ndarray) -> np.ndarray:
        Z = np.array(X, dtype=float, copy=True)
        if self.log_mask_.any():
            Z[:, self.log_mask_] = np.log1p(np.maximum(Z[:, self.log_mask_], 0.0))
        return Z

    def transform(self, X: np.ndarray) -> np.ndarray:
        Z = self._log(np.asarray(X, dtype=float))
        clipped: np.ndarray = np.clip(Z, self.lower_, self.upper_)
        return clipped


class SampledKNNImputer(TransformerMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn has no stubs
    """KNN imputation against a random sample of complete rows (flat memory and time on big inputs).

    Rows are grouped by which columns are missing; each group is one brute-force nearest-neighbour
    query (scikit-learn ``NearestNeighbors``) on its observed columns, and the missing values are the
    mean of the ``n_neighbors`` donors. With fewer complete rows than neighbours it falls back to
    scikit-learn's ``KNNImputer``.

    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.1], [5.0, 5.0], [5.2, 5.2], [5.1, np.nan]])
    >>> float(SampledKNNImputer(n_neighbors=2).fit(X).transform(X)[4, 1])
    5.1
    """

    def __init__(self, n_neighbors: int = 5, max_rows: int = 5_000, seed: int = 0):
        self.n_neighbors = n_neighbors
        self.max_rows = max_rows
        self.seed = seed

    def fit(self, X: np.ndarray, y: Any = None) -> SampledKNNImputer:
        X = np.asarray(X, dtype=float)
        self.n_features_in_ = X.shape[1]
        complete = X[~np.isnan(X).any(axis=1)]
        if len(complete) > self.max_rows:
            rows = np.random.default_rng(self.seed).choice(len(complete), self.max_rows, replace=False)
            complete = complete[rows]
        self.donors_ = complete
        self.column_means_ = np.nan_to_num(np.nanmean(X, axis=0)) if len(X) else np.zeros(X.shape[1])
        self.fallback_ = None
        if len(complete) < self.n_neighbors:
            sample = X
            if len(X) > self.max_rows:
                sample = X[np.random.default_rng(self.seed).choice(len(X), self.max_rows, replace=False)]
            self.fallback_ = KNNImputer(n_neighbors=self.n_neighbors, keep_empty_features=True).fit(sample)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        from sklearn.neighbors import NearestNeighbors

        X = np.array(X, dtype=float, copy=True)
        missing = np.isnan(X)
        rows = np.flatnonzero(missing.any(axis=1))
        if len(rows) == 0:
            return X
        if self.fallback_ is not None:
            imputed: np.ndarray = self.fallback_.transform(X)
            return imputed
        patterns, group = np.unique(missing[rows], axis=0, return_inverse=True)
        for g, pattern in enumerate(patterns):
            members = rows[group.ravel() == g]
            observed = ~pattern
            if not observed.any():  # nothing known about these rows: column means
                X[np.ix_(members, pattern)] = self.column_means_[pattern]
                continue
            finder = NearestNeighbors(n_neighbors=self.n_neighbors, algorithm="brute")
            finder.fit(self.donors_[:, observed])
            _, idx = finder.kneighbors(X[np.ix_(members, observed)])
            X[np.ix_(members, pattern)] = self.donors_[:, pattern][idx].mean(axis=1)
        return X


def auto_log_mask(X: np.ndarray, skew_threshold: float = 2.0) -> np.ndarray:
    """True for columns that are non-negative and heavily right-skewed (counts, money).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.lognormal(0, 1.5, 2000), rng.normal(0, 1, 2000)])
    >>> auto_log_mask(X).tolist()
    [True, False]
    """
    from scipy.stats import skew

    mask = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        column = X[:, j][~np.isnan(X[:, j])]
        if len(column) < 3 or column.min() < 0 or np.ptp(column) == 0:
            continue
        mask[j] = float(skew(column)) > skew_threshold
    return mask


def build_preprocessor(config: FeatureConfig, feature_names: list[str], seed: int = 0) -> Pipeline:
    """The scikit-learn Pipeline that turns raw feature columns into clustering space.

    >>> p = build_preprocessor(FeatureConfig(), ["a", "b"])
    >>> [name for name, _ in p.steps]
    ['outliers', 'scale', 'impute']
    """
    if config.log_features in ("auto", "none"):
        log_mask: Any = config.log_features
    else:
        unknown = sorted(set(config.log_features) - set(feature_names))
        if unknown:
            raise ValueError(f"log_features names columns that are not features: {unknown}")
        log_mask = [name in config.log_features for name in feature_names]
    scaler = StandardScaler() if config.scaling == "standard" else MinMaxScaler()
    if config.impute == "knn":
        imputer: Any = SampledKNNImputer(config.knn_neighbors, config.knn_max_rows, seed)
    else:
        imputer = FunctionTransformer(_fill_zero_like_median, check_inverse=False)
    return Pipeline(
        [
            ("outliers", OutlierTransformer(log_mask, config.clip_quantiles)),
            ("scale", scaler),
            ("impute", imputer),
        ]
    )


def _fill_zero_like_median(X: np.ndarray) -> np.ndarray:
    """Median imputation in scaled space (column medians of the batch itself)."""
    X = np.array(X, dtype=float, copy=True)
    if np.isnan(X).any():
        medians = np.nan_to_num(np.nanmedian(X, axis=0))
        rows, cols = np.nonzero(np.isnan(X))
        X[rows, cols] = medians[cols]
    return X


def build_clusterer(config: ClusteringConfig, k: int | None, n_rows: int) -> Any:
    """The scikit-learn estimator for ``config.algorithm`` (k is ignored by DBSCAN / HDBSCAN).

    >>> type(build_clusterer(ClusteringConfig(algorithm="gmm"), 3, 100)).__name__
    'GaussianMixture'
    """
    from sklearn.cluster import DBSCAN, HDBSCAN, AgglomerativeClustering, KMeans, MiniBatchKMeans
    from sklearn.mixture import GaussianMixture

    seed = config.seed
    match config.algorithm:
        case "kmeans":
            return KMeans(n_clusters=k, n_init=config.n_init, random_state=seed)
        case "minibatch":
            batch = int(min(4096, max(256, n_rows // 10)))
            return MiniBatchKMeans(
                n_clusters=k, n_init=config.n_init, batch_size=batch, random_state=seed, max_no_improvement=20
            )
        case "gmm":
            return GaussianMixture(n_components=k, covariance_type="full", n_init=1, random_state=seed, reg_covar=1e-4)
        case "agglomerative":
            return AgglomerativeClustering(n_clusters=k, linkage=config.linkage)
        case "dbscan":
            return DBSCAN(eps=config.dbscan_eps or 0.5, min_samples=min(config.min_samples, max(1, n_rows)))
        case "hdbscan":  # scikit-learn refuses min_samples / min_cluster_size above the number of rows
            size = min(config.min_cluster_size or max(10, n_rows // 100), max(2, n_rows))
            return HDBSCAN(min_cluster_size=size, min_samples=min(config.min_samples, max(1, n_rows)), copy=True)
    raise ValueError(f"unknown algorithm {config.algorithm!r}")  # pragma: no cover


def make_pipeline(config: SegmentationConfig, feature_names: list[str], k: int | None = None) -> Pipeline:
    """Preprocessing + clustering as a single scikit-learn Pipeline (for users who want one object).

    >>> cfg = SegmentationConfig(clustering=ClusteringConfig(algorithm="kmeans"))
    >>> [name for name, _ in make_pipeline(cfg, ["a"], k=3).steps]
    ['outliers', 'scale', 'impute', 'cluster']
    """
    pre = build_preprocessor(config.features, feature_names, config.clustering.seed)
    k = k or config.clustering.k or config.clustering.k_range[0]
    return Pipeline([*pre.steps, ("cluster", build_clusterer(config.clustering, k, 0))])
