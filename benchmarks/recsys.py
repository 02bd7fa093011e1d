"""Recommendation quality: Pertinent's models vs peers, same split, same run, temporal and random splits.

Protocol: positives = rating >= 3.5 (MovieLens latest-small), cleaned purchases (Online Retail, customer x
StockCode) or any event (Taobao sample), with their timestamps; users with >= 5 distinct positives.
Splits (``pertinent.evaluation.splits``):
  temporal  per user, the last 20% of the distinct items by first interaction time are the test set; train
            keeps the earlier ones with their timestamps (production's question: what does this user want next?)
  random    per-user random 20% holdout (seed 42), the question "what does this user like"
  global    one time cut at the 80% quantile of event times; users first seen after it are test users with
            no history (their share is reported, loudly when most are)
Every item not in the user's train row is ranked. NDCG@10 and MAP@10 (binary), Recall@20, catalogue
coverage of the top-10 lists, share of test users without training history.

Peers (``pertinent.evaluation.peers``): popularity, EASE λ 100 and 500 (float64 LAPACK solve; above 12k items
only the most popular seen twice), recency-weighted EASE (history row weighted 0.8^age, age 0 = newest distinct
item), implicit ALS (64 factors, reg .05, alpha 2, 20 iterations), item transitions (next-item baseline).
Models: any registered kind by name (``--models default,ease``); each is fitted on the train part only.

Run: .venv/bin/python benchmarks/recsys.py [--datasets movielens,retail,taobao] [--splits temporal,random]
     [--models default] [--peers ...] [--max-users 2000] [--json out.json] [--import my.module]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
K = 10
RECALL_K = 20
DEFAULT_PEERS = "popularity-peer,ease-100,ease-500,rw-ease-100,rw-ease,als-peer,transitions"


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
        df = taobao_events(DATASETS / "taobao-userbehavior-sample" / "UserBehavior.csv")
    else:
        raise SystemExit(f"--datasets: unknown dataset {name!r} (movielens, retail, taobao)")
    df = min_user_positives(df, 5)[["user", "item", "timestamp"]]
    return Interactions.from_frame(df, timestamp_col="timestamp")


def make_split(data, how: str):
    from pertinent.evaluation.splits import global_time_split, random_holdout, temporal_user_split

    if how == "temporal":
        return temporal_user_split(data, fraction=0.2, min_items=5)
    if how == "random":
        return random_holdout(data, fraction=0.2, seed=42, min_interactions=5)
    if how == "global":
        return global_time_split(data, quantile=0.8)
    raise SystemExit(f"--splits: unknown split {how!r} (temporal, random, global)")


def rankers(peers: list[str], models: list[str], config: dict) -> list:
    from pertinent.evaluation.peers import ModelRanker, make_peer

    shared: dict = {}
    out = []
    for name in peers:
        peer = make_peer(name, shared)
        if peer is None:
            raise SystemExit(f"--peers: unknown peer {name!r}")
        out.append(peer)
    for kind in models:
        try:
            out.append(ModelRanker(kind, config if kind == "default" else None, name=f"Pertinent {kind}"))
        except ValueError as exc:
            raise SystemExit(f"--models: {exc}") from None
    return out


def peak_rss_mib() -> float:
    """VmHWM of this process (unlike ru_maxrss it is not inherited from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fmt(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def report(dataset: str, how: str, split, results: list, models: list[str]) -> dict:
    from pertinent.evaluation.evaluate import cold_warning

    n_users = results[0].result.n_users if results else 0
    n_cold = results[0].result.n_cold if results else 0
    print(f"\n### {dataset}, {how} split: {split.describe()}; {n_users:,} test users scored")
    warning = cold_warning(n_cold, n_users)
    if warning:
        print(f"\n**{warning}**\n")
    warm = f" NDCG@{K} with-history users |" if n_cold else ""
    print(f"| model | NDCG@{K} | Recall@{RECALL_K} | MAP@{K} | coverage | no-history users |{warm} fit s | note |")
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if n_cold else "") + "---:|---|")
    for r in results:
        m = r.result.metrics
        bold = r.name.startswith("Pertinent")
        name = f"**{r.name}**" if bold else r.name
        warm_cell = f" {fmt(m.get('ndcg_warm', math.nan))} |" if n_cold else ""
        print(
            f"| {name} | {fmt(m.get('ndcg', math.nan))} | {fmt(m.get(f'recall@{RECALL_K}', math.nan))} | "
            f"{fmt(m.get('map', math.nan))} | {fmt(m.get('coverage', math.nan))} | {r.result.cold_share:.0%} |"
            f"{warm_cell} {r.fit_seconds:.1f} | {r.note} |"
        )
    ours = [r for r in results if r.name.startswith("Pertinent")]
    peers = [r for r in results if not r.name.startswith("Pertinent") and "ndcg" in r.result.metrics]
    if ours and peers:
        best = max(peers, key=lambda r: r.result.metrics["ndcg"])
        for r in ours:
            ratio = r.result.metrics.get("ndcg", math.nan) / best.result.metrics["ndcg"]
            print(f"\n{r.name} / best peer ({best.name}): NDCG@{K} ratio {ratio:.3f}")
    return {r.name: r.to_dict() for r in results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="movielens,retail,taobao")
    ap.add_argument("--splits", default="temporal,random", help="temporal, random, global (comma-separated)")
    ap.add_argument("--models", default="default", help="registered model kinds, e.g. default,ease")
    ap.add_argument("--peers", default=DEFAULT_PEERS, help=f"peers (default {DEFAULT_PEERS}); '' for none")
    ap.add_argument("--max-users", type=int, default=None, help="score a seeded sample of this many test users")
    ap.add_argument("--config", default="{}", help="the default model's config as JSON")
    ap.add_argument("--json", default=None, help="also write every result here")
    ap.add_argument(
        "--import", dest="imports", action="append", default=[], help="a module defining more model kinds (repeatable)"
    )
    args = ap.parse_args()
    import importlib

    for module in args.imports:  # a Recommender subclass with its own ``kind`` registers itself on import
        importlib.import_module(module)
    if not DATASETS.exists():
        raise SystemExit(f"datasets not found at {DATASETS}")
    from pertinent.evaluation.peers import compare

    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    config = json.loads(args.config)
    everything: dict = {}
    for dataset in args.datasets.split(","):
        data = load(dataset)
        print(f"\n## {dataset}: {data.n_users:,} users x {data.n_items:,} items, {data.matrix.nnz:,} positives")
        for how in args.splits.split(","):
            split = make_split(data, how)
            start = time.perf_counter()
            results = compare(
                split,
                rankers(peers, models, config),
                k=K,
                recall_k=RECALL_K,
                max_users=args.max_users,
                on_done=lambda r: print(f"  {r.name}: NDCG@{K} {fmt(r.result.metrics.get('ndcg'))}", file=sys.stderr),
            )
            everything[f"{dataset}/{how}"] = report(dataset, how, split, results, models)
            print(f"\n({time.perf_counter() - start:.0f} s for this split)")
    print(f"\npeak RSS (VmHWM) of the benchmark process: {peak_rss_mib():.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2, default=float))


if __name__ == "__main__":
    main()
