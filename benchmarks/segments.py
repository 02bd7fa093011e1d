"""Benchmark: machine-learned segments on synthetic profiles, plus per-profile assignment throughput.

Method (default): 1,000,000 profiles x 20 features drawn from 8 Gaussian blobs, 6 of the 20 columns
exponentiated so they are heavy-tailed like counts and money. ``discover`` with MiniBatchKMeans:
preprocessing (auto log1p, clip to 1%/99% quantiles, standard scaling; KNN imputer fitted on a 20k
sample) over all rows, k searched over --k-range on a 20,000-row sample (silhouette on 5,000 rows),
then one full MiniBatchKMeans fit on all rows at the chosen k. Assignment: ``SegmentModel.assign`` on
single dict profiles (the real-time path) and ``assign_many`` on a batch.

    .venv/bin/python benchmarks/segments.py            # full size
    .venv/bin/python benchmarks/segments.py --rows 100000
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from pertinent.segments.ml import discover
from pertinent.segments.pipeline import ClusteringConfig, SegmentationConfig


def synthetic_profiles(rows: int, features: int, centers: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = rng.uniform(-4, 4, size=(centers, features))
    truth = rng.integers(0, centers, rows)
    X = means[truth] + rng.normal(0, 1.0, size=(rows, features))
    heavy = features * 3 // 10  # e.g. 6 of 20 columns look like counts / money
    X[:, :heavy] = np.exp(X[:, :heavy] / 2)
    names = [f"count_{i}" for i in range(heavy)] + [f"feature_{i}" for i in range(heavy, features)]
    frame = pd.DataFrame(X, columns=names, index=pd.RangeIndex(rows, name="profile_id"))
    return frame, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--centers", type=int, default=8)
    parser.add_argument("--k-range", default="2-12")
    parser.add_argument("--algorithm", default="minibatch")
    parser.add_argument("--assign-calls", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--missing", type=float, default=0.0, help="Share of values blanked (KNN-imputed).")
    args = parser.parse_args()
    low, high = (int(v) for v in args.k_range.split("-"))

    t0 = time.perf_counter()
    frame, truth = synthetic_profiles(args.rows, args.features, args.centers, args.seed)
    if args.missing > 0:
        holes = np.random.default_rng(args.seed + 1).random(frame.shape) < args.missing
        frame = frame.mask(holes)
    t_data = time.perf_counter() - t0

    steps: list[tuple[str, float]] = []
    last = [time.perf_counter(), "start"]

    def progress(step: str, fraction: float) -> None:
        # each call starts a step: the time since the previous call belongs to the previous step
        now = time.perf_counter()
        if not step.startswith("tried k="):
            steps.append((str(last[1]), now - float(last[0])))
            last[0], last[1] = now, step

    config = SegmentationConfig(clustering=ClusteringConfig(algorithm=args.algorithm, k_range=(low, high)))
    t0 = time.perf_counter()
    last[0] = t0
    found = discover(frame, config, progress=progress)
    t_discover = time.perf_counter() - t0
    assert found.ok, found.report.message
    model = found.model
    ari = adjusted_rand_score(truth, found.labels.to_numpy())

    # real-time path: one dict per call
    rng = np.random.default_rng(1)
    rows = rng.integers(0, args.rows, args.assign_calls)
    profiles = frame.iloc[rows].to_dict(orient="records")
    t0 = time.perf_counter()
    for profile in profiles:
        model.assign(profile)
    t_assign = time.perf_counter() - t0
    batch = frame.iloc[:100_000]
    t0 = time.perf_counter()
    model.assign_many(batch)
    t_batch = time.perf_counter() - t0

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible")
    print(
        f"data: {args.rows:,} profiles x {args.features} features, {args.centers} true clusters "
        f"(generated in {t_data:.1f} s), {args.missing:.1%} of values missing"
    )
    print()
    print("| step | seconds |")
    print("|---|---:|")
    merged: dict[str, float] = {}
    for step, seconds in steps[1:]:
        merged[step] = merged.get(step, 0.0) + seconds
    for step, seconds in merged.items():
        print(f"| {step} | {seconds:.1f} |")
    print(f"| **discover total** | **{t_discover:.1f}** |")
    print()
    print("| result | value |")
    print("|---|---|")
    print(f"| chosen k | {found.report.k} |")
    print(f"| selection | {found.report.selection} |")
    print(f"| ARI vs true clusters | {ari:.3f} |")
    print(
        f"| assign(dict), {args.assign_calls:,} calls | {1e6 * t_assign / args.assign_calls:.1f} us/call "
        f"({args.assign_calls / t_assign:,.0f} profiles/s) |"
    )
    print(f"| assign_many, 100,000 rows | {t_batch * 1e3:.0f} ms ({len(batch) / t_batch:,.0f} profiles/s) |")


if __name__ == "__main__":
    main()
