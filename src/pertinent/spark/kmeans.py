"""k-means segment discovery (``pyspark.ml.clustering.KMeans``) over the RFM and profile features.

Every profile in the events export gets a cluster: the features of :mod:`pertinent.spark.rfm` (a profile that never
bought has frequency and monetary 0 and is placed by its activity), ``log1p``-transformed (counts and amounts are
heavy-tailed) and standardised, then k-means with a fixed seed. Written to ``out``:

* ``assignments/``: Parquet, ``profile_id, cluster``;
* ``summary.json``: per cluster its size and the mean of each raw feature, plus k, the features and the
  silhouette (Spark's ``ClusteringEvaluator``, squared Euclidean), to read the clusters and name segments.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertinent.spark.rfm import profile_features
from pertinent.spark.session import SparkInputError, read_export

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CLUSTER_FEATURES = ("frequency", "monetary", "n_events", "active_days", "tenure_days", "last_seen_days")


@dataclass(frozen=True)
class ClusterSummary:
    cluster: int
    size: int
    means: dict[str, float]


@dataclass(frozen=True)
class KMeansJobResult:
    out: str
    k: int
    profiles: int
    silhouette: float | None
    features: list[str]
    clusters: list[ClusterSummary] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_kmeans(
    spark: SparkSession,
    export: str | Path,
    out: str | Path,
    k: int,
    seed: int = 42,
    max_iter: int = 20,
    features: tuple[str, ...] = CLUSTER_FEATURES,
) -> KMeansJobResult:
    """Cluster the export's profiles into ``k`` groups; writes the assignments and the summary under ``out``."""
    from pyspark.ml import Pipeline
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    from pyspark.sql import functions as F

    if k < 2:
        raise SparkInputError("k", f"must be at least 2, got {k}")
    unknown = sorted(set(features) - set(CLUSTER_FEATURES))
    if unknown or not features:
        raise SparkInputError("features", f"choose from {list(CLUSTER_FEATURES)} (got {unknown or 'none'})")
    table = profile_features(read_export(spark, export, "events"))
    logged = table.select(
        "profile_id",
        *[F.col(c).cast("double").alias(c) for c in features],
        *[
            F.log1p(F.greatest(F.coalesce(F.col(c).cast("double"), F.lit(0.0)), F.lit(0.0))).alias(f"_{c}")
            for c in features
        ],
    ).cache()
    profiles = logged.count()
    if profiles < k:
        raise SparkInputError("k", f"{k} clusters need at least {k} profiles; the export has {profiles}")
    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=[f"_{c}" for c in features], outputCol="_raw"),
            StandardScaler(inputCol="_raw", outputCol="_x", withMean=True, withStd=True),
            KMeans(k=k, seed=seed, maxIter=max_iter, featuresCol="_x", predictionCol="cluster"),
        ]
    )
    assigned = pipeline.fit(logged).transform(logged).cache()
    silhouette: float | None = None
    if assigned.select("cluster").distinct().count() > 1:
        silhouette = float(ClusteringEvaluator(featuresCol="_x", predictionCol="cluster").evaluate(assigned))
    root = Path(out)
    assigned.select("profile_id", F.col("cluster").cast("int").alias("cluster")).write.mode("overwrite").parquet(
        str(root / "assignments")
    )
    rows = (
        assigned.groupBy("cluster")
        .agg(F.count("*").alias("size"), *[F.avg(c).alias(c) for c in features])
        .orderBy("cluster")
        .collect()
    )
    clusters = [
        ClusterSummary(int(r["cluster"]), int(r["size"]), {c: round(float(r[c] or 0.0), 4) for c in features})
        for r in rows
    ]
    assigned.unpersist()
    logged.unpersist()
    result = KMeansJobResult(str(root), k, profiles, silhouette, list(features), clusters)
    (root / "summary.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result
