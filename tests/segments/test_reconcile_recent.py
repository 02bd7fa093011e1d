"""The scheduled reconcile (issue 15): memberships converge even when the real-time evaluation of some profiles
was lost (a node killed with profiles queued), reading only the profiles updated since the last run."""

from __future__ import annotations

import time

from pertinent.segments import service as service_module
from pertinent.services import Services
from pertinent.storage.claims import StoreClaims
from tests.segments.test_segments_service import FREQUENT, order, segment_ids
from tests.support.common import make_settings


def test_reconcile_repairs_lost_realtime_evaluations_and_reads_only_recent_profiles(tmp_path, store, monkeypatch):
    monkeypatch.setattr(service_module, "RECONCILE_SLACK_S", 0.0)  # no margin: the narrowing is visible
    # real-time evaluation off: as if the node holding the queue died before evaluating
    services = Services.build(make_settings(tmp_path, segments={"realtime": False}), store)
    try:
        seg = services.segments
        seg.create(FREQUENT, backfill="sync")
        services.ingest.ingest([order("ann", "a1"), order("ann", "a2"), order("bob", "b1")])
        assert segment_ids(services, "ann") == []  # nothing evaluated it
        first = seg.reconcile_recent()
        assert first["profiles"] == 2  # nothing recorded yet: every profile
        assert segment_ids(services, "ann") == ["frequent_buyers"]
        assert StoreClaims(store).state("segments.reconcile") is not None
        time.sleep(0.05)
        services.ingest.ingest([order("bob", "b2")])
        second = seg.reconcile_recent()
        assert second["profiles"] == 1  # only bob was updated since the last reconcile
        assert segment_ids(services, "bob") == ["frequent_buyers"]
    finally:
        services.close()
