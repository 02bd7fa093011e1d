"""The load generators of ``benchmarks/cluster.py``: ingest split between nodes with cross-node freshness probes,
the open-loop ``/v1/decide`` client (run as ``cluster_load.py loadgen``, a process of its own) and the closed-loop
``wrk`` runs. Reuses ``ingest.py``'s client and ``decide_serving.py``'s request mix and HTTP client.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from base64 import b64encode
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decide_serving as ds  # noqa: E402  (request mix, HTTP client, CPU of a process)
import hot_store as hs  # noqa: E402  (wrk with latency)
import ingest as ing  # noqa: E402  (the ingest client)

WRITE_HEADERS = {
    "Content-Type": "application/json",
    "Authorization": "Basic " + b64encode(f"{ds.WRITE_KEY}:".encode()).decode(),
}
ADMIN_HEADERS = {"Authorization": f"Bearer {ds.ADMIN_KEY}"}


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
    for port in ports:  # warm each target first (lazy imports, caches, pools): the steady state is measured
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in range(2):
            body = batches[i % len(batches)].replace(b'"messageId":"', f'"messageId":"warm{i}-'.encode())
            conn.request("POST", "/v1/batch", body, WRITE_HEADERS)
            conn.getresponse().read()
        conn.close()
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


def closed_loop(
    ports: list[int], bare_port: int, profiles: int, seconds: int, connections: int, single: int | None = None
) -> dict:
    """wrk against each node alone, both at once, the single node (if any), and bare Starlette before and after."""
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
    single_node = hs.run_wrk(single, path, profiles, seconds, connections) if single is not None else None
    bare.append(hs.run_wrk(bare_port, None, profiles, seconds, connections))
    bare_rps = statistics.mean(b["rps"] for b in bare)
    if single_node is not None:
        single_node["ratio_to_bare"] = round(single_node["rps"] / bare_rps, 3)
    return {
        "single_node_sqlite": single_node,
        "bare": bare,
        "nodes": nodes,
        "both_at_once": both,
        "ratio_per_node": [round(n["rps"] / bare_rps, 3) for n in nodes],
        "ratio_both_at_once": round(sum(b["rps"] for b in both) / bare_rps, 3),
    }


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "loadgen":
    loadgen_main(sys.argv[2:])
