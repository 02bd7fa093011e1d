"""Listeners see what each ingest transaction committed: new events, changed profiles, merges."""

from __future__ import annotations

from pertinent.events.service import Committed


def _track(uid: str | None, anon: str | None, mid: str) -> dict[str, object]:
    msg: dict[str, object] = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": mid,
        "properties": {"product_id": "p1"},
    }
    if uid:
        msg["userId"] = uid
    if anon:
        msg["anonymousId"] = anon
    return msg


def test_listeners_get_new_events_profiles_and_merges(services):
    seen: list[Committed] = []
    services.ingest.subscribe(seen.append)
    services.ingest.ingest([_track(None, "a1", "m1"), _track(None, "a1", "m1")])
    assert [e.message_id for e in seen[0].events] == ["m1"]  # the repeat is a duplicate, not a new event
    (anon_profile,) = seen[0].profiles
    assert seen[0].profiles[anon_profile].state["events_total"] == 1 and seen[0].merged == []

    services.ingest.ingest([_track("u1", None, "m2")])
    known = next(iter(seen[1].profiles))
    services.ingest.ingest([{"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "m3"}])
    assert seen[2].merged == [(anon_profile, known)]
    assert seen[2].profiles[known].state["events_total"] == 2  # both histories (identify is not counted)

    services.ingest.ingest([_track("u1", None, "m2")])  # nothing new: listeners are not called
    assert len(seen) == 3


def test_a_failing_listener_does_not_fail_ingestion(services):
    def boom(_: Committed) -> None:
        raise RuntimeError("listener bug")

    services.ingest.subscribe(boom)
    result = services.ingest.ingest([_track("u1", None, "m1")])
    assert result.stored == 1
    with services.store.transaction(write=False) as tx:
        assert tx.count_events() == 1
