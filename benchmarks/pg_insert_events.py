"""Client CPU of inserting 2000 events on PostgreSQL: the old path, ``SqlTx.insert_events`` (SQLAlchemy's
insertmanyvalues), against ``PostgresTx.insert_events`` (one INSERT ... SELECT FROM unnest(arrays) with the same
ON CONFLICT and RETURNING), alternating, 3 times; then both again on a batch whose rows are all stored already.

Run: PYTHONPATH=src .venv/bin/python benchmarks/pg_insert_events.py [--postgres-url URL] [--reps N] [--rows N]
(a database of its own)
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hot_store as hs  # noqa: E402

from pertinent.storage.base import EventRow  # noqa: E402
from pertinent.storage.sql import SqlStore  # noqa: E402
from pertinent.storage.sql_postgres import PostgresTx  # noqa: E402
from pertinent.storage.sql_tx import SqlTx  # noqa: E402

NAME = "pertinent_bench_insert_events"


def rows(n: int) -> list[EventRow]:
    return [
        EventRow(
            message_id=str(uuid.uuid4()),
            type="track",
            event="Product Viewed",
            profile_id=f"p{i % 200}",
            timestamp=1.7e9 + i,
            received_at=1.7e9 + i,
            personalize=True,
            properties={"product_id": f"sku-{i}", "price": 9.99, "category": "home"},
            context={"library": {"name": "pertinent-importer", "version": "1"}},
        )
        for i in range(n)
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--postgres-url", default="postgresql+psycopg://pertinent@127.0.0.1:55432/postgres")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rows", type=int, default=2000)
    a = p.parse_args()
    store = SqlStore(hs.fresh_database(a.postgres_url, NAME))
    store.migrate()
    try:
        run(store, a.reps, a.rows)
    finally:
        store.close()
        hs.fresh_database(a.postgres_url, NAME, create=False)


PATHS = {"insertmanyvalues": SqlTx.insert_events, "unnest": PostgresTx.insert_events}


def run(store: SqlStore, reps: int, n: int) -> None:
    cpu: dict[str, list[float]] = {mode: [] for mode in PATHS}
    for _rep in range(reps):
        for mode, insert in PATHS.items():
            rs = rows(n)
            for phase in ("new rows", "all known"):  # the same batch twice: every row meets ON CONFLICT
                c0, w0 = time.process_time(), time.perf_counter()
                with store.transaction() as tx:
                    got = insert(tx, rs)
                c = 1000 * (time.process_time() - c0)
                if phase == "new rows":
                    cpu[mode].append(c)
                print(
                    f"{mode} ({phase}): {len(got)} rows returned, client CPU {c:.0f} ms, "
                    f"wall {1000 * (time.perf_counter() - w0):.0f} ms",
                    flush=True,
                )
    old, new = sorted(cpu["insertmanyvalues"]), sorted(cpu["unnest"])
    print(
        f"client CPU per {n} new events, median: insertmanyvalues {old[len(old) // 2]:.0f} ms, "
        f"unnest {new[len(new) // 2]:.0f} ms, ratio {old[len(old) // 2] / new[len(new) // 2]:.2f}x"
    )


if __name__ == "__main__":
    main()
