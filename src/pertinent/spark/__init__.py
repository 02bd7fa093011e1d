"""Batch jobs on Apache Spark over a warehouse export (``pertinent export ... --format parquet``).

One job per module, each a plain function over a ``SparkSession`` so the same code runs in local mode (tests,
one machine) and on a cluster (``spark-submit``, docs/spark.md):

* :mod:`pertinent.spark.als` -- implicit ALS (``pyspark.ml.recommendation.ALS``) saved as a model version;
* :mod:`pertinent.spark.rfm` -- RFM and profile features in Spark SQL, written as Parquet;
* :mod:`pertinent.spark.kmeans` -- k-means segment discovery over those features.

:mod:`pertinent.spark.model` is the ``spark_als`` recommender kind that serves what the ALS job learned; it needs
numpy only (no pyspark, no JVM), so an API node loads it like any other kind. pyspark is the optional extra
``spark`` and is imported inside the jobs only.
"""
