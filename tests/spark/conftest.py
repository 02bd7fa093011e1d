"""Synthetic warehouse exports (the layout and schema ``pertinent export`` writes) and one Spark session per module."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pertinent.warehouse.tables import SCHEMAS

START = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_events(n_users: int = 40, n_items: int = 20, seed: int = 0) -> list[dict[str, Any]]:
    """Two taste clusters: even users view and buy items p0..p9, odd users p10..p19; some noise rows that the
    jobs must skip (anonymous events, identify calls, untracked names, events without products)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    half = n_items // 2

    def add(profile: str | None, type_: str, event: str | None, when: datetime, props: dict[str, Any]) -> None:
        rows.append(
            {
                "event_id": len(rows) + 1,
                "message_id": f"m{len(rows) + 1}",
                "profile_id": profile,
                "type": type_,
                "event": event,
                "timestamp": when,
                "received_at": when,
                "personalize": True,
                "properties": json.dumps(props),
                "traits": "{}",
                "context": "{}",
            }
        )

    for u in range(n_users):
        user = f"u{u}"
        lo = 0 if u % 2 == 0 else half
        add(user, "identify", None, START, {})
        for day, item in enumerate(rng.choice(np.arange(lo, lo + half), size=6, replace=False)):
            when = START + timedelta(days=int(day) * 3 + u % 5, hours=u % 7)
            add(user, "track", "Product Viewed", when, {"product_id": int(item)})
        for order in range(u % 4):  # u0, u4, ... never buy
            when = START + timedelta(days=20 + order * 5 + u % 3)
            items = [f"{rng.integers(lo, lo + half)}", f"{rng.integers(lo, lo + half)}"]
            props = {
                "order_id": f"o{u}-{order}",
                "revenue": 10.0 * (order + 1) + u,
                "products": [{"product_id": i} for i in items],
            }
            add(user, "track", "Order Completed", when, props)
            if order == 1:  # an order split in two messages counts once
                add(user, "track", "Order Completed", when, {**props, "revenue": 1.0, "products": []})
        add(user, "track", "Newsletter Opened", START, {"product_id": "p0"})
        add(user, "page", None, START, {})
    add(None, "track", "Product Viewed", START, {"product_id": 1})
    return rows


def write_export(root: Path, rows: list[dict[str, Any]]) -> Path:
    """``root/events/part-1.parquet`` with the export's schema (what ``pertinent export events`` writes)."""
    (root / "events").mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=SCHEMAS["events"])
    pq.write_table(table, root / "events" / "part-1.parquet")
    return root


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return synthetic_events()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]) -> Path:
    return write_export(tmp_path_factory.mktemp("export"), events)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] session per test module; the reason is shown when Java or pyspark is missing."""
    from pertinent.spark.session import spark_session, unavailable_reason

    reason = os.environ.get("PERTINENT_TEST_JAVA_SKIP") or unavailable_reason()
    if reason:
        pytest.skip(f"Spark unavailable: {reason}")
    session = spark_session("local[2]", "pertinent-tests", partitions=2)
    yield session
    session.stop()
