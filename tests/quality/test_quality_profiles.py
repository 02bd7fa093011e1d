"""Outliers and bots, imputation of missing traits (``inferred.*``) and duplicate review, on both backends."""

from __future__ import annotations

import pytest

from pertinent.errors import InvalidInput, NotFound
from pertinent.rules.conditions.inferred import InferredCondition
from pertinent.rules.explain import evaluate
from tests.support.common import ADMIN

T0 = 1_700_000_000.0


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


def _people(n: int, start: int = 0) -> list[dict]:
    """n ordinary visitors: a few page views and a product view per day over a few days."""
    out = []
    for i in range(start, start + n):
        for day in range(1 + i % 4):
            for k in range(2 + (i * 7 + day) % 5):
                ts = T0 + day * 86400 + k * 60 + i
                out.append({"type": "page", "anonymousId": f"v{i}", "timestamp": _iso(ts), "name": "Home"})
            out.append({"type": "track", "event": "Product Viewed", "anonymousId": f"v{i}", "timestamp": _iso(ts + 5)})
    return out


def _bot(n: int) -> list[dict]:
    return [
        {"type": "track", "event": "Product Viewed", "anonymousId": "crawler", "timestamp": _iso(T0 + i * 0.5)}
        for i in range(n)
    ]


def test_a_bot_is_flagged_and_left_out_of_kpis_and_training_sets(services, monkeypatch) -> None:
    services.ingest.ingest(_people(80) + _bot(2500))
    scan = services.quality.scan_outliers()
    flagged = services.quality.flagged_profiles(fresh=True)
    assert scan.flagged >= 1 and len(flagged) == scan.flagged
    with services.store.transaction(write=False) as tx:
        crawler = services.profiles.find(tx, "crawler")
    assert crawler in flagged and services.quality.is_flagged_outlier(crawler)
    assert "above the cap" in scan.flags[0].reasons[0]
    assert scan.flagged <= 3  # ordinary visitors stay unflagged
    report = services.quality.report()
    assert report.outliers[0].profile_id == crawler


def test_outlier_flags_are_exported_and_erased(services) -> None:
    services.ingest.ingest(_bot(2500))
    services.quality.scan_outliers()
    assert services.privacy.export("crawler").quality["quality_flags"][0]["reasons"]
    assert services.privacy.erase("crawler").deleted["quality_flags"] == 1
    assert services.quality.flagged_profiles(fresh=True) == frozenset()


def _shoppers() -> list[dict]:
    """Two behaviours: shoe lovers state gender f, tool buyers m; some of each state nothing."""
    out = []
    for i in range(30):
        shoes = i % 2 == 0
        uid = f"c{i}"
        if i < 24:
            out.append({"type": "identify", "userId": uid, "traits": {"gender": "f" if shoes else "m"}})
        event = "Viewed Shoes" if shoes else "Viewed Tools"
        out += [{"type": "track", "event": event, "userId": uid, "timestamp": _iso(T0 + k)} for k in range(3 + i % 3)]
    return out


def test_missing_traits_are_inferred_with_a_confidence_never_over_stated_ones(services) -> None:
    services.ingest.ingest(_shoppers())
    run = services.quality.impute()
    gender = next(t for t in run.traits if t.trait == "gender")
    assert gender.labelled == 24 and gender.inferred == 6
    assert gender.accuracy is not None and gender.accuracy > gender.baseline
    shoe_lover = services.profiles.get("c24")  # states nothing, views shoes
    assert shoe_lover.traits.get("gender") is None
    assert shoe_lover.inferred["gender"].value == "f" and shoe_lover.inferred["gender"].confidence >= 0.5
    stated = services.profiles.get("c0")
    assert stated.traits["gender"] == "f" and "gender" not in stated.inferred
    view = {"state": services.privacy.export("c24").profile.state}
    assert evaluate(InferredCondition(trait="gender", op="eq", value="f", min_confidence=0.5), view, T0)


def test_a_trait_stated_later_drops_the_inferred_one(services) -> None:
    services.ingest.ingest(_shoppers())
    services.quality.impute()
    services.ingest.ingest([{"type": "identify", "userId": "c25", "traits": {"gender": "x"}}])
    services.quality.impute()
    profile = services.profiles.get("c25")
    assert profile.traits["gender"] == "x" and "gender" not in profile.inferred


def test_profile_api_shows_inferred_next_to_traits(any_client, services) -> None:
    services.ingest.ingest(_shoppers())
    services.quality.impute()
    body = any_client.get("/v1/profiles/c24", headers=ADMIN).json()
    assert body["inferred"]["gender"]["value"] == "f"
    assert 0.5 <= body["inferred"]["gender"]["confidence"] <= 1.0
    assert any_client.get("/v1/profiles/c0", headers=ADMIN).json()["inferred"] == {}


