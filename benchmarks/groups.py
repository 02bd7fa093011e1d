"""What a group's trait change costs: every member's copy of the traits is refreshed in the ingest transaction.

Builds a group of N members on the embedded SQLite store, then times a group call that changes the account's traits
against one that resends the same traits (the common case: libraries repeat them; nothing to refresh), in the same
run. Usage: python benchmarks/groups.py --members 1000 5000 --repeat 7
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pertinent.services import Services
from pertinent.settings import Settings


def run(members: int, repeat: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), write_key="w", admin_key="a", pseudonym_keys=["k"])
        settings.segments.realtime = False
        svc = Services.build(settings)
        try:
            for start in range(0, members, 2000):
                batch = [
                    {"type": "group", "userId": f"u{i}", "groupId": "acme", "traits": {"plan": "pro"}}
                    for i in range(start, min(members, start + 2000))
                ]
                svc.ingest.ingest(batch, prefix="batch")
            same, changed = [], []
            for _ in range(repeat):  # first: nothing to refresh (only the caller's own membership)
                t0 = time.perf_counter()
                svc.ingest.ingest([{"type": "group", "userId": "u0", "groupId": "acme", "traits": {"plan": "pro"}}])
                same.append(time.perf_counter() - t0)
            for r in range(repeat):  # then: every member's copy rewritten
                plan = {"plan": f"p{r}"}
                t0 = time.perf_counter()
                svc.ingest.ingest([{"type": "group", "userId": "u0", "groupId": "acme", "traits": plan}])
                changed.append(time.perf_counter() - t0)
            return statistics.median(same), statistics.median(changed)
        finally:
            svc.segments.close()
            svc.store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("members  same traits (ms)  changed traits (ms)  ratio")
    for n in args.members:
        same, changed = run(n, args.repeat)
        print(f"{n:7d}  {same * 1000:16.1f}  {changed * 1000:19.1f}  {changed / same:5.1f}x")


if __name__ == "__main__":
    main()
