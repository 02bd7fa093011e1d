"""The Redis hot store (``storage/hot.py``) on PostgreSQL: ``/v1/decide`` throughput and latency with and without
it, beside a bare Starlette endpoint in the same run, and the Redis memory its decision inputs take per profile.

Setup: a fresh PostgreSQL database (``--postgres``, default ``$PERTINENT_TEST_POSTGRES_URL``'s server), ``N``
profiles from ingested events (identify with a plan trait, two product views: profile state as in real use),
10% in a ``vip`` segment, and a simple slot ``hero`` (a segment rule, a context rule, a default; no template,
no experiment, no recommender). Redis: ``--redis``, or a throwaway ``redis-server`` on a free loopback port.

Memory: Redis emptied, ``INFO memory`` ``used_memory`` read, every profile's decision inputs read once through
the hot store (identity, ``ids`` set, profile, memberships: what a warm node holds), ``used_memory`` read again;
the difference per profile, times 1M (Metarank's figure: 0.8 GiB per 1M users).

Ingest cost (``--ingest-profiles``): events/s of ``IngestService.ingest`` (identify + two views per profile,
300-event batches) into a fresh database, without Redis and with the hot store, alternating.

Throughput: ``pertinent serve`` (1 worker) in its own process, without Redis (``sql``: today's reads on
PostgreSQL) and with ``PERTINENT_REDIS_URL`` (``hot``: the inputs already in Redis), alternating, each against
``wrk`` (closed loop, 1 thread, ``--connections``, ``--seconds``) with known users at random, and the bare
Starlette ``/constant`` endpoint (``benchmarks/bare_starlette.py``) in the same run. Reported: requests/s, wrk's
p50/p99 and the ratio to bare Starlette; the server's CPU time per request (user + system, all its threads: on a
shared machine it moves far less than requests/s, which follow the share of the cores the server got); the load
average.

Run: PYTHONPATH=src .venv/bin/python benchmarks/hot_store.py --profiles 10000 --seconds 5 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decide_serving as ds  # noqa: E402  (same folder: servers, wrk, machine description)

PATH = "/v1/decide?slot=hero&user_id=u%d&timezone=Europe%%2FBerlin"
WRITE, ADMIN = "bench-write", "bench-admin"


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = ds.free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ds.wait_ready(port, timeout=20)
    return proc, f"redis://127.0.0.1:{port}/0"


def fresh_database(base: str, name: str, create: bool = True) -> str:
    """An empty database ``name`` on the server of ``base`` (``create=False``: only drop it)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def warm(svc: Any, keys: list[str]) -> None:
    """What a warm node holds: every profile's decision inputs (identity, profile, memberships) read once."""
    for i in range(0, len(keys), 500):
        with svc.store.reader() as reader:
            found = reader.get_identities(keys[i : i + 500])
            ids = [row.profile_id for row in found.values()]
            reader.get_profiles(ids)
            reader.segments_of(ids)


