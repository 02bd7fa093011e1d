"""Content-based recommendations: TF-IDF vs packaged sentence embeddings (WordLlama), same protocol as recsys.py.

Each model sees only the catalogue text (MovieLens: title, genres, user tags; Online Retail: product
descriptions) and the user's training items; NDCG@10 over the per-user random 20% holdout (seed 42), every
unseen item ranked. Content alone is far below collaborative models on these datasets (see recsys.py); what
it is for is items nobody has interacted with yet, which this protocol does not measure.

Run: .venv/bin/python benchmarks/content.py [--datasets movielens,retail]
"""

from __future__ import annotations

import argparse
import time

from recsys import DATASETS, K, ndcg, split


def catalogue(name: str):
    from pertinent.recommend.catalogue import Catalogue

    if name == "movielens":
        return Catalogue.from_movielens(DATASETS / "movielens-latest-small")
    return Catalogue.from_online_retail(DATASETS / "online-retail" / "online_retail.parquet")


def main() -> None:
    from pertinent.evaluation import rank_users
    from pertinent.recommend.embeddings import load_encoder
    from pertinent.recommend.models.content import ContentRecommender

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="movielens,retail")
    args = ap.parse_args()
    t = time.perf_counter()
    load_encoder(256)
    print(f"embedding model load (from the installed wheel): {time.perf_counter() - t:.2f} s")
    for name in args.datasets.split(","):
        parts = split(name)
        cat = catalogue(name)
        users = parts.test_users
        print(f"\n## {name}: {parts.train.n_items:,} items, {len(users):,} test users")
        print(f"| content model | NDCG@{K} | fit s |\n|---|---:|---:|")
        for label, cfg in (
            ("TF-IDF", {}),
            ("embedding 64-d", {"encoder": "embedding", "embedding_dim": 64}),
            ("embedding 256-d", {"encoder": "embedding"}),
        ):
            t = time.perf_counter()
            model = ContentRecommender(**cfg).fit(parts.train, cat)
            fit_s = time.perf_counter() - t
            score = ndcg(rank_users(model, parts.train.matrix[users], K), parts.test, users)
            print(f"| {label} | {score:.4f} | {fit_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
