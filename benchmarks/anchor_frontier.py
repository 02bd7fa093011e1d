"""Exploration for issue 13's "ranker as default" target: cache each model's scores for the test users of the
temporal and random splits of ``benchmarks/ranker.py`` (same splits, same peers), then score anchor ensembles
and their fusion with the temporal ranker offline.

    PYTHONPATH=src python benchmarks/anchor_frontier.py fit --datasets ml retail      # fills --cache
    PYTHONPATH=src python benchmarks/anchor_frontier.py eval --datasets ml retail     # tables from the cache

This looks at the TEST splits on purpose: it maps the frontier (what any weight could reach). Weights a model may
use are chosen by its own validation (``kind="blend"``), never here.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ranker import global_split, load, random_split  # noqa: E402

from pertinent.recommend.models import make_model  # noqa: E402
from pertinent.recommend.primitives import Context  # noqa: E402
from pertinent.recommend.ranking.labels import holdout_last  # noqa: E402
from pertinent.recommend.recency import last_times  # noqa: E402

MODELS = {
    "ease_50": ("ease", {"regularization": 50.0}),
    "ease_100": ("ease", {"regularization": 100.0}),
    "ease_200": ("ease", {"regularization": 200.0}),
    "ease_500": ("ease", {"regularization": 500.0}),
    "ease_recent": ("ease", {"regularization": 100.0, "recency": {"decay": 0.8}}),
    "als": ("als", {"factors": 64, "iterations": 15}),
    "itemknn": ("itemknn", {}),
    "transitions": ("transitions", {}),
    "ranker": ("ranker", {}),
    "ranker_ut": ("ranker", {"user_time_features": True}),
    "fused": ("fused", {}),  # weights chosen by its own validation folds
}
PEERS = ["ease_100", "ease_500", "ease_recent", "als", "transitions"]


def split(data, name: str):
    if name == "temporal":
        return holdout_last(data, 0.2, 5)
    return {"random": random_split, "global": global_split}[name](data)


def rp3beta(x: sp.csr_matrix, alpha: float = 1.0, beta: float = 0.5, keep: int = 200) -> np.ndarray:
    """RP3beta (Paudel et al. 2017) item x item weights, dense, each row's ``keep`` largest kept."""
    x = sp.csr_matrix(x, dtype=np.float64)
    x.data[:] = 1.0
    pui = sp.diags(1.0 / np.maximum(np.asarray(x.sum(axis=1)).ravel(), 1)) @ x
    xt = x.T.tocsr()
    piu = sp.diags(1.0 / np.maximum(np.asarray(xt.sum(axis=1)).ravel(), 1)) @ xt
    if alpha != 1.0:
        pui.data **= alpha
        piu.data **= alpha
    w = np.asarray((piu @ pui).todense())
    pop = np.maximum(np.asarray(x.sum(axis=0)).ravel(), 1)
    w /= pop[None, :] ** beta
    np.fill_diagonal(w, 0.0)
    if keep < w.shape[1]:
        cut = -np.partition(-w, keep - 1, axis=1)[:, keep - 1 : keep]
        w[w < cut] = 0.0
    return w.astype(np.float32)


def edlae(x: sp.csr_matrix, dropout: float, lam: float) -> np.ndarray:
    """EDLAE (Steck 2020, emphasised denoising linear autoencoder, zero diagonal): EASE with item i regularised
    by lambda + dropout / (1 - dropout) * G_ii."""
    from pertinent.recommend.models.ease import ease_from_gram, gram

    x = sp.csr_matrix(x, dtype=np.float32)
    x.data[:] = 1.0
    g = gram(x)
    g[np.diag_indices_from(g)] *= 1.0 + dropout / (1 - dropout)
    return ease_from_gram(g, lam, overwrite=True)


