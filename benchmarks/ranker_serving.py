"""Per-call serving latency of the ranker against the default EASE-based model, in one process.

Fits (or loads, with ``--cache``) the default model and the ranker on MovieLens latest-small, then times
``Recommender.recommend(user, k=10)`` with reasons for ``--users`` users, ``--repeat`` passes, for the default
model, the ranker as served (candidate lists, path contributions) and the same trained ranker served as before
(``ranker_exhaustive``: every generator scores every item, TreeSHAP explanations): p50 / p99 of wall-clock and of
the thread's CPU time (on the shared machine the wall-clock tail is mostly waiting for a core). ``--profile``
writes a pyinstrument profile of the ranker's calls.

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


def served_as(model: Recommender, serving: dict) -> Recommender:
    """The same trained ranker with other request-time settings (shares its generators and booster)."""
    from pertinent.recommend.ranking.config import ServingConfig

    other = type(model)(model.config.model_copy(update={"serving": ServingConfig(**serving)}))
    other.__dict__.update({k: v for k, v in model.__dict__.items() if k not in ("config", "_serving")})
    other._serving = None  # type: ignore[attr-defined]
    return other


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
    ap.add_argument("--models", nargs="+", default=["default", "ranker", "ranker_exhaustive"])
    ap.add_argument("--ranker", default="{}", help="the ranker's config as JSON")
    ap.add_argument("--profile", type=Path, default=None, help="write a pyinstrument HTML profile of the ranker")
    args = ap.parse_args(argv)
    df = movielens_positives(DATA / "movielens-latest-small")
    data = Interactions.from_frame(df, timestamp_col="timestamp")
    rng = np.random.default_rng(0)
    users = [str(u) for u in rng.choice(np.asarray(data.user_ids, dtype=object), args.users, replace=False)]
    out: dict[str, object] = {"users": len(users), "load_average": os.getloadavg()[0]}
    fitted: dict[str, Recommender] = {}
    for kind in args.models:
        base = "ranker" if kind.startswith("ranker") else kind
        if base not in fitted:
            fitted[base] = model_for(base, data, args.cache, json.loads(args.ranker) if base == "ranker" else {})
        model = fitted[base]
        if kind == "ranker_exhaustive":  # the same trained ranker served as before: every item, TreeSHAP
            model = served_as(model, {"exhaustive": True, "explain": "shap"})
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
