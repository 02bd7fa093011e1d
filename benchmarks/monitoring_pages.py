"""The models and fairness dashboard pages: every event read on each computation vs the kept events read
incrementally (``pertinent.predictions.loader.KeptEvents``), measured in the same run.

Store (built once, kept in --data-dir): ``SyntheticGenerator`` (seed 1, --users users, 150 days) ingested through
the ingest service on the embedded SQLite default, then the predictive traits trained once
(``PredictionService.train``), so both pages have models to monitor.

Each timing is the median of --repeat computations of the page, each after one new event (the page is then out
of date: its cache does not answer). Full read: the kept events are dropped first, so the page reads every event,
as it did before. Incremental: the page reads the one new event. ``panel`` is the event read alone.

    flock /tmp/pertinent-bench.lock .venv/bin/python benchmarks/monitoring_pages.py --users 2000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import machine  # noqa: E402  (benchmarks/ingest.py: the machine description)

from dashboard import ingest_synthetic, median_s, settings_for  # noqa: E402  (benchmarks/dashboard.py)

DAYS = 150


def build_store(data_dir: Path, users: int) -> dict[str, Any]:
    from pertinent.services import Services

    svc = Services.build(settings_for(data_dir))
    try:
        events, ingest_s = ingest_synthetic(svc, users, DAYS)
        with svc.store.transaction(write=False) as tx:
            now = tx.event_time_range()[1] + 86_400.0  # type: ignore[index]
        report = svc.predictions.train(now)
        trained = [t.trait for t in report.traits if t.trained]
        return {"events": events, "ingest_s": round(ingest_s, 1), "now": now, "trained": trained}
    finally:
        svc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/pertinent-bench-monitoring"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window", default="30d")
    args = parser.parse_args()

    from pertinent.services import Services

    data_dir = args.data_dir / str(args.users)
    marker = data_dir / "built.json"
    if not marker.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(build_store(data_dir, args.users)))
    built = json.loads(marker.read_text())
    now = float(built["now"])
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"store: {built['events']} events ({args.users} users, {DAYS} days), models: {built['trained']}")

    svc = Services.build(settings_for(data_dir))
    dash, kept = svc.dashboard, svc.predictions.kept

    def one_event() -> None:  # a new event: the page's cache no longer answers
        svc.ingest.ingest(
            [
                {
                    "type": "track",
                    "userId": "bench-probe",
                    "event": "Probe",
                    "messageId": f"probe-{time.time_ns()}",
                    "timestamp": datetime.fromtimestamp(now - 3600, UTC).isoformat(),
                }
            ]
        )

    def full() -> None:
        one_event()
        kept.forget()

    pages = {
        "panel (the event read)": lambda: svc.predictions.panel(now),
        f"models page ({args.window})": lambda: dash.models(args.window, now),
        f"fairness page ({args.window})": lambda: dash.fairness(args.window, now),
    }
    rows = []
    try:
        for name, fn in pages.items():
            fn()  # warm-up: models loaded, kept events read
            before = median_s(fn, args.repeat, full)
            after = median_s(fn, args.repeat, one_event)
            rows.append((name, before, after))
    finally:
        svc.close()
    print(f"{'page':32} {'full read s':>12} {'incremental s':>14} {'ratio':>6}")
    for name, before, after in rows:
        print(f"{name:32} {before:12.3f} {after:14.3f} {before / after:6.1f}")


if __name__ == "__main__":
    main()
