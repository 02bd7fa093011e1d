"""The storage contract: every backend (SQLite, PostgreSQL) must pass these tests.

A new backend joins by adding itself to the ``store`` fixture in conftest.py.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from pertinent.storage.base import (
    AuditRow,
    ConsentRow,
    DecisionRow,
    DedupCandidateRow,
    DeliveryRow,
    EventRow,
    GroupMemberRow,
    GroupRow,
    IdentityRow,
    MembershipChange,
    OutcomeRow,
    ProfileRow,
    SuppressionRow,
)


def ev(mid: str, profile: str = "p1", ts: float = 1.0, **kw: object) -> EventRow:
    return EventRow(
        message_id=mid,
        type="track",
        event="Viewed",
        profile_id=profile,
        timestamp=ts,
        received_at=ts + 1,
        personalize=True,
        **kw,
    )  # type: ignore[arg-type]


def _reader_profile_of(store, key: str) -> str:
    with store.reader() as r:
        return r.get_identities([key])[key].profile_id


class TestStoreContract:
    def test_insert_events_is_idempotent_on_message_id(self, store):
        with store.transaction() as tx:
            assert tx.insert_events([ev("m1"), ev("m2")]) == {("p1", "m1"), ("p1", "m2")}
        with store.transaction() as tx:
            assert tx.insert_events([ev("m2"), ev("m3")]) == {("p1", "m3")}
            assert tx.count_events() == 3

    def test_duplicate_inside_one_insert_keeps_one(self, store):
        with store.transaction() as tx:
            assert tx.insert_events([ev("m1"), ev("m1", ts=5.0)]) == {("p1", "m1")}
            assert tx.count_events() == 1
            assert [r.timestamp for r in tx.events_of("p1")] == [1.0]  # the first of the two is the one stored

    def test_message_ids_are_unique_per_person(self, store):
        with store.transaction() as tx:  # two people's events that share an id are both kept
            assert tx.insert_events([ev("m1", "p1"), ev("m1", "p2")]) == {("p1", "m1"), ("p2", "m1")}
        with store.transaction() as tx:
            assert tx.insert_events([ev("m1", "p2"), ev("m1", "p1")]) == set()
            assert tx.count_events() == 2

    def test_large_insert_checks_every_known_pair(self, store):
        rows = [ev(f"m{i}", f"p{i % 7}") for i in range(1000)]  # several lookup chunks
        with store.transaction() as tx:
            assert len(tx.insert_events(rows[:600])) == 600
        with store.transaction() as tx:
            assert tx.insert_events(rows) == {(r.profile_id, r.message_id) for r in rows[600:]}
            assert tx.count_events() == 1000

    def test_events_round_trip_json_and_order(self, store):
        props = {"price": 9.5, "tags": ["a", "b"], "nested": {"x": None}, "unicode": "café ✓"}
        with store.transaction() as tx:
            tx.insert_events([ev("late", ts=20.0), ev("early", ts=10.0, properties=props, context={"ip": "1.2.3.0"})])
        with store.transaction(write=False) as tx:
            rows = tx.events_of("p1")
        assert [r.message_id for r in rows] == ["early", "late"]
        assert rows[0].properties == props and rows[0].context == {"ip": "1.2.3.0"}
        assert rows[1].properties is None

    def test_rollback_on_error_discards_everything(self, store):
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.insert_events([ev("m1")])
            tx.put_profiles([ProfileRow("p1", state={"a": 1})])
            raise RuntimeError("boom")
        with store.transaction(write=False) as tx:
            assert tx.count_events() == 0 and tx.count_profiles() == 0

    def test_profiles_upsert_and_lock_creates_missing(self, store):
        with store.transaction() as tx:
            got = tx.lock_profiles(["b", "a"], now=7.0)
            assert set(got) == {"a", "b"} and got["a"].state == {} and got["a"].created_at == 7.0
            got["a"].state = {"events_total": 3}
            tx.put_profiles([got["a"], got["b"]])
        with store.transaction() as tx:
            row = tx.get_profiles(["a"])["a"]
            assert row.state == {"events_total": 3} and row.created_at == 7.0
            row.traits = {"plan": "pro"}
            row.updated_at = 9.0
            tx.put_profiles([row])
        with store.transaction(write=False) as tx:
            row = tx.get_profiles(["a", "zzz"])
            assert list(row) == ["a"] and row["a"].traits == {"plan": "pro"} and row["a"].created_at == 7.0
            assert tx.count_profiles() == 2
            assert [p.profile_id for p in tx.iter_profiles(batch_size=1)] == ["a", "b"]

    def test_identities_put_get_repoint_rename(self, store):
        with store.transaction() as tx:
            tx.put_identities([IdentityRow("a_1", "anonymous", "a_1", 1.0), IdentityRow("u_1", "user", "u_1", 2.0)])
            tx.put_identities([IdentityRow("a_1", "anonymous", "u_1", 1.0)])  # upsert moves it
        with store.transaction() as tx:
            got = tx.get_identities(["a_1", "u_1", "nope"])
            assert got["a_1"].profile_id == "u_1" and got["a_1"].created_at == 1.0 and "nope" not in got
            tx.repoint_identities("u_1", "u_2")
            tx.rename_identity("a_1", "a_new")
        with store.transaction(write=False) as tx:
            assert sorted(i.key for i in tx.identities_of("u_2")) == ["a_new", "u_1"]

    def test_repoint_events_and_consent(self, store):
        with store.transaction() as tx:
            tx.insert_events([ev("m1", "anon"), ev("m2", "anon"), ev("m3", "known")])
            tx.append_consent([ConsentRow("anon", "analytics", True, "event", 1.0)])
            assert tx.repoint_events("anon", "known") == 2
            tx.repoint_consent("anon", "known")
        with store.transaction(write=False) as tx:
            assert len(tx.events_of("known")) == 3 and tx.events_of("anon") == []
            assert [c.purpose for c in tx.consent_of("known")] == ["analytics"]

    def test_repoint_keeps_a_message_both_people_have_once(self, store):
        with store.transaction() as tx:
            tx.insert_events([ev("same", "anon"), ev("m2", "anon"), ev("same", "known")])
            assert tx.repoint_events("anon", "known") == 1
        with store.transaction(write=False) as tx:
            assert sorted(e.message_id for e in tx.events_of("known")) == ["m2", "same"]
            assert tx.events_of("anon") == [] and tx.count_events() == 2

    def test_erase_profile_removes_every_row(self, store):
        with store.transaction() as tx:
            tx.insert_events([ev("m1", "p1"), ev("m2", "p2")])
            tx.put_identities([IdentityRow("u_1", "user", "p1", 1.0), IdentityRow("u_2", "user", "p2", 1.0)])
            tx.put_profiles([ProfileRow("p1"), ProfileRow("p2")])
            tx.append_consent([ConsentRow("p1", "analytics", True, "api", 1.0)])
            tx.put_groups([GroupRow("acme", {"plan": "pro"}, 1.0, 1.0)])
            tx.add_group_members([GroupMemberRow("acme", "p1", 1.0), GroupMemberRow("acme", "p2", 2.0)])
        with store.transaction() as tx:
            counts = tx.erase_profile("p1")
        assert counts == {
            "events": 1,
            "identities": 1,
            "consent_log": 1,
            "profiles": 1,
            "segment_members": 0,
            "segment_history": 0,
            "decisions": 0,
            "decision_outcomes": 0,
            "group_members": 1,
            "destination_outbox": 0,
        }
        with store.transaction(write=False) as tx:
            assert tx.events_of("p1") == [] and tx.identities_of("p1") == [] and tx.consent_of("p1") == []
            assert tx.get_profiles(["p1"]) == {} and tx.count_events() == 1  # p2 untouched
            assert tx.groups_of("p1") == [] and [m.profile_id for m in tx.group_members("acme")] == ["p2"]
            assert tx.get_groups(["acme"])["acme"].traits == {"plan": "pro"}  # the account stays

    def test_groups_and_members(self, store):
        with store.transaction() as tx:
            tx.put_groups([GroupRow("acme", {"plan": "free"}, 1.0, 1.0), GroupRow("beta", {}, 1.0, 1.0)])
            tx.put_groups([GroupRow("acme", {"plan": "pro"}, 5.0, 5.0)])  # replaced; created_at kept
            tx.add_group_members(
                [
                    GroupMemberRow("acme", "p1", 3.0),
                    GroupMemberRow("acme", "p1", 4.0),
                    GroupMemberRow("beta", "p2", 2.0),
                ]
            )
            tx.add_group_members([GroupMemberRow("acme", "p1", 9.0)])  # already a member: joined_at kept
            tx.add_group_members([GroupMemberRow("acme", "p2", 6.0), GroupMemberRow("beta", "p3", 1.0)])
        with store.transaction(write=False) as tx:
            acme = tx.get_groups(["acme", "nope"])
            assert list(acme) == ["acme"] and acme["acme"] == GroupRow("acme", {"plan": "pro"}, 1.0, 5.0)
            assert [(m.profile_id, m.joined_at) for m in tx.group_members("acme")] == [("p1", 3.0), ("p2", 6.0)]
            assert tx.count_group_members("acme") == 2 and len(tx.group_members("acme", limit=1)) == 1
        with store.transaction() as tx:  # identity stitching: p2 merges into p1 (both in acme), p3 into p1
            tx.repoint_group_members("p2", "p1")
            tx.repoint_group_members("p3", "p1")
        with store.transaction(write=False) as tx:
            assert [(m.group_id, m.joined_at) for m in tx.groups_of("p1")] == [("beta", 1.0), ("acme", 3.0)]
            assert tx.groups_of("p2") == [] and tx.groups_of("p3") == []
            assert tx.count_group_members("acme") == 1 and tx.count_group_members("beta") == 1

    def test_outbox_claims_finishes_requeues_and_erases(self, store):
        rows = [DeliveryRow("hook", "track", p, {"n": i}, next_at=float(i)) for i, p in enumerate(["p1", "p2", "p1"])]
        with store.transaction() as tx:
            assert tx.enqueue_deliveries(rows) == 3
        with store.transaction() as tx:
            claimed = tx.claim_deliveries(now=1.0, limit=10, lease_s=60.0)
            assert [r.payload["n"] for r in claimed] == [0, 1]  # due ones, oldest first
            assert tx.claim_deliveries(now=1.0, limit=10, lease_s=60.0) == []  # leased
            first, second = claimed
            second.status, second.attempts, second.last_error = "dead", 3, "HTTP 500"
            tx.finish_deliveries([first.id], [second])
        with store.transaction() as tx:
            assert [r.payload["n"] for r in tx.deliveries("dead", "hook")] == [1]
            assert tx.count_deliveries() == {("hook", "dead"): 1, ("hook", "pending"): 1}
            assert tx.requeue_deliveries(None, "other", 5.0) == 0
            assert tx.requeue_deliveries([second.id], "hook", 5.0) == 1
            (again,) = tx.claim_deliveries(now=5.0, limit=1, lease_s=60.0)
            assert again.id == second.id and again.attempts == 0 and again.last_error is None
            tx.repoint_deliveries("p2", "p1")
            assert len(tx.deliveries_of("p1")) == 2 and tx.deliveries_of("p2") == []
            assert tx.erase_profile("p1")["destination_outbox"] == 2
            assert tx.deliveries() == []

    def test_erase_profile_covers_segments_and_decisions(self, store):
        with store.transaction() as tx:
            tx.apply_membership_changes(
                [MembershipChange("vip", "p1", True, 1.0), MembershipChange("vip", "p2", True, 1.0)]
            )
            tx.insert_decisions(
                [
                    DecisionRow("d1", "p1", "home.hero", "a", "rule", 2.0),
                    DecisionRow("d2", "p2", "home.hero", "b", "rule", 2.0),
                ]
            )
            tx.insert_outcomes([OutcomeRow("d1", "p1", "click", "m1", 3.0)])
        with store.transaction() as tx:
            counts = tx.erase_profile("p1")
        assert counts["segment_members"] == 1 and counts["segment_history"] == 1
        assert counts["decisions"] == 1 and counts["decision_outcomes"] == 1
        with store.transaction(write=False) as tx:
            assert tx.segments_of(["p1", "p2"]) == {"p2": {"vip": 1.0}}
            assert tx.membership_history(profile_id="p1") == [] and set(tx.get_decisions(["d1", "d2"])) == {"d2"}

    def test_suppression_list_keeps_erased_pseudonyms_across_transactions(self, store):
        with store.transaction() as tx:
            assert tx.suppressed(["u_1", "a_1"]) == set()
            rows = [SuppressionRow("u_1", "user", 5.0), SuppressionRow("a_1", "anonymous", 5.0)]
            assert tx.suppress(rows + [SuppressionRow("u_1", "profile", 6.0)]) == 2
        with store.transaction() as tx:
            assert tx.suppress([SuppressionRow("u_1", "user", 7.0), SuppressionRow("p_9", "profile", 7.0)]) == 1
            assert tx.erase_profile("u_1")["identities"] == 0  # an erasure never empties the list
        keys = [f"k{i}" for i in range(2500)] + ["a_1", "p_9"]  # more than one statement's worth of parameters
        with store.transaction(write=False) as tx:
            assert tx.suppressed(keys) == {"a_1", "p_9"} and tx.suppressed([]) == set()
        with pytest.raises(RuntimeError), store.transaction() as tx:  # a failed transaction adds nothing
            tx.suppress([SuppressionRow("u_2", "user", 8.0)])
            raise RuntimeError("rolled back")
        with store.transaction(write=False) as tx:
            assert tx.suppressed(["u_2", "u_1"]) == {"u_1"}

    def test_documents_are_versioned_and_deletions_kept_in_history(self, store):
        with store.transaction() as tx:
            assert tx.put_document("slot", "home.hero", {"rules": []}, now=1.0).version == 1
            row = tx.put_document("slot", "home.hero", {"rules": [1]}, now=2.0)
            assert (row.version, row.created_at, row.updated_at) == (2, 1.0, 2.0)
            tx.put_document("segment", "vip", {"rule": {}}, now=2.0)
        with store.transaction() as tx:
            assert tx.get_document("slot", "home.hero").body == {"rules": [1]}
            assert [d.doc_id for d in tx.list_documents("slot")] == ["home.hero"]
            assert tx.get_document("slot", "vip") is None
            assert tx.delete_document("slot", "home.hero", now=3.0) is True
            assert tx.delete_document("slot", "home.hero", now=3.0) is False
            assert tx.put_document("slot", "home.hero", {"rules": [2]}, now=4.0).version == 4
        with store.transaction(write=False) as tx:
            history = tx.document_history("slot", "home.hero")
        assert [(d.version, d.body) for d in history] == [
            (1, {"rules": []}),
            (2, {"rules": [1]}),
            (3, None),
            (4, {"rules": [2]}),
        ]

    def test_a_document_write_takes_two_statements_and_a_new_one_three(self, store):
        """A put of an existing document is one upsert (it locks the row and numbers the version) and its history
        row; a new one also numbers its version after the history (a deleted id counts on). Before, the upsert
        took an insert, a locking select and an update."""

        def statements(write) -> tuple[int, object]:  # type: ignore[no-untyped-def]
            seen: list[str] = []
            with store.transaction() as tx:
                listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
                event.listen(tx.conn, "before_cursor_execute", listener)
                try:
                    row = write(tx)
                finally:
                    event.remove(tx.conn, "before_cursor_execute", listener)
            return len(seen), row

        assert statements(lambda tx: tx.put_document("slot", "s", {"v": 1}, 1.0))[0] == 3
        n, row = statements(lambda tx: tx.put_document("slot", "s", {"v": 2}, 2.0))
        assert n == 2 and (row.version, row.created_at, row.updated_at) == (2, 1.0, 2.0)
        assert statements(lambda tx: tx.create_document("slot", "t", {"v": 1}, 3.0))[0] == 3
        with store.transaction(write=False) as tx:
            assert tx.get_document("slot", "s") == row
            assert [(d.version, d.body) for d in tx.document_history("slot", "s")] == [(1, {"v": 1}), (2, {"v": 2})]

    @pytest.mark.parametrize(
        "exists,first,second", [(False, "put", "put"), (True, "delete", "put"), (True, "put", "delete")]
    )
    def test_concurrent_writers_of_one_document_queue_and_number_versions_once(self, store, exists, first, second):
        """Two writers of one document at once: the second waits for the first and writes the next version. On
        PostgreSQL two puts of a new id both found no row to lock and the second one's insert hit the primary key
        (a 500 on PUT /v1/slots/x), and a delete racing a put numbered two versions alike."""
        if exists:
            with store.transaction() as tx:
                tx.put_document("block", "b", {"v": 0}, now=1.0)
        errors: list[BaseException] = []

        def write(tx, op: str, v: int) -> None:
            if op == "put":
                tx.put_document("block", "b", {"v": v}, now=1.0 + v)
            else:
                tx.delete_document("block", "b", now=1.0 + v)

        def then() -> None:
            try:
                with store.transaction() as tx:
                    write(tx, second, 2)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=then)
        with store.transaction() as tx:
            write(tx, first, 1)
            thread.start()
            thread.join(0.5)  # let the second writer reach the row (it waits for this transaction to end)
        thread.join()
        assert not errors, errors
        with store.transaction(write=False) as tx:
            versions = [d.version for d in tx.document_history("block", "b")]
            last = tx.get_document("block", "b")
        assert (last.body if last is not None else None) == ({"v": 2} if second == "put" else None)
        assert versions == list(range(1, len(versions) + 1)), versions

    def test_puts_and_deletes_of_one_document_at_once_never_fail(self, store):
        """Puts and deletes of one document from several transactions at once: each one succeeds (a put whose row a
        delete removed between making it and locking it makes it again: on PostgreSQL that was a 500 on PUT) and the
        history numbers every version once."""
        with store.transaction() as tx:
            tx.put_document("segment", "busy", {"v": 0}, now=1.0)
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def work(i: int) -> None:
            start.wait()
            for n in range(10):
                try:
                    with store.transaction() as tx:
                        if (i + n) % 2:
                            tx.delete_document("segment", "busy", now=2.0)
                        else:
                            tx.put_document("segment", "busy", {"v": i}, now=2.0)
                except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                    errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors[:3]
        versions = [d.version for d in _history(store, "segment", "busy")]
        assert versions == list(range(1, len(versions) + 1))

    def test_a_document_is_created_once_by_concurrent_creators(self, store):
        """``create_document`` writes a new id only (None when it exists): of two creators at once, the second waits
        for the first and gets None (on PostgreSQL both found no row, and both POST /v1/segments answered 201)."""
        made: list[object] = []
        thread = threading.Thread(target=lambda: made.append(_create(store, "segment", "vip", {"v": 2}, 3.0)))
        with store.transaction() as tx:
            made.append(tx.create_document("segment", "vip", {"v": 1}, 2.0))
            thread.start()
            thread.join(0.5)  # let the second creator reach the row (it waits for this transaction to end)
        thread.join()
        assert made[1] is None and made[0] is not None and made[0].version == 1
        with store.transaction() as tx:
            assert tx.get_document("segment", "vip").body == {"v": 1}
            assert tx.delete_document("segment", "vip", now=4.0) is True
            again = tx.create_document("segment", "vip", {"v": 3}, 5.0)  # a deleted id counts on
            assert again is not None and (again.version, again.created_at) == (3, 5.0)
        assert [d.version for d in _history(store, "segment", "vip")] == [1, 2, 3]

    def test_a_duplicate_candidate_is_decided_once_by_concurrent_reviewers(self, store):
        """Deciding a candidate claims it while it is pending: of two reviewers at once, the second finds it decided
        (on PostgreSQL both read it pending, and both merged or one merged while the other rejected it)."""
        with store.transaction() as tx:
            tx.add_dedup_candidates([DedupCandidateRow("u_a", "u_b", 95.0, {"email": 1.0}, "pending", 1.0)])
            (cid,) = [c.id for c in tx.dedup_candidates()]
        claims: list[bool] = []
        thread = threading.Thread(target=lambda: claims.append(_claim(store, cid, "rejected", 3.0)))
        with store.transaction() as tx:
            claims.append(tx.set_dedup_status(cid, "merged", 2.0, only_pending=True))
            thread.start()
            thread.join(0.5)  # let the second reviewer reach the row (it waits for this transaction to end)
        thread.join()
        assert claims == [True, False]
        with store.transaction(write=False) as tx:
            c = tx.get_dedup_candidate(cid)
        assert (c.status, c.decided_at) == ("merged", 2.0)
        assert _claim(store, cid, "stale", 4.0, only_pending=False) is True  # a plain status change still applies

    def test_segment_membership_history_sizes_and_pages(self, store):
        with store.transaction() as tx:
            tx.apply_membership_changes(
                [MembershipChange("a", f"p{i}", True, float(i)) for i in range(5)]
                + [MembershipChange("b", "p1", True, 1.0)]
            )
            tx.apply_membership_changes(
                [MembershipChange("a", "p3", False, 9.0), MembershipChange("a", "p0", True, 9.0)]
            )  # already a member: no-op
            tx.record_segment_sizes({"a": 4, "b": 1}, at=10.0)
            tx.record_segment_sizes({"a": 4}, at=10.0)  # the same snapshot twice is stored once
        with store.transaction(write=False) as tx:
            assert tx.count_segment_members() == {"a": 4, "b": 1}
            assert tx.segments_of(["p1", "p3", "zz"]) == {"p1": {"a": 1.0, "b": 1.0}}
            assert tx.segment_members("a", limit=2) == [("p0", 0.0), ("p1", 1.0)]
            assert tx.segment_members("a", after="p1", limit=10) == [("p2", 2.0), ("p4", 4.0)]
            assert [(c.profile_id, c.entered) for c in tx.membership_history("a", since=9.0)] == [("p3", False)]
            assert tx.segment_sizes("a") == [(10.0, 4)]
        with store.transaction() as tx:
            assert tx.clear_segment("a") == 4
            assert tx.count_segment_members() == {"b": 1} and tx.segment_sizes("a") == []

    def test_membership_changes_are_idempotent_and_report_what_took_effect(self, store):
        changes = [MembershipChange("a", "p1", True, 1.0), MembershipChange("a", "p2", False, 1.0)]
        with store.transaction() as tx:
            assert tx.apply_membership_changes(changes) == [changes[0]]  # p2 was no member: nothing to exit
            assert tx.apply_membership_changes(changes) == []
            # several changes for one pair apply in order
            both = [MembershipChange("a", "p3", True, 2.0), MembershipChange("a", "p3", False, 2.5)]
            assert tx.apply_membership_changes([*both, MembershipChange("a", "p3", False, 2.6)]) == both
        with store.transaction(write=False) as tx:
            assert [(c.profile_id, c.entered) for c in tx.membership_history("a")] == [
                ("p1", True),
                ("p3", True),
                ("p3", False),
            ]
            assert tx.segments_of(["p1", "p3"]) == {"p1": {"a": 1.0}}

    def test_concurrent_workers_applying_the_same_changes_record_them_once(self, store):
        barrier = threading.Barrier(2)
        results: list[list[MembershipChange]] = []
        errors: list[BaseException] = []
        enter = [MembershipChange("seg", f"p{i}", True, 5.0) for i in range(50)]

        def worker() -> None:
            try:
                barrier.wait(5)
                with store.transaction() as tx:
                    results.append(tx.apply_membership_changes(enter))
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert errors == []
        assert sorted(len(r) for r in results) == [0, 50]
        with store.transaction(write=False) as tx:
            assert len(tx.membership_history("seg", limit=None)) == 50
            assert tx.count_segment_members() == {"seg": 50}

    def test_merge_moves_memberships_and_history_to_the_survivor(self, store):
        with store.transaction() as tx:
            tx.apply_membership_changes(
                [
                    MembershipChange("a", "anon", True, 1.0),
                    MembershipChange("b", "anon", True, 2.0),
                    MembershipChange("b", "user", True, 0.5),
                ]
            )
            tx.merge_segment_members("anon", "user", at=3.0)
        with store.transaction(write=False) as tx:
            assert tx.segments_of(["anon", "user"]) == {"user": {"a": 1.0, "b": 0.5}}
            assert tx.membership_history(profile_id="anon") == []
            assert [(c.segment_id, c.entered, c.at) for c in tx.membership_history(profile_id="user")] == [
                ("b", True, 0.5),
                ("a", True, 1.0),
                ("b", True, 2.0),
                ("b", False, 3.0),
            ]
            assert tx.count_segment_members() == {"a": 1, "b": 1}

    def test_profile_versions_and_keyset_pages(self, store):
        with store.transaction() as tx:
            tx.put_profiles(
                [ProfileRow(f"p{i}", state={"n": i}, created_at=1.0, updated_at=float(i)) for i in range(5)]
            )
        with store.transaction() as tx:
            assert tx.profile_versions(["p1", "p3", "zz"], lock=True) == {"p1": 1.0, "p3": 3.0}
            first = tx.profiles_after(None, 2)
            rest = tx.profiles_after(first[-1].profile_id, 10)
        assert [r.profile_id for r in first + rest] == [f"p{i}" for i in range(5)]
        assert rest[0].state == {"n": 2} and rest[0].updated_at == 2.0

    def test_decisions_outcomes_and_repoint(self, store):
        rows = [
            DecisionRow(
                f"d{i}",
                "anon",
                "home.hero" if i % 2 else "pdp.recs",
                "v1",
                "bandit",
                float(i),
                propensity=0.5,
                detail={"arm": i},
            )
            for i in range(7)
        ]
        with store.transaction() as tx:
            tx.insert_decisions(rows)
            assert (
                tx.insert_outcomes(
                    [OutcomeRow("d1", "anon", "click", "m1", 5.0), OutcomeRow("d1", "anon", "click", "m1", 5.0)]
                )
                == 1
            )
            assert (
                tx.insert_outcomes(
                    [
                        OutcomeRow("d1", "anon", "click", "m1", 5.0),
                        OutcomeRow("d3", "anon", "conversion", "m2", 6.0, value=12.5),
                    ]
                )
                == 1
            )
            tx.repoint_decisions("anon", "known")
        with store.transaction(write=False) as tx:
            assert tx.get_decisions(["d1", "nope"])["d1"] == DecisionRow(
                "d1", "known", "home.hero", "v1", "bandit", 1.0, None, 0.5, {"arm": 1}
            )
            assert [d.decision_id for d in tx.recent_decisions("known", since=4.0)] == ["d6", "d5", "d4"]
            assert [d.decision_id for d in tx.iter_decisions("home.hero", batch_size=2)] == ["d1", "d3", "d5"]
            assert [d.decision_id for d in tx.iter_decisions(since=2.0, until=4.0)] == ["d2", "d3"]
            assert [(o.decision_id, o.kind, o.value) for o in tx.outcomes_of(["d1", "d3"])] == [
                ("d1", "click", None),
                ("d3", "conversion", 12.5),
            ]
            assert {o.profile_id for o in tx.outcomes_of(["d1", "d3"])} == {"known"}

    def test_first_exposures_and_decisions_of_an_experiment(self, store):
        rows = [
            DecisionRow("x3", "p1", "home.hero", "b", "experiment", 3.0, "exp1", 0.5),
            DecisionRow("x1", "p1", "home.hero", "a", "experiment", 1.0, "exp1", 0.5),
            DecisionRow("x2", "p1", "home.hero", "plain", "rule", 2.0),
            DecisionRow("y1", "p1", "pdp", "z", "experiment", 4.0, "exp2", 1.0),
            DecisionRow("o1", "p2", "home.hero", "b", "experiment", 0.5, "exp1", 0.5),
        ]
        with store.transaction() as tx:
            tx.insert_decisions(rows)
        with store.transaction(write=False) as tx:
            first = tx.first_exposures("p1", ["exp1", "exp2", "exp3"])
            assert {k: (v.decision_id, v.variant) for k, v in first.items()} == {
                "exp1": ("x1", "a"),
                "exp2": ("y1", "z"),
            }
            assert tx.first_exposures("p1", []) == {} and tx.first_exposures("nobody", ["exp1"]) == {}
            assert [d.decision_id for d in tx.iter_decisions(experiment="exp1")] == ["o1", "x1", "x3"]
            assert [d.decision_id for d in tx.iter_decisions("home.hero", experiment="exp1", since=1.0)] == ["x1", "x3"]

    def test_event_properties_are_the_events_named_newest_first(self, store):
        rows = [
            EventRow(
                f"m{i}",
                "track",
                ["Viewed", "Bought", "Other"][i % 3],
                f"p{i % 3}",
                float(i),
                float(i),
                True,
                properties={"product_id": i} if i % 4 else None,
            )
            for i in range(25)
        ]
        with store.transaction() as tx:
            tx.insert_events(rows + [EventRow("i1", "identify", None, "p1", 2.0, 3.0, True)])
        with store.transaction(write=False) as tx:
            want = [
                (e.profile_id, e.event, e.timestamp, e.properties)
                for e in tx.iter_events("track", names=["Viewed", "Bought"])
            ]
            assert len(want) == 17 and want[0][2] == 24.0
            assert list(tx.iter_event_properties(["Viewed", "Bought"], batch_size=4)) == want
            assert list(tx.iter_event_properties(["Viewed", "Bought"], limit=5, batch_size=2)) == want[:5]
            assert list(tx.iter_event_properties([])) == []

    def test_profiles_in_ranges_select_by_state_numbers_or_update_time(self, store):
        rows = [
            ProfileRow(
                f"p{i}",
                {},
                {"last_seen": float(i), "rfm": {"last_purchase": 100.0 + i}}
                if i % 5
                else {"last_seen": "not a number"},
                {},
                0.0,
                1000.0 + i,
            )
            for i in range(30)
        ]
        with store.transaction() as tx:
            tx.put_profiles(rows)
            ranges = [(("last_seen",), 3.0, 6.0), (("rfm", "last_purchase"), 120.0, 121.0)]
            got = []
            after = None
            while page := tx.profiles_in_ranges(ranges, 1027.0, after, 2):  # keyset pages of 2
                got += [r.profile_id for r in page]
                after = page[-1].profile_id
            want = sorted(f"p{i}" for i in range(30) if (i % 5 and (3 <= i <= 6 or 20 <= i <= 21)) or i >= 27)
            assert got == want
            assert tx.profiles_in_ranges([], 2000.0, None, 10) == []

    def test_reader_serves_the_decision_reads_and_sees_every_commit(self, store):
        with store.transaction() as tx:
            tx.put_identities([IdentityRow("k1", "user", "p1", 1.0)])
            tx.put_profiles([ProfileRow("p1", {"plan": "pro"}, {"events_total": 3}, {"analytics": True}, 1.0, 2.0)])
            tx.insert_decisions(
                [
                    DecisionRow("x1", "p1", "home", "a", "experiment", 1.0, "exp1", 0.5),
                    DecisionRow("r1", "p1", "home", "a", "rule", 2.0),
                ]
            )
            tx.apply_membership_changes([MembershipChange("vip", "p1", True, 5.0)])
        for _ in range(2):  # the thread's reader connection is reused
            with store.reader() as r:
                assert r.get_identities(["k1", "k2"]) == {"k1": IdentityRow("k1", "user", "p1", 1.0)}
                assert r.get_profiles(["p1"])["p1"].state == {"events_total": 3}
                assert r.segments_of(["p1"]) == {"p1": {"vip": 5.0}}
                assert r.first_exposures("p1", ["exp1"])["exp1"].decision_id == "x1"
        with store.transaction() as tx:  # a later commit is seen by the next reader transaction
            tx.put_identities([IdentityRow("k1", "user", "p2", 1.0)])
            assert tx.get_decisions(["r1"])["r1"].detail is None
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(_reader_profile_of(store, "k1")))
        thread.start()
        thread.join()
        assert _reader_profile_of(store, "k1") == "p2" and seen == ["p2"]

    def test_documents_version_grows_with_every_change(self, store):
        with store.transaction(write=False) as tx:
            assert tx.documents_version() == 0
        seen = []
        for change in (
            lambda tx: tx.put_document("slot", "a", {"v": 1}, 1.0),
            lambda tx: tx.put_document("block", "b", {"v": 1}, 2.0),
            lambda tx: tx.put_document("slot", "a", {"v": 2}, 3.0),
            lambda tx: tx.delete_document("slot", "a", 4.0),
        ):
            with store.transaction() as tx:
                change(tx)
            with store.transaction(write=False) as tx:
                seen.append(tx.documents_version())
        assert seen == sorted(set(seen)) and len(seen) == 4

    def test_audit_and_ingest_errors(self, store):
        with store.transaction() as tx:
            tx.append_audit(AuditRow(1.0, "admin", "erase", "p1", {"n": 1}))
            tx.append_audit(AuditRow(2.0, "admin", "export", "p2"))
            tx.record_ingest_errors("batch", [{"at": 5.0, "field": "batch[0].event", "message": "Field required"}])
        with store.transaction(write=False) as tx:
            assert [a.action for a in tx.audit_entries()] == ["export", "erase"]
            assert [a.detail for a in tx.audit_entries(subject="p1")] == [{"n": 1}]
            assert tx.count_ingest_errors() == 1 and tx.count_ingest_errors(since=6.0) == 0

    def test_ingest_errors_are_purged_before_a_time(self, store):
        with store.transaction() as tx:
            tx.record_ingest_errors(
                "track", [{"at": at, "field": "event", "message": "Field required"} for at in (5, 9)]
            )
            assert tx.purge_ingest_errors(before=6.0) == 1
        with store.transaction(write=False) as tx:
            assert [e.at for e in tx.recent_ingest_errors()] == [9.0]

    def test_audit_rows_keep_before_and_after_and_page_by_id(self, store):
        long_subject = "block:" + "b" * 200  # document ids reach 200 characters
        with store.transaction() as tx:
            tx.append_audit(AuditRow(10.0, "admin_key", "block.put", long_subject, None, {"v": 1}, {"v": 2}))
            tx.append_audit(AuditRow(20.0, "cli:ann", "block.delete", "block:a", before={"v": 2}))
            tx.append_audit(AuditRow(30.0, "dashboard", "blocks.put", "block:c"))  # not under "block"
            tx.append_audit(AuditRow(40.0, "cli", "item.upsert", "item:x", after=[{"id": "x"}]))
            tx.append_audit(AuditRow(50.0, "client", "erase", "p1", {"deleted": {"events": 1}}))
        with store.transaction(write=False) as tx:
            rows = tx.audit_entries()
            ids = [r.id for r in rows]
            assert ids == sorted(ids, reverse=True) and None not in ids
            first = rows[-1]
            assert (first.subject, first.before, first.after) == (long_subject, {"v": 1}, {"v": 2})
            assert rows[1].after == [{"id": "x"}]

            def actions(**kw: object) -> list[str]:
                return [r.action for r in tx.audit_entries(**kw)]  # type: ignore[arg-type]

            assert actions(action="block") == ["block.delete", "block.put"]
            assert actions(action="block.put") == ["block.put"]
            assert actions(action="bloc") == []
            assert actions(actor="cli") == ["item.upsert", "block.delete"]  # not "client"
            assert actions(actor="cli:ann") == ["block.delete"]
            assert actions(since=20.0, until=40.0) == ["blocks.put", "block.delete"]
            assert actions(subject="block:a") == ["block.delete"]
            assert actions(limit=2) == ["erase", "item.upsert"]
            assert actions(limit=2, before_id=ids[1]) == ["blocks.put", "block.delete"]
            assert actions(before_id=ids[-1]) == []
            assert actions(action="block%") == [] and actions(actor="_li") == []  # no wildcards

    def test_delete_audit_entries_of_a_subject_and_actions(self, store):
        with store.transaction() as tx:
            tx.append_audit(AuditRow(1.0, "write_key", "identity.merge", "p1"))
            tx.append_audit(AuditRow(2.0, "admin_key", "erase", "p1"))
            tx.append_audit(AuditRow(3.0, "write_key", "identity.merge", "p2"))
            assert tx.delete_audit_entries("p1", ["identity.merge"]) == 1
            assert tx.delete_audit_entries("p1", ["identity.merge"]) == 0
        with store.transaction(write=False) as tx:
            assert [(r.action, r.subject) for r in tx.audit_entries()] == [("identity.merge", "p2"), ("erase", "p1")]

    def test_audit_rows_survive_the_before_after_migration(self, store):
        from pertinent.storage.migrate import downgrade, upgrade

        with store.transaction() as tx:
            tx.append_audit(AuditRow(1.0, "admin", "erase", "p1", {"n": 1}))
        downgrade(store.engine, "0004")
        upgrade(store.engine)
        with store.transaction(write=False) as tx:
            [row] = tx.audit_entries()
        assert (row.action, row.subject, row.detail, row.before, row.after) == ("erase", "p1", {"n": 1}, None, None)

    def test_dashboard_aggregates(self, store):
        """Event rates, active profiles, windows, consent counts, recent errors and membership flows."""
        events = [
            ev("a1", "p1", ts=1000.0, properties={"price": 9.5, "tags": ["a", "b"]}),
            ev("a2", "p1", ts=1030.0),
            ev("a3", "p2", ts=1059.9),
            ev("b1", "p2", ts=1060.0),
            ev("c1", "p3", ts=1300.0, context={"device": {"type": "phone"}}),
            EventRow("pg", "page", None, "p3", 1310.0, 1311.0, True, {"path": "/"}),
        ]
        with store.transaction(write=False) as tx:
            assert tx.event_time_range() is None and tx.event_counts(0.0, 1e12) == []
            assert tx.consent_counts() == {} and tx.membership_flows(0.0, 1e12) == []
        with store.transaction() as tx:
            tx.insert_events(events)
            tx.append_consent(
                [
                    ConsentRow("p1", "analytics", True, "api", 1.0),
                    ConsentRow("p1", "analytics", False, "api", 2.0),  # the latest choice counts
                    ConsentRow("p2", "analytics", True, "event", 1.0),
                    ConsentRow("p2", "personalization", False, "event", 1.0),
                ]
            )
            tx.record_ingest_errors(
                "track",
                [
                    {"at": 5.0, "field": "event", "message": "Field required"},
                    {"at": 6.0, "field": None, "message": "bad json"},
                ],
            )
            tx.apply_membership_changes(
                [
                    MembershipChange("s", "p1", True, 10.0),
                    MembershipChange("s", "p2", True, 20.0),
                    MembershipChange("s", "p1", False, 100.0),
                    MembershipChange("t", "p1", True, 150.0),
                ]
            )
        with store.transaction(write=False) as tx:
            assert tx.event_time_range() == (1000.0, 1310.0)
            assert tx.event_counts(1000.0, 1400.0, bucket_s=60.0) == [(960.0, 1), (1020.0, 3), (1260.0, 2)]
            assert tx.event_counts(1000.0, 1060.0, bucket_s=600.0) == [(600.0, 3)]
            assert tx.active_profiles(1000.0, 1060.0) == 2 and tx.active_profiles(1060.0, 2000.0) == 2
            assert tx.active_profiles(0.0, 999.0) == 0
            got = list(tx.iter_events_between(1030.0, 1310.0, batch_size=2))
            assert [e.message_id for e in got] == ["a2", "a3", "b1", "c1"]
            assert [e.message_id for e in tx.iter_events_between(0.0, 1e12, types=["page"])] == ["pg"]
            assert len(list(tx.iter_events_between(0.0, 1e12, limit=3, batch_size=2))) == 3
            slim = list(tx.iter_event_fields(1300.0, 1e12, [("properties", "path"), ("context", "device", "type")]))
            assert slim == [("p3", "track", "Viewed", 1300.0, None, "phone"), ("p3", "page", None, 1310.0, "/", None)]
            priced = list(tx.iter_event_fields(0.0, 1030.0, [("properties", "price"), ("properties", "tags")]))
            assert [(r[0], float(r[4]), r[5].replace(" ", "")) for r in priced] == [("p1", 9.5, '["a","b"]')]
            assert len(list(tx.iter_event_fields(0.0, 1e12, limit=4, batch_size=3))) == 4
            assert [r[0] for r in tx.iter_event_fields(0.0, 1e12, names=["Viewed"])] == ["p1", "p1", "p2", "p2", "p3"]
            assert list(tx.iter_event_fields(0.0, 1e12, names=[])) == []
            after = list(tx.iter_event_fields_after(0, [("properties", "path")], batch_size=2))
            assert [r[1:] for r in after] == [r[:5] for r in tx.iter_event_fields(0.0, 1e12, [("properties", "path")])]
            assert [r[0] for r in after] == sorted(r[0] for r in after) and len(after) == len(events)
            newer = list(tx.iter_event_fields_after(after[-3][0], [("properties", "path")]))
            assert newer == after[-2:] and newer[-1][1:] == ("p3", "page", None, 1310.0, "/")
            with pytest.raises(ValueError, match="paths"):
                list(tx.iter_event_fields(0.0, 1.0, [("message_id",)]))
            assert tx.consent_counts() == {
                "analytics": {"granted": 1, "denied": 1},
                "personalization": {"granted": 0, "denied": 1},
            }
            assert [(e.field, e.message) for e in tx.recent_ingest_errors(limit=5)] == [
                (None, "bad json"),
                ("event", "Field required"),
            ]
            assert tx.membership_flows(0.0, 1000.0, bucket_s=100.0) == [
                ("s", 0.0, 2, 0),
                ("s", 100.0, 0, 1),
                ("t", 100.0, 1, 0),
            ]
            assert tx.membership_flows(50.0, 120.0, bucket_s=100.0) == [("s", 100.0, 0, 1)]

    def test_concurrent_writers_do_not_lose_updates(self, store):
        """Two threads incrementing the same profile: every increment survives (row locks / writer lock)."""

        def bump(n: int) -> None:
            for _ in range(n):
                with store.transaction() as tx:
                    row = tx.lock_profiles(["shared"], now=1.0)["shared"]
                    row.state["n"] = row.state.get("n", 0) + 1
                    tx.put_profiles([row])

        threads = [threading.Thread(target=bump, args=(25,)) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with store.transaction(write=False) as tx:
            assert tx.get_profiles(["shared"])["shared"].state["n"] == 100

    def test_migrations_are_idempotent_and_reach_head(self, store):
        from alembic.script import ScriptDirectory

        from pertinent.storage.migrate import alembic_config

        store.migrate()
        head = ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head

    def test_upgrade_to_per_person_message_ids_keeps_the_events(self, store):
        from pertinent.storage.migrate import downgrade, upgrade

        with store.transaction() as tx:
            tx.insert_events([ev("m1", "p1"), ev("m2", "p2")])
        downgrade(store.engine, "0003")
        with pytest.raises(DBAPIError), store.transaction() as tx:  # 0003: one messageId in the whole store
            tx.insert_events([ev("m1", "p2")])
        upgrade(store.engine)
        with store.transaction() as tx:
            assert tx.insert_events([ev("m1", "p2"), ev("m1", "p1")]) == {("p2", "m1")}
            assert sorted((e.profile_id, e.message_id) for e in tx.events_of("p1") + tx.events_of("p2")) == [
                ("p1", "m1"),
                ("p2", "m1"),
                ("p2", "m2"),
            ]

    def test_migrations_build_exactly_the_declared_tables(self, store):
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from pertinent.storage.tables import metadata

        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [
            d
            for d in diff
            if d[0]
            in (
                "add_table",
                "remove_table",
                "add_index",
                "remove_index",
                "add_column",
                "remove_column",
                "add_constraint",
                "remove_constraint",
            )
        ] == []


def _bump_in_process(url: str, n: int) -> None:
    from pertinent.storage.sql import SqlStore

    store = SqlStore(url)
    for _ in range(n):
        with store.transaction() as tx:
            row = tx.lock_profiles(["shared"], now=1.0)["shared"]
            row.state["n"] = row.state.get("n", 0) + 1
            tx.put_profiles([row])
    store.close()


def test_concurrent_processes_do_not_lose_updates(store):
    """Server workers and a CLI import are separate processes writing the same store."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_bump_in_process, args=(store.url, 30)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with store.transaction(write=False) as tx:
        assert tx.get_profiles(["shared"])["shared"].state["n"] == 90


