"""The stores of refused messages, on both backends: the ingestion errors (what a refused message got wrong, for the
dashboard) and the failed events (what a tracking plan blocked, kept whole for replay).

* Both are purged past their retention (``PERTINENT_INGEST_ERRORS_KEEP_DAYS``, ``quality.failed_events_keep_days``:
  30 days each) by an hourly job that runs whether or not the quality scan is on; before, with the scan off (the
  default), both kept everything forever.
* The ingestion errors hold no id and no value sent (a tracking plan's message quoted the value, an email in clear
  included), so they hold nothing about a person to export or erase; the failed events are the person's (export,
  erasure: ``tests/quality/test_quality_ingest.py::test_failed_events_are_exported_and_erased``), and an erased
  person's blocked events are not kept afterwards, as their events are not.
"""

from __future__ import annotations

import time
from typing import Any

from pertinent.quality.models import TrackingPlanIn
from pertinent.settings import Settings
from pertinent.storage.base import FailedEventRow

DAY = 86400.0
EMAIL = "zed.secret@example.com"
SECRET = "s3cr3t-value-9f2"


def _failed(at: float, user_key: str | None = None) -> FailedEventRow:
    return FailedEventRow(at, "E", user_key, None, [{"field": "properties.total", "message": "x"}], {"event": "E"})


def test_the_retention_defaults_to_30_days() -> None:
    settings = Settings()
    assert settings.ingest_errors_keep_days == 30.0 and settings.quality.failed_events_keep_days == 30.0


def test_both_stores_are_purged_past_their_retention_and_the_purge_is_audited(services) -> None:
    now = time.time()
    with services.store.transaction() as tx:
        errors = [{"at": now - days * DAY, "field": "event", "message": "Field required"} for days in (31, 29, 1)]
        tx.record_ingest_errors("batch", errors)
        tx.add_failed_events([_failed(now - 40 * DAY), _failed(now - 2 * DAY)])
    purged = services.quality.purge_expired(now=now)
    assert purged == {"failed_events": 1, "ingest_errors": 1}
    with services.store.transaction(write=False) as tx:
        assert tx.count_ingest_errors() == 2
        assert [row.at for row in tx.failed_events(10)] == [now - 2 * DAY]
        audited = {a.action: a.detail for a in tx.audit_entries()}
    assert audited["ingest_errors.purge"] == {"purged": 1} and audited["failed_events.purge"] == {"purged": 1}
    assert services.quality.purge_expired(now=now) == {"failed_events": 0, "ingest_errors": 0}


def test_the_purge_is_scheduled_even_with_the_quality_scan_off(services) -> None:
    class Jobs:  # the job runner's ``every``, recorded
        def __init__(self) -> None:
            self.tasks: dict[str, tuple[float, Any]] = {}

        def every(self, name: str, interval_s: float, task: Any) -> None:
            self.tasks[name] = (interval_s, task)

    jobs = Jobs()
    assert services.quality.config.scan_interval_s == 0
    services.quality.start(jobs)
    interval, task = jobs.tasks["retention"]
    assert 0 < interval <= 3600
    with services.store.transaction() as tx:
        tx.record_ingest_errors("batch", [{"at": time.time() - 31 * DAY, "field": "event", "message": "x"}])
    task()
    with services.store.transaction(write=False) as tx:
        assert tx.count_ingest_errors() == 0


def test_a_refused_message_leaves_no_id_or_value_in_the_stores_of_refusals(any_client, services) -> None:
    email = {"type": "string", "pattern": "^[a-y]"}  # refuses EMAIL: its message quoted the value
    identify_plan = {"type": "object", "properties": {"email": email, "plan": {"enum": ["free", "pro"]}}}
    services.quality.put_plan(TrackingPlanIn(event="identify", schema=identify_plan, mode="block"))
    order_plan = {"type": "object", "properties": {"total": {"type": "number"}}}
    services.quality.put_plan(TrackingPlanIn(event="Order Completed", schema=order_plan, mode="block"))
    batch = [
        {"type": "identify", "userId": "zed-user-77", "traits": {"email": EMAIL, "plan": SECRET}},
        {"type": "track", "userId": "zed-user-77", "event": "Order Completed", "properties": {"total": SECRET}},
        {"type": "track", "userId": "zed-user-77", "properties": {"note": SECRET}},  # no event name
        {"type": "track", "userId": "zed-user-77", "event": "E", "timestamp": SECRET},  # not a time
        {"type": "alias", "userId": "zed-user-77", "previousId": ["zed-prev", SECRET]},  # not an id
    ]
    r = any_client.post("/v1/batch", json={"batch": batch})
    assert r.status_code == 400 and r.json()["rejected"] == 5, r.text
    assert EMAIL not in r.text and SECRET not in r.text  # what the caller sent is named by field, never echoed
    with services.store.transaction(write=False) as tx:
        logged = tx.recent_ingest_errors(50)
        failed = tx.failed_events(10)
    assert len(logged) >= 5 and len(failed) == 2
    assert {e.field for e in logged} >= {"batch[0].traits.email", "batch[0].traits.plan", "batch[1].properties.total"}
    for text in [str([(e.field, e.message) for e in logged]), str([f.errors for f in failed])]:
        assert "zed-" not in text and EMAIL not in text and SECRET not in text, text
    (identified,) = [f.payload for f in failed if "traits" in f.payload]
    assert identified["traits"]["email"].startswith("h_")  # the payload's PII was pseudonymised already


def test_an_erased_persons_blocked_events_are_not_kept(any_client, services) -> None:
    services.quality.put_plan(TrackingPlanIn(event="E", schema={"type": "object", "required": ["total"]}, mode="block"))
    signed_in = {"userId": "ann", "anonymousId": "d1", "event": "Signed In"}  # d1 is ann's device
    assert any_client.post("/v1/track", json=signed_in).json()["stored"] == 1
    any_client.post("/v1/batch", json={"batch": [{"type": "track", "userId": "ann", "event": "E"}]})
    assert services.privacy.erase("ann").deleted["failed_events"] == 1
    for after in (
        {"userId": "ann", "event": "E"},
        {"anonymousId": "d1", "event": "E"},
        {"userId": "bob", "event": "E"},  # somebody else's: kept
    ):
        r = any_client.post("/v1/track", json=after)
        assert r.status_code == 400 and "blocked by the tracking plan" in r.text  # the answer is unchanged
    kept = services.quality.failed()
    assert [f.payload.get("userId") for f in kept] == ["bob"]
