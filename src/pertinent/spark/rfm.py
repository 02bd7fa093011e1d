"""RFM and profile features in Spark SQL over an events export, written as Parquet.

One row per profile seen in the events (``profile_id`` not null):

* ``recency_days``: days from the profile's last purchase to ``as_of`` (null without a purchase);
* ``frequency``: distinct orders (``properties.order_id``, else the event's ``message_id``; an order split into
  several messages counts once);
* ``monetary``: the sum of ``properties.revenue`` (else ``total``) over the purchases;
* ``n_events``, ``active_days`` (distinct UTC days with an event), ``tenure_days`` (first to last event),
  ``last_seen_days`` (last event to ``as_of``).

``as_of`` defaults to the newest event's time in the export, so the same export always gives the same features.
The purchase events are ``Order Completed`` unless told otherwise (the Segment ecommerce name the importers use).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pertinent.spark.session import SparkInputError, read_export

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FEATURES = ("recency_days", "frequency", "monetary", "n_events", "active_days", "tenure_days", "last_seen_days")
PURCHASE_EVENTS = ("Order Completed",)

_SQL = """
WITH ev AS (
  SELECT profile_id, type, event, message_id, timestamp,
         from_json(properties, 'order_id STRING, revenue DOUBLE, total DOUBLE') AS p
  FROM pertinent_events WHERE profile_id IS NOT NULL AND timestamp IS NOT NULL
),
bounds AS (SELECT {as_of} AS as_of FROM ev),
purchases AS (
  SELECT profile_id, timestamp, coalesce(p.order_id, message_id) AS order_key,
         coalesce(p.revenue, p.total, 0D) AS amount
  FROM ev WHERE type = 'track' AND event IN ({purchase_events})
),
buyers AS (
  SELECT profile_id, max(timestamp) AS last_purchase, count(DISTINCT order_key) AS frequency,
         sum(amount) AS monetary
  FROM purchases GROUP BY profile_id
),
activity AS (
  SELECT profile_id, count(*) AS n_events, count(DISTINCT to_date(timestamp)) AS active_days,
         min(timestamp) AS first_seen, max(timestamp) AS last_seen
  FROM ev GROUP BY profile_id
)
SELECT a.profile_id,
       (unix_timestamp(b.as_of) - unix_timestamp(x.last_purchase)) / 86400D AS recency_days,
       coalesce(x.frequency, 0L) AS frequency,
       coalesce(x.monetary, 0D) AS monetary,
       a.n_events,
       a.active_days,
       (unix_timestamp(a.last_seen) - unix_timestamp(a.first_seen)) / 86400D AS tenure_days,
       (unix_timestamp(b.as_of) - unix_timestamp(a.last_seen)) / 86400D AS last_seen_days
FROM activity a CROSS JOIN (SELECT first(as_of) AS as_of FROM bounds) b
LEFT JOIN buyers x ON x.profile_id = a.profile_id
"""


@dataclass(frozen=True)
class RFMJobResult:
    out: str
    profiles: int
    buyers: int


def profile_features(
    events: DataFrame, as_of: datetime | None = None, purchase_events: tuple[str, ...] = PURCHASE_EVENTS
) -> DataFrame:
    """The feature table (``profile_id`` + :data:`FEATURES`) computed in Spark SQL from exported events."""
    if not purchase_events:
        raise SparkInputError("purchase_events", "name at least one purchase event")
    spark = events.sparkSession
    events.createOrReplaceTempView("pertinent_events")
    stamp = "max(timestamp)" if as_of is None else f"timestamp'{as_of.strftime('%Y-%m-%d %H:%M:%S')}'"
    names = ", ".join("'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'" for name in purchase_events)
    return spark.sql(_SQL.format(as_of=stamp, purchase_events=names))


def run_rfm(
    spark: SparkSession,
    export: str | Path,
    out: str | Path,
    as_of: datetime | None = None,
    purchase_events: tuple[str, ...] = PURCHASE_EVENTS,
) -> RFMJobResult:
    """Compute the features of every profile in an events export and write them to ``out`` (Parquet, replaced)."""
    if not str(out).strip():
        raise SparkInputError("out", "name a folder to write the features to")
    features = profile_features(read_export(spark, export, "events"), as_of, purchase_events).cache()
    features.write.mode("overwrite").parquet(str(out))
    profiles = features.count()
    buyers = features.where("frequency > 0").count()
    features.unpersist()
    return RFMJobResult(str(out), profiles, buyers)
