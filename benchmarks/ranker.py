"""Time-aware candidates and the LambdaRank ranker versus peers, on a temporal and a random per-user split.

Temporal split (issue 13): for each user with >= 5 distinct items, the last 20% of their distinct items (ordered
by first interaction) are the test set; training keeps the earlier ones with their timestamps. Every item not in
the user's training history is ranked; NDCG@10 with binary relevance. Random split: 20% of each such user's
distinct items at random. Peers in the same run: EASE (lambda 100 / 500), EASE with the history weighted 0.8^age,
implicit ALS and item-to-item transitions (the sequence baseline).

    PYTHONPATH=src python benchmarks/ranker.py --datasets ml retail taobao
    PYTHONPATH=src python benchmarks/ranker.py --fit-only ml     # training time and peak RSS of the ranker
    PYTHONPATH=src python benchmarks/ranker.py --datasets ml --models ranker --compare-serving  # lists vs all items
    PYTHONPATH=src python benchmarks/ranker.py --datasets ml --models fused     # EASE + ranker, own validation

A temporary split of its own (the project's evaluation splits live in ``pertinent.evaluation.splits``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pertinent.recommend.datasets import movielens_positives, online_retail_positives, taobao_events
from pertinent.recommend.interactions import Interactions
from pertinent.recommend.models import make_model
from pertinent.recommend.primitives import Context
from pertinent.recommend.ranking.config import ServingConfig
from pertinent.recommend.ranking.labels import holdout_last
from pertinent.recommend.recency import last_times

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


def load(name: str, max_users: int | None) -> Interactions:
    if name == "ml":
        df = movielens_positives(DATA / "movielens-latest-small")
        data = Interactions.from_frame(df, timestamp_col="timestamp")
    elif name == "retail":
        df = online_retail_positives(DATA / "online-retail" / "online_retail.parquet")
        data = Interactions.from_frame(df, timestamp_col="timestamp")
    else:
        df = taobao_events(DATA / "taobao-userbehavior-sample" / "UserBehavior.csv")
        data = Interactions.from_frame(df, event_col="behavior", timestamp_col="timestamp")
    if max_users is not None and data.n_users > max_users:
        keep = np.random.default_rng(0).choice(data.n_users, max_users, replace=False)
        ev = data.events[data.events["user"].isin(keep)]
        data = data.with_events(ev)
    return data


def random_split(data: Interactions, fraction: float = 0.2, min_items: int = 5) -> tuple[Interactions, sp.csr_matrix]:
    ev = data.events
    pairs = ev[["user", "item"]].drop_duplicates()
    rng = np.random.default_rng(0)
    pairs = pairs.assign(r=rng.random(len(pairs))).sort_values(["user", "r"])
    n = pairs.groupby("user")["item"].transform("size").to_numpy()
    pos = pairs.groupby("user").cumcount().to_numpy()
    test = (n >= min_items) & (pos < np.maximum(1, np.round(n * fraction)))
    u, i = pairs["user"].to_numpy()[test], pairs["item"].to_numpy()[test]
    truth = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=data.shape)
    codes = ev["user"].to_numpy(np.int64) * data.n_items + ev["item"].to_numpy(np.int64)
    keep = ~np.isin(codes, u.astype(np.int64) * data.n_items + i)
    return data.with_events(ev.loc[keep]), truth


def global_split(data: Interactions) -> tuple[Interactions, sp.csr_matrix]:
    """One time cut at the 80% quantile of event times (``pertinent.evaluation.splits.global_time_split``); only
    test users with training history are scored (the others have nothing to personalise from)."""
    from pertinent.evaluation.splits import global_time_split

    split = global_time_split(data, quantile=0.8)
    warm = np.diff(split.train.matrix.indptr) > 0
    truth = sp.csr_matrix(sp.diags(warm.astype(np.float32)) @ split.test)
    truth.eliminate_zeros()
    return split.train, truth


def ndcg_at(model, train: Interactions, truth: sp.csr_matrix, k: int = 10, batch: int = 128) -> float:
    return float(np.mean(ndcg_per_user(model, train, truth, k, batch)))


def ndcg_per_user(model, train: Interactions, truth: sp.csr_matrix, k: int = 10, batch: int = 128) -> np.ndarray:
    """NDCG@k of each test user (the rows of ``truth`` with labels, in order)."""
    users = np.flatnonzero(np.diff(truth.indptr))
    times = last_times(train.events, train.shape)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    out = []
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        hist = train.matrix[chunk]
        ctx = Context(times=times[chunk]) if times is not None and model.wants_times() else None
        s = np.array(model.score(hist, ctx), dtype=np.float32)
        r, c = hist.nonzero()
        s[r, c] = -np.inf
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, axis=1), axis=1), axis=1)
        t = truth[chunk]
        for row in range(len(chunk)):
            rel = set(t.indices[t.indptr[row] : t.indptr[row + 1]].tolist())
            hits = np.asarray([j in rel for j in top[row]], dtype=float)
            ideal = discount[: min(len(rel), k)].sum()
            out.append(float((hits * discount).sum() / ideal))
    return np.asarray(out)


def paired_bootstrap(ours: np.ndarray, peer: np.ndarray, resamples: int, seed: int = 0) -> list[float]:
    """95% interval of mean(ours) / mean(peer) over test users drawn with replacement (the same users for both).

    >>> paired_bootstrap(np.array([0.2, 0.4, 0.6]), np.array([0.2, 0.4, 0.6]), 50)
    [1.0, 1.0]
    """
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ours), size=(resamples, len(ours)))
    ratios = ours[draws].mean(axis=1) / np.maximum(peer[draws].mean(axis=1), 1e-12)
    return [round(float(x), 3) for x in np.quantile(ratios, [0.025, 0.975])]


PEERS = {
    "ease_100": ("ease", {"regularization": 100.0}),
    "ease_500": ("ease", {"regularization": 500.0}),
    "ease_recent": ("ease", {"regularization": 100.0, "recency": {"decay": 0.8}}),
    "als": ("als", {"factors": 64, "iterations": 15}),
    "transitions": ("transitions", {}),
}
OURS = {"default": ("default", {}), "ranker": ("ranker", {}), "fused": ("fused", {})}
COMPARE_SERVING = False


def run(name: str, max_users: int | None, models: list[str], splits: list[str]) -> list[dict]:
    data = load(name, max_users)
    rows = []
    for split_name in splits:
        if split_name == "temporal":
            train, truth = holdout_last(data, 0.2, 5)
        else:
            train, truth = {"random": random_split, "global": global_split}[split_name](data)
        per_split: dict[str, np.ndarray] = {}
        for label in models:
            kind, cfg = {**PEERS, **OURS}[label]
            started = time.perf_counter()
            model = make_model(kind, cfg).fit(train)
            fit_s = time.perf_counter() - started
            per_user = ndcg_per_user(model, train, truth)
            score = float(per_user.mean())
            row = {
                "data": name,
                "split": split_name,
                "model": label,
                "ndcg@10": round(score, 5),
                "fit_s": round(fit_s, 1),
            }
            if kind == "fused":
                row["chosen"] = {k: model.report.get(k) for k in ("ease_lambda", "share", "ranker_learned", "trials")}
            if BOOTSTRAP and label in OURS:
                row.update(versus_best_peer(per_user, per_split))
            elif label in PEERS:
                per_split[label] = per_user
            print(json.dumps(row), flush=True)
            rows.append(row)
            if kind == "ranker" and getattr(model, "booster", None) is not None:
                rows += fused(model, train, truth, name, split_name)
            if COMPARE_SERVING and kind == "ranker":  # the same trained model, scoring every item per request
                model.config = model.config.model_copy(update={"serving": ServingConfig(exhaustive=True)})
                model._serving = None
                slow = {**row, "model": "ranker_exhaustive", "ndcg@10": round(ndcg_at(model, train, truth), 4)}
                print(json.dumps(slow), flush=True)
                rows.append(slow)
    return rows


def versus_best_peer(per_user: np.ndarray, peers: dict[str, np.ndarray]) -> dict:
    """Ratio to the best peer scored before it in the same split, with a paired bootstrap interval."""
    if not peers:
        return {}
    best = max(peers, key=lambda p: float(peers[p].mean()))
    ratio = float(per_user.mean()) / max(float(peers[best].mean()), 1e-12)
    return {"best_peer": best, "ratio": round(ratio, 4), "interval": paired_bootstrap(per_user, peers[best], BOOTSTRAP)}


BOOTSTRAP = 0
ANCHOR_WEIGHTS: list[float] = []
FUSION_KS: list[float] = []


def fused(model, train: Interactions, truth: sp.csr_matrix, name: str, split_name: str) -> list[dict]:
    """The same fitted ranker with its order fused with its ``ease`` generator's (EASE λ=200, no recency):
    ``anchor_weight`` w, 1 = that EASE alone; ``fusion_k`` the constant of reciprocal-rank fusion."""
    rows = []
    base = model.config
    for k in FUSION_KS or [base.fusion_k]:
        for w in ANCHOR_WEIGHTS:
            model.config = base.model_copy(update={"anchor": base.anchor or "ease", "anchor_weight": w, "fusion_k": k})
            label = f"ranker+ease {w:g}" + (f" k{k:g}" if FUSION_KS else "")
            row = {"data": name, "split": split_name, "model": label, "ndcg@10": round(ndcg_at(model, train, truth), 4)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    model.config = base
    return rows


def fit_only(name: str) -> None:
    data = load(name, None)
    started = time.perf_counter()
    model = make_model(*OURS["ranker"]).fit(data)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "data": name,
        "users": data.n_users,
        "items": data.n_items,
        "fit_wall_s": round(seconds, 1),
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),  # loading the data included
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "report": model.report,
    }
    print(json.dumps(out))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ml", "retail", "taobao"])
    parser.add_argument("--models", nargs="+", default=[*PEERS, "default", "ranker"], help="also: fused")
    parser.add_argument("--max-users", type=int, default=None, help="subsample users (short runs)")
    parser.add_argument("--splits", nargs="+", default=["temporal", "random"], choices=["temporal", "random", "global"])
    parser.add_argument("--ranker", default="{}", help="the ranker's config as JSON")
    parser.add_argument("--fused", default="{}", help="the fused model's config as JSON")
    parser.add_argument(
        "--anchor-weights",
        nargs="*",
        type=float,
        default=[],
        help="also score the ranker fused with EASE at these weights",
    )
    parser.add_argument("--fusion-ks", nargs="*", type=float, default=[], help="fusion constants for those")
    parser.add_argument("--fit-only", default=None, help="time the ranker's training on one dataset")
    parser.add_argument(
        "--compare-serving", action="store_true", help="also score the ranker exhaustively (no candidate lists)"
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        help="paired bootstrap resamples (over test users): each of ours against the best peer listed before it",
    )
    args = parser.parse_args(argv)
    global COMPARE_SERVING, BOOTSTRAP
    COMPARE_SERVING = args.compare_serving
    BOOTSTRAP = args.bootstrap
    OURS["ranker"] = ("ranker", json.loads(args.ranker))
    OURS["fused"] = ("fused", json.loads(args.fused))
    ANCHOR_WEIGHTS[:] = args.anchor_weights
    FUSION_KS[:] = args.fusion_ks
    if args.fit_only:
        fit_only(args.fit_only)
        return 0
    rows = []
    for name in args.datasets:
        rows += run(name, args.max_users, args.models, args.splits)
    frame = pd.DataFrame(rows)
    print(frame.pivot_table(index=["data", "split"], columns="model", values="ndcg@10").round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
