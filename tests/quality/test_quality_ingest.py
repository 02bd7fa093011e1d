"""Normalisation at ingestion, identifier normalisation before pseudonymisation, and the tracking plan with its
failed-events store (inspect, replay, export, erasure), on both backends."""

from __future__ import annotations

import pytest

from pertinent.errors import InvalidInput
from pertinent.quality.models import TrackingPlanIn
from pertinent.rules.conditions.context import ContextCondition
from pertinent.rules.explain import evaluate
from tests.support.common import ADMIN

ORDER_SCHEMA = {
    "type": "object",
    "required": ["total"],
    "properties": {"total": {"type": "number"}, "currency": {"type": "string"}},
}


def _profile(services, user_id):
    return services.profiles.get(user_id)


def test_country_name_is_stored_as_iso_code_and_a_rule_on_fr_matches(services) -> None:
    result = services.ingest.ingest(
        [
            {"type": "page", "userId": "ann", "context": {"location": {"country": "france "}}},
            {"type": "identify", "userId": "bob", "traits": {"country": "FRA", "birthday": "14 July 1990"}},
            {"type": "track", "event": "Paid", "userId": "bob", "properties": {"currency": "euro"}},
        ]
    )
    assert result.stored == 3, result.errors
    ann = _profile(services, "ann")
    assert ann.features.context["country"] == "FR"
    assert evaluate(ContextCondition(field="country", op="eq", value="FR"), ann.model_dump(), 0)
    bob = services.privacy.export("bob")
    assert bob.profile.traits["country"] == "FR"
    assert bob.events[-1]["properties"]["currency"] == "EUR"
    counts = {(c.field, c.kind): c.n for c in services.quality.report().normalisation}
    assert counts[("context.location.country", "normalised")] == 1
    assert counts[("properties.currency", "normalised")] == 1


def test_equal_emails_and_phones_get_equal_pseudonyms(services) -> None:
    services.ingest.ingest(
        [
            {"type": "identify", "userId": "a", "traits": {"email": " Ann@Example.COM", "phone": "+1 415-555-2671"}},
            {"type": "identify", "userId": "b", "traits": {"email": "ann@example.com", "phone": "(415) 555 2671"}},
        ]
    )
    a, b = _profile(services, "a").traits, _profile(services, "b").traits
    assert a["email"] == b["email"] and a["email"].startswith("h_")
    assert a["phone"] == b["phone"]
    scan = services.quality.find_duplicates()
    assert scan.found == 1
    pending = services.quality.candidates()
    assert pending[0].score == 100.0 and set(pending[0].reasons) == {"email"}


def test_unparseable_values_are_kept_and_counted(services) -> None:
    services.ingest.ingest([{"type": "page", "userId": "u", "context": {"location": {"country": "Atlantis"}}}])
    assert _profile(services, "u").features.context["country"] == "Atlantis"
    counts = {(c.field, c.kind): c.n for c in services.quality.report().normalisation}
    assert counts[("context.location.country", "unparseable")] == 1


def test_an_invalid_json_schema_is_refused_naming_the_field(services) -> None:
    with pytest.raises(InvalidInput) as err:
        services.quality.put_plan(TrackingPlanIn(event="E", schema={"type": "object", "required": "total"}))
    assert err.value.errors[0]["field"] == "schema.required"


def test_block_mode_keeps_failed_events_and_replays_them(services) -> None:
    services.quality.put_plan(TrackingPlanIn(event="Order Completed", schema=ORDER_SCHEMA, mode="block"))
    result = services.ingest.ingest(
        [
            {"type": "track", "event": "Order Completed", "userId": "ann", "properties": {"total": "12"}},
            {"type": "track", "event": "Order Completed", "userId": "ann", "properties": {"total": 12}},
        ],
        prefix="batch",
    )
    assert result.stored == 1 and result.rejected == 1
    assert result.errors[0]["field"] == "batch[0].properties.total"
    failed = services.quality.failed()
    assert len(failed) == 1 and failed[0].payload["properties"] == {"total": "12"}
    report = services.quality.report()
    assert report.failed_events == 1
    assert [(c.kind, c.field, c.n) for c in report.violations] == [("blocked", "properties.total", 1)]
    # the plan is relaxed: the replay stores the event, the failed one is marked replayed
    relaxed = {**ORDER_SCHEMA, "properties": {"total": {"type": ["number", "string"]}}}
    services.quality.put_plan(TrackingPlanIn(event="Order Completed", schema=relaxed, mode="block"))
    replay = services.quality.replay()
    assert (replay.replayed, replay.accepted, replay.still_failing) == (1, 1, 0)
    assert services.quality.failed() == []
    assert len(services.privacy.export("ann").events) == 2


def test_replay_of_a_still_invalid_event_keeps_it(services) -> None:
    services.quality.put_plan(TrackingPlanIn(event="E", schema=ORDER_SCHEMA, mode="block"))
    services.ingest.ingest([{"type": "track", "event": "E", "userId": "ann", "properties": {}}])
    replay = services.quality.replay()
    assert replay.still_failing == 1
    assert len(services.quality.failed()) == 1  # kept (a new row), never lost


