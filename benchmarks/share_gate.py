"""Upper bound of a per-user ranker share (issue 13, Online Retail): the fused model's z-score mix of EASE and the
ranker with the share chosen per bucket of a user feature, the buckets' shares chosen ON the test splits.

It reads the score cache of ``anchor_frontier.py fit`` (models ``ease_100``, ``ease_recent`` and ``ranker`` on
the temporal and random splits) and, for each user feature of the training data (distinct items, days since the
user's last event, span of the history in days, distinct purchase days) and pairs of them, finds the shares per
bucket that maximise temporal NDCG@10 while the random split keeps at least EASE's (exhaustively for up to 4
buckets, by a Lagrangian sweep beyond). A gate learned on validation folds can only do worse than this bound.

    PYTHONPATH=src python benchmarks/anchor_frontier.py fit --datasets retail --models ease_100 ease_recent ranker
    PYTHONPATH=src python benchmarks/share_gate.py --dataset retail
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from anchor_frontier import ndcg  # noqa: E402
from ranker import load, random_split  # noqa: E402

from pertinent.recommend.models.fused import fuse_scores, per_row_candidates  # noqa: E402
from pertinent.recommend.ranking.labels import holdout_last  # noqa: E402

SHARES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def user_features(train, users: np.ndarray) -> dict[str, np.ndarray]:
    ev = train.events
    end = ev["timestamp"].max()
    by_user = ev.groupby("user")["timestamp"]
    last, first = by_user.max().reindex(users).to_numpy(), by_user.min().reindex(users).to_numpy()
    days = ev.assign(d=ev["timestamp"] // 86400).groupby("user")["d"].nunique().reindex(users).to_numpy()
    return {
        "hist_len": np.diff(train.matrix.indptr)[users].astype(float),
        "idle_days": (end - last) / 86400.0,
        "span_days": (last - first) / 86400.0,
        "baskets": days.astype(float),
    }


def best_shares(st: np.ndarray, sr: np.ndarray, floor: float, n_users: int) -> tuple[float, float, list[float]]:
    """(temporal, random, shares per bucket): the best bucket shares keeping the random NDCG >= ``floor``."""
    nb = len(st)
    combos: list[tuple[int, ...]] | np.ndarray
    if nb <= 4:
        combos = list(itertools.product(range(len(SHARES)), repeat=nb))
    else:  # maximise temporal + mu * random per bucket, for a sweep of mu
        mus = np.concatenate([np.linspace(0, 5, 201), np.linspace(5, 100, 96)])
        combos = np.stack([(st + mu * sr).argmax(axis=1) for mu in mus])
    best = (0.0, 0.0, [0.0] * nb)
    for combo in combos:
        pick = np.asarray(combo)
        r = float(sr[np.arange(nb), pick].sum()) / n_users
        t = float(st[np.arange(nb), pick].sum()) / n_users
        if r >= floor - 1e-12 and t > best[0]:
            best = (t, r, [SHARES[c] for c in pick])
    return best


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="retail")
    parser.add_argument("--cache", default="/tmp/pertinent_anchor_cache")
    args = parser.parse_args(argv)
    data = load(args.dataset, None)
    per: dict[str, np.ndarray] = {}
    feats: dict[str, dict[str, np.ndarray]] = {}
    peer_temporal = 0.0
    for split in ("temporal", "random"):
        train, truth = holdout_last(data, 0.2, 5) if split == "temporal" else random_split(data)
        users = np.flatnonzero(np.diff(truth.indptr))
        folder = Path(args.cache) / args.dataset / split
        labels, seen = sp.load_npz(folder / "truth.npz").tocsr(), sp.load_npz(folder / "seen.npz").tocsr()
        assert labels.shape[0] == len(users), "the cache was made from other splits"
        ease = np.load(folder / "ease_100.npy")
        ranked = per_row_candidates(np.load(folder / "ranker.npy"))
        per[split] = np.stack([ndcg(fuse_scores(ease, ranked, seen, a), seen, labels) for a in SHARES], axis=1)
        if split == "temporal":
            peer_temporal = float(ndcg(np.load(folder / "ease_recent.npy"), seen, labels).mean())
        feats[split] = user_features(train, users)
    t, r = per["temporal"], per["random"]
    peer_random = float(r[:, 0].mean())  # share 0 = EASE lambda 100, the random split's best peer
    print(f"best peers: temporal (EASE 0.8^age) {peer_temporal:.5f}, random (EASE 100) {peer_random:.5f}")
    for i, a in enumerate(SHARES):
        ratios = t[:, i].mean() / peer_temporal, r[:, i].mean() / peer_random
        print(f"fixed share {a:.1f}: temporal {ratios[0]:.3f}x random {ratios[1]:.4f}x")

    def buckets(name: str, nb: int) -> tuple[np.ndarray, np.ndarray]:
        cuts = np.quantile(feats["temporal"][name], np.linspace(0, 1, nb + 1)[1:-1])
        at = np.searchsorted(cuts, feats["temporal"][name], side="right")
        return at, np.searchsorted(cuts, feats["random"][name], side="right")

    gates: list[tuple[str, np.ndarray, np.ndarray, int]] = []
    for name in feats["temporal"]:
        for nb in (2, 4, 8, 16):
            gates.append((name, *buckets(name, nb), nb))
    for a, b in itertools.combinations(feats["temporal"], 2):
        (at, ar), (bt, br) = buckets(a, 4), buckets(b, 4)
        gates.append((f"{a} x {b}", at * 4 + bt, ar * 4 + br, 16))
    for label, bt, br, nb in gates:
        st = np.stack([t[bt == k].sum(axis=0) for k in range(nb)])
        sr = np.stack([r[br == k].sum(axis=0) for k in range(nb)])
        tt, rr, shares = best_shares(st, sr, peer_random, len(t))
        print(
            f"{label:24s} {nb:2d} buckets: temporal {tt / peer_temporal:.3f}x random {rr / peer_random:.4f}x "
            f"shares {shares}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
