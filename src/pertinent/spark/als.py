"""Implicit ALS on Spark (``pyspark.ml.recommendation.ALS``) over an events export, saved as a model version.

Steps: Spark SQL turns the exported track events into weighted (profile, product) interactions with the same
rules as in-process training (``recommend/training.py``: ``properties.product_id`` or
``properties.products[].product_id``, event weights from :class:`InteractionConfig`, the max weight per pair);
the driver collects those pairs (one row per user x item, not per event) as :class:`Interactions`; Spark's ALS
learns the factors; the ``spark_als`` model is saved in the registry under ``name``, so ``/v1/recommendations``
serves it when ``PERTINENT_RECOMMEND__MODEL`` names it. With ``evaluate`` the version's metrics come from a model
trained the same way on a temporal split (the newest 20% of interactions held out).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pertinent.recommend.interactions import InteractionConfig, Interactions
from pertinent.recommend.registry import ModelRegistry
from pertinent.spark.model import SparkALSConfig, SparkALSRecommender
from pertinent.spark.session import SparkInputError, read_export

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_PRODUCTS = "product_id STRING, products ARRAY<STRUCT<product_id: STRING>>"


@dataclass(frozen=True)
class ALSJobResult:
    """What the ALS job saved: the model name and version, the data size and the metrics."""

    name: str
    version: str
    n_users: int
    n_items: int
    n_interactions: int
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def interaction_pairs(events: DataFrame, config: InteractionConfig | None = None) -> DataFrame:
    """Spark SQL: exported events -> ``user, item, weight, timestamp`` (one row per pair, max or summed weight,
    the pair's latest time in epoch seconds)."""
    from pyspark.sql import functions as F

    config = config or InteractionConfig()
    weights = {name: w for name, w in config.event_weights.items() if w > 0}
    if not weights:
        raise SparkInputError("event_weights", "no event has a positive weight")
    weight_map = F.create_map(*[x for name, w in sorted(weights.items()) for x in (F.lit(name), F.lit(float(w)))])
    props = F.from_json(F.col("properties"), _PRODUCTS)
    items = F.when(props["products"].isNotNull(), F.transform(props["products"], lambda p: p["product_id"])).otherwise(
        F.array(props["product_id"])
    )
    rows = (
        events.where((F.col("type") == "track") & F.col("event").isin(list(weights)) & F.col("profile_id").isNotNull())
        .select(
            F.col("profile_id").alias("user"),
            F.explode(items).alias("item"),
            weight_map[F.col("event")].alias("weight"),
            F.unix_timestamp(F.col("timestamp")).cast("double").alias("timestamp"),
        )
        .where(F.col("item").isNotNull() & (F.col("item") != ""))
        .withColumn("item", F.substring(F.col("item"), 1, 200))
        .withColumn("weight", F.lit(1.0) if config.binary else F.col("weight"))
    )
    agg = F.sum("weight") if config.aggregate == "sum" and not config.binary else F.max("weight")
    return rows.groupBy("user", "item").agg(agg.alias("weight"), F.max("timestamp").alias("timestamp"))


def collect_interactions(pairs: DataFrame) -> Interactions:
    """The pairs on the driver as :class:`Interactions` (users and items in sorted id order, timestamps kept)."""
    return pairs_to_interactions(pairs.orderBy("user", "item").toPandas())


def pairs_to_interactions(frame: Any) -> Interactions:
    """``user, item, weight, timestamp`` rows (a pandas frame of :func:`interaction_pairs`) as
    :class:`Interactions`, users and items in sorted id order, so the same pairs always give the same matrix."""
    if frame.empty:
        raise SparkInputError("export", "no track events with product ids to learn from")
    return Interactions.from_frame(
        frame,
        weight_col="weight",
        timestamp_col="timestamp",
        user_ids=np.asarray(sorted(frame["user"].unique()), dtype=object),
        item_ids=np.asarray(sorted(frame["item"].unique()), dtype=object),
    )


def fit_als(spark: SparkSession, data: Interactions, config: SparkALSConfig | None = None) -> SparkALSRecommender:
    """Train ``pyspark.ml.recommendation.ALS`` (implicitPrefs) on ``data``; the factors come back to the driver."""
    import pandas as pd
    from pyspark.ml.recommendation import ALS

    config = config or SparkALSConfig()
    coo = data.matrix.tocoo()
    ratings = spark.createDataFrame(
        pd.DataFrame({"u": coo.row.astype(np.int32), "i": coo.col.astype(np.int32), "r": coo.data.astype(np.float32)})
    )
    als = ALS(
        rank=config.rank,
        maxIter=config.max_iter,
        regParam=config.reg_param,
        alpha=config.alpha,
        implicitPrefs=True,
        userCol="u",
        itemCol="i",
        ratingCol="r",
        seed=config.seed,
        coldStartStrategy="drop",
    )
    fitted = als.fit(ratings)
    users = _factors(fitted.userFactors.toPandas(), data.n_users, config.rank)
    items = _factors(fitted.itemFactors.toPandas(), data.n_items, config.rank)
    return SparkALSRecommender.from_factors(config, data, users, items)


def _factors(frame: Any, n: int, rank: int) -> np.ndarray:
    out = np.zeros((n, rank), dtype=np.float32)  # a user or item without interactions keeps a zero vector
    if len(frame):
        out[frame["id"].to_numpy()] = np.vstack(frame["features"].to_numpy()).astype(np.float32)
    return out


def run_als(
    spark: SparkSession,
    export: str | Path,
    data_dir: str | Path,
    name: str = "spark_als",
    config: SparkALSConfig | None = None,
    interactions: InteractionConfig | None = None,
    evaluate: bool = True,
    k: int = 10,
) -> ALSJobResult:
    """The whole job: export -> interactions -> (temporal-split evaluation) -> ALS -> a new version of ``name``."""
    from pertinent.evaluation import evaluate as evaluate_model
    from pertinent.evaluation import temporal_split

    config = config or SparkALSConfig()
    registry = ModelRegistry.for_data_dir(data_dir)
    registry._dir(name)  # a bad name fails before any work (RegistryError names the field)
    started = time.perf_counter()
    data = collect_interactions(interaction_pairs(read_export(spark, export, "events"), interactions))
    metrics: dict[str, Any] = {}
    message = ""
    if evaluate:
        try:
            split = temporal_split(data, 0.2)
            result = evaluate_model(fit_als(spark, split.train, config), split, k=k)
            metrics["temporal"] = result.to_dict()
            message = result.message
        except ValueError as exc:  # thin data: train anyway, say why there are no metrics
            message = f"not evaluated: {exc}"
    model = fit_als(spark, data, config)
    metrics["train_seconds"] = round(time.perf_counter() - started, 3)
    meta = {
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": int(data.matrix.nnz),
        "trained_by": "spark",
        "spark_master": spark.sparkContext.master,
        "export": str(export),
    }
    version = registry.save(name, model, metrics=metrics, meta=meta)
    return ALSJobResult(name, version, data.n_users, data.n_items, int(data.matrix.nnz), metrics, message)
