"""Machine-learned segments: discover segments in per-profile features and assign profiles in real time.

``discover(features, config)`` takes a DataFrame (index = profile id, columns = numeric features),
fits the preprocessing Pipeline, searches k, fits the chosen algorithm and returns a
:class:`Discovery` with a :class:`SegmentModel` (fast nearest-segment assignment, save/load) and a
:class:`~pertinent.segments.report.SegmentationReport`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pertinent.segments.kselect import KScore, KSelection, score_labels, search_k
from pertinent.segments.pipeline import (
    DENSITY_ALGORITHMS,
    ClusteringConfig,
    SegmentationConfig,
    build_clusterer,
    build_preprocessor,
)
from pertinent.segments.report import (
    NOISE_ID,
    SegmentationReport,
    SegmentSummary,
    centroid_cost,
    jaccard_by_segment,
    match_ids,
    overlap_cost,
    stability,
    summarise_segments,
    unique_names,
)

MODEL_FORMAT = 1
Progress = Callable[[str, float], None]


class FeatureError(ValueError):
    """The feature frame cannot be used as given (the message names the column or problem)."""


def select_features(frame: pd.DataFrame, names: list[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Pick and validate feature columns; drop unusable ones with a note.

    Raises :class:`FeatureError` for bad input (unknown or non-numeric columns, duplicate profile ids);
    returns notes for columns dropped because they carry no information (constant or all missing).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1, 1, 1], "c": ["x", "y", "z"]})
    >>> out, notes = select_features(df)
    >>> list(out.columns), notes
    (['a'], ["dropped constant column 'b'"])
    >>> select_features(df, ["a", "c"])
    Traceback (most recent call last):
    ...
    pertinent.segments.ml.FeatureError: feature 'c' is not numeric (dtype str)
    """
    if not isinstance(frame, pd.DataFrame):
        raise FeatureError(f"features must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.index.has_duplicates:
        dups = frame.index[frame.index.duplicated()].unique()[:5].tolist()
        raise FeatureError(f"profile ids (the index) must be unique; duplicated: {dups}")
    if names is None:
        names = [str(c) for c in frame.columns if _is_numeric(frame[c])]
    else:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise FeatureError(f"unknown feature(s) {missing}; available: {[str(c) for c in frame.columns]}")
        for n in names:
            if not _is_numeric(frame[n]):
                raise FeatureError(f"feature {n!r} is not numeric (dtype {frame[n].dtype})")
    out = frame[names].astype(float).replace([np.inf, -np.inf], np.nan)
    notes = []
    for column in list(out.columns):
        values = out[column]
        if values.isna().all():
            notes.append(f"dropped column {column!r}: every value is missing")
            out = out.drop(columns=column)
        elif values.min() == values.max():
            notes.append(f"dropped constant column {column!r}")
            out = out.drop(columns=column)
    missing_share = float(out.isna().to_numpy().mean()) if out.size else 0.0
    if missing_share > 0:
        notes.append(f"{missing_share:.1%} of feature values were missing and were imputed")
    return out, notes


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return value is None
    return True


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_complex_dtype(series)


@dataclass
class SegmentModel:
    """Learned state of a segmentation: preprocessing arrays + centroids, for fast assignment.

    ``assign`` works in numpy only (no scikit-learn call per profile); missing or unknown features
    are filled with the training median in clustering space. Extra keys in the profile are ignored.

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": np.r_[rng.normal(0, .1, 50), rng.normal(5, .1, 50)],
    ...                    "y": np.r_[rng.normal(0, .1, 50), rng.normal(5, .1, 50)]})
    >>> found = discover(df, SegmentationConfig(clustering=ClusteringConfig(k_range=(2, 4))))
    >>> model = found.model
    >>> high = model.assign({"x": 5.1, "y": 4.9})
    >>> high == model.assign({"x": 4.9, "y": 5.0}) != model.assign({"x": 0, "y": 0})
    True
    """

    config: SegmentationConfig
    feature_names: list[str]
    log_mask: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    fill: np.ndarray
    centroids: np.ndarray
    segment_ids: np.ndarray
    names: list[str]
    training_ids: np.ndarray
    training_labels: np.ndarray
    gmm: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {name: i for i, name in enumerate(self.feature_names)}
        self._has_log = bool(self.log_mask.any())
        self._inv_scale = 1.0 / self.scale
        self._centroid_norms = (self.centroids**2).sum(axis=1)

    @property
    def k(self) -> int:
        return len(self.segment_ids)

    def name_of(self, segment_id: int) -> str:
        """Generated name of a segment id ("Unclustered (noise)" for -1)."""
        if segment_id == NOISE_ID:
            return "Unclustered (noise)"
        return self.names[int(np.flatnonzero(self.segment_ids == segment_id)[0])]

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Raw feature rows (columns in ``feature_names`` order, NaN = missing) -> clustering space."""
        Z = np.array(X, dtype=float, ndmin=2, copy=True)
        if self._has_log:
            Z[:, self.log_mask] = np.log1p(np.maximum(Z[:, self.log_mask], 0.0))
        np.clip(Z, self.lower, self.upper, out=Z)
        Z -= self.center
        Z *= self._inv_scale
        missing = np.isnan(Z)
        if missing.any():
            Z[missing] = np.broadcast_to(self.fill, Z.shape)[missing]
        return Z

    def _nearest(self, Z: np.ndarray) -> np.ndarray:
        if self.k == 0:
            return np.full(len(Z), NOISE_ID)
        if self.gmm:
            scores = np.empty((len(Z), self.k))
            for c in range(self.k):
                y = (Z - self.gmm["means"][c]) @ self.gmm["prec_chol"][c]
                scores[:, c] = -0.5 * np.einsum("ij,ij->i", y, y) + self.gmm["log_norm"][c]
            return np.asarray(self.segment_ids[np.argmax(scores, axis=1)])
        d = (Z * Z).sum(axis=1)[:, None] - 2.0 * Z @ self.centroids.T + (self.centroids**2).sum(axis=1)
        return np.asarray(self.segment_ids[np.argmin(d, axis=1)])

    def assign(self, profile: Mapping[str, Any]) -> int:
        """Segment id for one profile given as ``{feature: value}`` (fast path: a few microseconds)."""
        get = profile.get
        try:
            x = np.array([get(name) for name in self.feature_names], dtype=float)  # None -> NaN
        except (TypeError, ValueError):
            bad = next(n for n in self.feature_names if not _is_number(get(n)))
            raise FeatureError(f"profile feature {bad!r} must be a number, got {get(bad)!r}") from None
        if self._has_log:
            x = np.where(self.log_mask, np.log1p(np.maximum(x, 0.0)), x)
        z = (np.minimum(np.maximum(x, self.lower), self.upper) - self.center) * self._inv_scale
        if math.isnan(z.sum()):
            z = np.where(np.isnan(z), self.fill, z)
        if self.k == 0:
            return NOISE_ID
        if self.gmm:
            return int(self._nearest(z[None, :])[0])
        return int(self.segment_ids[(self._centroid_norms - 2.0 * self.centroids.dot(z)).argmin()])

    def assign_many(self, frame: pd.DataFrame) -> pd.Series:
        """Segment id for every row of a feature frame (columns missing from it are treated as missing)."""
        X = frame.reindex(columns=self.feature_names).to_numpy(dtype=float)
        return pd.Series(self._nearest(self.transform(X)), index=frame.index, name="segment")

    def training_assignment(self) -> pd.Series:
        """Segment ids the training profiles received (index = profile id as text)."""
        return pd.Series(self.training_labels, index=pd.Index(self.training_ids.astype(str)), name="segment")

    def save(self, directory: str | Path) -> Path:
        """Write ``model.json`` (config + metadata) and ``arrays.npz`` (learned arrays) into ``directory``."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": MODEL_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "feature_names": self.feature_names,
            "names": self.names,
        }
        (path / "model.json").write_text(json.dumps(meta, indent=2))
        arrays: dict[str, Any] = {
            "log_mask": self.log_mask,
            "lower": self.lower,
            "upper": self.upper,
            "center": self.center,
            "scale": self.scale,
            "fill": self.fill,
            "centroids": self.centroids,
            "segment_ids": self.segment_ids,
            "training_ids": self.training_ids.astype(str),
            "training_labels": self.training_labels,
        }
        arrays.update({f"gmm_{k}": v for k, v in self.gmm.items()})
        np.savez_compressed(path / "arrays.npz", **arrays)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> SegmentModel:
        """Read a model written by :meth:`save`."""
        path = Path(directory)
        meta_file = path / "model.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"no segment model at {path} (missing model.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"unsupported segment model format {meta.get('format')!r} in {meta_file}")
        with np.load(path / "arrays.npz", allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        gmm = {k[4:]: arrays.pop(k) for k in list(arrays) if k.startswith("gmm_")}
        return cls(
            config=SegmentationConfig.model_validate(meta["config"]),
            feature_names=list(meta["feature_names"]),
            names=list(meta["names"]),
            gmm=gmm,
            **arrays,
        )


@dataclass(frozen=True)
class Discovery:
    """Result of :func:`discover`: the model (None on thin data) and the report."""

    model: SegmentModel | None
    report: SegmentationReport
    labels: pd.Series | None = None
    selection: KSelection | None = None

    @property
    def ok(self) -> bool:
        return self.report.ok


def discover(
    features: pd.DataFrame,
    config: SegmentationConfig | None = None,
    *,
    previous: SegmentModel | None = None,
    progress: Progress | None = None,
) -> Discovery:
    """Find segments in ``features`` (index = profile id, numeric columns).

    With ``previous`` (the model of the last run) new segments reuse the old ids (Hungarian matching
    on member overlap, or on centroid distance when no profile is shared) and the report carries the
    adjusted Rand index on the shared profiles.
    """
    from threadpoolctl import threadpool_limits

    config = config or SegmentationConfig()
    with threadpool_limits(limits=config.clustering.threads):
        return _discover(features, config, previous, progress)


def _discover(
    features: pd.DataFrame,
    config: SegmentationConfig,
    previous: SegmentModel | None,
    progress: Progress | None,
) -> Discovery:
    cc = config.clustering
    say = progress or (lambda step, fraction: None)
    frame, notes = select_features(features, config.features.features)
    algorithm = cc.algorithm
    if frame.shape[1] == 0:
        reason = "no usable numeric feature (all were constant, missing or non-numeric)"
        return _thin(reason, algorithm, notes)
    usable_rows = frame.notna().any(axis=1)
    if (~usable_rows).any():
        notes.append(f"{int((~usable_rows).sum())} profiles have no feature value; they get imputed values")
    n = len(frame)
    if n < 3:
        return _thin(f"need at least 3 profiles to find segments, got {n}", algorithm, notes)
    # distinct rows bound k; counting them costs a hash of every row, so only on small inputs
    distinct = frame.drop_duplicates().shape[0] if n <= 100_000 else n
    if distinct < 2:
        return _thin("every profile has the same feature values: nothing to segment", algorithm, notes)

    say("preprocessing", 0.05)
    pre = build_preprocessor(config.features, list(frame.columns), cc.seed)
    Z = pre.fit_transform(frame.to_numpy(dtype=float))
    rng = np.random.default_rng(cc.seed)

    selection = None
    estimator = None
    if algorithm in DENSITY_ALGORITHMS:
        labels, density_note = _fit_density(Z, cc, rng)
        notes.append(density_note)
        score = score_labels(Z, labels, 0, silhouette_sample=cc.silhouette_sample, seed=cc.seed)
        k_scores: tuple[KScore, ...] = (score,)
        selection_text = density_note
    else:
        if cc.k is not None:
            k_values = [min(cc.k, distinct)]
        else:
            low, high = cc.k_range
            high = min(high, distinct - 1, n - 1)
            low = min(low, high)
            if high < cc.k_range[1]:
                notes.append(f"k range capped at {high}: only {n} profiles ({distinct} distinct)")
            k_values = list(range(max(low, 2), high + 1)) if high >= 2 else [1]
        search_rows = _sample_rows(n, cc.search_sample, rng)
        Zs = Z[search_rows]
        if len(k_values) > 1:
            total = len(k_values)
            say(f"searching k in {k_values[0]}-{k_values[-1]} on {len(search_rows):,} profiles", 0.1)

            def step(k: int) -> None:
                say(f"tried k={k}", 0.1 + 0.6 * (k_values.index(k) + 1) / total)

            selection = search_k(
                Zs,
                k_values,
                lambda k: _fit_k(Zs, cc, k),
                rule=cc.k_rule,
                silhouette_sample=cc.silhouette_sample,
                seed=cc.seed,
                on_step=step,
            )
            k = selection.k
            k_scores = selection.scores
            selection_text = selection.explanation
            if len(search_rows) < n:
                selection_text += f" Scores computed on a sample of {len(search_rows):,} of {n:,} profiles."
        else:
            k = k_values[0]
            labels_s, bic = _fit_k(Zs, cc, k)
            k_scores = (score_labels(Zs, labels_s, k, silhouette_sample=cc.silhouette_sample, seed=cc.seed),)
            selection_text = f"k={k} fixed by configuration (no search)."
        say(f"fitting k={k} on {n:,} profiles", 0.75)
        labels, estimator = _fit_final(Z, cc, k, rng)

    clusters = np.array(sorted(int(c) for c in np.unique(labels) if c >= 0), dtype=int)
    if not len(clusters):  # a density method left every profile as noise
        return _thin(f"{cc.algorithm} found no cluster (all noise): lower min_samples", cc.algorithm, notes)
    centroids = np.array([Z[labels == c].mean(axis=0) for c in clusters]).reshape(len(clusters), Z.shape[1])

    # stable ids
    say("matching segment ids and describing segments", 0.9)
    ids_for_cluster, matched_by = _stable_ids(labels, clusters, centroids, frame.index, list(frame.columns), previous)
    lookup = np.full(int(labels.max()) + 2, NOISE_ID, dtype=int)  # position 0 is the noise label -1
    lookup[clusters + 1] = ids_for_cluster
    ids = lookup[labels.astype(int) + 1]
    assignment = pd.Series(ids, index=frame.index, name="segment")

    stability_ari = None
    overlaps: dict[int, float] = {}
    if previous is not None:
        old = previous.training_assignment()
        stability_ari, shared = stability(old, assignment)
        overlaps = jaccard_by_segment(old, assignment)
        notes.append(
            f"segment ids matched to the previous model by {matched_by}; "
            + (
                f"adjusted Rand index {stability_ari:.3f} on {shared:,} shared profiles"
                if shared > 1
                else "no shared profiles to compare"
            )
        )

    segments = summarise_segments(frame, Z, ids, config.entity_noun)
    if overlaps:
        segments = [_with_overlap(s, overlaps.get(s.id)) for s in segments]
    if previous is not None and config.keep_names:
        segments, renamed = _keep_previous_names(segments, previous)
        notes.extend(renamed)
    order = np.argsort(ids_for_cluster)
    model = _build_model(
        config,
        list(frame.columns),
        pre,
        Z,
        centroids[order],
        ids_for_cluster[order],
        {s.id: s.name for s in segments},
        assignment,
        clusters[order],
        estimator,
    )
    report = SegmentationReport(
        ok=True,
        message=f"{len(clusters)} segments found in {n:,} profiles with {algorithm}",
        algorithm=algorithm,
        k=int(len(clusters)),
        n_profiles=n,
        features=tuple(frame.columns),
        segments=tuple(segments),
        k_scores=tuple(s.to_dict() for s in k_scores),
        selection=selection_text,
        stability_ari=stability_ari,
        notes=tuple(notes),
    )
    say("done", 1.0)
    return Discovery(model=model, report=report, labels=assignment, selection=selection)


def _thin(message: str, algorithm: str, notes: list[str]) -> Discovery:
    return Discovery(model=None, report=SegmentationReport.empty(message, algorithm, tuple(notes)))


def _keep_previous_names(
    segments: list[SegmentSummary], previous: SegmentModel
) -> tuple[list[SegmentSummary], list[str]]:
    old = {int(i): name for i, name in zip(previous.segment_ids, previous.names, strict=True)}
    kept: list[SegmentSummary] = []
    notes: list[str] = []
    for seg in segments:
        if seg.id in old and old[seg.id] != seg.name:
            notes.append(f"segment {seg.id} keeps its name {old[seg.id]!r} (regenerated: {seg.name!r})")
            seg = replace(seg, name=old[seg.id])
        kept.append(seg)
    return unique_names(kept), notes


def _with_overlap(summary: Any, overlap: float | None) -> Any:
    return replace(summary, overlap_with_previous=overlap)


def _sample_rows(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size, replace=False))


