"""Scheduled jobs run once across every process sharing the database (issue 15, item 2): a claim is a
compare-and-set on a ``job_claims`` row with a lease, a crashed holder's job is taken over when the lease ends,
and a holder that lost its lease cannot record over its successor (fencing)."""

from __future__ import annotations

import threading

from pertinent.runtime.jobs import JobRunner
from pertinent.storage.claims import StoreClaims


def test_one_claim_per_interval_across_processes(store):
    a, b = StoreClaims(store, holder="a"), StoreClaims(store, holder="b")
    first = a.claim("sweep", 60.0, now=1000.0)
    assert first is not None
    assert b.claim("sweep", 60.0, now=1001.0) is None  # a holds it (and it is not due anyway)
    assert a.release(first, now=1002.0, state={"done": 1})
    assert b.claim("sweep", 60.0, now=1030.0) is None  # released, but not due for another 30 s
    second = b.claim("sweep", 60.0, now=1061.0)
    assert second is not None and second.fence == first.fence + 1
    assert second.state == {"done": 1}  # what the previous holder recorded


def test_a_crashed_holders_job_is_taken_over_when_its_lease_ends(store):
    dead, alive = StoreClaims(store, lease_s=300.0, holder="dead"), StoreClaims(store, holder="alive")
    lost = dead.claim("retrain", 60.0, now=0.0)
    assert lost is not None  # ... and the process dies without releasing
    assert alive.claim("retrain", 60.0, now=120.0) is None  # due, but the lease runs to 300
    taken = alive.claim("retrain", 60.0, now=301.0)
    assert taken is not None
    assert not dead.release(lost, now=302.0, state={"stale": True})  # fenced off: the successor's claim stands
    assert alive.release(taken, now=303.0, state={"fresh": True})
    assert alive.state("retrain") == {"fresh": True}


def test_concurrent_claims_give_exactly_one_winner(store):
    claims = [StoreClaims(store, holder=f"h{i}") for i in range(6)]
    wins: list[str] = []
    barrier = threading.Barrier(len(claims))

    def race(c: StoreClaims) -> None:
        barrier.wait()
        if c.claim("popularity", 60.0, now=5000.0) is not None:
            wins.append(c.holder)

    threads = [threading.Thread(target=race, args=(c,)) for c in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_runner_runs_a_periodic_task_once_across_runners(store):
    runs: list[str] = []
    now = [10_000.0]
    runners = [JobRunner(StoreClaims(store, holder=f"r{i}"), lambda: now[0], f"test-jobs-{i}") for i in range(2)]
    try:
        for i, r in enumerate(runners):
            r.every("sizes", 3600.0, lambda i=i: runs.append(f"r{i}"))
        for r in runners:  # each looks at its periodic tasks at once
            r.submit("noop", lambda: None)
            assert r.wait_idle(10)
        for r in runners:
            assert r.wait_idle(10)
    finally:
        for r in runners:
            r.close()
    assert len(runs) == 1


def test_job_state_is_kept_without_a_claim(store):
    with store.transaction() as tx:
        tx.put_job_state("segments.sweep", {"at": 1.0, "definitions": [["a", 2]]})
    with store.transaction() as tx:
        tx.put_job_state("segments.sweep", {"at": 2.0, "definitions": []})
    assert StoreClaims(store).state("segments.sweep") == {"at": 2.0, "definitions": []}


def test_a_running_job_renews_its_lease_so_only_a_dead_holder_loses_it(store):
    import time

    started, release = threading.Event(), threading.Event()

    def long_job() -> None:
        started.set()
        release.wait(10)

    runner = JobRunner(StoreClaims(store, lease_s=0.3, holder="busy"), time.time, "test-jobs-lease")
    other = StoreClaims(store, holder="other")
    try:
        runner.every("refit", 0.01, long_job)  # due again at once: only the lease keeps others out
        assert started.wait(10)
        time.sleep(0.8)  # well past one lease: the heartbeat renewed it
        assert other.claim("refit", 0.01, time.time()) is None
        release.set()
        assert runner.wait_idle(10)
    finally:
        runner.close()
    later = None
    for _ in range(50):  # the runner released it; claimable once due
        later = other.claim("refit", 0.01, time.time())
        if later is not None:
            break
        time.sleep(0.05)
    assert later is not None
