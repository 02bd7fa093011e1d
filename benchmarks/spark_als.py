"""Spark ALS vs the in-process ALS on Online Retail, same export, same interactions, same temporal split.

Protocol: the dataset is imported into a temporary SQLite data dir (``pertinent import --preset online-retail``)
with a fixed pseudonymisation key, so every run sees the same profile ids (a fresh data dir otherwise draws a
random key: other ids, another user order, other Spark blocks and starting factors), and exported to Parquet
(``pertinent export events --format parquet``), both as subprocesses; Spark SQL turns the export into (profile,
product) interactions with the in-process trainer's event weights (``pertinent.spark.als.interaction_pairs``);
``--cache`` keeps those pairs for the next run. The newest 20% of interactions are held out
(``pertinent.evaluation.temporal_split``); both models train on the same train part and are scored with
``pertinent.evaluation.evaluate`` (NDCG@10, all unseen items ranked, fold-in from the train rows).

* Spark: ``pyspark.ml.recommendation.ALS`` (implicitPrefs, local[2]) -> the ``spark_als`` kind;
* in-process: ``implicit``'s ALS (``ALSRecommender``, the ``als`` kind).

The two solve the same implicit-feedback objective once their parameters are translated:

* confidence: Spark uses ``c = 1 + alpha * r``, implicit ``c = alpha * r``; implicit is given ``1 + alpha * r``
  as its weights with ``alpha = 1`` (for training and for the fold-in), so both see the same confidences;
* regularisation: Spark multiplies ``regParam`` by each user's (item's) number of ratings (ALS-WR), implicit does
  not; ``--spark-reg auto`` takes ``implicit_reg / n`` with ``n`` the mean count over users and items of the train
  part, so the average penalty per solve is the same;
* rank, iterations, the seeds (``--seeds``, each model fitted once per seed) and the data are the same.

Wall time is the fit (Spark: from the train interactions on the driver to the factors back on the driver; the
session is already up, its start-up is reported apart). Peak memory is the peak RSS of this process and its
children (the JVM) during the Spark fits, and of this process alone during the in-process fits (py4j keeps the
stopped session's JVM alive until exit), sampled every 0.1 s (Linux ``/proc``).

Run: .venv/bin/python benchmarks/spark_als.py [--seeds 0 1 2] [--cache /tmp/or-pairs.parquet] [--limit ROWS]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "online-retail" / "online_retail.parquet"
K = 10
PSEUDONYM_KEY = "spark-als-benchmark"  # fixed: the same profile ids (and user order) every run


def tree_rss(root: int) -> int:
    """RSS bytes of ``root`` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def self_rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measured(fn: Callable[[], Any], tree: bool = True) -> tuple[Any, float, float]:
    """(result, wall seconds, peak RSS in MiB) of ``fn()``: of this process and its children (the JVM), or of
    this process alone (``tree=False``: the in-process fit, while the stopped session's JVM idles)."""
    rss = (lambda: tree_rss(os.getpid())) if tree else self_rss
    peak = [rss()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    done.set()
    thread.join()
    return result, wall, max(peak[0], rss()) / 2**20


def pertinent(args: list[str], data_dir: Path) -> None:
    env = {**os.environ, "PERTINENT_DATA_DIR": str(data_dir), "PERTINENT_PSEUDONYM_KEYS": PSEUDONYM_KEY}
    code = "from pertinent.cli import app; app()"
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, stdout=subprocess.DEVNULL)


def build_pairs(spark: Any, limit: int | None) -> tuple[Any, dict[str, float]]:
    """Import, export and Spark SQL: the (user, item, weight, timestamp) pairs as pandas, with the step times."""
    from pertinent.spark.als import interaction_pairs
    from pertinent.spark.session import read_export

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="spark-als-bench-") as tmp:
        data_dir, export = Path(tmp) / "data", Path(tmp) / "export"
        rows = ["--limit", str(limit)] if limit else []
        _, seconds["import"], _ = measured(
            lambda: pertinent(["import", str(DATASET), "--preset", "online-retail", *rows], data_dir)
        )
        time.sleep(6)  # the export leaves rows younger than its settle time (5 s) for the next run
        _, seconds["export"], _ = measured(
            lambda: pertinent(["export", "events", "--format", "parquet", "--out", str(export)], data_dir)
        )
        frame, seconds["spark_sql_interactions"], _ = measured(
            lambda: interaction_pairs(read_export(spark, export, "events")).orderBy("user", "item").toPandas()
        )
    return frame, seconds


