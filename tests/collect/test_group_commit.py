"""Group commit: concurrent ingest calls share transactions yet each gets its own exact result."""

from __future__ import annotations

import threading
import time

import pytest

from pertinent.events.group_commit import GroupCommit


def _run_held(max_items: int, n: int, size: int = 1) -> list[list[int]]:
    """Submit n jobs from n threads while the first group is held, so that the others queue behind it."""
    groups: list[list[int]] = []
    gate = threading.Event()

    def run(jobs):
        if not groups:
            gate.wait(5)
        groups.append(list(jobs))

    gc = GroupCommit(run, max_items=max_items)
    threads = [threading.Thread(target=gc.submit, args=(i,), kwargs={"size": size}) for i in range(n)]
    threads[0].start()
    time.sleep(0.05)
    for t in threads[1:]:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join(5)
    return groups


def test_concurrent_submitters_are_grouped_and_all_complete():
    groups = _run_held(max_items=1000, n=20)
    assert sorted(j for g in groups for j in g) == list(range(20))  # every job ran exactly once
    assert len(groups) < 20  # and some ran together


def test_max_items_bounds_a_group():
    groups = _run_held(max_items=3, n=6, size=2)
    assert sorted(j for g in groups for j in g) == list(range(6))
    assert all(len(g) == 1 for g in groups)  # two jobs of size 2 never fit under 3 items


def test_an_error_reaches_every_submitter_of_its_group_only():
    def run(jobs):
        if "bad" in jobs:
            raise RuntimeError("boom")

    gc = GroupCommit(run)
    with pytest.raises(RuntimeError):
        gc.submit("bad")
    gc.submit("good")  # the next group is unaffected


def test_concurrent_batches_through_the_service_keep_exact_counts(sqlite_services):
    results = []

    def send(t: int) -> None:
        batch = [
            {"type": "track", "userId": f"user-{i % 7}", "event": "E", "messageId": f"m-{t}-{i}"} for i in range(50)
        ]
        batch.append({"type": "track", "userId": "shared", "event": "E", "messageId": "same-everywhere"})
        results.append(sqlite_services.ingest.ingest(batch, prefix="batch"))

    threads = [threading.Thread(target=send, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sum(r.stored for r in results) == 8 * 50 + 1
    assert sum(r.duplicates for r in results) == 7
    assert all(r.stored + r.duplicates == 51 for r in results)
    total = sum(sqlite_services.profiles.get(f"user-{u}").features.events_total for u in range(7))
    assert total == 400 and sqlite_services.profiles.get("shared").features.events_total == 1
