"""SegmentService on both backends: definitions, real-time membership, the time sweep, merges, consent,
erasure and export, RFM and ML segments, and concurrent workers."""

from __future__ import annotations

import threading
import time

import pytest

from pertinent.rules import Moment
from pertinent.segments.errors import SegmentError, UnknownSegment
from pertinent.segments.service import SegmentService
from pertinent.segments.sweep import UPDATED_SLACK_S
from pertinent.services import Services

DAY = 86400.0


def order(uid: str, mid: str, revenue: float = 10.0, **kw: object) -> dict:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": uid,
        "messageId": mid,
        "properties": {"revenue": revenue},
        **kw,
    }


def view(uid: str | None = None, anon: str | None = None, mid: str = "", **kw: object) -> dict:
    msg: dict = {"type": "track", "event": "Product Viewed", "messageId": mid, "properties": {"product_id": "p1"}}
    if uid:
        msg["userId"] = uid
    if anon:
        msg["anonymousId"] = anon
    return {**msg, **kw}


def segment_ids(services: Services, user: str) -> list[str]:
    profile = services.profiles.get(user)
    return [] if profile is None else [s.id for s in profile.segments]


def wait_for(predicate, timeout: float = 15.0) -> bool:
    """Poll until ``predicate()`` holds (membership is written by a background thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


FREQUENT = {"template": "frequent_buyers", "params": {"min_orders": 2}}


def test_an_event_makes_a_profile_enter_in_real_time(services):
    seg = services.segments
    created = seg.create(FREQUENT)
    assert created.version == 1 and created.kind == "rule" and created.template.params == {"min_orders": 2}
    services.ingest.ingest([order("ann", "m1")])
    assert seg.wait_idle()
    assert segment_ids(services, "ann") == []
    services.ingest.ingest([order("ann", "m2")])
    assert wait_for(lambda: segment_ids(services, "ann") == ["frequent_buyers"])
    entry = services.profiles.get("ann").segments[0]
    assert entry.name == "Frequent buyers" and entry.entered_at > 0
    assert seg.get("frequent_buyers").size == 1
    assert seg.wait_idle()  # the membership is written before the evaluator counts the batch as processed
    assert seg.stats().processed >= 2


def test_saving_back_fills_existing_profiles_and_updates_replace_them(services):
    seg = services.segments
    services.ingest.ingest([order("ann", "m1"), order("ann", "m2"), order("bob", "m3")])
    seg.create({**FREQUENT, "id": "buyers"}, backfill="sync")
    assert segment_ids(services, "ann") == ["buyers"] and segment_ids(services, "bob") == []
    # a new version with a lower threshold back-fills bob in (background job)
    updated = seg.replace("buyers", {"template": "frequent_buyers", "params": {"min_orders": 1}, "name": "Buyers"})
    assert updated.version == 2 and updated.backfill == "running"
    assert wait_for(lambda: segment_ids(services, "bob") == ["buyers"])
    assert seg.get("buyers").name == "Buyers"
    with pytest.raises(UnknownSegment):
        seg.replace("nope", FREQUENT)


def test_time_based_exit_and_entry_happen_through_the_sweep(services):
    seg = services.segments
    seg.create(FREQUENT, backfill="sync")
    seg.create({"template": "at_risk", "params": {"inactive_days": 20}}, backfill="sync")
    services.ingest.ingest([order("ann", "m1"), order("ann", "m2")])
    assert wait_for(lambda: segment_ids(services, "ann") == ["frequent_buyers"])
    now = time.time()
    seg.clock = lambda: now + 10 * DAY  # nothing changes yet
    assert seg.sweep() == {"profiles": 1, "entered": 0, "exited": 0}
    seg.clock = lambda: now + 31 * DAY  # no new event: she stopped buying
    assert seg.sweep() == {"profiles": 1, "entered": 1, "exited": 1}
    assert segment_ids(services, "ann") == ["at_risk"]
    history = seg.history("frequent_buyers")
    assert (history.entries, history.exits) == (1, 1)
    assert history.changes[-1].at == pytest.approx(now + 31 * DAY, abs=5)


def test_a_sweep_after_a_complete_one_reads_only_the_profiles_time_can_have_moved(services):
    seg = services.segments
    # at_risk: bought, then no purchase for 20 days (a since condition on last_purchase)
    seg.create({"template": "at_risk", "params": {"inactive_days": 20}}, backfill="sync")
    bought = time.time()
    for i in range(12):  # customer i last bought i days ago: their 20-day mark is (20 - i) days from now
        services.ingest.ingest([order(f"c{i}", f"o{i}", timestamp=_iso(bought - i * DAY))])
    assert seg.wait_idle()
    base = time.time() + UPDATED_SLACK_S + 5  # the profiles were updated well before the first sweep
    seg.clock = lambda: base
    assert seg.sweep() == {"profiles": 12, "entered": 0, "exited": 0}  # no complete sweep recorded: every profile
    for days, crossing in ((9.5, {11}), (10.5, {10}), (13.5, {9, 8, 7})):
        seg.clock = lambda days=days: base + days * DAY
        swept = seg.sweep()
        # re-read: the customers whose 20-day mark passed since the last sweep, nobody else
        assert swept == {"profiles": len(crossing), "entered": len(crossing), "exited": 0}, (days, swept)
        members = {m.profile_id for m in seg.members("at_risk", limit=100).members}
        active, moment = seg.definitions.active(), Moment(seg.clock())
        full = {r.profile_id for r in seg.membership.rows() if seg.membership.memberships(r, active, moment)}
        assert len(members) == 12 - min(crossing) and members == full  # what a sweep over every profile gives
    # a changed definition, or real-time evaluation off, reads every profile again
    seg.replace("at_risk", {"template": "at_risk", "params": {"inactive_days": 21}}, backfill="sync")
    assert seg.sweep()["profiles"] == 12
    seg.config.realtime = False
    assert seg.sweep()["profiles"] == 12
    seg.config.realtime = True
    assert seg.sweep()["profiles"] == 0


def test_day_window_segments_are_swept_whole_once_a_day(services):
    seg = services.segments
    now = 1_800_000_000.0 - 1_800_000_000.0 % DAY + 6 * 3600  # 06:00 UTC
    seg.clock = lambda: now
    seg.create(FREQUENT, backfill="sync")
    orders = [order("ann", "m1", timestamp=_iso(now - DAY)), order("ann", "m2", timestamp=_iso(now))]
    services.ingest.ingest(orders, received_at=now)  # received at the test's clock: a time over 24 h ahead is refused
    assert seg.wait_idle()
    assert seg.sweep()["profiles"] == 1
    seg.clock = lambda: now + 3600  # the same UTC day: day-bucket counts cannot have moved
    assert seg.sweep()["profiles"] == 0
    seg.clock = lambda: now + 30 * DAY  # days later: every profile again, and ann's orders aged out
    assert seg.sweep() == {"profiles": 1, "entered": 0, "exited": 1}


def test_a_background_fit_only_ever_completes_the_version_it_was_started_for(services):
    seg = services.segments
    now = time.time()
    for i in range(10):
        services.ingest.ingest([order(f"c{i}", f"o{i}-{j}", timestamp=_iso(now - (i + j) * DAY)) for j in range(3)])
    assert seg.wait_idle()
    out = seg.create({"id": "rfm", "name": "RFM", "kind": "rfm"}, fit="background")
    assert (out.version, out.fit) == (1, "running")
    assert seg.wait_idle()
    assert (seg.get("rfm").version, seg.get("rfm").fit, seg.get("rfm").size) == (2, "done", 10)
    seg.replace("rfm", {"id": "rfm", "name": "RFM again", "kind": "rfm"}, fit="background")
    assert seg.wait_idle()
    seg.fitting.fit_stored("rfm", 3, "none")  # a late job for version 3 (version 4 is its fit): nothing happens
    assert seg.get("rfm").version == 4 and seg.get("rfm").name == "RFM again"
    seg.delete("rfm")
    seg.fitting.fit_stored("rfm", 4, "none")  # deleted meanwhile: nothing either
    assert seg.list().segments == []


def test_merged_away_profiles_leave_and_the_survivor_keeps_the_history(services):
    seg = services.segments
    seg.create(
        {
            "id": "viewers",
            "name": "Viewers",
            "rule": {"type": "event_count", "event": "Product Viewed", "window_days": 7, "value": 2},
        }
    )
    services.ingest.ingest([view(anon="a-1", mid="v1"), view(anon="a-1", mid="v2")])
    assert wait_for(lambda: segment_ids(services, "a-1") == ["viewers"])
    anon_profile = services.profiles.get("a-1").profile_id
    services.ingest.ingest([view(uid="zoe", mid="v3")])
    services.ingest.ingest([{"type": "identify", "userId": "zoe", "anonymousId": "a-1", "messageId": "i1"}])
    assert seg.wait_idle()
    survivor = services.profiles.get("zoe").profile_id
    assert survivor != anon_profile
    assert segment_ids(services, "zoe") == ["viewers"]
    with services.store.transaction(write=False) as tx:
        assert tx.segments_of([anon_profile]) == {}
        assert tx.membership_history(profile_id=anon_profile) == []
        assert [c.entered for c in tx.membership_history(profile_id=survivor)] == [True]
    assert seg.get("viewers").size == 1


def test_withdrawn_personalisation_consent_leaves_every_segment(services):
    seg = services.segments
    seg.create({"id": "all", "name": "Everyone", "rule": {"type": "consent", "purpose": "analytics"}})
    services.ingest.ingest([view(uid="ann", mid="v1")])
    assert wait_for(lambda: segment_ids(services, "ann") == ["all"])
    services.privacy.set_consent({"personalization": False}, user_id="ann")
    assert wait_for(lambda: segment_ids(services, "ann") == [])
    services.privacy.set_consent({"personalization": True}, user_id="ann")
    assert wait_for(lambda: segment_ids(services, "ann") == ["all"])


def test_export_and_erasure_cover_memberships_history_and_models(services):
    seg = services.segments
    seg.create(FREQUENT, backfill="sync")
    for i in range(6):
        services.ingest.ingest([order(f"c{i}", f"o{i}-{j}", revenue=10.0 * (i + 1)) for j in range(i + 1)])
    assert seg.wait_idle()
    seg.create(
        {"id": "clusters", "name": "Clusters", "kind": "ml", "config": {"clustering": {"k": 2}}}, backfill="sync"
    )
    exported = services.privacy.export("c3")
    assert [s["id"] for s in exported.segments["current"] if s["definition"] == "frequent_buyers"] == [
        "frequent_buyers"
    ]
    assert {h["segment_id"] for h in exported.segments["history"]} >= {"frequent_buyers"}
    assert [r["definition"] for r in exported.segment_models] == ["clusters"]
    erased = services.privacy.erase("c3")
    assert erased.deleted["segment_members"] == 2 and erased.deleted["segment_history"] == 2
    assert erased.deleted["segment_models"] == 1
    profile_id = erased.profile_id
    with services.store.transaction(write=False) as tx:
        assert tx.segments_of([profile_id]) == {} and tx.membership_history(profile_id=profile_id) == []
    assert seg.user_rows(profile_id) == []


def test_definition_errors_name_the_bad_part(services):
    seg = services.segments
    cases = [
        (
            {
                "id": "x",
                "name": "x",
                "rule": {
                    "type": "and",
                    "conditions": [
                        {"type": "consent", "purpose": "analytics"},
                        {"type": "event_count", "event": "buy", "window_days": 99, "value": 1},
                    ],
                },
            },
            "rule.conditions[1].window_days",
        ),
        ({"template": "frequent_buyers", "params": {"min_orders": "many"}}, "params"),
        ({"template": "frequent_buyers", "params": {"window_days": 400}}, "params.window_days"),
        ({"template": "frequent_buyers", "params": {"nope": 1}}, "params.nope"),
        ({"template": "vip"}, "template"),
        ({"id": "a:b", "name": "x", "rule": {"type": "consent", "purpose": "analytics"}}, "id"),
        ({"id": "m", "name": "m", "kind": "ml", "config": {"features": {"features": ["shoe_size"]}}}, "config"),
        ({"id": "k", "name": "k", "kind": "magic"}, "kind"),
        ([1, 2], "body"),
    ]
    for data, field in cases:
        with pytest.raises(SegmentError) as err:
            seg.create(data)
        assert field in [e["field"] for e in err.value.errors], (data, err.value.errors)
    seg.create(FREQUENT)
    with pytest.raises(SegmentError) as err:
        seg.create(FREQUENT)
    assert err.value.status == 409


def test_delete_forgets_members_history_and_sizes(services):
    seg = services.segments
    seg.create({"id": "all", "name": "Everyone", "rule": {"type": "consent", "purpose": "analytics"}})
    services.ingest.ingest([view(uid="ann", mid="v1")])
    assert wait_for(lambda: segment_ids(services, "ann") == ["all"])
    seg.snapshot_sizes()
    assert seg.sizes("all").sizes[-1].size == 1
    assert seg.delete("all").model_dump() == {"id": "all", "deleted": True, "members_removed": 1}
    with pytest.raises(UnknownSegment):
        seg.get("all")
    with services.store.transaction(write=False) as tx:
        assert tx.count_segment_members() == {} and tx.membership_history("all") == []
        assert tx.segment_sizes("all") == []


def test_rfm_segments_follow_thresholds_fitted_on_customers(services):
    seg = services.segments
    with pytest.raises(SegmentError) as err:
        seg.create({"id": "rfm", "name": "RFM", "kind": "rfm"})
    assert err.value.status == 409  # no customers yet
    now = time.time()
    for i in range(10):  # recency grows with i, frequency shrinks: c0 is the best customer, c9 the worst
        services.ingest.ingest(
            [order(f"c{i}", f"o{i}-{j}", timestamp=_iso(now - (i * 5 + j) * DAY)) for j in range(10 - i)]
        )
    services.ingest.ingest([view(anon="visitor", mid="v1")])  # not a customer: in no RFM segment
    assert seg.wait_idle()
    preview = seg.preview({"id": "rfm", "name": "RFM", "kind": "rfm"}, sample=2)
    assert seg.list().segments == []  # nothing saved
    out = seg.create({"id": "rfm", "name": "RFM", "kind": "rfm"}, backfill="sync")
    assert out.fitted.customers == 10 and out.size == 10
    # the preview held what saving gives: same thresholds, same sizes per segment, samples from each
    for key in ("frequency", "monetary", "customers"):
        assert preview.fitted[key] == getattr(out.fitted, key)
    assert preview.fitted["recency"] == pytest.approx(out.fitted.recency, abs=1e-3)  # days, a moment later
    assert [(p.id, p.size) for p in preview.segments] == [(o.id, o.size) for o in out.segments]
    assert preview.size == 10 and preview.evaluated == 11
    for p in preview.segments:
        assert len(p.sample) == min(2, p.size)
        assert set(p.sample) <= {m.profile_id for m in seg.members(p.id).members}
    assert "rfm:champions" in segment_ids(services, "c0")
    assert {"rfm:lost", "rfm:hibernating"} & set(segment_ids(services, "c9"))
    assert segment_ids(services, "visitor") == []
    sub = seg.members("rfm:champions")
    assert len(sub.members) == next(s.size for s in out.segments if s.id == "rfm:champions")
    with pytest.raises(SegmentError):  # a definition with several segments: name one of them
        seg.members("rfm")


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_ml_segments_assign_new_profiles_in_real_time_and_keep_ids_on_retrain(services):
    seg = services.segments
    for i in range(30):  # two groups: small one-off buyers and big frequent buyers
        big = i % 2 == 0
        services.ingest.ingest(
            [order(f"c{i}", f"o{i}-{j}", revenue=500.0 if big else 5.0) for j in range(8 if big else 1)]
        )
    assert seg.wait_idle()
    definition = {
        "id": "clusters",
        "name": "Clusters",
        "kind": "ml",
        "config": {"features": {"features": ["frequency", "monetary"]}, "clustering": {"k": 2}},
    }
    preview = seg.preview(definition)
    assert seg.models.versions("clusters") == [] and seg.list().segments == []  # no model, no definition saved
    out = seg.create(definition, backfill="sync")
    assert out.fitted.model_version == 1 and out.size == 30
    assert sorted(p.size for p in preview.segments) == sorted(o.size for o in out.segments) == [15, 15]
    assert preview.fitted["k"] == 2 and preview.size == 30
    big_id = segment_ids(services, "c0")[0]
    small_id = segment_ids(services, "c1")[0]
    assert big_id != small_id and big_id.startswith("clusters:")
    services.ingest.ingest([order("newcomer", f"n{j}", revenue=480.0) for j in range(7)])
    assert wait_for(lambda: segment_ids(services, "newcomer") == [big_id])
    again = seg.retrain("clusters")
    assert again.fitted.model_version == 2 and again.fitted.stability_ari == pytest.approx(1.0)
    assert segment_ids(services, "c0") == [big_id] and segment_ids(services, "newcomer") == [big_id]
    assert seg.models.versions("clusters") == [1, 2]
    seg.delete("clusters")
    assert seg.models.versions("clusters") == []


def test_two_workers_evaluating_the_same_profiles_record_each_change_once(services, settings):
    """Two SegmentServices on one store stand for two server processes."""
    seg = services.segments
    seg.create({"id": "all", "name": "Everyone", "rule": {"type": "consent", "purpose": "analytics"}})
    services.ingest.ingest([view(uid=f"u{i}", mid=f"v{i}") for i in range(40)])
    assert seg.wait_idle()
    other = SegmentService(services.store, settings, services.ingest.profile_config)
    with services.store.transaction(write=False) as tx:
        rows = {r.profile_id: r for r in tx.iter_profiles()}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(worker: SegmentService) -> None:
        try:
            barrier.wait(5)
            for _ in range(3):
                worker.evaluate_and_write(rows)
                worker.backfill("all")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,)) for w in (seg, other)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    with services.store.transaction(write=False) as tx:
        history = tx.membership_history("all", limit=None)
        assert tx.count_segment_members() == {"all": 40}
    assert len(history) == 40 and all(c.entered for c in history)
    other.close()


def test_a_stale_row_is_re_evaluated_from_the_stored_profile(services):
    seg = services.segments
    seg.create(FREQUENT)
    services.ingest.ingest([order("ann", "m1")])
    assert seg.wait_idle()
    with services.store.transaction(write=False) as tx:
        (stale,) = tx.iter_profiles()
    services.ingest.ingest([order("ann", "m2")])  # newer state: she qualifies
    assert wait_for(lambda: segment_ids(services, "ann") == ["frequent_buyers"])
    seg.evaluate_and_write({stale.profile_id: stale})  # a slow worker writing the old state
    assert segment_ids(services, "ann") == ["frequent_buyers"]


def test_scheduled_tasks_run_once_per_interval_across_workers(services, settings):
    seg = services.segments
    assert seg.jobs.claim("sweep", 60.0) is True
    other = SegmentService(services.store, settings, services.ingest.profile_config)
    assert other.jobs.claim("sweep", 60.0) is False  # the other worker did it moments ago
    now = time.time()
    other.clock = lambda: now + 120.0
    assert other.jobs.claim("sweep", 60.0) is True
    other.close()


def test_started_service_sweeps_on_its_schedule(services):
    seg = services.segments
    seg.config.sweep_interval_s = 0.5
    seg.config.sizes_interval_s = 0.0
    seg.create(FREQUENT, backfill="sync")
    services.ingest.ingest([order("ann", "m1"), order("ann", "m2")])
    assert wait_for(lambda: segment_ids(services, "ann") == ["frequent_buyers"])
    now = time.time()
    seg.clock = lambda: now + 40 * DAY
    seg.start()
    assert wait_for(lambda: segment_ids(services, "ann") == [], timeout=20)


def test_reconcile_repairs_memberships_missed_by_real_time(services):
    seg = services.segments
    seg.create({"id": "all", "name": "Everyone", "rule": {"type": "consent", "purpose": "analytics"}}, backfill="none")
    seg.config.realtime = False  # as if the process queuing these profiles had been killed
    seg.evaluator.close()
    services.ingest.ingest([view(uid=f"u{i}", mid=f"v{i}") for i in range(5)])
    with services.store.transaction(write=False) as tx:
        assert tx.count_segment_members() == {}
    assert seg.reconcile() == {"profiles": 5, "entered": 5, "exited": 0}
    assert seg.reconcile() == {"profiles": 5, "entered": 0, "exited": 0}


def test_scheduled_retraining_refits_stale_rfm_and_ml_definitions(services):
    seg = services.segments
    for i in range(8):
        services.ingest.ingest([order(f"c{i}", f"o{i}-{j}", revenue=5.0 + 100 * (i % 2)) for j in range(1 + i % 3)])
    assert seg.wait_idle()
    seg.create({"id": "rfm", "name": "RFM", "kind": "rfm"}, backfill="sync")
    seg.create(
        {"id": "clusters", "name": "Clusters", "kind": "ml", "config": {"clustering": {"k": 2}}}, backfill="sync"
    )
    seg.config.retrain_interval_s = 3600.0
    assert seg.retrain_due() == []  # fitted moments ago
    now = time.time()
    seg.clock = lambda: now + 7200.0
    assert sorted(seg.retrain_due()) == ["clusters", "rfm"]
    assert seg.get("clusters").fitted.model_version == 2 and seg.get("rfm").version == 2
    with pytest.raises(UnknownSegment):
        seg.members("clusters:9")
