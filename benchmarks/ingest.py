"""Ingest benchmark: sustained events/s through /v1/batch and the delay until the profile shows an event.

Runs `pertinent serve` (one process, as users run it) on the embedded SQLite default and, when
PERTINENT_TEST_POSTGRES_URL is set (make bench / scripts/with-services.sh), on PostgreSQL; then the
same load against a bare Starlette endpoint that only parses the batches (benchmarks/bare_starlette.py).

Load: synthetic shop messages (realistic contexts, user agents, campaigns), batches of 100, several
client threads with keep-alive connections, for a fixed duration. A probe thread meanwhile sends one
event at a time and polls GET /v1/profiles until the event is counted: that delay is reported as p99.

    .venv/bin/python benchmarks/ingest.py --duration 20 --threads 4
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
WRITE_KEY, ADMIN_KEY = "bench-write", "bench-admin"


def make_batches(users: int, batch_size: int, limit: int) -> list[bytes]:
    from pertinent.synthetic import SyntheticConfig, SyntheticGenerator

    start = datetime.now(UTC) - timedelta(days=30)
    gen = SyntheticGenerator(SyntheticConfig(n_users=users, n_items=2000, days=30, seed=7, start=start))
    messages: list[dict] = []
    for b in gen.batches(1000):
        messages.extend(b)
        if len(messages) >= limit:
            break
    sent_at = datetime.now(UTC).isoformat()
    return [
        orjson.dumps({"batch": messages[i : i + batch_size], "sentAt": sent_at})
        for i in range(0, len(messages) - batch_size + 1, batch_size)
    ]


def free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(port: int, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status in (200, 405):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} not ready")


def start_pertinent(port: int, env_extra: dict[str, str], data_dir: Path, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PERTINENT_DATA_DIR": str(data_dir),
        "PERTINENT_WRITE_KEY": WRITE_KEY,
        "PERTINENT_ADMIN_KEY": ADMIN_KEY,
        "PERTINENT_PSEUDONYM_KEYS": "bench-key",
        "PERTINENT_LOG_LEVEL": "warning",
        **env_extra,
    }
    proc = subprocess.Popen(
        [str(Path(PY).with_name("pertinent")), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wait_ready(port, "/healthz")
    return proc


def start_bare(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [PY, "-m", "uvicorn", "bare_starlette:app", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT / "benchmarks",
    )
    wait_ready(port, "/constant")
    return proc


class Load:
    """Client threads posting pre-built batches until the duration ends."""

    def __init__(self, port: int, batches: list[bytes], threads: int, duration: float) -> None:
        self.port, self.batches, self.threads, self.duration = port, batches, threads, duration
        self.lock = threading.Lock()
        self.next = 0
        self.latencies: list[float] = []
        self.events = 0
        self.errors = 0

    def _take(self) -> bytes | None:
        with self.lock:
            if self.next >= len(self.batches):
                return None
            self.next += 1
            return self.batches[self.next - 1]

    def _worker(self, stop_at: float, headers: dict[str, str], n_per: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        lat, events, errors = [], 0, 0
        while time.monotonic() < stop_at:
            body = self._take()
            if body is None:
                break
            t = time.perf_counter()
            conn.request("POST", "/v1/batch", body, headers)
            resp = conn.getresponse()
            resp.read()
            lat.append(time.perf_counter() - t)
            if resp.status == 200:
                events += n_per
            else:
                errors += 1
        with self.lock:
            self.latencies += lat
            self.events += events
            self.errors += errors

    def run(self, batch_size: int) -> dict[str, float]:
        auth = "Basic " + b64encode(f"{WRITE_KEY}:".encode()).decode()
        headers = {"Content-Type": "application/json", "Authorization": auth}
        start = time.monotonic()
        stop_at = start + self.duration
        workers = [
            threading.Thread(target=self._worker, args=(stop_at, headers, batch_size)) for _ in range(self.threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - start
        lat = sorted(self.latencies)
        return {
            "events_per_s": self.events / elapsed,
            "requests": len(lat),
            "errors": self.errors,
            "elapsed_s": elapsed,
            "latency_p50_ms": 1000 * lat[len(lat) // 2] if lat else float("nan"),
            "latency_p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else float("nan"),
        }


def probe_profile_delay(port: int, stop: threading.Event, out: list[float]) -> None:
    """Send one event, poll the profile until it is counted; record the delay."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    write = {
        "Content-Type": "application/json",
        "Authorization": "Basic " + b64encode(f"{WRITE_KEY}:".encode()).decode(),
    }
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    uid = f"probe-{uuid.uuid4().hex[:8]}"
    count = 0
    while not stop.is_set():
        body = orjson.dumps({"userId": uid, "event": "Probe", "messageId": uuid.uuid4().hex})
        t = time.perf_counter()
        conn.request("POST", "/v1/track", body, write)
        conn.getresponse().read()
        count += 1
        while True:
            conn.request("GET", f"/v1/profiles/{uid}", headers=admin)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status == 200 and orjson.loads(data)["features"]["events_total"] >= count:
                break
            if time.perf_counter() - t > 10:
                break
        out.append(time.perf_counter() - t)
        stop.wait(0.2)


