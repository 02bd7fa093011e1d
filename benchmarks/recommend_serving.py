"""Recommendation serving: latency of ``/v1/recommendations`` on a real dataset, in process and over HTTP.

Steps, on a fresh data directory (SQLite, the embedded default):
1. ``pertinent import`` the dataset's events and ``pertinent items import`` its catalogue (CLI, as users do);
2. ``pertinent train`` (the default recommender, with its holdout evaluation), timed;
3. in process: ``RecommendService.recommend`` for ``--users`` known users (profile read, fold-in of the newest
   events, scoring, filters, reasons), plain and with business rules (boost + bury + MMR diversity);
   also ``Recommender.recommend`` on the loaded model alone (no storage);
4. over HTTP: ``pertinent serve`` in its own process, one keep-alive client sending the same requests one after
   the other, then ``--threads`` clients at once for throughput.

Reports p50 / p99 per request (median over ``--repeat`` passes, since the shared machine's speed drifts) and the
server's peak RSS. In process it also reports the thread's CPU time per request: on a loaded machine the wall-clock
tail is mostly time spent waiting for a core, which the CPU time leaves out.

Run: .venv/bin/python benchmarks/recommend_serving.py [--dataset movielens] [--users 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from base64 import b64encode
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
SOURCES = {  # events file or folder, items folder or file, preset
    "movielens": ("movielens-latest-small", "movielens-latest-small", "movielens"),
    "online-retail": ("online-retail/online_retail.parquet", "online-retail/online_retail.parquet", "online-retail"),
}
CLI = [str(Path(sys.executable).parent / "pertinent")]


def run(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def user_ids(dataset: str, n: int) -> list[str]:
    import pandas as pd

    if dataset == "movielens":
        ids = pd.read_csv(DATASETS / SOURCES[dataset][0] / "ratings.csv", usecols=["userId"])["userId"]
    else:
        ids = pd.read_parquet(DATASETS / SOURCES[dataset][0], columns=["CustomerID"])["CustomerID"].dropna()
        ids = ids.astype(int)
    unique = ids.astype(str).drop_duplicates().to_numpy()
    rng = np.random.default_rng(0)
    return [str(u) for u in rng.choice(unique, size=min(n, len(unique)), replace=False)]


RULES = {"diversity": 0.3, "boost": None, "bury": None}


def in_process(env: dict[str, str], users: list[str], repeat: int) -> dict[str, list[float]]:
    os.environ.update(env)
    from pertinent.recommend.config import BusinessRules
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(load_settings())
    rec = services.recommend
    out: dict[str, list[float]] = {}
    try:
        rec.recommend(users[0], k=10)  # load the model and catalogue once
        version, model = rec.model()
        first = rec.recommend(users[0], k=10)["items"]
        rules = BusinessRules(boost={first[3]["item_id"]: 2.0}, bury=[first[0]["item_id"]], diversity=0.3)
        RULES.update(boost=f"{first[3]['item_id']}:2", bury=first[0]["item_id"])
        with services.store.transaction(write=False) as tx:  # model rows are keyed by profile id
            profile_ids = {u: services.profiles.find(tx, u) for u in users}
        cases = {
            "service": lambda u: rec.recommend(u, k=10),
            "service + rules (boost, bury, diversity 0.3)": lambda u: rec.recommend(u, k=10, rules=rules),
            "model only (Recommender.recommend)": lambda u: model.recommend(profile_ids[u], k=10),  # type: ignore[union-attr]
        }
        for name, call in cases.items():
            runs, cpu_runs = [], []
            for _ in range(repeat):
                lat, cpu = [], []
                for u in users:
                    t, c = time.perf_counter(), time.thread_time()
                    call(u)
                    cpu.append(time.thread_time() - c)  # excludes time spent waiting for a core
                    lat.append(time.perf_counter() - t)
                runs.append(percentiles(lat))
                cpu_runs.append(percentiles(cpu))
            out[name] = [statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)]
            out[name + ", CPU time"] = [
                statistics.median(r[0] for r in cpu_runs),
                statistics.median(r[1] for r in cpu_runs),
            ]
        out["model"] = [version, type(model).__name__]  # type: ignore[list-item]
        out["peak_rss_mib"] = [rss_mib(os.getpid())]
    finally:
        services.close()
    return out


def over_http(env: dict[str, str], users: list[str], repeat: int, threads: int) -> dict[str, list[float]]:
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    auth = {"Authorization": "Basic " + b64encode(f"{env['PERTINENT_WRITE_KEY']}:".encode()).decode()}
    out: dict[str, list[float]] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"server did not start: {server.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.2)

        def get(conn: http.client.HTTPConnection, user: str, extra: dict[str, str] | None = None) -> None:
            conn.request(
                "GET", "/v1/recommendations?" + urlencode({"user_id": user, "k": 10, **(extra or {})}), headers=auth
            )
            res = conn.getresponse()
            body = res.read()
            if res.status != 200:
                raise SystemExit(f"HTTP {res.status}: {body[:300]!r}")

        conn = http.client.HTTPConnection("127.0.0.1", port)
        for u in users[:20]:
            get(conn, u)  # warm: model load, catalogue
        extra = {k: str(v) for k, v in RULES.items() if v is not None}
        for name, params in (("HTTP, one client", None), ("HTTP + rules, one client", extra)):
            runs = []
            for _ in range(repeat):
                lat = []
                for u in users:
                    t = time.perf_counter()
                    get(conn, u, params)
                    lat.append(time.perf_counter() - t)
                runs.append(percentiles(lat))
            out[name] = [statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)]
        conn.close()

        def client(chunk: list[str], lat: list[float]) -> None:
            c = http.client.HTTPConnection("127.0.0.1", port)
            for u in chunk:
                t = time.perf_counter()
                get(c, u)
                lat.append(time.perf_counter() - t)
            c.close()

        lat: list[float] = []
        work = [users[i::threads] for i in range(threads)]
        t = time.perf_counter()
        pool = [threading.Thread(target=client, args=(w, lat)) for w in work]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        wall = time.perf_counter() - t
        p50, p99 = percentiles(lat)
        out[f"HTTP, {threads} clients at once"] = [p50, p99, len(users) / wall]
        out["server_peak_rss_mib"] = [rss_mib(server.pid)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(SOURCES), default="movielens")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--keep", help="use (and keep) this data directory; reuses loaded data and model")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    events, items, preset = SOURCES[args.dataset]
    data_dir = Path(args.keep or tempfile.mkdtemp(prefix="pertinent-serving-"))
    env = {
        **os.environ,
        "PERTINENT_DATA_DIR": str(data_dir),
        "PERTINENT_WRITE_KEY": "bench-write",
        "PERTINENT_ADMIN_KEY": "bench-admin",
        "PERTINENT_PSEUDONYM_KEYS": "bench-key",
        "PERTINENT_LOG_LEVEL": "warning",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("PERTINENT_DATABASE_URL", None)
    env.pop("PERTINENT_CONFIG", None)
    results: dict[str, object] = {
        "dataset": args.dataset,
        "users": args.users,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        if not (data_dir / "models").exists():
            results["import_s"] = run([*CLI, "import", str(DATASETS / events), "--preset", preset], env)
            results["items_import_s"] = run([*CLI, "items", "import", str(DATASETS / items), "--preset", preset], env)
            results["train_s"] = run([*CLI, "train"], env)
        users = user_ids(args.dataset, args.users)
        results["in_process"] = in_process(env, users, args.repeat)
        results["http"] = over_http(env, users, args.repeat, args.threads)
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    print(f"\n| {args.dataset}: path | p50 ms | p99 ms |\n|---|---:|---:|")
    for group in ("in_process", "http"):
        for name, v in results[group].items():  # type: ignore[union-attr]
            if isinstance(v, list) and len(v) >= 2 and isinstance(v[0], float) and "rss" not in name:
                extra = f" ({v[2]:.0f} requests/s)" if len(v) > 2 else ""
                print(f"| {name}{extra} | {v[0]:.2f} | {v[1]:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
