"""Spark ALS vs the in-process ALS on Online Retail, same export, same interactions, same temporal split.

Protocol: the dataset is imported into a temporary SQLite data dir (``pertinent import --preset online-retail``)
and exported to Parquet (``pertinent export events --format parquet``), both as subprocesses; Spark SQL turns the
export into (profile, product) interactions with the in-process trainer's event weights
(``pertinent.spark.als.interaction_pairs``); the newest 20% of interactions are held out
(``pertinent.evaluation.temporal_split``); both models train on the same train part and are scored with
``pertinent.evaluation.evaluate`` (NDCG@10, all unseen items ranked, fold-in from the train rows).

* Spark: ``pyspark.ml.recommendation.ALS`` (implicitPrefs, local[2]) -> the ``spark_als`` kind;
* in-process: ``implicit``'s ALS (``ALSRecommender``), the tuned setting of benchmarks/recsys.py.

Wall time is the fit (Spark: from the train interactions on the driver to the factors back on the driver; the
session is already up, its start-up is reported apart). Peak memory is the peak RSS of this process and its
children (the JVM) during the Spark fit, and of this process alone during the in-process fit (py4j keeps the
stopped session's JVM alive until exit), sampled every 0.1 s (Linux ``/proc``).

Run: .venv/bin/python benchmarks/spark_als.py [--limit ROWS] [--master local[2]]
"""

from __future__ import annotations

import argparse
import json
import os
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
    env = {**os.environ, "PERTINENT_DATA_DIR": str(data_dir)}
    code = "from pertinent.cli import app; app()"
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="import only the first N invoice lines")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--spark-reg", type=float, default=0.01, help="Spark regParam (scaled per user: ALS-WR)")
    parser.add_argument("--implicit-reg", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=2.0)
    args = parser.parse_args()

    from pertinent.evaluation import evaluate, temporal_split
    from pertinent.recommend import ALSRecommender
    from pertinent.spark.als import collect_interactions, fit_als, interaction_pairs
    from pertinent.spark.model import SparkALSConfig
    from pertinent.spark.session import read_export, spark_session

    with tempfile.TemporaryDirectory(prefix="spark-als-bench-") as tmp:
        data_dir, export = Path(tmp) / "data", Path(tmp) / "export"
        limit = ["--limit", str(args.limit)] if args.limit else []
        _, import_s, _ = measured(
            lambda: pertinent(["import", str(DATASET), "--preset", "online-retail", *limit], data_dir)
        )
        time.sleep(6)  # the export leaves rows younger than its settle time (5 s) for the next run
        _, export_s, _ = measured(
            lambda: pertinent(["export", "events", "--format", "parquet", "--out", str(export)], data_dir)
        )
        spark, start_s, _ = measured(lambda: spark_session(args.master, "pertinent-bench", partitions=4))
        data, pairs_s, _ = measured(
            lambda: collect_interactions(interaction_pairs(read_export(spark, export, "events")))
        )
        split = temporal_split(data, 0.2)
        cfg = SparkALSConfig(rank=args.factors, max_iter=args.iterations, reg_param=args.spark_reg, alpha=args.alpha)
        spark_model, spark_s, spark_mib = measured(lambda: fit_als(spark, split.train, cfg))
        spark.stop()
        local = ALSRecommender(
            factors=args.factors, iterations=args.iterations, regularization=args.implicit_reg, alpha=args.alpha
        )
        _, local_s, local_mib = measured(lambda: local.fit(split.train), tree=False)
        spark_eval = evaluate(spark_model, split, k=K)
        local_eval = evaluate(local, split, k=K)
        print(f"spark {spark_eval.metrics} / in-process {local_eval.metrics}", file=sys.stderr)
    s_ndcg, l_ndcg = spark_eval.metrics["ndcg"], local_eval.metrics["ndcg"]
    report = {
        "data": {
            "users": data.n_users,
            "items": data.n_items,
            "interactions": int(data.matrix.nnz),
            "test_users": spark_eval.n_users,
        },
        "seconds": {
            "import": round(import_s, 1),
            "export": round(export_s, 1),
            "spark_start": round(start_s, 1),
            "spark_sql_interactions": round(pairs_s, 1),
        },
        "spark_als": {"ndcg@10": round(s_ndcg, 4), "fit_s": round(spark_s, 1), "peak_rss_mib": round(spark_mib)},
        "implicit_als": {"ndcg@10": round(l_ndcg, 4), "fit_s": round(local_s, 1), "peak_rss_mib": round(local_mib)},
        "ndcg_ratio_spark_to_inprocess": round(s_ndcg / l_ndcg, 4) if l_ndcg else None,
        "params": vars(args),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
