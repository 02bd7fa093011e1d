"""Throughput of the synthetic generator and the file importers (messages built, nothing stored).

Usage: .venv/bin/python benchmarks/generator.py [--users 20000] [--skip-import]

Prints one row per workload: rows or users in, messages out, seconds, messages per second and the
peak resident memory growth while it ran (streaming: it should not grow with the input).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, make: Callable[[], Iterable[list[dict[str, Any]]]], units: Callable[[], str]) -> dict:
    before = peak_rss_mib()
    t0 = time.perf_counter()
    n = 0
    for batch in make():
        n += len(batch)
    dt = time.perf_counter() - t0
    return {
        "workload": name,
        "input": units(),
        "messages": n,
        "seconds": dt,
        "msg_per_s": n / dt,
        "peak_rss_growth_mib": max(peak_rss_mib() - before, 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20_000, help="synthetic users for the large run")
    parser.add_argument("--skip-import", action="store_true", help="only the generator")
    args = parser.parse_args()

    import pandas  # noqa: F401  - import the heavy libraries first so RSS growth is the workload's own
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    from rich.console import Console
    from rich.table import Table

    from pertinent.events.importing import import_file
    from pertinent.synthetic import SyntheticConfig, SyntheticGenerator

    rows = []
    for users, items in ((2_000, 1_000), (args.users, 10_000)):
        gen = SyntheticGenerator(SyntheticConfig(seed=1, n_users=users, n_items=items))
        rows.append(
            measure(
                f"synthetic {users} users x {items} items", lambda g=gen: g.batches(500), lambda u=users: f"{u} users"
            )
        )
    if not args.skip_import:
        presets = [
            ("movielens", DATASETS / "movielens-latest-small"),
            ("taobao", DATASETS / "taobao-userbehavior-sample" / "UserBehavior.csv"),
            ("online-retail", DATASETS / "online-retail" / "online_retail.parquet"),
        ]
        for preset, path in presets:
            if not path.exists():
                print(f"skipping {preset}: {path} not found")
                continue
            job = import_file(path, preset)
            rows.append(measure(f"import {preset}", lambda j=job: j, lambda j=job: f"{j.report.rows_read} rows"))

    table = Table(title="Synthetic generator and importers")
    for col in ("workload", "input", "messages", "seconds", "msg/s", "peak RSS growth MiB"):
        table.add_column(col, justify="left" if col in ("workload", "input") else "right")
    for r in rows:
        table.add_row(
            r["workload"],
            r["input"],
            f"{r['messages']:,}",
            f"{r['seconds']:.1f}",
            f"{r['msg_per_s']:,.0f}",
            f"{r['peak_rss_growth_mib']:.0f}",
        )
    Console(width=130).print(table)


if __name__ == "__main__":
    main()
