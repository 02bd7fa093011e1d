"""Issue 15's cluster targets on loopback: ingest, profile freshness across nodes and ``/v1/decide`` through a
cluster, beside the single-node embedded default and the bare Starlette endpoint, all in the same run.

The cluster (as ``tests/cluster/test_loopback_cluster.py`` starts it): a fresh PostgreSQL database of its own
(created and dropped here, on ``--postgres-url``'s server), a ``redis-server`` of its own on a free loopback port,
two ``pertinent serve`` API nodes (``PERTINENT_RUN_JOBS=false``, ``PERTINENT_REDIS_URL`` set: the hot store and the
invalidation bus) and one ``pertinent worker``, sharing one data folder. The peer: ``pertinent serve`` on the
embedded default (SQLite, one process, running its own jobs), and ``benchmarks/bare_starlette.py``.

1. Ingest (``benchmarks/ingest.py``'s generator and client): pre-built ``/v1/batch`` bodies of ``--batch`` synthetic
   shop messages, ``--threads`` keep-alive client threads for ``--duration`` s; on the cluster the batches and
   threads are split between the two nodes. Events/s of the cluster over the single node is the ratio reported.
   Meanwhile two probe threads each send a one-event ``/v1/batch`` to one node and, from its acknowledgement, poll
   ``GET /v1/profiles/{id}`` on the OTHER node until the event is counted ("profile fresh"; on the single node both
   are the same process).
2. ``/v1/decide`` (``benchmarks/decide_serving.py``'s ``home.hero`` slot: a segment rule, a context rule, a running
   experiment with sticky assignment and exposure logging, a Jinja2 template; its request mix: 80% known users
   among ``--profiles``, 20% new visitors). Open loop at ``--rate`` req/s: request i is scheduled at t0 + i/rate,
   sent to node i mod 2 (a round-robin load balancer) and timed from its scheduled time, so a stalled server is
   not hidden by a waiting client (no coordinated omission); the client is a separate process. Then closed loop
   (``wrk``, 1 thread, ``--connections``): each node alone, both at once, and bare Starlette ``/constant`` before
   and after; the ratio is to the mean of the two bare runs.

Profiles for decide are loaded in this process through ``IngestService`` (an identify with a plan trait and a
device context, one product view: the profile state decide reads), 10% put in the ``vip`` segment.

    PYTHONPATH=src .venv/bin/python benchmarks/cluster.py --profiles 100000 --duration 20 --json /tmp/cluster.json
    PYTHONPATH=src .venv/bin/python benchmarks/cluster.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from base64 import b64encode
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decide_serving as ds  # noqa: E402  (same folder: request mix, HTTP client, servers, machine)
import hot_store as hs  # noqa: E402  (wrk with latency, redis-server, fresh databases)
import ingest as ing  # noqa: E402  (the ingest generator and client)

ROOT = Path(__file__).resolve().parents[1]
PERTINENT = str(Path(ds.PY).parent / "pertinent")
DEFAULT_PG = "postgresql+psycopg://pertinent@127.0.0.1:55432/postgres"
DB_NAME = "pertinent_bench_cluster"
IDENTITY_SECRET = "bench-identity-secret"
WRITE_HEADERS = {
    "Content-Type": "application/json",
    "Authorization": "Basic " + b64encode(f"{ds.WRITE_KEY}:".encode()).decode(),
}
ADMIN_HEADERS = {"Authorization": f"Bearer {ds.ADMIN_KEY}"}


# ------------------------------------------------------------------------------------------------ processes
class Proc:
    """A child process with its log in the work folder (shown when it fails to start)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], work: Path, cwd: Path | None = None) -> None:
        self.name, self.log = name, work / f"{name}.log"
        out = self.log.open("ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=cwd)
        out.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ready(self, port: int, path: str = "/healthz", timeout: float = 240.0) -> Proc:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def node_env(data: Path, **extra: str) -> dict[str, str]:
    env = {**ds.env_for(data), "PERTINENT_IDENTITY_SECRET": IDENTITY_SECRET, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return env


def start_node(name: str, env: dict[str, str], work: Path) -> tuple[Proc, int]:
    port = ds.free_port()
    cmd = [PERTINENT, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return Proc(name, cmd, env, work), port


# ------------------------------------------------------------------------------------------------ setup
def load_profiles(env: dict[str, str], profiles: int) -> dict[str, float]:
    """``profiles`` known users (identify + one product view), 10% in ``vip``, the ``home.hero`` slot."""
    from pertinent.services import Services
    from pertinent.settings import Settings
    from pertinent.storage.base import MembershipChange
    from pertinent.storage.factory import open_store

    settings = Settings(
        data_dir=Path(env["PERTINENT_DATA_DIR"]),
        database_url=env["PERTINENT_DATABASE_URL"],
        redis_url=env.get("PERTINENT_REDIS_URL"),
        write_key=ds.WRITE_KEY,
        admin_key=ds.ADMIN_KEY,
        pseudonym_keys=[ds.PSEUDO],
        identity_secret=IDENTITY_SECRET,
        run_jobs=False,
        require_identity_verification=False,
    )
    t0 = time.perf_counter()
    open_store(settings).close()  # migrate once, as a deployment's first start does
    svc = Services.build(settings)
    rng = random.Random(7)
    batch: list[dict] = []
    for u in range(profiles):
        device = rng.choice(["desktop", "desktop", "mobile", "mobile", "tablet"])
        ctx = {"userAgent": ds.UAS[device], "timezone": rng.choice(ds.ZONES), "locale": "en-US"}
        batch.append(
            {"type": "identify", "userId": f"u{u}", "traits": {"plan": ("free", "pro")[u % 2]}, "context": ctx}
        )
        batch.append(
            {
                "type": "track",
                "event": "Product Viewed",
                "userId": f"u{u}",
                "context": ctx,
                "properties": {"product_id": f"p{u % 499}"},
            }
        )
        if len(batch) >= 2000:
            svc.ingest.ingest(batch, prefix="batch")
            batch = []
        if u and u % 20000 == 0:
            print(f"  {u} profiles ({time.perf_counter() - t0:.0f} s)", flush=True)
    if batch:
        svc.ingest.ingest(batch, prefix="batch")
    ingest_s = time.perf_counter() - t0
    keys = [svc.profiles.pseudo.key("user", f"u{u}") for u in range(0, profiles, 10)]
    with svc.store.transaction() as tx:
        for i in range(0, len(keys), 1000):
            found = tx.get_identities(keys[i : i + 1000])
            tx.apply_membership_changes(
                [MembershipChange("vip", r.profile_id, True, time.time()) for r in found.values()]
            )
    d = svc.decide
    for bid, title in (("hero-spring", "Spring sale"), ("hero-plain", "Welcome"), ("hero-vip", "Welcome back")):
        template = "<a class='hero' href='{{ url }}' data-decision='{{ decision_id }}'><h1>{{ title }}</h1></a>"
        d.put_block({"id": bid, "type": "headline", "content": {"title": title, "url": "/sale"}, "template": template})
    d.put_block({"id": "hero-tablet", "type": "headline", "content": {"title": "Read on", "url": "/sale"}})
    d.put_experiment({"key": "hero-test", "variants": ["plain", "spring"]})
    d.start_experiment("hero-test")
    d.put_slot(
        {
            "id": "home.hero",
            "variants": {"plain": "hero-plain", "spring": "hero-spring", "vip": "hero-vip", "tablet": "hero-tablet"},
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
                {"name": "hero test", "then": {"kind": "experiment", "experiment": "hero-test"}},
            ],
            "default": {"kind": "variant", "variant": "plain"},
        }
    )
    svc.close()
    return {"profiles": profiles, "load_s": round(ingest_s, 1), "load_events_per_s": round(2 * profiles / ingest_s)}


# ------------------------------------------------------------------------------------------------ ingest
def probe_fresh(write_port: int, read_port: int, stop: threading.Event, out: dict[str, list[float]]) -> None:
    """Send a one-event batch to ``write_port``; from its acknowledgement, poll the profile on ``read_port``."""
    w = http.client.HTTPConnection("127.0.0.1", write_port, timeout=30)
    r = http.client.HTTPConnection("127.0.0.1", read_port, timeout=30)
    uid, count = f"probe-{uuid.uuid4().hex[:10]}", 0
    while not stop.is_set():
        event = {"type": "track", "userId": uid, "event": "Probe", "messageId": uuid.uuid4().hex}
        t = time.perf_counter()
        w.request("POST", "/v1/batch", orjson.dumps({"batch": [event]}), WRITE_HEADERS)
        resp = w.getresponse()
        resp.read()
        acked = time.perf_counter()
        if resp.status != 200:
            out["errors"].append(acked - t)
            stop.wait(0.05)
            continue
        count += 1
        out["post"].append(acked - t)
        while True:
            r.request("GET", f"/v1/profiles/{uid}", headers=ADMIN_HEADERS)
            resp = r.getresponse()
            data = resp.read()
            if resp.status == 200 and orjson.loads(data)["features"].get("events_total", 0) >= count:
                out["fresh"].append(time.perf_counter() - acked)
                break
            if time.perf_counter() - acked > 10:
                out["timeouts"].append(time.perf_counter() - acked)
                break
            time.sleep(0.002)
        stop.wait(0.02)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(1000 * s[min(len(s) - 1, int(q * len(s)))], 1) if s else float("nan")


def ingest_run(ports: list[int], batches: list[bytes], a: argparse.Namespace, probe: bool = True) -> dict[str, Any]:
    """Batches and client threads split between ``ports``; two cross-node freshness probes meanwhile."""
    n = len(ports)
    loads = [ing.Load(p, batches[k::n], max(1, a.threads // n), a.duration) for k, p in enumerate(ports)]
    results: list[dict[str, float]] = [{} for _ in loads]
    stop = threading.Event()
    probes: dict[str, list[float]] = {"fresh": [], "post": [], "errors": [], "timeouts": []}
    probers = [
        threading.Thread(target=probe_fresh, args=(ports[k % n], ports[(k + 1) % n], stop, probes))
        for k in range(2 if probe else 0)
    ]
    runners = [threading.Thread(target=lambda k=k: results.__setitem__(k, loads[k].run(a.batch))) for k in range(n)]
    load0 = os.getloadavg()[0]
    for t in [*probers, *runners]:
        t.start()
    for t in runners:
        t.join()
    stop.set()
    for t in probers:
        t.join()
    lat = [x for load in loads for x in load.latencies]
    out: dict[str, Any] = {
        "events_per_s": round(sum(r["events_per_s"] for r in results)),
        "per_node_events_per_s": [round(r["events_per_s"]) for r in results],
        "requests": len(lat),
        "errors": sum(int(r["errors"]) for r in results),
        "request_p50_ms": pct(lat, 0.5),
        "request_p99_ms": pct(lat, 0.99),
        "load_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }
    if probe:
        out |= {
            "probes": len(probes["fresh"]),
            "fresh_p50_ms": pct(probes["fresh"], 0.5),
            "fresh_p99_ms": pct(probes["fresh"], 0.99),
            "fresh_max_ms": pct(probes["fresh"], 1.0),
            "probe_post_p50_ms": pct(probes["post"], 0.5),
            "probe_errors": len(probes["errors"]),
            "probe_timeouts": len(probes["timeouts"]),
        }
    return out


# ------------------------------------------------------------------------------------------------ decide
async def _open_loop(ports: list[int], rate: float, duration: float, profiles: int, connections: int) -> dict:
    """Request i at t0 + i/rate to ``ports[i % len(ports)]``, timed from its scheduled time."""
    rng = random.Random(11)
    pools: list[asyncio.Queue] = []
    for port in ports:
        pool: asyncio.Queue = asyncio.Queue()
        for _ in range(connections):
            pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
        pools.append(pool)
    lat: list[list[float]] = [[] for _ in ports]
    statuses: dict[str, int] = {}
    n = int(rate * duration)
    t0 = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        k = i % len(ports)
        scheduled = t0 + i / rate
        path, headers = ds.request_for("decide", rng, profiles)
        conn = await pools[k].get()
        try:
            status = await ds._http_get(*conn, path, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            status = 0
            conn[1].close()
            try:
                conn = await asyncio.open_connection("127.0.0.1", ports[k])
            except OSError:
                conn = None
        if conn is not None:
            pools[k].put_nowait(conn)
        lat[k].append(time.perf_counter() - scheduled)
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    every = [x for node in lat for x in node]
    return {
        "target_rate": rate,
        "achieved_rate": round(n / elapsed, 1),
        "requests": n,
        "p50_ms": pct(every, 0.5),
        "p95_ms": pct(every, 0.95),
        "p99_ms": pct(every, 0.99),
        "max_ms": pct(every, 1.0),
        "per_node_p99_ms": [pct(node, 0.99) for node in lat],
        "errors": n - statuses.get("200", 0),
        "statuses": statuses,
    }


def loadgen_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ports", required=True)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--profiles", type=int, default=100_000)
    p.add_argument("--connections", type=int, default=32, help="per node")
    a = p.parse_args(argv)
    ports = [int(x) for x in a.ports.split(",")]
    print(json.dumps(asyncio.run(_open_loop(ports, a.rate, a.duration, a.profiles, a.connections))))


def open_loop(ports: list[int], rate: float, duration: float, profiles: int, pids: list[int]) -> dict:
    """The open-loop client in its own process; the servers' CPU meanwhile."""
    cpu0, t = sum(ds.cpu_seconds(p) for p in pids), time.perf_counter()
    load0 = os.getloadavg()[0]
    cmd = [ds.PY, __file__, "loadgen", "--ports", ",".join(map(str, ports)), "--rate", str(rate)]
    cmd += ["--duration", str(duration), "--profiles", str(profiles)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    cpu = sum(ds.cpu_seconds(p) for p in pids) - cpu0
    out["server_cpu_cores"] = round(cpu / (time.perf_counter() - t), 2)
    out["server_cpu_us_per_request"] = round(cpu / out["requests"] * 1e6)
    out["load_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return out


def closed_loop(ports: list[int], bare_port: int, profiles: int, seconds: int, connections: int) -> dict:
    """wrk against each node alone, both at once, and bare Starlette before and after."""
    path = ds.WRK_PATHS["decide"]
    bare = [hs.run_wrk(bare_port, None, profiles, seconds, connections)]
    nodes = [hs.run_wrk(p, path, profiles, seconds, connections) for p in ports]
    both: list[dict] = [{} for _ in ports]
    threads = [
        threading.Thread(
            target=lambda k=k: both.__setitem__(k, hs.run_wrk(ports[k], path, profiles, seconds, connections))
        )
        for k in range(len(ports))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bare.append(hs.run_wrk(bare_port, None, profiles, seconds, connections))
    bare_rps = statistics.mean(b["rps"] for b in bare)
    return {
        "bare": bare,
        "nodes": nodes,
        "both_at_once": both,
        "ratio_per_node": [round(n["rps"] / bare_rps, 3) for n in nodes],
        "ratio_both_at_once": round(sum(b["rps"] for b in both) / bare_rps, 3),
    }


# ------------------------------------------------------------------------------------------------ main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profiles", type=int, default=100_000, help="known users loaded for /v1/decide")
    p.add_argument("--events", type=int, default=400_000, help="pre-built ingest events (upper bound per target)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of each ingest run and of the open loop")
    p.add_argument("--rate", type=float, default=500.0, help="open-loop /v1/decide requests/s (both nodes)")
    p.add_argument("--wrk-seconds", type=int, default=8)
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--threads", type=int, default=4, help="ingest client threads (split between the nodes)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--users", type=int, default=20_000, help="synthetic shop users of the ingest load")
    p.add_argument("--postgres-url", default=os.environ.get("PERTINENT_TEST_POSTGRES_URL") or DEFAULT_PG)
    p.add_argument("--skip", default="", help="comma-separated phases to skip: ingest, sqlite, bare, decide, wrk")
    p.add_argument("--quick", action="store_true", help="a small smoke configuration (seconds, not minutes)")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    if a.quick:
        a.profiles, a.events, a.duration, a.wrk_seconds, a.users = 2000, 20_000, 5.0, 2, 2000
    return a


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        loadgen_main(sys.argv[2:])
        return
    a = parse_args()
    skip = set(filter(None, a.skip.split(",")))
    summary: dict[str, Any] = {"machine": ds.machine(), "load_1m_start": round(os.getloadavg()[0], 2)}
    summary["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}
    print(json.dumps(summary), flush=True)
    work = Path(tempfile.mkdtemp(prefix="pertinent-cluster-bench-"))
    procs: list[Proc] = []
    redis_proc = None
    db_url = None
    try:
        redis_proc, redis_url = hs.start_redis(work)
        db_url = hs.fresh_database(a.postgres_url, DB_NAME)
        shared = work / "shared"
        base = node_env(shared, PERTINENT_DATABASE_URL=db_url, PERTINENT_REDIS_URL=redis_url)
        print(f"loading {a.profiles} profiles into PostgreSQL (with the hot store)", flush=True)
        summary["setup"] = load_profiles(base, a.profiles)
        print(json.dumps(summary["setup"]), flush=True)
        nodes = [start_node(f"api{k + 1}", {**base, "PERTINENT_RUN_JOBS": "false"}, work) for k in range(2)]
        procs += [proc for proc, _ in nodes]
        procs.append(Proc("worker", [PERTINENT, "worker", "--heartbeat-s", "0"], base, work))
        ports = [port for _, port in nodes]
        for proc, port in nodes:
            proc.ready(port)
        if "ingest" not in skip:
            t = time.perf_counter()
            batches = ing.make_batches(a.users, a.batch, a.events)
            print(f"built {len(batches)} batches of {a.batch} in {time.perf_counter() - t:.1f}s", flush=True)
            res = summary["ingest"] = {}
            res["cluster"] = ingest_run(ports, batches, a)
            print("ingest cluster", json.dumps(res["cluster"]), flush=True)
            if "sqlite" not in skip:
                single, port = start_node("sqlite", node_env(work / "sqlite"), work)
                procs.append(single)
                single.ready(port)
                res["sqlite"] = ingest_run([port], batches, a)
                single.stop()
                print("ingest sqlite", json.dumps(res["sqlite"]), flush=True)
                res["ratio_cluster_to_sqlite"] = round(
                    res["cluster"]["events_per_s"] / res["sqlite"]["events_per_s"], 3
                )
            if "bare" not in skip:
                bare = Proc(
                    "bare-ingest",
                    [
                        ds.PY,
                        "-m",
                        "uvicorn",
                        "bare_starlette:app",
                        "--port",
                        str(bp := ds.free_port()),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                    ],
                    os.environ.copy(),
                    work,
                    cwd=ROOT / "benchmarks",
                )
                procs.append(bare)
                bare.ready(bp, "/constant")
                res["bare"] = ingest_run([bp], batches, a, probe=False)
                bare.stop()
                print("ingest bare", json.dumps(res["bare"]), flush=True)
        if "decide" not in skip:
            pids = [proc.pid for proc, _ in nodes]
            open_loop(ports, 100, 3, a.profiles, pids)  # warm: documents, user-agent cache, pools, first reads
            summary["decide"] = open_loop(ports, a.rate, a.duration, a.profiles, pids)
            print("decide open loop", json.dumps(summary["decide"]), flush=True)
        if "wrk" not in skip:
            bare_proc, bare_port = ds.start_bare(1)
            try:
                summary["closed_loop"] = closed_loop(ports, bare_port, a.profiles, a.wrk_seconds, a.connections)
            finally:
                bare_proc.terminate()
                bare_proc.wait(30)
            print("closed loop", json.dumps(summary["closed_loop"]), flush=True)
        summary["load_1m_end"] = round(os.getloadavg()[0], 2)
    finally:
        for proc in reversed(procs):
            proc.stop()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(30)
        if db_url is not None:
            hs.fresh_database(a.postgres_url, DB_NAME, create=False)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary, indent=2))
    report(summary)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=2))


def report(s: dict[str, Any]) -> None:
    """Markdown tables of the run, for docs/benchmarks.md."""
    if ing_res := s.get("ingest"):
        print("\n| target | events/s | request p50 / p99 ms | profile fresh p50 / p99 ms (probes) | load 1 min |")
        print("|---|---:|---:|---:|---:|")
        for name, r in ing_res.items():
            if not isinstance(r, dict):
                continue
            fresh = f"{r['fresh_p50_ms']} / {r['fresh_p99_ms']} ({r['probes']})" if "probes" in r else "-"
            print(
                f"| {name} | {r['events_per_s']:,} | {r['request_p50_ms']} / {r['request_p99_ms']} | {fresh} | "
                f"{r['load_1m'][0]}-{r['load_1m'][1]} |"
            )
        print(f"\ncluster / single-node SQLite: {ing_res.get('ratio_cluster_to_sqlite')}")
    if d := s.get("decide"):
        print(
            f"\ndecide open loop {d['target_rate']} req/s: achieved {d['achieved_rate']}, p50 {d['p50_ms']} "
            f"p95 {d['p95_ms']} p99 {d['p99_ms']} max {d['max_ms']} ms, errors {d['errors']}, "
            f"server CPU {d['server_cpu_cores']} cores ({d['server_cpu_us_per_request']} us/request)"
        )
    if c := s.get("closed_loop"):
        print(
            f"closed loop: nodes {[n['rps'] for n in c['nodes']]} req/s, both at once "
            f"{[n['rps'] for n in c['both_at_once']]}, bare {[b['rps'] for b in c['bare']]}; ratio per node "
            f"{c['ratio_per_node']}, both at once {c['ratio_both_at_once']}"
        )


if __name__ == "__main__":
    main()
