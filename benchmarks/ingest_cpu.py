"""CPU, SQL statements and Redis round trips per ingested event, in process: ``IngestService`` on the cluster's store
(PostgreSQL + the Redis hot store) and on the embedded default (SQLite), in the same run.

Batches of ``benchmarks/ingest.py``'s synthetic shop messages (``--batch`` messages each, new message ids, users
drawn among ``--users`` so that most batches meet known and new visitors) go through ``Services.ingest.ingest``
one after the other, as the in-process figure of ``benchmarks/cluster.py`` does; the process CPU time (all threads:
the real-time segment evaluation included) is divided by the events ingested. Statements are counted by a
SQLAlchemy ``before_cursor_execute`` listener, Redis round trips by counting the client's socket writes (a
pipeline is one). CPU time is what the machine's load inflates least; PostgreSQL's and Redis's own CPU are not in
it. ``--rounds`` alternates the two stores that many times; ``--pyinstrument FILE`` profiles the cluster store's
last round (HTML, or text for another suffix).

    PYTHONPATH=src .venv/bin/python benchmarks/ingest_cpu.py --batches 60 --rounds 3 --json /tmp/ingest_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decide_serving as ds  # noqa: E402  (machine description, free ports)
import hot_store as hs  # noqa: E402  (redis-server, fresh databases)
import ingest as ing  # noqa: E402  (the ingest generator)

DEFAULT_PG = "postgresql+psycopg://pertinent@127.0.0.1:55432/postgres"
DB_NAME = os.environ.get("PERTINENT_BENCH_INGEST_CPU_DB", "pertinent_bench_ingest_cpu")


class Counts:
    """SQL statements and Redis socket writes (round trips) made by this process."""

    def __init__(self) -> None:
        self.sql = 0
        self.redis = 0

    def watch(self, svc: Any) -> None:
        from sqlalchemy import event

        engine = getattr(svc.store, "engine", None)
        if engine is not None:

            def count(*_: Any) -> None:
                self.sql += 1

            event.listen(engine, "before_cursor_execute", count)

    def watch_redis(self) -> None:
        from redis.connection import AbstractConnection

        original = AbstractConnection.send_packed_command
        counts = self

        def send(conn: Any, command: Any, check_health: bool = True) -> None:
            counts.redis += 1
            original(conn, command, check_health)

        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]


def settings_for(data: Path, database_url: str | None, redis_url: str | None) -> Any:
    from pertinent.settings import Settings

    return Settings(
        data_dir=data,
        database_url=database_url,
        redis_url=redis_url,
        write_key=ds.WRITE_KEY,
        admin_key=ds.ADMIN_KEY,
        pseudonym_keys=[ds.PSEUDO],
        identity_secret="bench-identity-secret",
        run_jobs=False,
        require_identity_verification=False,
    )


def measure(settings: Any, bodies: list[list[dict]], counts: Counts, profile: Path | None) -> dict[str, float]:
    from pertinent.profiles.context import parse_context
    from pertinent.services import Services

    parse_context({"userAgent": ds.UAS["mobile"]})  # the user-agent parser's tables, built once per process
    svc = Services.build(settings)
    counts.watch(svc)
    try:
        svc.ingest.ingest(bodies[0], prefix="batch")  # warm: connections, prepared statements, scripts
        sql0, redis0 = counts.sql, counts.redis
        profiler = None
        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        c0, t0, events = time.process_time(), time.perf_counter(), 0
        for body in bodies[1:]:
            svc.ingest.ingest(body, prefix="batch")
            events += len(body)
        svc.segments.wait_idle()  # the real-time segment evaluation of these events, in the figure
        c1, t1 = time.process_time(), time.perf_counter()
        if profiler is not None and profile is not None:
            profiler.stop()
            html = profile.suffix == ".html"
            profile.write_text(profiler.output_html() if html else profiler.output_text(unicode=True, show_all=False))
        batches = len(bodies) - 1
        return {
            "events": events,
            "cpu_us_per_event": round(1e6 * (c1 - c0) / events, 1),
            "wall_us_per_event": round(1e6 * (t1 - t0) / events, 1),
            "sql_per_batch": round((counts.sql - sql0) / batches, 2),
            "redis_round_trips_per_batch": round((counts.redis - redis0) / batches, 2),
        }
    finally:
        svc.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres-url", default=os.environ.get("PERTINENT_BENCH_POSTGRES_URL", DEFAULT_PG))
    p.add_argument("--batches", type=int, default=60, help="batches per store and round (after one warm-up)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3, help="the two stores alternated this many times")
    p.add_argument("--pyinstrument", type=Path, default=None, help="HTML profile of the cluster store's last round")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()

    out: dict[str, Any] = {"machine": ds.machine(), "args": {k: str(v) for k, v in vars(a).items()}}
    out["load_1m_start"] = round(os.getloadavg()[0], 2)
    work = Path(tempfile.mkdtemp(prefix="pertinent-ingest-cpu-"))
    redis_proc, db_url = None, None
    counts = Counts()
    counts.watch_redis()
    try:
        redis_proc, redis_url = hs.start_redis(work)
        db_url = hs.fresh_database(a.postgres_url, DB_NAME)
        raw = ing.make_batches(a.users, a.batch, a.batch * (a.batches + 1) * a.rounds)
        runs: list[dict[str, Any]] = []
        for r in range(a.rounds):
            chunk = raw[r * (a.batches + 1) : (r + 1) * (a.batches + 1)]
            bodies = [orjson.loads(b.replace(b'"messageId":"', f'"messageId":"r{r}-'.encode()))["batch"] for b in chunk]
            last = r == a.rounds - 1
            cluster = measure(
                settings_for(work / "cluster", db_url, redis_url), bodies, counts, a.pyinstrument if last else None
            )
            sqlite = measure(settings_for(work / "sqlite", None, None), bodies, counts, None)
            ratio = round(cluster["cpu_us_per_event"] / sqlite["cpu_us_per_event"], 2)
            runs.append({"round": r, "cluster": cluster, "sqlite": sqlite, "cpu_ratio": ratio})
            print(json.dumps(runs[-1]), flush=True)
        out["runs"] = runs
        out["load_1m_end"] = round(os.getloadavg()[0], 2)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(30)
        if db_url is not None:
            hs.fresh_database(a.postgres_url, DB_NAME, create=False)
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
