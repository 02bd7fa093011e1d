"""Per-call serving latency of the ranker against the default EASE-based model, in one process.

Fits (or loads, with ``--cache``) both models on MovieLens latest-small, then times ``Recommender.recommend(user,
k=10)`` with reasons for ``--users`` users, ``--repeat`` passes: p50 / p99 of wall-clock and of the thread's CPU
time (on the shared machine the wall-clock tail is mostly waiting for a core). ``--profile`` writes a pyinstrument
profile of the ranker's calls.

    PYTHONPATH=src python benchmarks/ranker_serving.py --users 300 --cache /tmp/ranker-serving
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from pertinent.recommend.base import Recommender
from pertinent.recommend.datasets import movielens_positives
from pertinent.recommend.interactions import Interactions
from pertinent.recommend.models import make_model

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


def model_for(kind: str, data: Interactions, cache: Path | None, config: dict) -> Recommender:
    path = cache / kind if cache is not None else None
    if path is not None and path.exists():
        return Recommender.load(path)
    model = make_model(kind, config).fit(data)
    if path is not None:
        model.save(path)
    return model


def timed(model: Recommender, users: list[str], repeat: int) -> dict[str, float]:
    model.recommend(users[0], k=10)
    walls, cpus = [], []
    for _ in range(repeat):
        lat, cpu = [], []
        for u in users:
            t, c = time.perf_counter(), time.thread_time()
            model.recommend(u, k=10)
            cpu.append(time.thread_time() - c)
            lat.append(time.perf_counter() - t)
        walls.append(np.percentile(np.asarray(lat) * 1000, [50, 99]))
        cpus.append(np.percentile(np.asarray(cpu) * 1000, [50, 99]))
    return {
        "p50_ms": round(statistics.median(w[0] for w in walls), 2),
        "p99_ms": round(statistics.median(w[1] for w in walls), 2),
        "cpu_p50_ms": round(statistics.median(c[0] for c in cpus), 2),
        "cpu_p99_ms": round(statistics.median(c[1] for c in cpus), 2),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=None, help="save / reuse the fitted models here")
    ap.add_argument("--models", nargs="+", default=["default", "ranker"])
    ap.add_argument("--ranker", default="{}", help="the ranker's config as JSON")
    ap.add_argument("--profile", type=Path, default=None, help="write a pyinstrument HTML profile of the ranker")
    args = ap.parse_args(argv)
    df = movielens_positives(DATA / "movielens-latest-small")
    data = Interactions.from_frame(df, timestamp_col="timestamp")
    rng = np.random.default_rng(0)
    users = [str(u) for u in rng.choice(np.asarray(data.user_ids, dtype=object), args.users, replace=False)]
    out: dict[str, object] = {"users": len(users), "load_average": os.getloadavg()[0]}
    for kind in args.models:
        model = model_for(kind, data, args.cache, json.loads(args.ranker) if kind == "ranker" else {})
        out[kind] = timed(model, users, args.repeat)
        if args.profile is not None and kind == "ranker":
            from pyinstrument import Profiler

            with Profiler(interval=0.0005) as prof:
                for u in users:
                    model.recommend(u, k=10)
            args.profile.write_text(prof.output_text(unicode=False, show_all=False))
        print(json.dumps({kind: out[kind]}), flush=True)
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