def scores_of(model, train, users: np.ndarray, batch: int = 256) -> np.ndarray:
    times = last_times(train.events, train.shape)
    out = []
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        ctx = Context(times=times[chunk]) if times is not None and model.wants_times() else None
        out.append(np.asarray(model.score(train.matrix[chunk], ctx), dtype=np.float32))
    return np.vstack(out)


def fit(args) -> None:
    cache = Path(args.cache)
    for name in args.datasets:
        data = load(name, None)
        for split_name in args.splits:
            train, truth = split(data, split_name)
            users = np.flatnonzero(np.diff(truth.indptr))
            folder = cache / name / split_name
            folder.mkdir(parents=True, exist_ok=True)
            sp.save_npz(folder / "truth.npz", sp.csr_matrix(truth[users]))
            sp.save_npz(folder / "seen.npz", sp.csr_matrix(train.matrix[users]))
            for label in args.models:
                path = folder / f"{label}.npy"
                chosen: dict = {}
                if path.exists():
                    continue
                started = time.perf_counter()
                if label.startswith("edlae"):  # edlae_<dropout>_<lambda>
                    _, drop, lam = label.split("_")
                    s = np.asarray(train.matrix[users] @ edlae(train.matrix, float(drop), float(lam)), dtype=np.float32)
                elif label.startswith("rp3"):  # rp3_<beta>
                    w = rp3beta(train.matrix, beta=float(label.split("_")[1]))
                    s = np.asarray(train.matrix[users] @ w, dtype=np.float32)
                else:
                    kind, cfg = MODELS[label]
                    model = make_model(kind, cfg).fit(train)
                    s = scores_of(model, train, users)
                    chosen = {k: model.report.get(k) for k in ("ease_lambda", "share")} if kind == "fused" else {}
                np.save(path, s)
                took = round(time.perf_counter() - started, 1)
                print(json.dumps({"data": name, "split": split_name, "model": label, "s": took, **chosen}), flush=True)


# ------------------------------------------------------------------ offline evaluation
def ndcg(s: np.ndarray, seen: sp.csr_matrix, truth: sp.csr_matrix, k: int = 10) -> np.ndarray:
    s = np.array(s, dtype=np.float32, copy=True)
    r, c = seen.nonzero()
    s[r, c] = -np.inf
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable"), axis=1)
    hits = np.asarray(truth[np.arange(len(s))[:, None], top].todense()) > 0
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(disc)[np.minimum(np.diff(truth.indptr), k) - 1]
    return (hits * disc).sum(axis=1) / ideal


