"""Memory of the predictive traits' events frame (``pertinent.predictions.loader.load_events``, also what
``KeptEvents`` keeps): equal profile ids, event names and items stored as one string object each, against the
frame built with every row's own strings (as before), read from the same store in the same run.

Store (built once, kept in --data-dir): ``SyntheticGenerator`` (seed 1, --users users, 150 days) ingested through
the ingest service on the embedded SQLite default. tracemalloc: ``held`` = what the frame keeps after the read,
``peak`` = the most allocated during it (the driver's page of rows included).

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/predict_events_memory.py --users 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from ingest import machine  # noqa: E402  (benchmarks/ingest.py: the machine description)

from dashboard import ingest_synthetic, settings_for  # noqa: E402  (benchmarks/dashboard.py)

DAYS = 150


def own_strings(rows: Iterable[tuple[Any, ...]]) -> pd.DataFrame:
    """The peer: the events frame with each row's strings as the driver returned them."""
    from pertinent.predictions.loader import BEHAVIOUR, _number

    cols: dict[str, list[Any]] = {"user": [], "timestamp": [], "event": [], "revenue": [], "item": []}
    for pid, kind, name, ts, rev, total, value, product in rows:
        if kind not in BEHAVIOUR:
            continue
        cols["user"].append(pid)
        cols["timestamp"].append(float(ts))
        cols["event"].append(name if kind == "track" and name else kind)
        cols["revenue"].append(_number(rev if rev is not None else total if total is not None else value))
        cols["item"].append("" if product is None else str(product))
    kinds = {"user": object, "timestamp": float, "event": object, "revenue": float, "item": object}  # as the loader
    return pd.DataFrame({name: pd.Series(values, dtype=kinds[name]) for name, values in cols.items()})


def measure(read: Callable[[], pd.DataFrame]) -> tuple[int, int, int]:
    tracemalloc.start()
    frame = read()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(frame), held, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/pertinent-bench-predict-memory"))
    args = parser.parse_args()

    from pertinent.predictions.loader import PATHS, load_events
    from pertinent.services import Services

    data_dir = args.data_dir / str(args.users)
    marker = data_dir / "built"
    svc = Services.build(settings_for(data_dir))
    try:
        if not marker.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            ingest_synthetic(svc, args.users, DAYS)
            marker.write_text("ok")
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
        with svc.store.transaction(write=False) as tx:
            until = float("inf")
            found = {
                "own strings (before)": measure(lambda: own_strings(tx.iter_event_fields(0.0, until, PATHS))),
                "shared strings (load_events)": measure(lambda: load_events(tx, until)),
            }
    finally:
        svc.close()
    for name, (n, held, peak) in found.items():
        print(f"{name}: {n} events, held {held / 2**20:.2f} MiB ({held / n:.0f} B/event), peak {peak / 2**20:.2f} MiB")
    before, after = found["own strings (before)"][1], found["shared strings (load_events)"][1]
    print(f"held ratio {before / after:.2f}x")


if __name__ == "__main__":
    main()