def _fit_k(X: np.ndarray, cc: ClusteringConfig, k: int) -> tuple[np.ndarray, float | None]:
    if cc.algorithm == "agglomerative" and len(X) > cc.max_fit_rows:
        rows = _sample_rows(len(X), cc.max_fit_rows, np.random.default_rng(cc.seed))
        est = build_clusterer(cc, k, len(rows)).fit(X[rows])
        return _spread_labels(X[rows], est.labels_, X), None
    est = build_clusterer(cc, k, len(X))
    labels = est.fit_predict(X)
    bic = float(est.bic(X)) if cc.algorithm == "gmm" else None
    return np.asarray(labels), bic


def _fit_final(Z: np.ndarray, cc: ClusteringConfig, k: int, rng: np.random.Generator) -> tuple[np.ndarray, Any]:
    if cc.algorithm == "agglomerative" and len(Z) > cc.max_fit_rows:
        rows = _sample_rows(len(Z), cc.max_fit_rows, rng)
        est = build_clusterer(cc, k, len(rows)).fit(Z[rows])
        return _spread_labels(Z[rows], est.labels_, Z), est
    est = build_clusterer(cc, k, len(Z))
    return np.asarray(est.fit_predict(Z)), est


def _spread_labels(X_fit: np.ndarray, labels: np.ndarray, X_all: np.ndarray) -> np.ndarray:
    """Label every row of ``X_all`` like its nearest neighbour among the fitted rows."""
    from sklearn.neighbors import KNeighborsClassifier

    return np.asarray(KNeighborsClassifier(n_neighbors=1).fit(X_fit, labels).predict(X_all))