def setup(env: dict[str, str], profiles: int) -> dict[str, float]:
    """Ingest the profiles, the segment and the slot; measure Redis memory per profile of decision inputs."""
    os.environ.update(env)
    import redis

    from pertinent.services import Services
    from pertinent.settings import load_settings
    from pertinent.storage.base import MembershipChange

    t0 = time.perf_counter()
    svc = Services.build(load_settings())
    svc.store.migrate()
    batch: list[dict] = []
    for u in range(profiles):
        batch.append({"type": "identify", "userId": f"u{u}", "traits": {"plan": ("free", "pro")[u % 2]}})
        for i in (u % 97, u % 89):
            batch += [{"type": "track", "event": "Product Viewed", "userId": f"u{u}", "properties": {"id": f"p{i}"}}]
        if len(batch) >= 1500:
            svc.ingest.ingest(batch, prefix="batch")
            batch = []
    svc.ingest.ingest(batch, prefix="batch")
    keys = [svc.profiles.pseudo.key("user", f"u{u}") for u in range(profiles)]
    with svc.store.transaction() as tx:
        pids = [row.profile_id for row in tx.get_identities(keys).values()]
        vip = [MembershipChange("vip", pid, True, time.time()) for pid in pids[::10]]
        tx.apply_membership_changes(vip)
    for bid in ("b-vip", "b-tablet", "b-plain"):
        svc.decide.put_block({"id": bid, "type": "headline", "content": {"title": bid, "url": "/"}})
    svc.decide.put_slot(
        {
            "id": "hero",
            "variants": {"vip": "b-vip", "tablet": "b-tablet", "plain": "b-plain"},
            "rules": [
                {
                    "name": "vip",
                    "when": {"type": "segment", "segment": "vip"},
                    "then": {"kind": "variant", "variant": "vip"},
                },
                {
                    "name": "tablet",
                    "when": {"type": "context", "field": "device_type", "op": "eq", "value": "tablet"},
                    "then": {"kind": "variant", "variant": "tablet"},
                },
            ],
            "default": {"kind": "variant", "variant": "plain"},
        }
    )
    ingest_s = time.perf_counter() - t0
    client = redis.Redis.from_url(env["PERTINENT_REDIS_URL"])
    client.flushdb()
    before = int(client.info("memory")["used_memory"])
    warm(svc, keys)
    after = int(client.info("memory")["used_memory"])
    n_keys = int(client.dbsize())
    svc.close()
    per_profile = (after - before) / profiles
    return {
        "setup_s": round(ingest_s, 1),
        "redis_keys": n_keys,
        "redis_bytes_per_profile": round(per_profile),
        "redis_gib_per_1m_profiles": round(per_profile * 1e6 / 2**30, 2),
    }


