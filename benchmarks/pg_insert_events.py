"""Client CPU of inserting 2000 events on PostgreSQL: SqlTx.insert_events (SQLAlchemy insertmanyvalues) against
one INSERT ... SELECT FROM unnest(arrays) with the same ON CONFLICT and RETURNING, alternating, 3 times.

Run: PYTHONPATH=src .venv/bin/python benchmarks/pg_insert_events.py [--postgres-url URL]   (a database of its own)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hot_store as hs  # noqa: E402
from sqlalchemy import text  # noqa: E402

from pertinent.storage.base import EventRow  # noqa: E402
from pertinent.storage.sql import SqlStore  # noqa: E402

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


UNNEST = text("""INSERT INTO events (message_id, type, event, profile_id, timestamp, received_at, personalize,
 properties, traits, context, integrations, group_id, previous_id)
SELECT * FROM unnest(CAST(:m AS text[]), CAST(:t AS text[]), CAST(:e AS text[]), CAST(:p AS text[]),
 CAST(:ts AS float8[]), CAST(:ra AS float8[]), CAST(:pe AS bool[]), CAST(:pr AS json[]), CAST(:tr AS json[]),
 CAST(:cx AS json[]), CAST(:ig AS json[]), CAST(:g AS text[]), CAST(:pv AS text[]))
ON CONFLICT (profile_id, message_id) DO NOTHING RETURNING profile_id, message_id""")


def dumps(v: object) -> str | None:
    return None if v is None else json.dumps(v)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--postgres-url", default="postgresql+psycopg://pertinent@127.0.0.1:55432/postgres")
    a = p.parse_args()
    store = SqlStore(hs.fresh_database(a.postgres_url, NAME))
    store.migrate()
    try:
        run(store)
    finally:
        store.close()
        hs.fresh_database(a.postgres_url, NAME, create=False)


def run(store: SqlStore) -> None:
    for _rep in range(3):
        for mode in ("insertmanyvalues", "unnest"):
            rs = rows(2000)
            c0, w0 = time.process_time(), time.perf_counter()
            with store.transaction() as tx:
                if mode == "insertmanyvalues":
                    got = tx.insert_events(rs)
                else:
                    got = {
                        (p, m)
                        for p, m in tx.conn.execute(
                            UNNEST,
                            {
                                "m": [r.message_id for r in rs],
                                "t": [r.type for r in rs],
                                "e": [r.event for r in rs],
                                "p": [r.profile_id for r in rs],
                                "ts": [r.timestamp for r in rs],
                                "ra": [r.received_at for r in rs],
                                "pe": [r.personalize for r in rs],
                                "pr": [dumps(r.properties) for r in rs],
                                "tr": [dumps(r.traits) for r in rs],
                                "cx": [dumps(r.context) for r in rs],
                                "ig": [dumps(r.integrations) for r in rs],
                                "g": [r.group_id for r in rs],
                                "pv": [r.previous_id for r in rs],
                            },
                        )
                    }
            print(
                f"{mode}: {len(got)} rows, client CPU {1000 * (time.process_time() - c0):.0f} ms, "
                f"wall {1000 * (time.perf_counter() - w0):.0f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