def test_sqlite_reader_is_a_plain_read_only_connection(tmp_path):
    from pertinent.storage.sql import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'r.db'}")
    store.migrate()
    try:
        with store.reader() as r:
            assert r.get_identities(["nobody"]) == {}
            with pytest.raises(RuntimeError, match="transaction"):  # SQLAlchemy-only methods say what to use
                r.count_events()
            with pytest.raises(Exception, match="readonly"):
                r.raw.execute("INSERT INTO identities VALUES ('k', 'user', 'p', 1.0)")
            with store.reader() as inner:  # nested on one thread: the outer transaction's snapshot
                assert inner.get_identities(["nobody"]) == {}
        with store.reader() as r:  # and the connection is usable again afterwards
            assert r.get_identities(["nobody"]) == {}
    finally:
        store.close()


def _claim(store, cid: int, status: str, at: float, only_pending: bool = True) -> bool:
    with store.transaction() as tx:
        return tx.set_dedup_status(cid, status, at, only_pending=only_pending)


def _create(store, kind: str, doc_id: str, body: dict, at: float):  # type: ignore[no-untyped-def]
    with store.transaction() as tx:
        return tx.create_document(kind, doc_id, body, at)


def _history(store, kind: str, doc_id: str):  # type: ignore[no-untyped-def]
    with store.transaction(write=False) as tx:
        return tx.document_history(kind, doc_id)