def _twins(services) -> None:
    services.settings.store_pii_in_clear = True  # traits kept in clear: fuzzy matching on names and emails
    services.ingest.ingest(
        [
            {"type": "identify", "userId": "jon", "traits": {"name": "Jonathan Smith", "email": "jon.smith@a.com"}},
            {"type": "identify", "userId": "jon2", "traits": {"name": "jonathan  smyth", "email": "jonsmith@b.com"}},
            {"type": "identify", "userId": "eve", "traits": {"name": "Eve Adams", "email": "eve@c.com"}},
            {"type": "track", "event": "Viewed", "userId": "jon2"},
        ]
    )


def test_fuzzy_duplicates_are_listed_then_merged_on_acceptance_and_audited(services) -> None:
    _twins(services)
    scan = services.quality.find_duplicates()
    assert (scan.found, scan.new, scan.merged) == (1, 1, 0)
    assert services.quality.find_duplicates().new == 0  # listed once
    [pair] = services.quality.candidates()
    assert pair.score >= 85 and set(pair.reasons) >= {"name", "email_local"}
    merged = services.quality.decide(pair.id, "accept")
    assert merged.status == "merged"
    with services.store.transaction(write=False) as tx:
        assert services.profiles.find(tx, "jon") == services.profiles.find(tx, "jon2")
        entries = tx.audit_entries(action="identity.merge", limit=10)
    assert entries and entries[0].detail["via"] == "dedup"
    assert len(services.privacy.export("jon").events) == 3
    with pytest.raises(InvalidInput):
        services.quality.decide(pair.id, "reject")  # decided already


def test_rejected_candidates_stay_apart_and_unknown_ids_are_404(services) -> None:
    _twins(services)
    services.quality.find_duplicates()
    [pair] = services.quality.candidates()
    assert services.quality.decide(pair.id, "reject").status == "rejected"
    with services.store.transaction(write=False) as tx:
        assert services.profiles.find(tx, "jon") != services.profiles.find(tx, "jon2")
    with pytest.raises(NotFound):
        services.quality.decide(999, "accept")


def test_auto_merge_threshold_merges_without_review(services) -> None:
    services.ingest.ingest(
        [
            {"type": "identify", "userId": "p1", "traits": {"email": "Same@Example.com"}},
            {"type": "identify", "userId": "p2", "traits": {"email": "same@example.com "}},
        ]
    )
    services.quality.config = services.quality.config.model_copy(update={"auto_merge_threshold": 100.0})
    assert services.quality.find_duplicates().merged == 1
    with services.store.transaction(write=False) as tx:
        assert services.profiles.find(tx, "p1") == services.profiles.find(tx, "p2")


def test_duplicates_api(any_client, services) -> None:
    _twins(services)
    assert any_client.post("/v1/quality/duplicates/scan", headers=ADMIN).json()["new"] == 1
    [pair] = any_client.get("/v1/quality/duplicates", headers=ADMIN).json()
    bad = any_client.post(f"/v1/quality/duplicates/{pair['id']}", json={"decision": "maybe"}, headers=ADMIN)
    assert bad.status_code in (400, 422) and "decision" in bad.text
    ok = any_client.post(f"/v1/quality/duplicates/{pair['id']}", json={"decision": "reject"}, headers=ADMIN)
    assert ok.json()["status"] == "rejected"
    assert any_client.post("/v1/quality/duplicates/999", json={"decision": "accept"}, headers=ADMIN).status_code == 404


def test_the_scheduled_scan_flags_infers_lists_and_purges(services) -> None:
    services.ingest.ingest(_shoppers() + _bot(2500))
    services.quality.config = services.quality.config.model_copy(update={"failed_events_keep_days": 1e-9})
    from pertinent.quality.models import TrackingPlanIn

    services.quality.put_plan(TrackingPlanIn(event="E", schema={"type": "object", "required": ["x"]}, mode="block"))
    services.ingest.ingest([{"type": "track", "event": "E", "userId": "c1"}])
    services.quality.scheduled()
    assert services.quality.flagged_profiles(fresh=True)
    assert services.profiles.get("c24").inferred
    assert services.quality.failed(include_replayed=True) == []  # past retention


def test_equal_identifiers_merge_known_users_only_when_configured(services) -> None:
    services.ingest.ingest(
        [
            {"type": "identify", "userId": "k1", "traits": {"email": "same@example.com"}},
            {"type": "identify", "userId": "k2", "traits": {"email": " SAME@example.com"}},
            {"type": "identify", "anonymousId": "visitor", "traits": {"email": "same@example.com"}},
        ]
    )
    services.quality.config = services.quality.config.model_copy(update={"merge_equal_identifiers": True})
    scan = services.quality.find_duplicates()
    assert scan.found == 3 and scan.merged == 1  # k1 + k2; the anonymous visitor waits for review
    with services.store.transaction(write=False) as tx:
        assert services.profiles.find(tx, "k1") == services.profiles.find(tx, "k2")
        assert services.profiles.find(tx, "visitor") != services.profiles.find(tx, "k1")
