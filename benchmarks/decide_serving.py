"""Decision and recommendation serving: latency at a constant request rate, and throughput against a bare
Starlette endpoint, over HTTP on loopback.

Setup (once per data directory, reused with ``--data``): 100k profiles on the embedded default (SQLite) from
ingested events (identify with a plan trait + two product views with a real user agent, time zone and locale
per user), a 500-item catalogue, an EASE model trained from those events, 10% of profiles in a ``vip`` segment;
blocks, a running A/B experiment and two slots:

* ``home.hero``: rule ``vip`` segment -> variant; rule ``context device_type == tablet`` -> variant; then the
  experiment (sticky lookup, exposure event ingested in the background); default. Every request reads identity,
  profile, segments and first exposures, evaluates the rules and renders a Jinja2 template;
* ``home.recs``: filled by the recommender (product_list block with titles from the catalogue, rendered);
* ``home.rules`` (kind ``decide-rules``): the two rules and the default of ``home.hero`` without the experiment
  (no exposure events), to separate their cost.

Load: ``pertinent serve`` in its own process; the load generator is another process
(``decide_serving.py loadgen``): an open-loop, constant-rate asyncio client over keep-alive connections that
schedules request i at t0 + i/rate and measures latency from that scheduled time (so a stalled server is not
hidden by the client waiting: no coordinated omission). Users: 80% known (random among the 100k), 20% new
anonymous visitors; user agents mobile/desktop/tablet; CF-IPCountry header.
Throughput: ``wrk`` (closed loop, 1 thread, 32 connections, 10 s) against each endpoint and against the bare
Starlette endpoint (``benchmarks/bare_starlette.py`` ``/constant``) served by the same uvicorn, same run.

Run: .venv/bin/python benchmarks/decide_serving.py --data /tmp/decide-bench --rate 500 --duration 20 --repeat 3
Ranker against EASE, same data, one server after the other (users with 4 views, so the ranker has labels):
     .venv/bin/python benchmarks/decide_serving.py --data /tmp/ranker-bench --views 4 --models ease,ranker \
         --kinds recommendations,decide-recs --no-wrk
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from base64 import b64encode
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
WRITE_KEY, ADMIN_KEY, PSEUDO = "bench-write", "bench-admin", "bench-pseudonym-key"
AUTH = "Basic " + b64encode(f"{WRITE_KEY}:".encode()).decode()
UAS = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
}
ZONES = ["Europe/Berlin", "Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"]
COUNTRIES = ["DE", "FR", "US", "JP", "GB"]


def env_for(data: Path, model: str = "ease") -> dict[str, str]:
    return {
        **os.environ,
        "PERTINENT_DATA_DIR": str(data),
        "PERTINENT_WRITE_KEY": WRITE_KEY,
        "PERTINENT_ADMIN_KEY": ADMIN_KEY,
        "PERTINENT_PSEUDONYM_KEYS": PSEUDO,
        "PERTINENT_LOG_LEVEL": "warning",
        "PERTINENT_RECOMMEND__MODEL": model,
        # Requests name known users by user_id without a user_hash proof (wrk cannot sign each path): with
        # verification on they would be served as anonymous visitors, a cheaper and different workload. Off, the
        # benchmark measures the known-user path it always measured (a proof check adds one HMAC per request).
        "PERTINENT_REQUIRE_IDENTITY_VERIFICATION": "false",
    }


# ------------------------------------------------------------------------------------------------ setup
def setup(data: Path, profiles: int, views: int = 2, models: tuple[str, ...] = ("ease",)) -> None:
    marker = data / "bench-ready.json"
    if marker.exists():
        ready = json.loads(marker.read_text())
        if ready["profiles"] == profiles and ready.get("views", 2) == views:
            print(f"reusing {data} ({profiles} profiles)")
            train_missing(data, marker, models)
            return
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    os.environ.update(env_for(data))
    from pertinent.recommend.training import train_from_store
    from pertinent.services import Services
    from pertinent.settings import load_settings
    from pertinent.storage.base import MembershipChange

    t0 = time.perf_counter()
    svc = Services.build(load_settings())
    svc.store.migrate()
    rng = random.Random(7)
    cats = ["shoes", "bags", "books", "toys", "garden"]
    svc.recommend.upsert_items(
        [
            {
                "item_id": f"p{i}",
                "title": f"Product {i}",
                "categories": [cats[i % 5]],
                "attributes": {"url": f"/p/{i}", "image": f"/img/{i}.jpg", "price": 5 + i % 90},
            }
            for i in range(500)
        ]
    )
    batch: list[dict] = []
    for u in range(profiles):
        device = rng.choice(["desktop", "desktop", "mobile", "mobile", "tablet"])
        ctx = {
            "userAgent": UAS[device],
            "timezone": rng.choice(ZONES),
            "locale": "en-US",
            "location": {"country": rng.choice(COUNTRIES)},
        }
        batch.append(
            {"type": "identify", "userId": f"u{u}", "traits": {"plan": rng.choice(["free", "pro"])}, "context": ctx}
        )
        for _ in range(views):
            item = min(int(rng.paretovariate(1.2)) - 1, 499)
            batch.append(
                {
                    "type": "track",
                    "event": "Product Viewed",
                    "userId": f"u{u}",
                    "context": ctx,
                    "properties": {"product_id": f"p{item}", "category": cats[item % 5]},
                }
            )
        if len(batch) >= 1500:
            svc.ingest.ingest(batch, prefix="batch")
            batch = []
        if u and u % 20000 == 0:
            print(f"  {u} profiles ({time.perf_counter() - t0:.0f} s)", flush=True)
    svc.ingest.ingest(batch, prefix="batch")
    with svc.store.transaction() as tx:
        ids = [svc.profiles.find(tx, f"u{u}") for u in range(0, profiles, 10)]
        tx.apply_membership_changes([MembershipChange("vip", pid, True, time.time()) for pid in ids if pid])
        n_profiles = tx.count_profiles()
    print(f"  ingested {n_profiles} profiles in {time.perf_counter() - t0:.0f} s; training", flush=True)
    result = train_from_store(svc.store, data, model=models[0])
    configure_slots(svc.decide)
    svc.close()
    marker.write_text(
        json.dumps(
            {
                "profiles": profiles,
                "views": views,
                "events": (1 + views) * profiles,
                "model": result.version,
                "models": {models[0]: result.version},
                "setup_s": round(time.perf_counter() - t0, 1),
            }
        )
    )
    print(f"setup done in {time.perf_counter() - t0:.0f} s (model {result.version})")
    train_missing(data, marker, models)


def configure_slots(d: Any) -> None:
    """Blocks, the ``hero-test`` experiment and the slots ``home.hero``, ``home.recs``, ``home.rules``."""
    for bid, title in (
        ("hero-spring", "Spring sale"),
        ("hero-plain", "Welcome"),
        ("hero-vip", "Welcome back"),
        ("hero-tablet", "Read on"),
    ):
        d.put_block(
            {
                "id": bid,
                "type": "headline",
                "content": {"title": title, "url": "/sale"},
                "template": "<a class='hero' href='{{ url }}' data-decision='{{ decision_id }}'>"
                "<h1>{{ title }}</h1></a>",
            }
        )
    d.put_block(
        {
            "id": "recs",
            "type": "product_list",
            "content": {"title": "Picked for you"},
            "template": "<ul>{% for i in items %}<li><a href='{{ i.url }}'>{{ i.title }}</a></li>{% endfor %}</ul>",
        }
    )
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
    d.put_slot({"id": "home.recs", "default": {"kind": "recommender", "k": 4, "block": "recs"}})
    d.put_slot(
        {
            "id": "home.rules",
            "variants": {"plain": "hero-plain", "vip": "hero-vip", "tablet": "hero-tablet"},
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


def train_missing(data: Path, marker: Path, models: tuple[str, ...]) -> None:
    """Train the models of ``models`` not trained yet on this data (e.g. ``ranker`` next to ``ease``)."""
    ready = json.loads(marker.read_text())
    trained = ready.setdefault("models", {"ease": ready.get("model")})
    missing = [m for m in models if m not in trained]
    if not missing:
        return
    os.environ.update(env_for(data))
    from pertinent.recommend.training import train_from_store
    from pertinent.services import Services
    from pertinent.settings import load_settings

    svc = Services.build(load_settings())
    try:
        for m in missing:
            t0 = time.perf_counter()
            result = train_from_store(svc.store, data, model=m)
            trained[m] = result.version
            print(f"trained {m} in {time.perf_counter() - t0:.0f} s (version {result.version})", flush=True)
    finally:
        svc.close()
    marker.write_text(json.dumps(ready))


# ------------------------------------------------------------------------------------------------ servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


def start_pertinent(data: Path, workers: int, model: str = "ease") -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(PY).parent / "pertinent"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env_for(data, model),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_ready(port)
    return proc, port


def start_bare(workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "uvicorn",
            "bare_starlette:app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT / "benchmarks",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_ready(port)
    return proc, port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return total


# ------------------------------------------------------------------------------------------------ load
def request_for(kind: str, rng: random.Random, profiles: int) -> tuple[str, dict[str, str]]:
    device = rng.choice(["desktop", "desktop", "mobile", "mobile", "tablet"])
    headers = {"Authorization": AUTH, "User-Agent": UAS[device], "CF-IPCountry": rng.choice(COUNTRIES)}
    known = rng.random() < 0.8
    who = f"user_id=u{rng.randrange(profiles)}" if known else f"anonymous_id={uuid.uuid4().hex}"
    if kind == "recommendations":
        user = f"u{rng.randrange(profiles)}" if known else uuid.uuid4().hex
        return f"/v1/recommendations?user_id={user}&k=4", headers
    slot = {"decide-recs": "home.recs", "decide-rules": "home.rules"}.get(kind, "home.hero")
    return f"/v1/decide?slot={slot}&{who}&timezone={rng.choice(ZONES).replace('/', '%2F')}", headers


async def _http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, headers: dict[str, str]
) -> int:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write((head + "\r\n").encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def _constant_rate(port: int, kind: str, rate: float, duration: float, profiles: int, connections: int) -> dict:
    rng = random.Random(11)
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    n = int(rate * duration)
    t0 = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        scheduled = t0 + i / rate
        path, headers = request_for(kind, rng, profiles)
        conn = await pool.get()
        try:
            status = await _http_get(*conn, path, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            status = 0
            conn = await asyncio.open_connection("127.0.0.1", port)
        pool.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1

    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    lat = sorted(latencies)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)

    return {
        "kind": kind,
        "target_rate": rate,
        "achieved_rate": round(n / elapsed, 1),
        "requests": n,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2),
        "statuses": statuses,
    }


def loadgen_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--kind", default="decide")
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--profiles", type=int, default=100_000)
    p.add_argument("--connections", type=int, default=64)
    a = p.parse_args(argv)
    out = asyncio.run(_constant_rate(a.port, a.kind, a.rate, a.duration, a.profiles, a.connections))
    print(json.dumps(out))


def constant_rate(port: int, kind: str, rate: float, duration: float, profiles: int, server_pid: int) -> dict:
    cpu0 = cpu_seconds(server_pid)
    t = time.perf_counter()
    res = subprocess.run(
        [
            PY,
            __file__,
            "loadgen",
            "--port",
            str(port),
            "--kind",
            kind,
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            "--profiles",
            str(profiles),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["server_cpu_cores"] = round((cpu_seconds(server_pid) - cpu0) / (time.perf_counter() - t), 2)
    out["server_cpu_us_per_request"] = round((cpu_seconds(server_pid) - cpu0) / out["requests"] * 1e6)
    out["load_average_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine during the run
    return out


WRK_LUA = """
math.randomseed(7)
local uas = {%s}
wrk.headers["Authorization"] = "%s"
request = function()
  local path = string.format("%s", math.random(0, %d))
  wrk.headers["User-Agent"] = uas[math.random(1, #uas)]
  return wrk.format("GET", path)
end
"""


def wrk(port: int, path_fmt: str | None, profiles: int, seconds: int = 10, connections: int = 32) -> float:
    """Requests/s from wrk (closed loop); ``path_fmt`` has one %d for a user number (None: /constant)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        if path_fmt is not None:
            f.write(WRK_LUA % (", ".join(json.dumps(u) for u in UAS.values()), AUTH, path_fmt, profiles - 1))
            cmd += ["-s", f.name]
    url = f"http://127.0.0.1:{port}" + ("/constant" if path_fmt is None else "/")
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"wrk saw {non2xx.group(1)} error responses:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


WRK_PATHS = {
    "decide": "/v1/decide?slot=home.hero&user_id=u%d&timezone=Europe%%2FBerlin",
    "decide-recs": "/v1/decide?slot=home.recs&user_id=u%d",
    "decide-rules": "/v1/decide?slot=home.rules&user_id=u%d&timezone=Europe%%2FBerlin",
    "recommendations": "/v1/recommendations?user_id=u%d&k=4",
}


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        int(ln.split()[1]) // 1024 // 1024
        for ln in Path("/proc/meminfo").read_text().splitlines()
        if ln.startswith("MemTotal")
    )
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        loadgen_main(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "pertinent-decide-bench")
    p.add_argument("--profiles", type=int, default=100_000)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--kinds", default="decide,decide-recs,recommendations")
    p.add_argument("--json", type=Path)
    p.add_argument("--models", default="ease", help="recommender kinds served in turn, e.g. ease,ranker")
    p.add_argument("--views", type=int, default=2, help="product views per profile (the ranker learns from >= 3)")
    p.add_argument("--no-wrk", dest="wrk", action="store_false", help="skip the closed-loop throughput runs")
    a = p.parse_args()
    models = tuple(a.models.split(","))
    setup(a.data, a.profiles, a.views, models)
    kinds = a.kinds.split(",")
    label = {(k, m): k if len(models) == 1 else f"{k}@{m}" for m in models for k in kinds}
    runs: dict[str, list[dict]] = {x: [] for x in label.values()}
    ratios: dict[str, list[float]] = {x: [] for x in label.values()}
    rps: dict[str, list[float]] = {x: [] for x in [*label.values(), "bare"]}
    for r in range(a.repeat):
        bare, bare_port = start_bare(a.workers)
        try:
            bare_rps = wrk(bare_port, None, a.profiles) if a.wrk else float("nan")
            rps["bare"].append(bare_rps)
        finally:
            bare.terminate()
            bare.wait(30)
        for m in models:  # one server per model, the same data, one after the other
            server, port = start_pertinent(a.data, a.workers, m)
            try:
                for k in kinds:  # warm: model, catalogue, documents, user-agent cache
                    warm = ["--port", str(port), "--kind", k, "--rate", "100", "--duration", "2"]
                    warm += ["--profiles", str(a.profiles)]
                    subprocess.run([PY, __file__, "loadgen", *warm], capture_output=True, check=True)
                for k in kinds:
                    res = constant_rate(port, k, a.rate, a.duration, a.profiles, server.pid)
                    runs[label[k, m]].append(res)
                    print(f"run {r + 1} {label[k, m]}: {json.dumps(res)}", flush=True)
                for k in kinds if a.wrk else []:
                    got = wrk(port, WRK_PATHS[k], a.profiles)
                    rps[label[k, m]].append(got)
                    ratios[label[k, m]].append(got / bare_rps)
                    print(
                        f"run {r + 1} wrk {label[k, m]}: {got:.0f} req/s, bare {bare_rps:.0f} req/s, "
                        f"ratio {got / bare_rps:.3f}",
                        flush=True,
                    )
            finally:
                server.terminate()
                server.wait(30)
    kinds = list(label.values())
    summary = {
        "machine": machine(),
        "profiles": a.profiles,
        "workers": a.workers,
        "rate": a.rate,
        "duration_s": a.duration,
        "repeat": a.repeat,
        "load": {},
        "throughput": {},
    }
    for k in kinds:
        rs = runs[k]
        summary["load"][k] = {
            f: statistics.median(x[f] for x in rs)
            for f in (
                "achieved_rate",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "max_ms",
                "server_cpu_cores",
                "server_cpu_us_per_request",
                "load_average_1m",
            )
        }
        summary["load"][k]["p99_ms_all_runs"] = [x["p99_ms"] for x in rs]
        summary["load"][k]["errors"] = sum(n for x in rs for s, n in x["statuses"].items() if str(s) != "200")
        if rps[k]:
            summary["throughput"][k] = {
                "rps_median": round(statistics.median(rps[k]), 1),
                "ratio_median": round(statistics.median(ratios[k]), 3),
                "ratios": [round(x, 3) for x in ratios[k]],
            }
    summary["throughput"]["bare"] = {"rps_median": round(statistics.median(rps["bare"]), 1)}
    print(json.dumps(summary, indent=2))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
