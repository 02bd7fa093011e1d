"""How cost grows with work: import time, serving latency, memory, disk and Redis memory at two scales (e.g. 100k
and 1M profiles with ~10 events each), on the embedded default (SQLite) and on a one-node cluster
(PostgreSQL + Redis hot store), with every figure also divided per profile and the ratio between the scales.

Data: the synthetic shop (``pertinent.synthetic``, ~10 events per user) flattened to one Parquet file per scale
(``--data-dir``, reused when present): one row per track/page message with ``user_id`` (``u<index>``: every row
of a synthetic user carries its one id, so profiles = users and the serving load names them as
``decide_serving.py`` does), ``event``, ``item_id``, ``price``, ``quantity``, ``category``, ``rating`` and an ISO
``timestamp``. Identify calls are left out (the generic importer takes one row per event).

Per scale and backend:

* **import**: ``pertinent import FILE --user-col ... --batch-size B`` in its own process into a fresh store (SQLite
  file in a fresh data directory, or a fresh PostgreSQL database): wall time, events/s, the importer's peak RSS;
* **setup** (not timed into the import): the catalogue, 10% of the profiles in a ``vip`` segment, the slots of
  ``decide_serving.py`` and an EASE model trained on at most ``--train-events`` events (the same cap at every
  scale, so the served model is comparable);
* **disk**: the SQLite file with its WAL, or ``pg_database_size``;
* **Redis** (cluster): emptied, then every profile's decision inputs read once through the hot store
  (``hot_store.warm``: what a warm node holds) and the identity directory built (timed: ``directory_build_s``),
  ``used_memory`` after minus before;
* **serving**: ``pertinent serve`` (1 worker; on the cluster with ``PERTINENT_REDIS_URL``, the hot store warm),
  ``decide_serving.py``'s open-loop constant-rate load (80% known users at random among all profiles) on
  ``/v1/decide`` (slot ``home.hero``) and ``/v1/recommendations`` at ``--rate`` for ``--duration`` s: p50/p99;
  then the server's RSS (``VmRSS``, and its peak ``VmHWM``).

One ``pertinent serve`` node is enough for cost per profile: a second node would add its own process RSS, not
per-profile storage (the database and Redis are shared).

Run (from the repository root, ~1-2 h on 2 busy cores for 1M profiles):

  PYTHONPATH=src .venv/bin/python benchmarks/scale_cost.py --users 100000,1000000 \
      --postgres-url postgresql+psycopg://pertinent@127.0.0.1:55432/ --redis-url redis://127.0.0.1:6379/0 \
      --json scale_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decide_serving as ds  # noqa: E402  (same folder: servers, load generator, machine description)
import hot_store as hs  # noqa: E402  (fresh PostgreSQL databases, warming the hot store)

EVENTS_PER_USER_SESSIONS = 1.1  # sessions_mean giving ~10 events per user with the other defaults
COLUMNS = ("user_id", "event", "item_id", "price", "quantity", "category", "rating", "timestamp")
IMPORT_ARGS = [
    "--user-col",
    "user_id",
    "--event-col",
    "event",
    "--item-col",
    "item_id",
    "--price-col",
    "price",
    "--quantity-col",
    "quantity",
    "--category-col",
    "category",
    "--rating-col",
    "rating",
    "--timestamp-col",
    "timestamp",
    "--timestamp-format",
    "iso",
]
DB_NAME = "pertinent_bench_scale"  # + "_<users>": scales may run side by side


# ------------------------------------------------------------------------------------------------ data
def generator(users: int, seed: int = 1) -> Any:
    from pertinent.synthetic import SyntheticConfig, SyntheticGenerator

    return SyntheticGenerator(
        SyntheticConfig(seed=seed, n_users=users, n_items=500, sessions_mean=EVENTS_PER_USER_SESSIONS)
    )


def rows(users: int) -> Iterator[tuple]:
    """One row per track/page message of the synthetic shop; all rows of a user carry ``u<index>``."""
    gen = generator(users)
    index: dict[str, int] = {}  # anonymousId -> user index (each synthetic user has one anonymousId)
    for m in gen.messages():
        if m["type"] == "identify":
            continue
        anon = m["anonymousId"]
        if anon not in index:
            index.clear()  # users follow each other: only the current one matters
            index[anon] = gen.users_done
        user = f"u{index[anon]}"
        p = m.get("properties") or {}
        if m["type"] == "page":
            yield (user, "Page Viewed", None, None, None, p.get("category"), None, m["timestamp"])
            continue
        products = p.get("products")
        if products:  # orders: the first product, the order's revenue as its price
            first = products[0]
            ts = m["timestamp"]
            yield (user, m["event"], first["product_id"], p.get("revenue"), 1.0, first.get("category"), None, ts)
            continue
        price, qty, rating = p.get("price"), p.get("quantity"), p.get("rating")
        yield (user, m["event"], p.get("product_id"), price, qty, p.get("category"), rating, m["timestamp"])


def write_events(path: Path, users: int) -> int:
    """The events of ``users`` synthetic users as Parquet at ``path`` (kept and reused); returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists():
        return pq.ParquetFile(path).metadata.num_rows
    schema = pa.schema(
        [
            ("user_id", pa.string()),
            ("event", pa.string()),
            ("item_id", pa.string()),
            ("price", pa.float64()),
            ("quantity", pa.float64()),
            ("category", pa.string()),
            ("rating", pa.float64()),
            ("timestamp", pa.string()),
        ]
    )
    tmp = path.with_suffix(".tmp")
    n = 0
    t0 = time.perf_counter()
    with pq.ParquetWriter(tmp, schema) as writer:
        buf: list[tuple] = []

        def flush() -> None:
            cols = list(zip(*buf, strict=True))
            writer.write_table(pa.table({c: list(v) for c, v in zip(COLUMNS, cols, strict=True)}, schema=schema))
            buf.clear()

        for r in rows(users):
            buf.append(r)
            n += 1
            if len(buf) >= 200_000:
                flush()
                print(f"  wrote {n} events ({time.perf_counter() - t0:.0f} s)", flush=True)
        if buf:
            flush()
    tmp.rename(path)
    return n


