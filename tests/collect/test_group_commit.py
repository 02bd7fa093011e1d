"""Group commit: concurrent ingest calls share transactions yet each gets its own exact result."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from pertinent.events import schema
from pertinent.events.group_commit import GroupCommit
from pertinent.privacy.identity_proof import user_hash
from pertinent.services import Services
from tests.support.common import IDENTITY_SECRET, WRITE_KEY, LiveServer, make_settings


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


def test_an_error_reaches_its_submitter_and_the_next_group_runs():
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


def test_a_failing_job_fails_only_its_own_submitter():
    ran: list[list[str]] = []  # the groups that committed
    gate = threading.Event()

    def run(jobs):
        if not ran and jobs == ["first"]:
            gate.wait(5)
        if any(j.startswith("bad") for j in jobs):
            raise RuntimeError("boom")
        ran.append(list(jobs))

    gc = GroupCommit(run)
    errors: dict[str, BaseException | None] = {}

    def submit(job: str) -> None:
        try:
            gc.submit(job)
            errors[job] = None
        except RuntimeError as exc:
            errors[job] = exc

    jobs = ["first"] + [f"good-{i}" for i in range(8)] + ["bad-1", "bad-2"]
    threads = [threading.Thread(target=submit, args=(j,)) for j in jobs]
    threads[0].start()
    time.sleep(0.05)
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 5
    while len(gc._pending) < len(jobs) - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for t in threads:
        t.join(5)
    assert {j for j, e in errors.items() if e is not None} == {"bad-1", "bad-2"}
    committed = [j for g in ran for j in g]
    assert sorted(committed) == sorted(j for j in jobs if not j.startswith("bad"))  # each exactly once
    assert len(ran) == 1 + 8  # the first alone, then the failed group's good jobs one by one


# ------------------------------------------------------------------------ concurrent requests over HTTP, both backends
def _hold_first_group(services, waiting: int) -> None:
    """Make the first group commit wait until ``waiting`` more requests queue behind it, so they share a group."""
    gc = services.ingest._commits
    run, first = gc._run, []

    def held(jobs):
        if not first:
            first.append(True)
            deadline = time.monotonic() + 20
            while len(gc._pending) < waiting and time.monotonic() < deadline:
                time.sleep(0.01)
        return run(jobs)

    gc._run = held


def _send_concurrently(url: str, bodies: list[dict]) -> list[httpx.Response]:
    auth = httpx.BasicAuth(WRITE_KEY, "")
    out: list[httpx.Response | None] = [None] * len(bodies)

    def send(i: int) -> None:
        out[i] = httpx.post(f"{url}/v1/batch", json=bodies[i], auth=auth, timeout=60)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    threads[0].start()
    time.sleep(0.2)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(90)
    assert all(r is not None for r in out)
    return out  # type: ignore[return-value]


def _valid_batch(t: int) -> dict:
    return {
        "batch": [{"type": "track", "userId": f"user-{t}", "event": "E", "messageId": f"m-{t}-{i}"} for i in range(5)]
    }


def _stored(services) -> Counter[str]:
    with services.store.engine.connect() as conn:
        return Counter(r[0] for r in conn.execute(text("SELECT message_id FROM events")))


def test_nul_messages_never_fail_other_clients_batches(services):
    """Issue 17 item 1: on PostgreSQL, 61 of 120 valid batches sharing a group commit with a NUL got 500."""
    valid = [_valid_batch(t) for t in range(16)]
    poisoned = [
        {"batch": [{"type": "track", "userId": "x", "event": "E\u0000", "messageId": f"bad-{k}"}]} for k in range(4)
    ]
    poisoned.append(
        {
            "batch": [
                {"type": "track", "userId": "x", "event": "ok", "messageId": "m\u0000"},
                valid[0]["batch"][0] | {"messageId": "nb"},
            ]
        }
    )
    bodies = valid[:8] + poisoned + valid[8:]
    _hold_first_group(services, len(bodies) - 1)
    server = LiveServer(services)
    try:
        answers = _send_concurrently(server.url, bodies)
    finally:
        server.stop()
    assert [r.status_code for r in answers if r.status_code >= 500] == []
    for body, r in zip(bodies, answers, strict=True):
        if body in valid:
            assert r.status_code == 200 and r.json()["stored"] == 5, r.text
        else:
            assert "NUL" in r.json()["errors"][0]["message"], r.text
    stored = _stored(services)
    assert set(stored.values()) == {1}
    assert set(stored) == {f"m-{t}-{i}" for t in range(16) for i in range(5)} | {"nb"}


def test_a_member_that_fails_in_storage_fails_alone(services, monkeypatch):
    """A message validation let through and the database refuses (here a NUL on PostgreSQL with the check turned off,
    a trigger on SQLite) fails its own request only: the group is run again without it."""
    if services.store.engine.dialect.name == "postgresql":
        monkeypatch.setattr(schema, "storable_problems", lambda raw, prefix="": [])
        poison = "E\u0000"
    else:
        with services.store.engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN NEW.event = 'poison' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
                )
            )
        poison = "poison"
    valid = [_valid_batch(t) for t in range(12)]
    poisoned = [
        {"batch": [{"type": "track", "userId": "x", "event": poison, "messageId": f"bad-{k}"}]} for k in range(3)
    ]
    bodies = valid[:6] + poisoned + valid[6:]
    _hold_first_group(services, len(bodies) - 1)
    server = LiveServer(services)
    try:
        answers = _send_concurrently(server.url, bodies)
    finally:
        server.stop()
    for body, r in zip(bodies, answers, strict=True):
        if body in valid:
            assert r.status_code == 200 and r.json()["stored"] == 5, r.text
        else:
            assert r.status_code == 500  # the refused member alone (a bug, as validation should have caught it)
    stored = _stored(services)
    assert set(stored.values()) == {1} and len(stored) == 12 * 5


def test_a_retried_group_answers_each_request_once(tmp_path):
    """What a failed try wrote into the answers (here an unproven alias refused inside the transaction) is undone
    before its jobs run again, so no error is reported twice."""
    svc = Services.build(make_settings(tmp_path, identity_secret=IDENTITY_SECRET))
    try:
        ingest = svc.ingest
        for user in ("victim", "attacker"):  # two known people (trusted: in-process)
            ingest.ingest([{"type": "track", "userId": user, "event": "E"}])
        with svc.store.engine.begin() as conn:  # the last job's error log fails: after the alias was refused
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON ingest_errors WHEN NEW.endpoint = 'poison' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
                )
            )
        alias = {
            "type": "alias",
            "previousId": "victim",
            "userId": "attacker",
            "context": {"userHash": user_hash(IDENTITY_SECRET, "attacker")},
        }
        calls = [
            ([{"type": "track", "userId": "x", "event": "E"}], "first"),
            ([alias, {"type": "track", "userId": "attacker", "event": "E"}], "batch"),
            ([{"type": "track", "userId": "y"}, {"type": "track", "userId": "y", "event": "E"}], "poison"),
        ]
        _hold_first_group(svc, len(calls) - 1)
        results: dict[str, object] = {}

        def run(raws, prefix):
            try:
                results[prefix] = ingest.ingest(raws, prefix=prefix, trusted=False)
            except Exception as exc:  # noqa: BLE001 - the poisoned request's own failure
                results[prefix] = exc

        threads = [threading.Thread(target=run, args=call) for call in calls]
        for t in threads:
            t.start()
            time.sleep(0.2)  # queued in this order: the alias's job before the poisoned one
        for t in threads:
            t.join(30)
        refused = results["batch"]
        assert (refused.stored, refused.rejected, refused.forbidden) == (1, 1, 1), refused
        assert [e["field"] for e in refused.errors] == ["batch[0].context.previousIdHash"]
        assert isinstance(results["poison"], Exception)
    finally:
        svc.close()
