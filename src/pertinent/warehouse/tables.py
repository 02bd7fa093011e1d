"""The Parquet schema of each export kind and the conversion of stored rows into Arrow record batches.

Times are UTC timestamps (microseconds), so Spark and pandas read them as times; the JSON fields of events,
profiles and decisions (properties, traits, context, state, detail) are JSON text: they have no fixed schema, and
Spark's ``from_json`` / DuckDB's ``json`` read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

from pertinent.storage.base import DecisionRow, EventRow, ProfileRow

TS = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "events": pa.schema(
        [
            ("event_id", pa.int64()),  # the store's insertion id: the watermark of incremental exports
            ("message_id", pa.string()),
            ("profile_id", pa.string()),
            ("type", pa.string()),
            ("event", pa.string()),
            ("timestamp", TS),
            ("received_at", TS),
            ("personalize", pa.bool_()),
            ("properties", pa.string()),
            ("traits", pa.string()),
            ("context", pa.string()),
        ]
    ),
    "profiles": pa.schema(
        [
            ("profile_id", pa.string()),
            ("traits", pa.string()),
            ("state", pa.string()),
            ("consent", pa.string()),
            ("created_at", TS),
            ("updated_at", TS),
        ]
    ),
    "decisions": pa.schema(
        [
            ("decision_id", pa.string()),
            ("profile_id", pa.string()),
            ("slot", pa.string()),
            ("variant", pa.string()),
            ("reason", pa.string()),
            ("at", TS),
            ("experiment", pa.string()),
            ("propensity", pa.float64()),
            ("detail", pa.string()),
        ]
    ),
}


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def event_batch(rows: Iterable[tuple[int, EventRow]]) -> pa.RecordBatch:
    cols: dict[str, list[Any]] = {name: [] for name in SCHEMAS["events"].names}
    for event_id, e in rows:
        cols["event_id"].append(event_id)
        cols["message_id"].append(e.message_id)
        cols["profile_id"].append(e.profile_id)
        cols["type"].append(e.type)
        cols["event"].append(e.event)
        cols["timestamp"].append(_us(e.timestamp))
        cols["received_at"].append(_us(e.received_at))
        cols["personalize"].append(bool(e.personalize))
        cols["properties"].append(_json(e.properties))
        cols["traits"].append(_json(e.traits))
        cols["context"].append(_json(e.context))
    return pa.RecordBatch.from_pydict(cols, schema=SCHEMAS["events"])


def profile_batch(rows: Iterable[ProfileRow]) -> pa.RecordBatch:
    cols: dict[str, list[Any]] = {name: [] for name in SCHEMAS["profiles"].names}
    for p in rows:
        cols["profile_id"].append(p.profile_id)
        cols["traits"].append(_json(p.traits))
        cols["state"].append(_json(p.state))
        cols["consent"].append(_json(p.consent))
        cols["created_at"].append(_us(p.created_at))
        cols["updated_at"].append(_us(p.updated_at))
    return pa.RecordBatch.from_pydict(cols, schema=SCHEMAS["profiles"])


def decision_batch(rows: Iterable[DecisionRow]) -> pa.RecordBatch:
    cols: dict[str, list[Any]] = {name: [] for name in SCHEMAS["decisions"].names}
    for d in rows:
        cols["decision_id"].append(d.decision_id)
        cols["profile_id"].append(d.profile_id)
        cols["slot"].append(d.slot)
        cols["variant"].append(d.variant)
        cols["reason"].append(d.reason)
        cols["at"].append(_us(d.at))
        cols["experiment"].append(d.experiment)
        cols["propensity"].append(d.propensity)
        cols["detail"].append(_json(d.detail))
    return pa.RecordBatch.from_pydict(cols, schema=SCHEMAS["decisions"])