# ------------------------------------------------------------------------------------------------ phases
def admin_url(url: str) -> str:
    """The server's ``postgres`` database when the URL names none (databases are created and dropped from it)."""
    return url + "postgres" if url.endswith("/") else url


def run_import(path: Path, env: dict[str, str], batch_size: int) -> dict[str, float]:
    """``pertinent import`` in its own process: wall seconds, its CPU seconds and peak RSS."""
    cmd = [str(Path(ds.PY).parent / "pertinent"), "import", str(path), *IMPORT_ARGS, "--batch-size", str(batch_size)]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage (RUSAGE_CHILDREN mixes in the servers)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"import failed:\n{text[-3000:]}")
    print("  " + text.strip().splitlines()[-1], flush=True)
    return {
        "import_s": round(seconds, 1),
        "import_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),  # the importer's own (PostgreSQL's not counted)
        "load_average_1m_after_import": round(os.getloadavg()[0], 2),
        "import_peak_rss_mib": round(usage.ru_maxrss / 1024),
    }


def prepare(users: int, train_events: int) -> dict[str, Any]:
    """Catalogue, ``vip`` memberships (10%), the slots of decide_serving and an EASE model (in process)."""
    from pertinent.recommend.training import train_from_store
    from pertinent.services import Services
    from pertinent.settings import load_settings
    from pertinent.storage.base import MembershipChange

    t0 = time.perf_counter()
    svc = Services.build(load_settings())
    try:
        cat = generator(users).catalogue()
        svc.recommend.upsert_items(
            [
                {
                    "item_id": r.item_id,
                    "title": r.title,
                    "categories": list(r.categories),
                    "attributes": {"url": f"/p/{r.item_id}", "price": float(r.price)},
                }
                for r in cat.itertuples()
            ]
        )
        with svc.store.transaction() as tx:
            n_profiles = tx.count_profiles()
            n_events = tx.count_events()
        for start in range(0, users, 100_000):
            with svc.store.transaction() as tx:
                ids = [svc.profiles.find(tx, f"u{u}") for u in range(start, min(users, start + 100_000), 10)]
                tx.apply_membership_changes([MembershipChange("vip", pid, True, time.time()) for pid in ids if pid])
        ds.configure_slots(svc.decide)
        model = train_from_store(svc.store, os.environ["PERTINENT_DATA_DIR"], model="ease", max_events=train_events)
    finally:
        svc.close()
    return {
        "profiles": n_profiles,
        "events_stored": n_events,
        "model": model.version,
        "prepare_s": round(time.perf_counter() - t0, 1),
    }


