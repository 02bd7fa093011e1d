"""One person erased by several requests at once (an operator's retries, two tools): one erasure does it, the others
find nobody (404), as they do one after the other. On PostgreSQL all of them found the person before the first
committed and each answered 200, the later ones with nothing deleted, an erasure audit entry and consent-log row
each."""

from __future__ import annotations

import threading

from pertinent.errors import NotFound
from pertinent.services import Services


def test_concurrent_erasures_of_one_person_erase_once(services: Services) -> None:
    services.ingest.ingest([{"type": "track", "userId": "twice", "event": "E"} for _ in range(5)], prefix="batch")
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def erase() -> None:
        start.wait()
        try:
            services.privacy.erase("twice")
            outcomes.append("erased")
        except NotFound:
            outcomes.append("unknown")

    threads = [threading.Thread(target=erase) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["erased"] + ["unknown"] * 5
    with services.store.transaction(write=False) as tx:
        assert len(tx.audit_entries(action="erase")) == 1
