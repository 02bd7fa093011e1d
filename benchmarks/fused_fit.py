"""Training time of ``kind="fused"`` (and of the ranker) on MovieLens latest-small: this tree against another
source tree (e.g. the commit before a speed-up), in one run, each fit in its own process, alternating.

    git archive <before-commit> src | tar -x -C /tmp/before
    PYTHONPATH=src python benchmarks/fused_fit.py --before /tmp/before/src --splits temporal random

Each child fits on the training part of the split of ``benchmarks/ranker.py`` and reports wall and CPU seconds of
the fit alone, the process's peak RSS, the model's choices (fused: EASE's lambda, the ranker share, every trial's
validation NDCG) and NDCG@10 on the split's test users, so the two trees are shown to choose and score the same.
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

HERE = Path(__file__).resolve().parent


def child(model_kind: str, split_name: str) -> None:
    sys.path.insert(0, str(HERE))
    from ranker import load, ndcg_per_user, random_split

    from pertinent.recommend.models import make_model
    from pertinent.recommend.ranking.labels import holdout_last

    data = load("ml", None)
    train, truth = holdout_last(data, 0.2, 5) if split_name == "temporal" else random_split(data)
    wall, cpu = time.perf_counter(), time.process_time()
    model = make_model(model_kind, {}).fit(train)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out = {
        "fit_wall_s": round(wall, 1),
        "fit_cpu_s": round(cpu, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "ndcg@10": round(float(ndcg_per_user(model, train, truth).mean()), 5),
    }
    report = getattr(model, "report", {})
    if model_kind == "fused":
        out["chosen"] = {k: report.get(k) for k in ("ease_lambda", "share", "ease_likes_ndcg", "trials")}
    print(json.dumps(out))


def measure(src: str, model_kind: str, split_name: str) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    cmd = [sys.executable, __file__, "--child", model_kind, split_name]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=False, help="the other tree's src folder (omit: this tree only)")
    parser.add_argument("--splits", nargs="+", default=["temporal"], choices=["temporal", "random"])
    parser.add_argument("--ranker", action="store_true", help="also time the ranker kind (this tree)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    here = str(HERE.parent / "src")
    trees = [("before", args.before)] if args.before else []
    trees.append(("after", here))
    rows = []
    for split_name in args.splits:
        for label, src in trees:
            row = {"tree": label, "model": "fused", "split": split_name, **measure(src, "fused", split_name)}
            print(json.dumps(row), flush=True)
            rows.append(row)
        if args.ranker:
            row = {"tree": "after", "model": "ranker", "split": split_name, **measure(here, "ranker", split_name)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    for split_name in args.splits:
        pair = {r["tree"]: r for r in rows if r["split"] == split_name and r["model"] == "fused"}
        if "before" in pair:
            b, a = pair["before"], pair["after"]
            same = b.get("chosen") == a.get("chosen") and b["ndcg@10"] == a["ndcg@10"]
            print(
                f"{split_name}: wall {b['fit_wall_s']} -> {a['fit_wall_s']} s "
                f"({b['fit_wall_s'] / a['fit_wall_s']:.2f}x), CPU {b['fit_cpu_s']} -> {a['fit_cpu_s']} s "
                f"({b['fit_cpu_s'] / a['fit_cpu_s']:.2f}x), peak RSS {b['peak_rss_mib']} -> {a['peak_rss_mib']} MiB; "
                f"same choices and NDCG: {same}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