def test_flag_mode_stores_the_event_and_marks_it(services) -> None:
    services.quality.put_plan(TrackingPlanIn(event="E", schema=ORDER_SCHEMA, mode="flag"))
    result = services.ingest.ingest([{"type": "track", "event": "E", "userId": "ann", "properties": {"x": 1}}])
    assert result.stored == 1 and not result.errors
    event = services.privacy.export("ann").events[0]
    assert event["context"]["violations"] == ["properties.total"]
    assert services.quality.report().violations[0].kind == "violation"


def test_failed_events_are_exported_and_erased(services) -> None:
    services.quality.put_plan(TrackingPlanIn(event="E", schema=ORDER_SCHEMA, mode="block"))
    services.ingest.ingest(
        [
            {"type": "page", "userId": "ann", "anonymousId": "dev-1"},
            {"type": "track", "event": "E", "anonymousId": "dev-1", "properties": {}},
            {"type": "track", "event": "E", "userId": "bob", "properties": {}},
        ]
    )
    export = services.privacy.export("ann")
    assert len(export.quality["failed_events"]) == 1
    erased = services.privacy.erase("ann")
    assert erased.deleted["failed_events"] == 1
    left = services.quality.failed()
    assert len(left) == 1 and left[0].payload["userId"] == "bob"


def test_tracking_plan_api(any_client) -> None:
    bad = any_client.post(
        "/v1/quality/tracking-plans", json={"event": "E", "schema": {"type": 3}, "mode": "block"}, headers=ADMIN
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"].startswith("schema")
    ok = any_client.post(
        "/v1/quality/tracking-plans", json={"event": "E", "schema": ORDER_SCHEMA, "mode": "block"}, headers=ADMIN
    )
    assert ok.status_code == 200 and ok.json()["schema"] == ORDER_SCHEMA
    sent = any_client.post("/v1/track", json={"event": "E", "userId": "u", "properties": {"total": "x"}})
    assert sent.json()["rejected"] == 1
    failed = any_client.get("/v1/quality/failed-events", headers=ADMIN).json()
    assert failed[0]["errors"][0]["field"] == "properties.total"
    report = any_client.get("/v1/quality/report", headers=ADMIN).json()
    assert report["failed_events"] == 1 and report["tracking_plans"] == ["E"]
    assert any_client.get("/v1/quality/report").status_code == 401


def test_a_trait_of_the_wrong_type_is_named_and_the_blocked_identify_keeps_pii_pseudonymised(services) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}, "email": {"type": "string"}}}
    services.quality.put_plan(TrackingPlanIn(event="identify", schema=schema, mode="block"))
    result = services.ingest.ingest(
        [
            {"type": "identify", "userId": "ann", "traits": {"age": "forty", "email": "Ann@X.org"}},
            {"type": "identify", "userId": "bob", "traits": {"age": 40, "email": "bob@x.org"}},
        ],
        prefix="batch",
    )
    assert result.stored == 1 and result.errors[0]["field"] == "batch[0].traits.age"
    [kept] = services.quality.failed()
    assert kept.payload["traits"]["email"].startswith("h_") and kept.payload["traits"]["age"] == "forty"
    services.quality.delete_plan("identify")
    assert services.quality.replay().accepted == 1
    ann = services.profiles.get("ann").traits
    assert ann["email"] == services.ingest.pseudo.pii("ann@x.org")  # the same pseudonym as sent directly


@pytest.mark.parametrize(
    ("schema", "event", "field"),
    [
        ({"properties": {"a": {"$ref": "http://169.254.169.254/x"}}}, "E", "schema.properties.a.$ref"),
        ({"properties": {"a": {"const": "x\u0000"}}}, "E", "schema.properties.a.const"),
        ({"type": "object"}, "E\u0000", "event"),
        ({"type": "array"}, "E", "schema.type"),
        ([1], "E", "schema"),
    ],
)
def test_a_plan_that_cannot_be_stored_or_applied_is_refused_naming_the_field(any_client, schema, event, field) -> None:
    body = {"event": event, "schema": schema, "mode": "block"}
    r = any_client.post("/v1/quality/tracking-plans", json=body, headers=ADMIN)
    assert r.status_code in (400, 422), r.text
    assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()


def test_concurrent_replays_store_each_failed_event_once(services) -> None:
    """Replays at once (an operator's retries, two tools) each read the waiting failed events before any marked them
    replayed: events sent without a messageId were stored once per replay (10 parallel replays stored 50 of 5 events
    on PostgreSQL, 20 on SQLite). A replayed event now carries an id of its failed row, so it is stored once."""
    import threading

    services.quality.put_plan(TrackingPlanIn(event="E", schema=ORDER_SCHEMA, mode="block"))
    services.ingest.ingest([{"type": "track", "event": "E", "userId": "ann", "properties": {}} for _ in range(3)])
    services.quality.put_plan(TrackingPlanIn(event="E", schema={"type": "object"}, mode="block"))
    start = threading.Barrier(6)

    def replay() -> None:
        start.wait()
        services.quality.replay()

    threads = [threading.Thread(target=replay) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert services.quality.failed() == []
    assert len(services.privacy.export("ann").events) == 3