def disk_bytes(env: dict[str, str]) -> int:
    url = env.get("PERTINENT_DATABASE_URL")
    if url:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            size = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        engine.dispose()
        return size
    data = Path(env["PERTINENT_DATA_DIR"])
    return sum(f.stat().st_size for f in data.glob("*.db*"))


def redis_warm(env: dict[str, str], users: int) -> dict[str, Any]:
    """Redis ``used_memory`` of the hot store after every profile's decision inputs were read once."""
    import redis

    from pertinent.services import Services
    from pertinent.settings import load_settings

    client = redis.Redis.from_url(env["PERTINENT_REDIS_URL"])
    client.flushdb()
    before = int(client.info("memory")["used_memory"])
    svc = Services.build(load_settings())
    try:
        keys = [svc.profiles.pseudo.key("user", f"u{u}") for u in range(users)]
        hs.warm(svc, keys)
        # The identity directory, as a warm cluster holds it (a node finding it missing builds it in the
        # background while serving: timed here, apart from the serving phase).
        directory = getattr(svc.store, "directory", None)
        started = time.perf_counter()
        built = directory.build() if directory is not None else False
        build_s = round(time.perf_counter() - started, 1)
    finally:
        svc.close()
    info = client.info("memory")
    return {
        "redis_used_bytes": int(info["used_memory"]) - before,
        "redis_keys": int(client.dbsize()),
        "directory_build_s": build_s if built else None,
    }


def rss_kib(pid: int) -> dict[str, int]:
    fields = dict(
        ln.split(":", 1) for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("Vm")
    )
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


def serve(users: int, rate: float, duration: float) -> dict[str, Any]:
    data = Path(os.environ["PERTINENT_DATA_DIR"])
    server, port = ds.start_pertinent(data, 1)
    try:
        out: dict[str, Any] = {}
        for kind in ("decide", "recommendations"):  # warm: model, catalogue, documents, user-agent cache
            ds.constant_rate(port, kind, 50, 2, users, server.pid)
        for kind in ("decide", "recommendations"):
            res = ds.constant_rate(port, kind, rate, duration, users, server.pid)
            bad = sum(n for s, n in res["statuses"].items() if str(s) != "200")
            print(f"  {kind}: {json.dumps(res)}", flush=True)
            keys = ("achieved_rate", "p50_ms", "p99_ms", "server_cpu_us_per_request", "load_average_1m")
            out[kind] = {k: res[k] for k in keys} | {"errors": bad}
        rss = rss_kib(server.pid)
        out["server_rss_mib"] = round(rss["VmRSS"] / 1024)
        out["server_peak_rss_mib"] = round(rss["VmHWM"] / 1024)
    finally:
        server.terminate()
        server.wait(60)
    return out