def ranks(s: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    from pertinent.recommend.ranking.fusion import ranks as _ranks

    return _ranks(s, seen)


def znorm(s: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    """Each row standardised over its unseen items' scores."""
    m = np.array(s, dtype=np.float64, copy=True)
    mask = np.ones(m.shape, bool)
    r, c = seen.nonzero()
    mask[r, c] = False
    cnt = mask.sum(axis=1, keepdims=True)
    mu = np.where(mask, m, 0).sum(axis=1, keepdims=True) / cnt
    sd = np.sqrt(np.where(mask, (m - mu) ** 2, 0).sum(axis=1, keepdims=True) / cnt)
    return ((m - mu) / np.where(sd > 0, sd, 1)).astype(np.float32)


def score_table(per_split: dict, label: str, fn) -> dict[str, float]:
    """NDCG@10 of ``fn(cached matrices, seen)`` on each split (splits lacking a matrix are left out)."""
    out = {}
    for split_name, (truth, seen, mats) in per_split.items():
        try:
            out[split_name] = float(ndcg(fn(mats, seen), seen, truth).mean())
        except KeyError:
            pass
    return out


def evaluate(args) -> None:
    cache = Path(args.cache)
    for name in args.datasets:
        per_split = {}
        for split_name in args.splits:
            folder = cache / name / split_name
            truth, seen = sp.load_npz(folder / "truth.npz").tocsr(), sp.load_npz(folder / "seen.npz").tocsr()
            mats = {p.stem: np.load(p) for p in sorted(folder.glob("*.npy"))}
            per_split[split_name] = (truth, seen, mats)
        rows: dict[str, dict[str, float]] = {}
        names = sorted(set.intersection(*[set(m) for _, _, m in per_split.values()]))
        for n in names:
            rows[n] = score_table(per_split, n, lambda m, seen, n=n: m[n])
        if args.pairs:  # anchor ensembles: z-scored score sums
            likes = [n for n in names if n.startswith(("ease_1", "ease_2", "ease_5", "rp3", "itemknn", "als", "edlae"))]
            for a, b in itertools.combinations(likes, 2):
                for w in (0.2, 0.35, 0.5):
                    rows[f"z {a}+{w:g} {b}"] = score_table(
                        per_split, "", lambda m, seen, a=a, b=b, w=w: znorm(m[a], seen) + w * znorm(m[b], seen)
                    )
        for anchor, rk, w in itertools.product(args.anchors, args.rankers, args.weights):
            if rk not in names:
                continue
            if args.fusion == "z":
                rows[f"z {anchor} / {rk} a={w:g}"] = score_table(
                    per_split, "", lambda m, seen, anchor=anchor, rk=rk, w=w: zfused(m, seen, anchor, rk, w)
                )
                continue
            for k in args.ks:
                rows[f"rrf {anchor} / {rk} a={w:g} k={k:g}"] = score_table(
                    per_split, "", lambda m, seen, anchor=anchor, rk=rk, w=w, k=k: fused(m, seen, anchor, rk, w, k)
                )
        best = {s: max(rows[p].get(s, 0) for p in PEERS if p in rows) for s in per_split}
        print(f"\n## {name}: best peer " + ", ".join(f"{s} {v:.4f}" for s, v in best.items()))
        for label, v in rows.items():
            cells = "  ".join(f"{s} {v[s]:.4f} ({v[s] / best[s]:.3f}x)" for s in v)
            print(f"{label:48s} {cells}")


def anchor_scores(m: dict, seen: sp.csr_matrix, anchor: str) -> np.ndarray:
    """``a+w*b`` z-scored sums, or a cached model's scores."""
    if "+" not in anchor:
        return m[anchor]
    first, *rest = anchor.split("+")
    out = znorm(m[first], seen)
    for term in rest:
        w, n = term.split("*")
        out = out + float(w) * znorm(m[n], seen)
    return out


def fused(m: dict, seen, anchor: str, rk: str, w: float, k: float) -> np.ndarray:
    return w / (k + ranks(m[rk], seen)) + (1 - w) / (k + ranks(anchor_scores(m, seen, anchor), seen))


def zfused(m: dict, seen, anchor: str, rk: str, w: float) -> np.ndarray:
    """The fused model's score (``pertinent.recommend.models.fused``): z-scores, the ranker's shifted per row."""
    from pertinent.recommend.models.fused import fuse_scores, per_row_candidates

    return fuse_scores(anchor_scores(m, seen, anchor), per_row_candidates(m[rk]), seen, w)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["fit", "eval"])
    parser.add_argument("--datasets", nargs="+", default=["ml", "retail"])
    parser.add_argument("--splits", nargs="+", default=["temporal", "random"])
    parser.add_argument("--models", nargs="+", default=[*MODELS, "rp3_0.5", "rp3_0.3"])
    parser.add_argument("--cache", default="/tmp/pertinent_anchor_cache")
    parser.add_argument("--anchors", nargs="*", default=["ease_100"])
    parser.add_argument("--rankers", nargs="*", default=["ranker_ut"])
    parser.add_argument("--weights", nargs="*", type=float, default=[])
    parser.add_argument("--ks", nargs="*", type=float, default=[5.0])
    parser.add_argument("--fusion", choices=["rrf", "z"], default="z", help="reciprocal-rank or z-score fusion")
    parser.add_argument("--pairs", action="store_true", help="also z-scored pairs of the 'likes' models")
    args = parser.parse_args(argv)
    (fit if args.what == "fit" else evaluate)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
