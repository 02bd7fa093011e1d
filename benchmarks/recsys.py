"""Recommendation quality and speed: Pertinent's default recommender vs peers, same split, same run.

Protocol: positives = rating >= 3.5 (MovieLens) or any purchase (Online Retail, cleaned) or any event
(Taobao sample); users with >= 5 positives; per-user random 20% holdout (seed 42); rank every item
the user has not seen in training; NDCG@10 with binary relevance.

Peers: popularity, implicit ALS (defaults and tuned 64 factors / reg 0.05 / alpha 2 / 20 iterations),
implicit item-kNN (CosineRecommender), plain numpy EASE (lambda 100, float64 inverse).
Ours: ``make_model("default")`` (what ``pertinent batch-recommend`` trains), in a fresh subprocess
so its peak RSS is its own.

Run: .venv/bin/python benchmarks/recsys.py [--datasets movielens,retail,taobao]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
K = 10


def load(name: str):
    from pertinent.recommend import Interactions
    from pertinent.recommend.datasets import (
        min_user_positives,
        movielens_positives,
        online_retail_positives,
        taobao_events,
    )

    if name == "movielens":
        df = movielens_positives(DATASETS / "movielens-latest-small")
    elif name == "retail":
        df = online_retail_positives(DATASETS / "online-retail" / "online_retail.parquet")
    elif name == "taobao":
        df = taobao_events(DATASETS / "taobao-userbehavior-sample" / "UserBehavior.csv")[["user", "item"]]
    else:
        raise SystemExit(f"unknown dataset {name}")
    return Interactions.from_frame(min_user_positives(df, 5)[["user", "item"]])


def split(name: str):
    from pertinent.evaluation import random_holdout

    return random_holdout(load(name), fraction=0.2, seed=42, min_interactions=5)


def ndcg(ranked: np.ndarray, test, users: np.ndarray) -> float:
    from pertinent.evaluation.metrics import ranking_metrics

    return ranking_metrics(ranked, test[users], K)["ndcg"]


def peers(name: str, parts) -> list[tuple[str, float, float]]:
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import CosineRecommender
    from threadpoolctl import threadpool_limits

    train = parts.train.matrix.tocsr()
    train.data[:] = 1.0
    test = parts.test
    users = parts.test_users
    out = []

    t = time.perf_counter()
    pop = np.asarray(train.sum(axis=0)).ravel()
    scores = np.tile(pop, (len(users), 1)).astype(np.float64)
    r, c = train[users].nonzero()
    scores[r, c] = -np.inf
    ranked = np.argsort(-scores, axis=1)[:, :K]
    out.append(("popularity", ndcg(ranked, test, users), time.perf_counter() - t))

    def implicit_run(label: str, model) -> None:
        t0 = time.perf_counter()
        with threadpool_limits(1, "blas"):
            model.fit(train, show_progress=False)
        fit_s = time.perf_counter() - t0
        ids, _ = model.recommend(users, train[users], N=K, filter_already_liked_items=True)
        out.append((label, ndcg(np.asarray(ids), test, users), fit_s))

    implicit_run("implicit ALS defaults", AlternatingLeastSquares(random_state=42))
    implicit_run(
        "implicit ALS tuned (64f, reg .05, a 2, 20 it)",
        AlternatingLeastSquares(factors=64, regularization=0.05, alpha=2.0, iterations=20, random_state=42),
    )
    implicit_run("implicit item-kNN cosine", CosineRecommender())

    n = train.shape[1]
    if 8 * n * n * 3 < 0.5 * _available():
        t = time.perf_counter()
        x = train.toarray().astype(np.float64)
        g = x.T @ x
        g[np.diag_indices(n)] += 100.0
        p = np.linalg.inv(g)
        b = p / -np.diag(p)
        np.fill_diagonal(b, 0.0)
        fit_s = time.perf_counter() - t
        scores = x[users] @ b
        scores[x[users] > 0] = -np.inf
        ranked = np.argsort(-scores, axis=1)[:, :K]
        out.append(("numpy EASE (lambda 100)", ndcg(ranked, test, users), fit_s))
        del x, g, p, b
    else:
        out.append((f"numpy EASE (lambda 100): {n:,}^2 float64 does not fit", float("nan"), float("nan")))
    return out


def _available() -> int:
    from pertinent.recommend.models.ease import available_memory_bytes

    return available_memory_bytes()


def peak_rss_mib() -> float:
    """VmHWM of this process (unlike ru_maxrss it is not inherited from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(name: str, config: dict | None = None) -> dict:
    """Train the default recommender on the train split; quality, fit time, latency, peak RSS."""
    from pertinent.evaluation import rank_users
    from pertinent.recommend.models import make_model

    parts = split(name)
    users = parts.test_users
    rss_before = peak_rss_mib()
    t = time.perf_counter()
    model = make_model("default", config).fit(parts.train)
    fit_s = time.perf_counter() - t
    ranked = rank_users(model, parts.train.matrix[users], K)
    quality = ndcg(ranked, parts.test, users)
    ids = [str(parts.train.user_ids[u]) for u in users[:300]]
    lat = []
    for uid in ids:
        t0 = time.perf_counter()
        model.recommend(uid, k=K)
        lat.append(time.perf_counter() - t0)
    lat_ms = np.asarray(lat) * 1000
    return {
        "ndcg": quality,
        "fit_s": fit_s,
        "p50_ms": float(np.percentile(lat_ms, 50)),
        "p99_ms": float(np.percentile(lat_ms, 99)),
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_fit_mib": rss_before,
        "report": {k: v for k, v in model.report.items() if k != "trials"},
        "shape": list(parts.train.shape),
        "test_users": int(len(users)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="movielens,retail,taobao")
    ap.add_argument("--ours-only", help=argparse.SUPPRESS)
    ap.add_argument("--config", default="{}", help="DefaultConfig fields as JSON, e.g. '{\"min_gain_se\": 1}'")
    args = ap.parse_args()
    if args.ours_only:
        print(json.dumps(ours(args.ours_only, json.loads(args.config))))
        return
    for name in args.datasets.split(","):
        if not DATASETS.exists():
            raise SystemExit(f"datasets not found at {DATASETS}")
        parts = split(name)
        print(
            f"\n## {name}: {parts.train.n_users:,} users x {parts.train.n_items:,} items, "
            f"{parts.train.matrix.nnz:,} train / {parts.test.nnz:,} test positives, "
            f"{len(parts.test_users):,} test users"
        )
        rows = peers(name, parts)
        proc = subprocess.run(
            [sys.executable, __file__, "--ours-only", name, "--config", args.config],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            continue
        mine = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| model | NDCG@{K} | fit s |")
        print("|---|---:|---:|")
        for label, score, fit_s in rows:
            print(f"| {label} | {score:.4f} | {fit_s:.2f} |")
        print(f"| **Pertinent default (batch-recommend)** | **{mine['ndcg']:.4f}** | {mine['fit_s']:.2f} |")
        print(
            f"ours: recommend() one user p50 {mine['p50_ms']:.2f} ms, p99 {mine['p99_ms']:.2f} ms; "
            f"peak RSS {mine['peak_rss_mib']:.0f} MiB (before fit {mine['rss_before_fit_mib']:.0f} MiB); "
            f"chose {json.dumps(mine['report'])}"
        )


if __name__ == "__main__":
    main()
