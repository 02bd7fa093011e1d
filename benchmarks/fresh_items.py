"""What the cold-item layer (``recommend/fresh.py``) costs per list, in process: the same requests with the layer
off (``fresh.share=0``) and on, in the same run, with ``--new`` catalogue items unknown to the model.

Setup: a synthetic shop (``pertinent.synthetic``: ``--users`` users, ``--items`` items) ingested on SQLite, an
EASE model trained from its events, then ``--new`` items added to the catalogue after training (titles and
categories drawn from the trained items'). Requests: ``RecommendService.recommend`` for known users with the
result cache off (every request makes its list), in rounds alternating off/on so both see the same machine
state. Reported: median and p99 per request (ms) and the share of lists that got a new item.

Run: .venv/bin/python benchmarks/fresh_items.py --users 2000 --items 1000 --new 500 --requests 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--new", type=int, default=500)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--profile", action="store_true", help="print where the requests' time goes (cProfile)")
    args = ap.parse_args()

    from pertinent.recommend.training import train_from_store
    from pertinent.services import Services
    from pertinent.settings import Settings
    from pertinent.synthetic import SyntheticConfig, SyntheticGenerator

    root = tempfile.mkdtemp(prefix="fresh-bench-")
    settings = Settings(
        database_url=f"sqlite:///{root}/bench.db",
        data_dir=root,
        write_key="w",
        admin_key="a",
        pseudonym_keys=["k"],
        recommend={"model": "ease", "result_cache_size": 0, "reload_interval_s": 3600},
    )
    svc = Services.build(settings)
    svc.store.migrate()
    gen = SyntheticGenerator(SyntheticConfig(n_users=args.users, n_items=args.items, seed=3))
    for batch in gen.batches(1000):
        svc.ingest.ingest(batch, prefix="batch")
    cat = gen.catalogue()
    rows = [
        {"item_id": r.item_id, "title": r.title, "categories": list(r.categories), "tags": list(r.tags)}
        for r in cat.itertuples()
    ]
    svc.recommend.upsert_items(rows)
    t0 = time.perf_counter()
    trained = train_from_store(svc.store, root, "ease")
    train_s = time.perf_counter() - t0
    rng = random.Random(5)
    new = []
    for n in range(args.new):
        like = rng.choice(rows)
        new.append({"item_id": f"new-{n}", "title": f"{like['title']} II", "categories": like["categories"]})
    svc.recommend.upsert_items(new)
    users = gen.users()
    known = [u for u in users[users.user_id.notna() & users.personalization_consent].user_id]
    rec = svc.recommend
    rec.recommend(known[0], k=args.k)  # loads model, catalogue and the unknown items' vectors
    times: dict[str, list[float]] = {"off": [], "on": []}
    with_new = 0
    share = rec.config.fresh.share
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    for i in range(args.requests):
        user = known[i % len(known)]
        for mode in ("off", "on") if i % 2 else ("on", "off"):
            rec.config.fresh.share = share if mode == "on" else 0.0
            t = time.perf_counter()
            body = rec.recommend(user, k=args.k)
            times[mode].append((time.perf_counter() - t) * 1000)
            if mode == "on":
                with_new += any(it["rule"] == "fresh" for it in body["items"])
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    svc.close()
    cpu = platform.processor() or platform.machine()
    out = {
        "machine": f"{cpu}, {os.cpu_count()} cpus, python {platform.python_version()}",
        "users": args.users,
        "items_trained": trained.n_items,
        "new_items": args.new,
        "train_s": round(train_s, 2),
        "requests": args.requests,
        "lists_with_a_new_item": round(with_new / args.requests, 3),
    }
    for mode, ts in times.items():
        out[f"{mode}_median_ms"] = round(float(np.median(ts)), 3)
        out[f"{mode}_p99_ms"] = round(float(np.percentile(ts, 99)), 3)
    out["median_ratio_on_off"] = round(out["on_median_ms"] / out["off_median_ms"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
