"""The monitoring's events are read incrementally (``predictions.loader.KeptEvents``): the same frame as a full
read, after new events, an identity merge, a deletion and an erasure; kept profile ids go with an erasure."""

from __future__ import annotations

import pandas as pd
import pytest

from pertinent.predictions.loader import KeptEvents, load_events
from pertinent.services import Services
from tests.support.common import make_settings

T0 = 1_700_000_000.0


def track(user: str | None, n: int, anonymous: str | None = None, at: float = T0, **props: object) -> list[dict]:
    base = {"userId": user} if user else {"anonymousId": anonymous}
    return [
        {
            **base,
            "type": "track",
            "event": "Order Completed",
            "timestamp": at + i * 60,
            "messageId": f"{user or anonymous}-{at}-{i}",
            "properties": {"revenue": 10 + i, "product_id": f"p{i}", **props},
        }
        for i in range(n)
    ]


def same_as_full_read(svc: Services, kept: KeptEvents, until: float = T0 + 1e6, exclude: tuple[str, ...] = ()) -> None:
    with svc.store.transaction(write=False) as tx:
        full = load_events(tx, until, exclude)
        got = kept.frame(tx, until, exclude)
    pd.testing.assert_frame_equal(got, full)


@pytest.fixture
def svc(tmp_path):
    services = Services.build(make_settings(tmp_path, segments={"realtime": False}))
    yield services
    services.close()


def test_kept_events_follow_new_events_merges_and_deletions(svc: Services) -> None:
    kept = KeptEvents()
    others = [
        {"type": "page", "userId": "bob", "name": "Home", "timestamp": T0},
        {"type": "identify", "userId": "bob", "traits": {}},
    ]
    svc.ingest.ingest(track("ann", 3) + track(None, 2, anonymous="anon-1") + others)
    same_as_full_read(svc, kept)
    same_as_full_read(svc, kept, until=T0 + 90)  # a past "now": only what came before
    assert kept.reads == 1
    svc.ingest.ingest(track("bob", 2, at=T0 + 3600))
    same_as_full_read(svc, kept)
    assert kept.reads == 1  # the new events only: no read from the first event
    pid_ann = svc.ingest.pseudo.key("user", "ann")
    same_as_full_read(svc, kept, exclude=(pid_ann,))  # the data-quality exclusions apply at each read

    svc.ingest.ingest([{"type": "identify", "userId": "cat", "anonymousId": "anon-1", "traits": {}}])  # a merge
    same_as_full_read(svc, kept)
    assert kept.reads == 2  # the anonymous visitor's events now belong to cat: read again

    with svc.store.transaction() as tx:  # events deleted (as erasure does): fewer up to the last id read
        tx.erase_profile(pid_ann)
    same_as_full_read(svc, kept)
    assert kept.reads == 3


def test_an_erasure_drops_the_kept_events(svc: Services) -> None:
    svc.ingest.ingest(track("ann", 3) + track("bob", 2))
    panel = svc.predictions.panel(T0 + 1e6)
    assert set(panel.log.frame["user"]) == {svc.ingest.pseudo.key("user", u) for u in ("ann", "bob")}
    assert svc.predictions.kept.last_id > 0
    svc.privacy.erase("ann")
    assert svc.predictions.kept.last_id == 0 and len(svc.predictions.kept._kept) == 0  # nothing of ann kept
    assert set(svc.predictions.panel(T0 + 1e6).log.frame["user"]) == {svc.ingest.pseudo.key("user", "bob")}


def test_beyond_max_rows_nothing_is_kept(svc: Services) -> None:
    svc.ingest.ingest(track("ann", 3))
    kept = KeptEvents(max_rows=2)
    same_as_full_read(svc, kept)
    same_as_full_read(svc, kept)
    assert kept.reads == 2 and len(kept._kept) == 0  # each read a full one, nothing held after it


def test_the_frame_stores_each_distinct_string_once(svc: Services) -> None:
    """Equal profile ids, event names and items share one string object (the driver returns one per row): the
    values are those of the stored events, the memory a pointer per event."""
    svc.ingest.ingest(track("ann", 3, product_id="p0") + track("bob", 2, at=T0 + 600, product_id="p0"))
    with svc.store.transaction(write=False) as tx:
        frame = load_events(tx, T0 + 1e6)
    pid = {u: svc.ingest.pseudo.key("user", u) for u in ("ann", "bob")}
    assert frame["user"].tolist() == [pid["ann"]] * 3 + [pid["bob"]] * 2
    assert frame["event"].tolist() == ["Order Completed"] * 5 and frame["item"].tolist() == ["p0"] * 5
    assert frame["user"].dtype == object and frame["revenue"].tolist() == [10.0, 11.0, 12.0, 10.0, 11.0]
    for column in ("user", "event", "item"):
        values = frame[column].tolist()
        assert len({id(v) for v in values}) == len(set(values)), column