# ------------------------------------------------------------------------------------------------ one cell
def run_cell(a: argparse.Namespace, users: int, backend: str, events_file: Path, n_rows: int) -> dict[str, Any]:
    work = a.work_dir / f"{backend}-{users}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**ds.env_for(work), "PERTINENT_RUN_JOBS": "false"}
    env.pop("PERTINENT_DATABASE_URL", None)
    env.pop("PERTINENT_REDIS_URL", None)
    if backend == "cluster":
        env["PERTINENT_DATABASE_URL"] = hs.fresh_database(admin_url(a.postgres_url), f"{DB_NAME}_{users}")
    os.environ.clear()
    os.environ.update(env)
    cell: dict[str, Any] = {"users": users, "backend": backend, "events_in_file": n_rows}
    print(f"{backend} {users} users: import", flush=True)
    cell |= run_import(events_file, env, a.batch_size)
    cell["events_per_s"] = round(n_rows / cell["import_s"])
    cell |= prepare(users, a.train_events)
    cell["disk_bytes"] = disk_bytes(env)
    if backend == "cluster":
        env["PERTINENT_REDIS_URL"] = a.redis_url
        os.environ["PERTINENT_REDIS_URL"] = a.redis_url
        cell |= redis_warm(env, users)
    print(f"  {json.dumps(cell)}", flush=True)
    cell |= serve(users, a.rate, a.duration)
    if backend == "cluster":  # the load's misses (new visitors) are in Redis now too
        import redis

        cell["redis_used_bytes_after_load"] = int(redis.Redis.from_url(a.redis_url).info("memory")["used_memory"])
    return cell


PER_PROFILE = {
    "import_s": ("import_us_per_profile", 1e6),
    "import_cpu_s": ("import_cpu_us_per_profile", 1e6),
    "disk_bytes": ("disk_bytes_per_profile", 1),
    "redis_used_bytes": ("redis_bytes_per_profile", 1),
    "server_rss_mib": ("server_rss_kib_per_profile", 1024),
}


def per_profile(cell: dict[str, Any]) -> None:
    for key, (name, scale) in PER_PROFILE.items():
        if key in cell:
            cell[name] = round(cell[key] * scale / cell["profiles"], 2)