def _fit_density(Z: np.ndarray, cc: ClusteringConfig, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    rows = _sample_rows(len(Z), cc.max_fit_rows, rng)
    X = Z[rows]
    note = ""
    if cc.algorithm == "dbscan" and cc.dbscan_eps is None:
        from sklearn.neighbors import NearestNeighbors

        neighbours = min(cc.min_samples, len(X) - 1)
        dist, _ = NearestNeighbors(n_neighbors=neighbours + 1).fit(X).kneighbors(X)
        eps = float(np.quantile(dist[:, -1], 0.9)) or 1e-6
        est = build_clusterer(cc.model_copy(update={"dbscan_eps": eps}), None, len(X))
        note = f"DBSCAN eps={eps:.3f} (90th percentile of the {neighbours}-th neighbour distance)"
    else:
        est = build_clusterer(cc, None, len(X))
        note = f"{cc.algorithm.upper()} with min_samples={cc.min_samples}"
    labels = np.asarray(est.fit_predict(X))
    if len(rows) < len(Z):
        labels = _spread_labels(X, labels, Z)
        note += f"; fitted on a sample of {len(rows):,} profiles, the rest take their nearest neighbour's"
        note += " label"
    found = len(set(labels.tolist()) - {NOISE_ID})
    noise = float((labels == NOISE_ID).mean())
    note = f"{cc.algorithm.upper()} found {found} clusters and left {noise:.1%} as noise; {note}. " + (
        "k is not chosen by a rule for density-based algorithms."
    )
    return labels, note


def _stable_ids(
    labels: np.ndarray,
    clusters: np.ndarray,
    centroids: np.ndarray,
    index: pd.Index,
    feature_names: list[str],
    previous: SegmentModel | None,
) -> tuple[np.ndarray, str]:
    """Ids for the clusters (in ``clusters`` order): by size when new, else matched to ``previous``."""
    if previous is None or previous.k == 0:
        sizes = np.array([(labels == c).sum() for c in clusters])
        ids = np.empty(len(clusters), dtype=int)
        ids[np.argsort(-sizes, kind="stable")] = np.arange(len(clusters))
        return ids, "size"
    old = previous.training_assignment()
    cost, labels_in_rows, old_ids = overlap_cost(old, labels, index)
    if cost.size and cost.min() < 0:
        matched = match_ids(cost, old_ids, reserved=set(previous.segment_ids.tolist()))
        position = {int(c): i for i, c in enumerate(labels_in_rows)}
        return np.array([matched[position[int(c)]] for c in clusters]), "member overlap (Hungarian)"
    if previous.feature_names == feature_names:
        cost = centroid_cost(centroids, previous.centroids)
        return match_ids(cost, previous.segment_ids), "centroid distance (Hungarian)"
    fresh = max(previous.segment_ids.tolist()) + 1
    return np.arange(fresh, fresh + len(clusters)), "nothing (no shared profiles or features): fresh ids"


def _build_model(
    config: SegmentationConfig,
    feature_names: list[str],
    pre: Any,
    Z: np.ndarray,
    centroids: np.ndarray,
    segment_ids: np.ndarray,
    names: dict[int, str],
    assignment: pd.Series,
    clusters_in_order: np.ndarray,
    estimator: Any,
) -> SegmentModel:
    outliers = pre.named_steps["outliers"]
    scaler = pre.named_steps["scale"]
    if hasattr(scaler, "mean_"):
        center, scale = scaler.mean_.copy(), scaler.scale_.copy()
    else:  # MinMaxScaler: z = x * scale_ + min_
        scale = 1.0 / np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
        center = -scaler.min_ * scale
    gmm: dict[str, np.ndarray] = {}
    if config.clustering.algorithm == "gmm" and len(centroids) and hasattr(estimator, "means_"):
        gmm = _gaussian_params(estimator, clusters_in_order)
    return SegmentModel(
        config=config,
        feature_names=feature_names,
        log_mask=outliers.log_mask_.copy(),
        lower=np.asarray(outliers.lower_, dtype=float),
        upper=np.asarray(outliers.upper_, dtype=float),
        center=np.asarray(center, dtype=float),
        scale=np.asarray(scale, dtype=float),
        fill=np.median(Z, axis=0),
        centroids=centroids,
        segment_ids=segment_ids.astype(int),
        names=[names[int(i)] for i in segment_ids],
        training_ids=assignment.index.astype(str).to_numpy(dtype=str),
        training_labels=assignment.to_numpy(dtype=int),
        gmm=gmm,
    )


def _gaussian_params(gmm: Any, components: np.ndarray) -> dict[str, np.ndarray]:
    """Fitted GaussianMixture parameters for the used components, in the form ``assign`` needs."""
    d = gmm.means_.shape[1]
    prec_chol = gmm.precisions_cholesky_[components]
    log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    log_norm = log_det - 0.5 * d * np.log(2 * np.pi) + np.log(gmm.weights_[components])
    return {"means": gmm.means_[components].copy(), "prec_chol": prec_chol.copy(), "log_norm": log_norm}


__all__ = [
    "Discovery",
    "FeatureError",
    "SegmentModel",
    "discover",
    "select_features",
]