def ingest_rate(env: dict[str, str], profiles: int, hot: bool) -> float:
    """Events/s ingesting ``profiles`` (identify + two views, 300-event batches) into a fresh database."""
    from pertinent.services import Services
    from pertinent.settings import Settings

    settings = Settings(
        data_dir=env["PERTINENT_DATA_DIR"],
        write_key=WRITE,
        admin_key=ADMIN,
        pseudonym_keys=["bench"],
        run_jobs=False,
        database_url=env["INGEST_DATABASE_URL"],
        redis_url=env["PERTINENT_REDIS_URL"] if hot else None,
    )
    svc = Services.build(settings)
    batches, batch = [], []
    for u in range(profiles):
        batch.append({"type": "identify", "userId": f"u{u}", "traits": {"plan": "pro"}})
        batch += [
            {"type": "track", "event": "Product Viewed", "userId": f"u{u}", "properties": {"id": f"p{u % 50}"}}
        ] * 2
        if len(batch) >= 300:
            batches, batch = [*batches, batch], []
    batches.append(batch)
    t = time.perf_counter()
    for b in batches:
        svc.ingest.ingest(b, prefix="batch")
    rate = 3 * profiles / (time.perf_counter() - t)
    svc.close()
    return round(rate)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(port: int, path: str | None, profiles: int, seconds: int, connections: int) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        if path is not None:
            uas = ", ".join(json.dumps(u) for u in ds.UAS.values())
            f.write(ds.WRK_LUA % (uas, ds.AUTH, path, profiles - 1))
            cmd += ["-s", f.name]
    url = f"http://127.0.0.1:{port}" + ("/constant" if path is None else "/")
    load = os.getloadavg()[0]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"wrk saw {m.group(1)} error responses:\n{out}")

    def ms(q: str) -> float:
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return round(float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)], 2)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": round(rps), "p50_ms": ms("50"), "p99_ms": ms("99"), "load_1m": round(load, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profiles", type=int, default=10_000)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--postgres", default=os.environ.get("PERTINENT_TEST_POSTGRES_URL"))
    p.add_argument("--redis", help="a Redis to use (its database is emptied); default: a throwaway redis-server")
    p.add_argument("--ingest-profiles", type=int, default=3000, help="ingest cost phase (0: skip)")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    if not a.postgres:
        sys.exit("give --postgres URL (or set PERTINENT_TEST_POSTGRES_URL)")
    work = Path(tempfile.mkdtemp(prefix="pertinent-hot-bench-"))
    redis_proc = None
    procs: list[subprocess.Popen] = []
    try:
        redis_url = a.redis
        if redis_url is None:
            redis_proc, redis_url = start_redis(work)
        env = {
            **ds.env_for(work),
            "PERTINENT_DATABASE_URL": fresh_database(a.postgres, "pertinent_bench_hot"),
            "PERTINENT_REDIS_URL": redis_url,
            "PERTINENT_RUN_JOBS": "false",  # an API node: no retraining or sweep competing with the load
        }
        summary: dict = {"machine": ds.machine(), "profiles": a.profiles, **setup(env, a.profiles)}
        print(json.dumps(summary), flush=True)
        modes = {"sql": {k: v for k, v in env.items() if k != "PERTINENT_REDIS_URL"}, "hot": env}
        results: dict[str, list[dict]] = {"bare": [], "sql": [], "hot": []}
        bare, bare_port = ds.start_bare(1)
        procs.append(bare)
        for r in range(a.repeat):
            for mode, mode_env in modes.items():
                port = ds.free_port()
                if mode == "sql":  # the same database served without Redis, on purpose: lift its hot-store mark
                    detach = [str(Path(ds.PY).parent / "pertinent"), "hot-store", "detach", "--yes"]
                    subprocess.run(detach, env=mode_env, check=True, capture_output=True)
                cmd = [str(Path(ds.PY).parent / "pertinent"), "serve", "--port", str(port), "--workers", "1"]
                server = subprocess.Popen(cmd, env=mode_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                procs.append(server)
                ds.wait_ready(port)
                run_wrk(port, PATH, a.profiles, 2, a.connections)  # warm: documents, user-agent cache, pools
                cpu0 = cpu_seconds(server.pid)
                got = run_wrk(port, PATH, a.profiles, a.seconds, a.connections)
                # server CPU per request: what a request costs, whatever share of the cores the machine gave it
                got["cpu_us_per_req"] = round((cpu_seconds(server.pid) - cpu0) * 1e6 / max(got["rps"] * a.seconds, 1))
                bare_got = run_wrk(bare_port, None, a.profiles, a.seconds, a.connections)
                got["ratio_to_bare"] = round(got["rps"] / bare_got["rps"], 3)
                results[mode].append(got)
                results["bare"].append(bare_got)
                print(f"run {r + 1} {mode}: {json.dumps(got)}; bare {json.dumps(bare_got)}", flush=True)
                server.terminate()
                server.wait(30)
                procs.remove(server)
        summary["runs"] = results
        if a.ingest_profiles:  # what the hot store costs ingestion: fresh databases, alternating
            import redis

            ingest: dict[str, list[float]] = {"sql": [], "hot": []}
            for _ in range(a.repeat):
                for mode in ("sql", "hot"):
                    redis.Redis.from_url(redis_url).flushdb()
                    env["INGEST_DATABASE_URL"] = fresh_database(a.postgres, "pertinent_bench_hot_ingest")
                    ingest[mode].append(ingest_rate(env, a.ingest_profiles, mode == "hot"))
                    print(f"ingest {mode}: {ingest[mode][-1]} events/s (load {os.getloadavg()[0]:.1f})", flush=True)
            summary["ingest_events_per_s"] = ingest
        for mode in ("sql", "hot"):
            rs = results[mode]
            fields = ("rps", "p99_ms", "ratio_to_bare", "cpu_us_per_req")
            summary[mode] = {f: statistics.median(x[f] for x in rs) for f in fields}
        print(json.dumps(summary), flush=True)
        if a.json:
            a.json.write_text(json.dumps(summary, indent=2))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)
        for name in ("pertinent_bench_hot", "pertinent_bench_hot_ingest"):
            fresh_database(a.postgres, name, create=False)


if __name__ == "__main__":
    main()
