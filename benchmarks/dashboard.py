"""Dashboard page times on a synthetic shop history (~130k events on the embedded SQLite default).

Store (built once, kept in --data-dir): ``SyntheticGenerator`` (seed 1, --users users, 30 days) ingested
through the ingest service, plus 5 segments of 300 members each and an experiment with 2,000 decisions in
the newest week, so the KPI page has segment and variant rows.

Then, for each window: ``DashboardService.kpis`` cold (first call, nothing cached), warm (the same page
again, nothing written in between) and after one new event (the incremental path), and the full HTTP page
(``GET /dashboard/kpis`` through the test client, logged in). Overview for comparison. Each timing is the
median of --repeat runs.

    flock /tmp/pertinent-bench.lock .venv/bin/python benchmarks/dashboard.py
    flock /tmp/pertinent-bench.lock .venv/bin/python benchmarks/dashboard.py --users 4800 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import machine  # noqa: E402  (benchmarks/ingest.py: the machine description)

WRITE_KEY, ADMIN_KEY = "bench-write", "bench-admin"


def settings_for(data_dir: Path) -> Any:
    from pertinent.settings import Settings

    return Settings(
        data_dir=data_dir,
        write_key=WRITE_KEY,
        admin_key=ADMIN_KEY,
        pseudonym_keys=["bench-key"],
        segments={"realtime": False},
    )


def ingest_synthetic(svc: Any, users: int, days: int = 30) -> tuple[int, float]:
    """The synthetic shop (seed 1) through the ingest service: (events sent, seconds)."""
    from pertinent.synthetic import SyntheticConfig, SyntheticGenerator

    svc.store.migrate()
    t = time.perf_counter()
    events = 0
    config = SyntheticConfig(seed=1, n_users=users, n_items=max(200, users // 2), days=days)
    for batch in SyntheticGenerator(config).batches(500):
        svc.ingest.ingest(batch)
        events += len(batch)
    return events, time.perf_counter() - t


def build_store(data_dir: Path, users: int) -> dict[str, Any]:
    import numpy as np

    from pertinent.services import Services
    from pertinent.storage.base import DecisionRow, MembershipChange

    svc = Services.build(settings_for(data_dir))
    try:
        events, ingest_s = ingest_synthetic(svc, users)
        with svc.store.transaction(write=False) as tx:
            newest = tx.event_time_range()[1]  # type: ignore[index]
            pids = sorted({p for p, *_ in tx.iter_event_fields(newest - 7 * 86400, newest + 1)})
        rng = np.random.default_rng(0)
        with svc.store.transaction() as tx:
            for s in range(5):
                members = rng.choice(len(pids), size=min(300, len(pids)), replace=False)
                tx.apply_membership_changes([MembershipChange(f"seg{s}", pids[i], True, newest) for i in members])
            tx.insert_decisions(
                [
                    DecisionRow(
                        f"d{i}",
                        pids[int(rng.integers(len(pids)))],
                        "home.hero",
                        "ab"[i % 2],
                        "experiment",
                        newest - float(rng.uniform(0, 7 * 86400)),
                        experiment="hero-test",
                    )
                    for i in range(2000)
                ]
            )
        return {"events": events, "ingest_s": round(ingest_s, 1)}
    finally:
        svc.close()


def median_s(fn: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=4800, help="synthetic users (~27 events each)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/pertinent-bench-dashboard"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--windows", default="7d,30d")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from pertinent.api.app import create_app
    from pertinent.services import Services

    marker = args.data_dir / f"built-{args.users}.json"
    if not marker.exists():
        args.data_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(build_store(args.data_dir, args.users)))
    built = json.loads(marker.read_text())
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"store: {built['events']} events ({args.users} users, ingested in {built['ingest_s']} s), {args.data_dir}")

    svc = Services.build(settings_for(args.data_dir))
    dash = svc.dashboard
    clear = getattr(dash, "clear_cache", lambda: None)
    n = [0]

    def one_event() -> None:  # an event inside every window: the page is no longer up to date
        n[0] += 1
        with svc.store.transaction(write=False) as tx:
            newest = tx.event_time_range()[1]  # type: ignore[index]
        svc.ingest.ingest(
            [
                {
                    "type": "track",
                    "userId": "bench-probe",
                    "event": "Probe",
                    "messageId": f"probe-{time.time_ns()}",
                    "timestamp": datetime.fromtimestamp(newest - 60, UTC).isoformat(),
                }
            ]
        )

    rows = []
    try:
        for window in args.windows.split(","):
            page = dash.kpis(window)
            cold = median_s(lambda w=window: dash.kpis(w), args.repeat, clear)
            warm = median_s(lambda w=window: dash.kpis(w), args.repeat)
            after_write = median_s(lambda w=window: dash.kpis(w), args.repeat, one_event)
            rows.append((f"kpis {window}", page.rows[0].result.profiles, cold, warm, after_write))
            overview = median_s(lambda w=window: dash.overview(w), args.repeat)
            rows.append((f"overview {window}", None, overview, None, None))
        with TestClient(create_app(svc.settings, svc)) as client:
            client.post("/dashboard/login", data={"admin_key": ADMIN_KEY}, follow_redirects=False)
            for window in args.windows.split(","):

                def get(w: str = window) -> None:
                    assert client.get(f"/dashboard/kpis?window={w}").status_code == 200

                rows.append(
                    (
                        f"GET /dashboard/kpis?window={window}",
                        None,
                        median_s(get, args.repeat, clear),
                        median_s(get, args.repeat),
                        None,
                    )
                )
    finally:
        svc.close()
    print(f"{'page':36} {'profiles':>8} {'cold s':>8} {'warm s':>8} {'+1 event s':>10}")
    for name, profiles, cold, warm, after in rows:

        def f(x: float | None) -> str:
            return "–" if x is None else f"{x:.3f}"

        print(f"{name:36} {profiles if profiles is not None else '':>8} {f(cold):>8} {f(warm):>8} {f(after):>10}")


if __name__ == "__main__":
    main()