def spread(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation, min and max (4 decimals)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        k: round(v, 4)
        for k, v in (("mean", statistics.fmean(values)), ("sd", sd), ("min", min(values)), ("max", max(values)))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="import only the first N invoice lines")
    parser.add_argument("--cache", type=Path, default=None, help="Parquet of the pairs: read if present, else written")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--implicit-seeds", type=int, nargs="+", default=None, help="more seeds for implicit alone")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--implicit-reg", type=float, default=0.05)
    parser.add_argument("--spark-reg", default="auto", help="Spark regParam, or auto: implicit-reg / mean count")
    parser.add_argument("--alpha", type=float, default=2.0, help="confidence 1 + alpha * weight, for both")
    parser.add_argument("--repeat", action="store_true", help="fit Spark's first seed twice (is it deterministic?)")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from pertinent.evaluation import Split, evaluate, temporal_split
    from pertinent.recommend import ALSRecommender
    from pertinent.spark.als import fit_als, pairs_to_interactions
    from pertinent.spark.model import SparkALSConfig, implicit_regularization
    from pertinent.spark.session import spark_session

    spark, start_s, _ = measured(lambda: spark_session(args.master, "pertinent-bench", partitions=4))
    seconds = {"spark_start": round(start_s, 1)}
    if args.cache and args.cache.exists():
        frame = pd.read_parquet(args.cache)
    else:
        frame, steps = build_pairs(spark, args.limit)
        seconds.update({k: round(v, 1) for k, v in steps.items()})
        if args.cache:
            frame.to_parquet(args.cache)
    data = pairs_to_interactions(frame)
    split = temporal_split(data, 0.2)
    train = split.train.matrix
    mean_count = implicit_regularization(1.0, train)  # mean ratings per user and item: Spark's penalty scale
    spark_reg = args.implicit_reg / mean_count if args.spark_reg == "auto" else float(args.spark_reg)
    # implicit's confidence is alpha * weight: give it 1 + alpha * weight with alpha 1 (Spark's confidence)
    events = split.train.events
    confident = Split(split.train.with_events(events.assign(weight=1 + args.alpha * events["weight"])), split.test)

    runs: dict[str, list[dict[str, float]]] = {"spark_als": [], "implicit_als": []}
    spark_seeds = [*args.seeds, args.seeds[0]] if args.repeat else args.seeds
    factors: list[np.ndarray] = []
    for seed in spark_seeds:
        cfg = SparkALSConfig(
            rank=args.factors, max_iter=args.iterations, reg_param=spark_reg, alpha=args.alpha, seed=seed
        )
        model, fit_s, mib = measured(lambda: fit_als(spark, split.train, cfg))  # noqa: B023 (called at once)
        factors.append(model.item_factors)
        ndcg = evaluate(model, split, k=K).metrics["ndcg"]
        runs["spark_als"].append({"seed": seed, "ndcg@10": round(ndcg, 4), "fit_s": round(fit_s, 1), "mib": round(mib)})
        print(f"spark seed {seed}: {runs['spark_als'][-1]}", file=sys.stderr)
    spark.stop()
    for seed in args.implicit_seeds or args.seeds:
        local = ALSRecommender(
            factors=args.factors, iterations=args.iterations, regularization=args.implicit_reg, alpha=1.0, seed=seed
        )
        _, fit_s, mib = measured(lambda: local.fit(confident.train), tree=False)  # noqa: B023 (called at once)
        ndcg = evaluate(local, confident, k=K).metrics["ndcg"]
        runs["implicit_als"].append(
            {"seed": seed, "ndcg@10": round(ndcg, 4), "fit_s": round(fit_s, 1), "mib": round(mib)}
        )
        print(f"implicit seed {seed}: {runs['implicit_als'][-1]}", file=sys.stderr)

    s_ndcg = [r["ndcg@10"] for r in runs["spark_als"][: len(args.seeds)]]
    l_ndcg = [r["ndcg@10"] for r in runs["implicit_als"]]
    report: dict[str, Any] = {
        "data": {
            "users": data.n_users,
            "items": data.n_items,
            "interactions": int(data.matrix.nnz),
            "train_interactions": int(train.nnz),
            "mean_count_per_user_and_item": round(mean_count, 1),
            "test_users": int(len(split.test_users)),
            "weights": {str(w): int(n) for w, n in zip(*np.unique(data.matrix.data, return_counts=True), strict=True)},
        },
        "seconds": seconds,
        "params": {**vars(args), "cache": str(args.cache), "spark_reg": spark_reg},
        "runs": runs,
        "spark_ndcg": spread(s_ndcg),
        "implicit_ndcg": spread(l_ndcg),
        "ndcg_ratio_per_seed": spread([a / b for a, b in zip(s_ndcg, l_ndcg, strict=False)]),
        "ndcg_ratio_of_means": round(statistics.fmean(s_ndcg) / statistics.fmean(l_ndcg), 4),
        "fit_s_ratio": round(
            statistics.fmean(r["fit_s"] for r in runs["spark_als"])
            / statistics.fmean(r["fit_s"] for r in runs["implicit_als"]),
            1,
        ),
    }
    if args.repeat:
        report["spark_same_seed_max_item_factor_diff"] = float(np.abs(factors[0] - factors[-1]).max())
        report["spark_same_seed_ndcg"] = [runs["spark_als"][0]["ndcg@10"], runs["spark_als"][-1]["ndcg@10"]]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