def table(paths: list[Path]) -> str:
    """The Markdown table of docs/benchmarks.md from result files: one row per scale and backend, then per backend
    the ratio of the largest to the smallest scale (for per-profile columns: flat cost reads 1.0)."""
    cells = [c for path in paths for c in json.loads(path.read_text())["cells"]]
    cols = [
        ("profiles", lambda c: f"{c['profiles']:,}"),
        ("events", lambda c: f"{c['events_stored']:,}"),
        ("backend", lambda c: c["backend"]),
        ("import s", lambda c: f"{c['import_s']:.0f}"),
        ("events/s", lambda c: f"{c['events_per_s']:,}"),
        ("import CPU µs/profile", lambda c: f"{c['import_cpu_us_per_profile']:,.0f}"),
        ("decide p99 ms", lambda c: f"{c['decide']['p99_ms']:.1f}"),
        ("recs p99 ms", lambda c: f"{c['recommendations']['p99_ms']:.1f}"),
        ("decide CPU µs/req", lambda c: f"{c['decide']['server_cpu_us_per_request']:,}"),
        ("recs CPU µs/req", lambda c: f"{c['recommendations']['server_cpu_us_per_request']:,}"),
        ("server RSS MiB", lambda c: f"{c['server_rss_mib']:,}"),
        ("RSS KiB/profile", lambda c: f"{c['server_rss_kib_per_profile']:.2f}"),
        ("disk MiB", lambda c: f"{c['disk_bytes'] / 2**20:,.0f}"),
        ("disk B/profile", lambda c: f"{c['disk_bytes_per_profile']:,.0f}"),
        ("Redis MiB", lambda c: f"{c['redis_used_bytes'] / 2**20:,.0f}" if "redis_used_bytes" in c else "-"),
        ("Redis B/profile", lambda c: f"{c['redis_bytes_per_profile']:,.0f}" if "redis_used_bytes" in c else "-"),
    ]
    ratio_of = {
        "import s": "import_us_per_profile",
        "import CPU µs/profile": "import_cpu_us_per_profile",
        "events/s": "events_per_s",
        "server RSS MiB": "server_rss_mib",
        "RSS KiB/profile": "server_rss_kib_per_profile",
        "disk MiB": "disk_bytes",
        "disk B/profile": "disk_bytes_per_profile",
        "Redis MiB": "redis_used_bytes",
        "Redis B/profile": "redis_bytes_per_profile",
    }
    lines = ["| " + " | ".join(n for n, _ in cols) + " |", "|" + "---|" * len(cols)]
    cells.sort(key=lambda c: (c["backend"] != "embedded", c["profiles"]))
    for backend in dict.fromkeys(c["backend"] for c in cells):
        mine = [c for c in cells if c["backend"] == backend]
        lines += ["| " + " | ".join(f(c) for _, f in cols) + " |" for c in mine]
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        out = []
        for name, _ in cols:
            if name == "profiles":
                out.append(f"**ratio {large['profiles'] / small['profiles']:.0f}x / 1x**")
            elif name in ("decide p99 ms", "recs p99 ms", "decide CPU µs/req", "recs CPU µs/req"):
                key = "decide" if name.startswith("decide") else "recommendations"
                field = "p99_ms" if "p99" in name else "server_cpu_us_per_request"
                out.append(f"{large[key][field] / small[key][field]:.2f}")
            elif name == "import s":
                per = large[ratio_of[name]] / small[ratio_of[name]]
                out.append(f"{large['import_s'] / small['import_s']:.2f} (per profile {per:.2f})")
            elif name in ratio_of and ratio_of[name] in small and small[ratio_of[name]]:
                out.append(f"{large[ratio_of[name]] / small[ratio_of[name]]:.2f}")
            else:
                out.append("")
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "table":
        print(table([Path(x) for x in sys.argv[2:]]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", default="100000,1000000", help="scales, comma-separated")
    p.add_argument("--backends", default="embedded,cluster")
    p.add_argument("--postgres-url", default="postgresql+psycopg://pertinent@127.0.0.1:55432/")
    p.add_argument("--redis-url", default="auto", help="a Redis of your own (it is emptied); auto: a throwaway one")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/pertinent-scale-data"), help="Parquet files, reused")
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/pertinent-scale-work"), help="stores, removed")
    p.add_argument("--batch-size", type=int, default=2000, help="pertinent import --batch-size")
    p.add_argument("--train-events", type=int, default=1_000_000)
    p.add_argument("--rate", type=float, default=100, help="requests/s of the constant-rate load")
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--keep", action="store_true", help="keep the stores and database (for profiling)")
    p.add_argument("--json", type=Path, help="results, rewritten after each cell")
    a = p.parse_args()
    a.data_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"machine": ds.machine(), "rate": a.rate, "duration_s": a.duration, "cells": []}
    base_env = dict(os.environ)
    redis_proc = None
    if a.redis_url == "auto":  # a throwaway redis-server on a free port (as hot_store.py starts one)
        redis_proc, a.redis_url = hs.start_redis(a.work_dir.parent)
    try:
        for users in (int(u) for u in a.users.split(",")):
            events_file = a.data_dir / f"synthetic-{users}.parquet"
            t0 = time.perf_counter()
            n_rows = write_events(events_file, users)
            print(f"{events_file}: {n_rows} events ({time.perf_counter() - t0:.0f} s)", flush=True)
            for backend in a.backends.split(","):
                cell = run_cell(a, users, backend, events_file, n_rows)
                per_profile(cell)
                summary["cells"].append(cell)
                print(json.dumps(cell), flush=True)
                if a.json:
                    a.json.write_text(json.dumps(summary, indent=2))
                if not a.keep:
                    shutil.rmtree(a.work_dir / f"{backend}-{users}", ignore_errors=True)
                    if backend == "cluster":
                        hs.fresh_database(admin_url(a.postgres_url), f"{DB_NAME}_{users}", create=False)
    finally:
        os.environ.clear()
        os.environ.update(base_env)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(30)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