def run_pertinent(
    name: str, env_extra: dict[str, str], batches: list[bytes], args: argparse.Namespace, workers: int
) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix=f"pertinent-bench-{name}-"))
    port = free_port()
    proc = start_pertinent(port, env_extra, data_dir, workers)
    try:
        stop, delays = threading.Event(), []
        prober = threading.Thread(target=probe_profile_delay, args=(port, stop, delays))
        prober.start()
        result = Load(port, batches, args.threads, args.duration).run(args.batch)
        stop.set()
        prober.join()
        delays.sort()
        result["profile_delay_p50_ms"] = 1000 * statistics.median(delays)
        result["profile_delay_p99_ms"] = 1000 * delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        result["probes"] = len(delays)
        return result
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)


def fresh_postgres_db(base_url: str) -> str:
    from sqlalchemy import create_engine, text

    name = "pertinent_bench"
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


def median_run(run: Callable[[], dict], repeat: int) -> dict:
    """Run ``repeat`` times; return the run with the median throughput, with every run's throughput attached."""
    runs = sorted((run() for _ in range(max(1, repeat))), key=lambda r: r["events_per_s"])
    chosen = dict(runs[len(runs) // 2])
    chosen["all_runs_events_per_s"] = [round(r["events_per_s"]) for r in runs]
    return chosen


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--events", type=int, default=400_000, help="pre-built events (upper bound per run)")
    ap.add_argument("--backends", default="sqlite,postgres,bare")
    ap.add_argument("--workers", default="1,2", help="server worker processes to try, comma-separated")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every target N times and report the median run (the VM's speed drifts)",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    print(f"machine: {machine()}", flush=True)
    t = time.perf_counter()
    batches = make_batches(args.users, args.batch, args.events)
    print(f"built {len(batches)} batches of {args.batch} in {time.perf_counter() - t:.1f}s", flush=True)
    results: dict[str, dict] = {}
    wanted = args.backends.split(",")
    pg = os.environ.get("PERTINENT_TEST_POSTGRES_URL")
    for workers in (int(w) for w in args.workers.split(",")):
        if "sqlite" in wanted:
            name = f"sqlite, {workers} worker(s)"
            results[name] = median_run(lambda w=workers: run_pertinent("sqlite", {}, batches, args, w), args.repeat)
            print(name, json.dumps(results[name]), flush=True)
        if "postgres" in wanted:
            if not pg:
                print("postgres: skipped (PERTINENT_TEST_POSTGRES_URL not set; run via scripts/with-services.sh)")
                continue
            name = f"postgres, {workers} worker(s)"
            results[name] = median_run(
                lambda w=workers: run_pertinent(
                    "postgres", {"PERTINENT_DATABASE_URL": fresh_postgres_db(pg)}, batches, args, w
                ),
                args.repeat,
            )
            print(name, json.dumps(results[name]), flush=True)
    if "bare" in wanted:
        port = free_port()
        proc = start_bare(port)
        try:
            results["bare_starlette"] = Load(port, batches, args.threads, args.duration).run(args.batch)
        finally:
            proc.terminate()
            proc.wait(30)
        print("bare", json.dumps(results["bare_starlette"]), flush=True)

    bare = results.get("bare_starlette", {}).get("events_per_s")
    print("\n| target | events/s | ratio to bare Starlette | request p50 ms | request p99 ms | profile delay p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ratio = f"{r['events_per_s'] / bare:.2f}" if bare else "-"
        delay = f"{r['profile_delay_p99_ms']:.1f}" if "profile_delay_p99_ms" in r else "-"
        print(
            f"| {name} | {r['events_per_s']:,.0f} | {ratio} | {r['latency_p50_ms']:.1f} | "
            f"{r['latency_p99_ms']:.1f} | {delay} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"machine": machine(), "args": vars(args) | {"json": str(args.json)}, "results": results}, indent=2
            )
        )


if __name__ == "__main__":
    main()
