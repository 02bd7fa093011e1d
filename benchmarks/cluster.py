"""Issue 15's cluster targets on loopback: ingest, profile freshness across nodes and ``/v1/decide`` through a
cluster, beside the single-node embedded default and the bare Starlette endpoint, all in the same run.

The cluster (as ``tests/cluster/test_loopback_cluster.py`` starts it): a fresh PostgreSQL database of its own
(created and dropped here, on ``--postgres-url``'s server), a ``redis-server`` of its own on a free loopback port,
two ``pertinent serve`` API nodes (``PERTINENT_RUN_JOBS=false``, ``PERTINENT_REDIS_URL`` set: the hot store and the
invalidation bus) and one ``pertinent worker``, sharing one data folder. The peer: ``pertinent serve`` on the
embedded default (SQLite, one process, running its own jobs), and ``benchmarks/bare_starlette.py``.

1. Ingest (``benchmarks/ingest.py``'s generator and client): pre-built ``/v1/batch`` bodies of ``--batch`` synthetic
   shop messages, ``--threads`` keep-alive client threads for ``--duration`` s after two warm-up batches per node;
   on the cluster the batches and threads are split between the two nodes. Events/s of the cluster over the single
   node is the ratio reported.
   Meanwhile two probe threads each send a one-event ``/v1/batch`` to one node and, from its acknowledgement, poll
   ``GET /v1/profiles/{id}`` on the OTHER node until the event is counted ("profile fresh"; on the single node both
   are the same process).
2. ``/v1/decide`` (``benchmarks/decide_serving.py``'s ``home.hero`` slot: a segment rule, a context rule, a running
   experiment with sticky assignment and exposure logging, a Jinja2 template; its request mix: 80% known users
   among ``--profiles``, 20% new visitors). Open loop at ``--rate`` req/s: request i is scheduled at t0 + i/rate,
   sent to node i mod 2 (a round-robin load balancer) and timed from its scheduled time, so a stalled server is
   not hidden by a waiting client (no coordinated omission); the client is a separate process. The same load then
   goes to the single node on SQLite, loaded with the same profiles and slot. Then closed loop (``wrk``, 1 thread,
   ``--connections``): each node alone, both at once, the single node, and bare Starlette ``/constant`` before and
   after; the ratios are to the mean of the two bare runs.

Profiles for decide are loaded through ``IngestService`` in ``--loaders`` forked processes (one identify each, with
traits and a device context), 10% put in the ``vip`` segment; then each profile's decision inputs are read once
through the hot store, so Redis holds them as on a warm cluster. ``--repeat`` measures everything again on the same
cluster (the ingest load with new message ids). ``--py-spy DIR`` samples API node 1 during the first run's ingest,
both nodes and the single node during decide (samples holding the GIL). PostgreSQL: ``--synchronous-commit off``
(the default) for the benchmark database only, the durability of SQLite's WAL with ``synchronous=NORMAL`` (a commit
does not wait for its fsync).

    PYTHONPATH=src .venv/bin/python benchmarks/cluster.py --profiles 100000 --duration 20 --json /tmp/cluster.json
    PYTHONPATH=src .venv/bin/python benchmarks/cluster.py --quick
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decide_serving as ds  # noqa: E402  (same folder: request mix, HTTP client, servers, machine)
import hot_store as hs  # noqa: E402  (wrk with latency, redis-server, fresh databases)
import ingest as ing  # noqa: E402  (the ingest generator)
from cluster_load import closed_loop, ingest_run, open_loop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PERTINENT = str(Path(ds.PY).parent / "pertinent")
DEFAULT_PG = "postgresql+psycopg://pertinent@127.0.0.1:55432/postgres"
DB_NAME = os.environ.get("PERTINENT_BENCH_CLUSTER_DB", "pertinent_bench_cluster")  # two runs side by side: two names
IDENTITY_SECRET = "bench-identity-secret"


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
def _settings(env: dict[str, str], redis: bool) -> Any:
    from pertinent.settings import Settings

    return Settings(
        data_dir=Path(env["PERTINENT_DATA_DIR"]),
        database_url=env.get("PERTINENT_DATABASE_URL"),  # none: the embedded SQLite default
        redis_url=env["PERTINENT_REDIS_URL"] if redis else None,
        write_key=ds.WRITE_KEY,
        admin_key=ds.ADMIN_KEY,
        pseudonym_keys=[ds.PSEUDO],
        identity_secret=IDENTITY_SECRET,
        run_jobs=False,
        require_identity_verification=False,
    )


def _load_range(job: tuple[dict[str, str], int, int, bool]) -> int:
    """In a loader process: users ``lo..hi`` (one identify each, with traits and a device context), or
    (``warm``) read their decision inputs once through the hot store, as a warm cluster holds them."""
    from pertinent.services import Services

    env, lo, hi, warm = job
    svc = Services.build(_settings(env, redis="PERTINENT_REDIS_URL" in env))
    try:
        if warm:
            keys = [svc.profiles.pseudo.key("user", f"u{u}") for u in range(lo, hi)]
            for i in range(0, len(keys), 500):
                with svc.store.reader() as reader:
                    ids = [row.profile_id for row in reader.get_identities(keys[i : i + 500]).values()]
                    reader.get_profiles(ids)
                    reader.segments_of(ids)
            return hi - lo
        rng, batch = random.Random(lo), []
        for u in range(lo, hi):
            device = rng.choice(["desktop", "desktop", "mobile", "mobile", "tablet"])
            ctx = {"userAgent": ds.UAS[device], "timezone": rng.choice(ds.ZONES), "locale": "en-US"}
            traits = {"plan": ("free", "pro")[u % 2], "name": f"User {u}"}
            batch.append({"type": "identify", "userId": f"u{u}", "traits": traits, "context": ctx})
        if len(batch) >= 1000:
            svc.ingest.ingest(batch, prefix="batch")
            batch = []
        if batch:
            svc.ingest.ingest(batch, prefix="batch")
        return hi - lo
    finally:
        svc.close()


def load_profiles(env: dict[str, str], profiles: int, loaders: int) -> dict[str, float]:
    """``profiles`` known users in ``loaders`` forked processes, 10% in ``vip``, the ``home.hero`` slot; with
    ``PERTINENT_REDIS_URL``, written through the hot store as ingestion on a cluster writes them, then each
    profile's inputs read once (what a node that served them holds) and the identity directory built (what a
    running cluster has; code without one skips it)."""
    import multiprocessing

    from pertinent.services import Services
    from pertinent.storage.base import MembershipChange
    from pertinent.storage.factory import open_store

    settings = _settings(env, redis="PERTINENT_REDIS_URL" in env)
    t0 = time.perf_counter()
    open_store(settings).close()  # migrate once, as a deployment's first start does
    migrate_s = time.perf_counter() - t0
    step = -(-profiles // (4 * loaders))
    chunks = [(lo, min(profiles, lo + step)) for lo in range(0, profiles, step)]
    with multiprocessing.get_context("fork").Pool(loaders) as pool:  # forked: pertinent is imported once
        t0 = time.perf_counter()
        pool.map(_load_range, [(env, lo, hi, False) for lo, hi in chunks], chunksize=1)
        ingest_s = time.perf_counter() - t0
        svc = Services.build(settings)
        keys = [svc.profiles.pseudo.key("user", f"u{u}") for u in range(0, profiles, 10)]
        with svc.store.transaction() as tx:
            for i in range(0, len(keys), 1000):
                found = tx.get_identities(keys[i : i + 1000])
                tx.apply_membership_changes(
                    [MembershipChange("vip", r.profile_id, True, time.time()) for r in found.values()]
                )
        setup_slot(svc)
        svc.close()
        t1 = time.perf_counter()
        if "PERTINENT_REDIS_URL" in env:
            pool.map(_load_range, [(env, lo, hi, True) for lo, hi in chunks], chunksize=1)
            svc = Services.build(settings)
            directory = getattr(svc.store, "directory", None)
            for _ in range(120):  # a loader may be building it already (then its lock lapses within 30 s)
                if directory is None or directory.build() or directory.client.getbit("pertinent:hot:known", 0):
                    break
                time.sleep(0.5)
            svc.close()
    return {
        "profiles": profiles,
        "loaders": loaders,
        "migrate_s": round(migrate_s, 1),
        "load_s": round(ingest_s, 1),
        "load_events_per_s": round(profiles / ingest_s),
        "warm_redis_s": round(time.perf_counter() - t1, 1),
    }


def cpu_per_operation(env: dict[str, str], batches: list[bytes], profiles: int, n: int) -> dict[str, float]:
    """In this process, on ``env``'s store: CPU (all threads, queued writes flushed) per ``/v1/decide`` decision
    (the open loop's request mix) and per ingested event (``batches``, new message ids): a figure that the
    machine's load inflates far less than latencies."""
    from pertinent.services import Services

    svc = Services.build(_settings(env, redis="PERTINENT_REDIS_URL" in env))
    rng = random.Random(5)
    asks = []
    for _ in range(n + 100):
        path, headers = ds.request_for("decide", rng, profiles)
        who = dict(kv.split("=", 1) for kv in path.split("?", 1)[1].split("&") if kv.startswith(("user", "anon")))
        ua = headers["User-Agent"]
        ctx = {"device_type": "tablet" if "iPad" in ua else "mobile" if "iPhone" in ua else "desktop"}
        asks.append((who, ctx, {"userAgent": ua, "timezone": "Europe/Berlin"}))
    bodies = [orjson.loads(b.replace(b'"messageId":"', b'"messageId":"cpu-'))["batch"] for b in batches[: n // 20 + 2]]
    try:
        for who, ctx, raw in asks[:100]:  # warm
            svc.decide.decide("home.hero", context=ctx, raw_context=raw, **who)
        svc.ingest.ingest(bodies[0], prefix="batch")
        c0 = time.process_time()
        for who, ctx, raw in asks[100:]:
            svc.decide.decide("home.hero", context=ctx, raw_context=raw, **who)
        svc.decide.flush()
        c1 = time.process_time()
        events = 0
        for body in bodies[1:]:
            svc.ingest.ingest(body, prefix="batch")
            events += len(body)
        c2 = time.process_time()
    finally:
        svc.close()
    return {"decide_cpu_us": round(1e6 * (c1 - c0) / n), "ingest_cpu_us_per_event": round(1e6 * (c2 - c1) / events)}


def setup_slot(svc: Any) -> None:
    """``decide_serving.py``'s ``home.hero``: rules (segment, context), a running experiment, templates."""
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


# ------------------------------------------------------------------------------------------------ main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profiles", type=int, default=100_000, help="known users loaded for /v1/decide")
    p.add_argument("--events", type=int, default=400_000, help="pre-built ingest events (upper bound per target)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of each ingest run and of the open loop")
    p.add_argument("--rate", type=float, default=500.0, help="open-loop /v1/decide requests/s (both nodes)")
    p.add_argument("--wrk-seconds", type=int, default=8)
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--loaders", type=int, default=3, help="processes loading the profiles")
    p.add_argument("--threads", type=int, default=4, help="ingest client threads (split between the nodes)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--users", type=int, default=20_000, help="synthetic shop users of the ingest load")
    p.add_argument("--postgres-url", default=os.environ.get("PERTINENT_TEST_POSTGRES_URL") or DEFAULT_PG)
    p.add_argument(
        "--skip", default="", help="comma-separated phases to skip: ingest, sqlite, bare, decide, sqlite-decide, wrk"
    )
    p.add_argument("--repeat", type=int, default=1, help="measure everything N times on the same cluster")
    p.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default="off",
        help="PostgreSQL synchronous_commit of the benchmark database; off matches SQLite's WAL + synchronous=NORMAL "
        "(a commit does not wait for its fsync)",
    )
    p.add_argument("--cpu-ops", type=int, default=1000, help="in-process decisions for CPU per operation (0: skip)")
    p.add_argument(
        "--py-spy", type=Path, help="record the API nodes (node 1 alone for ingest) with py-spy during the first run"
    )
    p.add_argument("--quick", action="store_true", help="a small smoke configuration (seconds, not minutes)")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    if a.quick:
        a.profiles, a.events, a.duration, a.wrk_seconds, a.users, a.cpu_ops = 2000, 20_000, 5.0, 2, 2000, 200
    return a


def py_spy(pid: int, seconds: float, folder: Path | None, name: str) -> subprocess.Popen | None:
    """py-spy sampling ``pid`` for ``seconds`` into ``folder/name.txt`` (collapsed stacks), if asked for. Only
    samples holding the GIL count (``--gil``): on a loaded host a thread waiting for a core, or preempted in a send to
    Redis, is not busy, and wall-clock samples would put it among the costs."""
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(ds.PY).parent / "py-spy")
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100", "--format", "raw"]
    cmd += ["--gil", "--output", str(folder / f"{name}.txt"), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def set_synchronous_commit(base: str, value: str) -> None:
    """The benchmark database's ``synchronous_commit`` (its own setting, nothing else on the server changes)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{DB_NAME}" SET synchronous_commit = {"on" if value == "on" else "off"}'))
    admin.dispose()


def one_run(
    a: argparse.Namespace,
    skip: set[str],
    ports: list[int],
    batches: list[bytes],
    pids: list[int],
    work: Path,
    procs: list[Proc],
    spy_dir: Path | None,
) -> dict[str, Any]:
    """Ingest on the cluster, the single node and bare Starlette; decide open loop on the cluster and on the
    single node; closed loop."""
    work.mkdir(parents=True)
    out: dict[str, Any] = {"load_1m_start": round(os.getloadavg()[0], 2)}
    if "ingest" not in skip:
        res = out["ingest"] = {}
        spy = py_spy(pids[0], a.duration, spy_dir, "ingest-api1")
        res["cluster"] = ingest_run(ports, batches, a)
        if spy is not None:
            spy.wait()
        print("ingest cluster", json.dumps(res["cluster"]), flush=True)
        if "sqlite" not in skip:
            single, port = start_node("sqlite", node_env(work / "sqlite"), work)
            procs.append(single)
            single.ready(port)
            res["sqlite"] = ingest_run([port], batches, a)
            single.stop()
            print("ingest sqlite", json.dumps(res["sqlite"]), flush=True)
            res["ratio_cluster_to_sqlite"] = round(res["cluster"]["events_per_s"] / res["sqlite"]["events_per_s"], 3)
        if "bare" not in skip:
            bare_proc, bare_port = ds.start_bare(1)
            try:
                res["bare"] = ingest_run([bare_port], batches, a, probe=False)
            finally:
                bare_proc.terminate()
                bare_proc.wait(30)
            print("ingest bare", json.dumps(res["bare"]), flush=True)
    if "decide" not in skip:
        open_loop(ports, 100, 3, a.profiles, pids)  # warm: documents, user-agent cache, pools, first reads
        spies = [py_spy(pid, a.duration, spy_dir, f"decide-api{k + 1}") for k, pid in enumerate(pids)]
        out["decide"] = open_loop(ports, a.rate, a.duration, a.profiles, pids)
        for spy in spies:
            if spy is not None:
                spy.wait()
        print("decide open loop", json.dumps(out["decide"]), flush=True)
    single_port = None
    if "sqlite-decide" not in skip:  # the single node on SQLite, same profiles, slot and load
        single, single_port = start_node("sqlite-decide", node_env(work.parent / "sqlite-decide"), work)
        procs.append(single)
        single.ready(single_port)
        if "decide" not in skip:
            open_loop([single_port], 100, 3, a.profiles, [single.pid])
            spy = py_spy(single.pid, a.duration, spy_dir, "decide-sqlite")
            out["decide_sqlite"] = open_loop([single_port], a.rate, a.duration, a.profiles, [single.pid])
            if spy is not None:
                spy.wait()
            print("decide open loop, single node SQLite", json.dumps(out["decide_sqlite"]), flush=True)
    if "wrk" not in skip:
        bare_proc, bare_port = ds.start_bare(1)
        try:
            out["closed_loop"] = closed_loop(ports, bare_port, a.profiles, a.wrk_seconds, a.connections, single_port)
        finally:
            bare_proc.terminate()
            bare_proc.wait(30)
        print("closed loop", json.dumps(out["closed_loop"]), flush=True)
    if single_port is not None:
        single.stop()
    out["load_1m_end"] = round(os.getloadavg()[0], 2)
    report(out)
    return out


def main() -> None:
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
        set_synchronous_commit(a.postgres_url, a.synchronous_commit)
        shared = work / "shared"
        base = node_env(shared, PERTINENT_DATABASE_URL=db_url, PERTINENT_REDIS_URL=redis_url)
        print(f"loading {a.profiles} profiles into PostgreSQL (with the hot store)", flush=True)
        summary["setup"] = load_profiles(base, a.profiles, a.loaders)
        print(json.dumps(summary["setup"]), flush=True)
        if "sqlite-decide" not in skip:
            summary["setup_sqlite"] = load_profiles(node_env(work / "sqlite-decide"), a.profiles, a.loaders)
            print(json.dumps(summary["setup_sqlite"]), flush=True)
        t = time.perf_counter()
        batches = ing.make_batches(a.users, a.batch, a.events)
        print(f"built {len(batches)} batches of {a.batch} in {time.perf_counter() - t:.1f}s", flush=True)
        if a.cpu_ops:  # in process, before the servers start: CPU per decision and per event on each store
            summary["cpu_cluster_store"] = cpu_per_operation(base, batches, a.profiles, a.cpu_ops)
            if "sqlite-decide" not in skip:
                sqlite_env = node_env(work / "sqlite-decide")
                summary["cpu_sqlite_store"] = cpu_per_operation(sqlite_env, batches, a.profiles, a.cpu_ops)
            print("CPU per operation", summary.get("cpu_cluster_store"), summary.get("cpu_sqlite_store"), flush=True)
        nodes = [start_node(f"api{k + 1}", {**base, "PERTINENT_RUN_JOBS": "false"}, work) for k in range(2)]
        procs += [proc for proc, _ in nodes]
        procs.append(Proc("worker", [PERTINENT, "worker", "--heartbeat-s", "0"], base, work))
        ports = [port for _, port in nodes]
        for proc, port in nodes:
            proc.ready(port)
        summary["postgres_synchronous_commit"] = a.synchronous_commit
        summary["runs"] = []
        for r in range(a.repeat):
            # each run's events are new to every store: the message ids get the run's prefix
            run_batches = [b.replace(b'"messageId":"', f'"messageId":"r{r}-'.encode()) for b in batches]
            pids = [p.pid for p, _ in nodes]
            spy_dir = a.py_spy if r == 0 else None
            summary["runs"].append(one_run(a, skip, ports, run_batches, pids, work / f"r{r}", procs, spy_dir))
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
    if d := s.get("decide_sqlite"):
        print(
            f"decide open loop, single node SQLite: achieved {d['achieved_rate']}, p50 {d['p50_ms']} p95 {d['p95_ms']} "
            f"p99 {d['p99_ms']} max {d['max_ms']} ms, errors {d['errors']}, server CPU {d['server_cpu_cores']} cores "
            f"({d['server_cpu_us_per_request']} us/request)"
        )
    if c := s.get("closed_loop"):
        single = c.get("single_node_sqlite") or {}
        print(
            f"closed loop: nodes {[n['rps'] for n in c['nodes']]} req/s, both at once "
            f"{[n['rps'] for n in c['both_at_once']]}, single node SQLite {single.get('rps', '-')}, bare "
            f"{[b['rps'] for b in c['bare']]}; ratio per node {c['ratio_per_node']}, both at once "
            f"{c['ratio_both_at_once']}, single node {single.get('ratio_to_bare', '-')}"
        )


if __name__ == "__main__":
    main()
