"""DecideService on both storage backends: targeting, experiments (GrowthBook hashing, sticky across identify,
exposure events), bandits, the recommender, attribution, results, off-policy evaluation, privacy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from pertinent.decide.experiments import ExperimentDefinition
from pertinent.errors import Conflict, NotFound
from pertinent.errors import InvalidInput as InvalidConfig
from pertinent.experiments.assignment import assign
from pertinent.services import Services
from pertinent.storage.base import MembershipChange
from tests.support.common import make_settings

HERO = {"id": "home.hero", "variants": {"a": "hero-a", "b": "hero-b"}, "default": {"kind": "variant", "variant": "a"}}


@pytest.fixture
def svc(services: Services) -> Iterator[Services]:
    services.decide.put_block(
        {"id": "hero-a", "type": "headline", "content": {"title": "A"}, "template": "<h1>{{ title }}</h1>"}
    )
    services.decide.put_block({"id": "hero-b", "type": "headline", "content": {"title": "B"}})
    yield services
    services.decide.close()


def slot(**kw: object) -> dict[str, object]:
    return {**HERO, **kw}


def track(
    event: str,
    props: dict[str, object] | None = None,
    user: str | None = None,
    anon: str | None = None,
    **extra: object,
) -> dict[str, object]:
    msg: dict[str, object] = {"type": "track", "event": event, "properties": props or {}, **extra}
    if user:
        msg["userId"] = user
    if anon:
        msg["anonymousId"] = anon
    return msg


def stored_decisions(svc: Services) -> list:
    svc.decide.flush()
    with svc.store.transaction(write=False) as tx:
        return list(tx.iter_decisions())


# ------------------------------------------------------------------------------------------ targeting
def test_default_for_unknown_visitors_and_rule_on_request_context(svc):
    svc.decide.put_slot(
        slot(
            rules=[
                {
                    "name": "mobile",
                    "then": {"kind": "variant", "variant": "b"},
                    "when": {"type": "context", "field": "device_type", "op": "eq", "value": "mobile"},
                }
            ]
        )
    )
    d = svc.decide.decide("home.hero", anonymous_id="v1", context={"device_type": "desktop"})
    assert (d["variant"], d["reason"]["kind"], d["html"]) == ("a", "default", "<h1>A</h1>")
    assert d["block"] == {"type": "headline", "content": {"title": "A"}} and d["propensity"] == 1.0
    m = svc.decide.decide("home.hero", anonymous_id="v1", context={"device_type": "mobile"})
    assert (m["variant"], m["reason"]["kind"], m["html"]) == ("b", "rule", None)
    assert "mobile" in m["reason"]["detail"] and "device_type" in m["reason"]["detail"]
    rows = {r.decision_id: r for r in stored_decisions(svc)}
    assert rows[m["decision_id"]].reason == "rule" and rows[m["decision_id"]].propensity == 1.0
    assert rows[d["decision_id"]].profile_id == rows[m["decision_id"]].profile_id  # one visitor, one profile


def test_segment_trait_local_time_and_sparse_data_rules(svc):
    svc.decide.put_slot(
        slot(
            rules=[
                {
                    "name": "vip",
                    "when": {"type": "segment", "segment": "vip"},
                    "then": {"kind": "variant", "variant": "b"},
                },
                {
                    "name": "pro",
                    "when": {"type": "trait", "path": ["plan"], "op": "eq", "value": "pro"},
                    "then": {"kind": "variant", "variant": "b"},
                },
                {
                    "name": "berlin-morning",
                    "when": {"type": "local_time", "hours": [9]},
                    "then": {"kind": "variant", "variant": "b"},
                },
                {"name": "regulars", "min_events": 3, "then": {"kind": "variant", "variant": "b"}},
            ]
        )
    )
    svc.ingest.ingest(
        [
            {"type": "identify", "userId": "pro-user", "traits": {"plan": "pro"}},
            track("Viewed", user="vip-user"),
            track("Viewed", user="regular"),
            track("Viewed", user="regular"),
            track("Viewed", user="regular"),
        ]
    )
    with svc.store.transaction() as tx:
        vip = svc.profiles.find(tx, "vip-user")
        tx.apply_membership_changes([MembershipChange("vip", vip, True, 1.0)])
    assert svc.decide.decide("home.hero", user_id="vip-user")["reason"]["detail"].startswith("rule 0 'vip'")
    assert "rule 1 'pro'" in svc.decide.decide("home.hero", user_id="pro-user")["reason"]["detail"]
    eight_utc = 1_700_000_000.0 - 1_700_000_000.0 % 86400 + 8 * 3600
    berlin = svc.decide.decide("home.hero", anonymous_id="x", context={"timezone": "Europe/Berlin"}, now=eight_utc)
    ny = svc.decide.decide("home.hero", anonymous_id="x", context={"timezone": "America/New_York"}, now=eight_utc)
    assert berlin["variant"] == "b" and ny["variant"] == "a"
    assert "rule 3 'regulars'" in svc.decide.decide("home.hero", user_id="regular", now=eight_utc)["reason"]["detail"]
    sparse = svc.decide.decide("home.hero", user_id="vip-user", now=eight_utc + 5 * 3600)  # 1 event, not in vip now?
    assert sparse["variant"] == "b"  # still a vip member


def test_unknown_slot_and_missing_ids_name_the_field(svc):
    with pytest.raises(NotFound) as err:
        svc.decide.decide("nope", anonymous_id="v")
    assert err.value.errors == [{"field": "slot", "message": "unknown slot 'nope'"}]
    svc.decide.put_slot(slot())
    with pytest.raises(InvalidConfig) as err2:
        svc.decide.decide("home.hero")
    assert err2.value.errors[0]["field"] == "user_id"


def test_without_personalization_consent_the_default_is_served_and_nothing_targeted(svc):
    svc.decide.put_slot(slot(rules=[{"then": {"kind": "variant", "variant": "b"}}]))
    svc.privacy.set_consent({"personalization": False}, user_id="private")
    d = svc.decide.decide("home.hero", user_id="private")
    assert (d["variant"], d["reason"]["kind"]) == ("a", "default")
    assert "no personalization consent" in d["reason"]["detail"]
    assert [r.decision_id for r in stored_decisions(svc)] == [d["decision_id"]]  # analytics consent: measured
    svc.privacy.set_consent({"analytics": False}, user_id="private")
    svc.decide.decide("home.hero", user_id="private")
    assert len(stored_decisions(svc)) == 1  # no consent at all: nothing stored


def test_document_changes_reach_another_server_process(svc, tmp_path):
    svc.decide.put_slot(slot())
    if svc.store.backend != "sqlite":
        other = Services.build(svc.settings.model_copy(update={"database_url": svc.store.url}))
    else:
        other = Services.build(svc.settings, type(svc.store)(svc.store.url))
    other.decide.config.cache_check_s = 0.0
    try:
        assert other.decide.decide("home.hero", anonymous_id="v")["variant"] == "a"
        svc.decide.put_slot(slot(default={"kind": "variant", "variant": "b"}))
        assert other.decide.decide("home.hero", anonymous_id="v")["variant"] == "b"
    finally:
        other.close()


# ------------------------------------------------------------------------------------------ experiments
def _experiment(svc, **kw):
    svc.decide.put_experiment({"key": "hero-test", "variants": ["a", "b"], **kw})
    svc.decide.start_experiment("hero-test")
    svc.decide.put_slot(slot(rules=[{"then": {"kind": "experiment", "experiment": "hero-test"}}]))
    return ExperimentDefinition.model_validate(svc.decide.get("experiment", "hero-test").body)


def test_experiment_assignment_is_growthbook_hashing_and_logs_an_exposure_event(svc):
    exp = _experiment(svc, weights=[0.2, 0.8])
    for i in range(20):
        d = svc.decide.decide("home.hero", user_id=f"user-{i}")
        want = assign(exp, f"user-{i}")
        assert (d["variant"], d["reason"]["kind"]) == (want.variant, "experiment")
        assert d["experiment"] == {
            "id": "hero-test",
            "variant": want.variant,
            "variation_index": want.variation_id,
            "sticky": False,
        }
        assert d["propensity"] == [0.2, 0.8][want.variation_id]
    rows = stored_decisions(svc)
    assert len(rows) == 20 and all(r.experiment == "hero-test" for r in rows)
    with svc.store.transaction(write=False) as tx:
        views = [e for e in tx.iter_events("track") if e.event == "Experiment Viewed"]
    assert len(views) == 20
    by_id = {r.decision_id: r for r in rows}
    for e in views:
        p = e.properties
        assert p["experiment_id"] == "hero-test" and by_id[p["decision_id"]].variant == p["variation_id"]
        assert by_id[p["decision_id"]].profile_id == e.profile_id
    # the same user again within the session: stored and analysed, but no second "Experiment Viewed"
    svc.decide.decide("home.hero", user_id="user-0")
    svc.decide.decide("home.hero", user_id="user-0", now=time.time() + 2 * svc.decide.config.exposure_every_s)
    assert len(stored_decisions(svc)) == 22
    with svc.store.transaction(write=False) as tx:
        assert sum(e.event == "Experiment Viewed" for e in tx.iter_events("track")) == 21


def test_exposure_events_are_the_profiles_events_but_not_its_behaviour(svc):
    _experiment(svc)
    svc.ingest.ingest([{"type": "track", "userId": "shopper", "event": "Product Viewed", "messageId": "m1"}])
    with svc.store.transaction(write=False) as tx:
        pid = tx.get_identities([svc.profiles.pseudo.key("user", "shopper")])[
            svc.profiles.pseudo.key("user", "shopper")
        ].profile_id
        before = tx.get_profiles([pid])[pid].state
    d = svc.decide.decide(
        "home.hero", user_id="shopper", raw_context={"userAgent": "Mozilla/5.0 (iPhone)", "timezone": "Europe/Berlin"}
    )
    svc.decide.flush()
    with svc.store.transaction(write=False) as tx:
        views = [e for e in tx.iter_events("track") if e.event == "Experiment Viewed"]
        after = tx.get_profiles([pid])[pid].state
    assert [(e.profile_id, e.message_id, e.properties["decision_id"]) for e in views] == [
        (pid, f"xp-{d['decision_id']}", d["decision_id"])
    ]
    assert views[0].context == {"userAgent": "Mozilla/5.0 (iPhone)", "timezone": "Europe/Berlin"}
    assert after == before and after["events_total"] == 1  # what was shown is not what the visitor did
    assert svc.decide.log.stats.exposures_sent == 1


def test_sticky_assignment_survives_identify(svc):
    exp = _experiment(svc)
    # an anonymous id and a user id that GrowthBook hashing puts in different variants
    anon = next(f"anon-{i}" for i in range(100) if assign(exp, f"anon-{i}").variant == "a")
    user = next(f"user-{i}" for i in range(100) if assign(exp, f"user-{i}").variant == "b")
    first = svc.decide.decide("home.hero", anonymous_id=anon)
    assert first["variant"] == "a"
    svc.decide.flush()
    svc.ingest.ingest([{"type": "identify", "userId": user, "anonymousId": anon}])
    later = svc.decide.decide("home.hero", user_id=user)
    assert later["variant"] == "a" and later["experiment"]["sticky"] is True
    rows = stored_decisions(svc)
    assert len({r.profile_id for r in rows}) == 1  # the anonymous exposure followed the person
    # bumping the bucket version re-buckets everyone: the known id's own hash decides now
    svc.decide.put_experiment({**svc.decide.get("experiment", "hero-test").body, "bucket_version": 1})
    assert svc.decide.decide("home.hero", user_id=user)["variant"] == "b"


def test_sticky_when_the_decision_is_still_queued_at_identify(svc):
    exp = _experiment(svc)
    anon = next(f"anon-{i}" for i in range(100) if assign(exp, f"anon-{i}").variant == "b")
    user = next(f"user-{i}" for i in range(100) if assign(exp, f"user-{i}").variant == "a")
    with svc.decide.log.hold():  # the decision stays queued while the visitor identifies
        assert svc.decide.decide("home.hero", anonymous_id=anon)["variant"] == "b"
        svc.ingest.ingest([track("Viewed", anon=anon), {"type": "identify", "userId": user, "anonymousId": anon}])
    svc.decide.flush()  # written after the merge: it lands on the merged profile
    assert svc.decide.decide("home.hero", user_id=user)["variant"] == "b"


def test_namespace_holdout_and_not_running_fall_through(svc):
    _experiment(svc, coverage=0.0)
    d = svc.decide.decide("home.hero", user_id="u1")
    assert d["reason"]["kind"] == "default" and d["experiment"] is None
    svc.decide.put_experiment({"key": "hero-test", "variants": ["a", "b"], "holdout": {"key": "h", "share": 0.99}})
    svc.decide.start_experiment("hero-test")
    assert (
        sum(svc.decide.decide("home.hero", user_id=f"u{i}")["reason"]["kind"] == "experiment" for i in range(50)) < 10
    )
    svc.decide.stop_experiment("hero-test")
    assert svc.decide.decide("home.hero", user_id="u1")["reason"]["kind"] == "default"


def test_mutually_exclusive_namespaces_are_enforced(svc):
    svc.decide.put_experiment(
        {"key": "e1", "variants": ["a", "b"], "namespace": {"id": "hero", "start": 0.0, "end": 0.5}}
    )
    with pytest.raises(InvalidConfig) as err:
        svc.decide.put_experiment(
            {"key": "e2", "variants": ["a", "b"], "namespace": {"id": "hero", "start": 0.4, "end": 1.0}}
        )
    assert err.value.errors[0]["field"] == "namespace" and "e1" in err.value.errors[0]["message"]
    svc.decide.put_experiment(
        {"key": "e2", "variants": ["a", "b"], "namespace": {"id": "hero", "start": 0.5, "end": 1.0}}
    )
    for key in ("e1", "e2"):
        svc.decide.start_experiment(key)
    svc.decide.put_slot(
        slot(
            rules=[
                {"then": {"kind": "experiment", "experiment": "e1"}},
                {"then": {"kind": "experiment", "experiment": "e2"}},
            ]
        )
    )
    seen = {svc.decide.decide("home.hero", user_id=f"u{i}")["experiment"]["id"] for i in range(60)}
    assert seen == {"e1", "e2"}  # every unit is in exactly one of them (none fell to the default)


def test_configuration_is_validated_across_documents(svc):
    with pytest.raises(InvalidConfig) as err:
        svc.decide.put_slot(slot(variants={"a": "hero-a", "c": "missing"}))
    assert err.value.errors == [{"field": "variants.c", "message": "unknown block 'missing'"}]
    with pytest.raises(InvalidConfig) as err:
        svc.decide.put_slot(slot(rules=[{"then": {"kind": "experiment", "experiment": "ghost"}}]))
    assert err.value.errors[0]["field"] == "rules[0].then.experiment"
    svc.decide.put_experiment({"key": "abc", "variants": ["a", "b", "c"]})
    with pytest.raises(InvalidConfig) as err:
        svc.decide.put_slot(slot(rules=[{"then": {"kind": "experiment", "experiment": "abc"}}]))
    assert "['c']" in err.value.errors[0]["message"]
    svc.decide.put_slot(slot())
    with pytest.raises(Conflict):
        svc.decide.delete_block("hero-a")
    with pytest.raises(InvalidConfig) as err:
        svc.decide.put_block({"id": "hero-a", "type": "image", "content": {"src": 1}})
    assert {e["field"] for e in err.value.errors} == {"content", "content.src"}
    assert [v.version for v in svc.decide.history("block", "hero-a")] == [1]


# ------------------------------------------------------------------------------------------ attribution
def test_clicks_and_conversions_become_outcomes(svc):
    svc.decide.put_block({"id": "recs", "type": "product_list", "content": {"title": "x"}})
    svc.decide.put_slot(slot())
    svc.decide.put_slot({"id": "footer", "variants": {"a": "hero-a"}, "default": {"kind": "variant", "variant": "a"}})
    first = svc.decide.decide("home.hero", user_id="alice")
    last = svc.decide.decide("home.hero", user_id="alice")
    footer = svc.decide.decide("footer", user_id="alice")
    svc.decide.flush()
    svc.ingest.ingest(
        [
            track("Slot Clicked", {"decision_id": first["decision_id"]}, user="alice"),
            track("Slot Clicked", {"decision_id": footer["decision_id"]}, user="mallory"),
            track("Slot Clicked", {"decision_id": "unknown"}, user="alice"),
            track("Order Completed", {"revenue": 30.0}, user="alice"),
        ]
    )
    svc.decide.config.outcome_retry_s = 0.0
    svc.decide.flush()
    with svc.store.transaction(write=False) as tx:
        outs = {
            (o.decision_id, o.kind, o.value)
            for o in tx.outcomes_of([first["decision_id"], last["decision_id"], footer["decision_id"]])
        }
    assert outs == {
        (first["decision_id"], "Slot Clicked", None),  # the click, on its decision
        (last["decision_id"], "Order Completed", 30.0),  # last touch in home.hero
        (footer["decision_id"], "Order Completed", 30.0),
    }  # and in the footer
    assert svc.decide.log.stats.outcomes_dropped == 2  # mallory's click on alice's decision, an unknown id


def test_conversions_outside_the_window_are_not_attributed(svc):
    svc.decide.put_slot(slot())
    old = svc.decide.decide("home.hero", user_id="bob", now=time.time() - 2 * 86400)
    svc.decide.flush()
    svc.ingest.ingest([track("Order Completed", {"revenue": 5}, user="bob")])
    svc.decide.flush()
    with svc.store.transaction(write=False) as tx:
        assert tx.outcomes_of([old["decision_id"]]) == []


def test_results_end_to_end_from_decisions_and_clicks(svc):
    exp = _experiment(svc, metrics=[{"name": "clicked", "kind": "conversion", "events": ["Slot Clicked"]}])
    clicks = []
    for i in range(400):
        d = svc.decide.decide("home.hero", user_id=f"u{i}")
        rate = 0.6 if d["variant"] == "b" else 0.2
        if (i * 7919) % 100 < rate * 100:
            clicks.append(track("Slot Clicked", {"decision_id": d["decision_id"]}, user=f"u{i}"))
    svc.decide.flush()
    svc.ingest.ingest(clicks, prefix="batch")
    res = svc.decide.results("hero-test").model_dump(exclude_unset=True)
    units = {v: sum(assign(exp, f"u{i}").variant == v for i in range(400)) for v in ("a", "b")}
    assert res["units"] == units and res["exposures"] == 400 and res["srm"]["flagged"] is False
    metric = res["metrics"][0]
    comp = metric["comparisons"]["b"]
    assert metric["variants"]["b"]["mean"] > 0.5 > metric["variants"]["a"]["mean"]
    assert comp["significant"] and comp["lift"]["ci_low"] > 0 and comp["bayesian"]["chance_to_win"] > 0.99
    assert comp["sequential"]["p_value"] is not None and comp["p_value_adjusted"] is not None
    assert res["message"] == ""


def test_results_on_thin_or_no_data_give_a_message(svc):
    _experiment(svc)
    res = svc.decide.results("hero-test").model_dump(exclude_unset=True)
    assert res["message"].startswith("no exposures yet") and res["units"] == {"a": 0, "b": 0}
    svc.decide.decide("home.hero", user_id="only-one")
    res = svc.decide.results("hero-test").model_dump(exclude_unset=True)
    assert "thin data" in res["message"]
    with pytest.raises(NotFound):
        svc.decide.results("ghost")


# ------------------------------------------------------------------------------------------ bandits
def test_bandit_learns_from_clicks_and_logs_propensities(svc):
    svc.decide.log.after_drain.clear()  # no periodic refresh: this test moves the clock itself
    svc.decide.put_slot(
        slot(
            rules=[
                {
                    "then": {
                        "kind": "bandit",
                        "policy": "thompson",
                        "min_share": 0.1,
                        "params": {"seed": 3},
                        "reward": {"window_s": 60},
                    }
                }
            ]
        )
    )
    t0 = time.time() - 3600
    clicks = []
    for i in range(300):
        d = svc.decide.decide("home.hero", anonymous_id=f"v{i}", now=t0 + i)
        assert d["reason"]["kind"] == "bandit" and 0.1 - 1e-9 <= d["propensity"] <= 0.9 + 1e-9
        if d["variant"] == "b" and i % 2 == 0:  # clicked 5 s later, within the 60 s reward window
            clicks.append(
                track(
                    "Slot Clicked",
                    {"decision_id": d["decision_id"]},
                    anon=f"v{i}",
                    timestamp=datetime.fromtimestamp(t0 + i + 5, UTC).isoformat(),
                )
            )
    svc.decide.flush()
    svc.ingest.ingest(clicks, prefix="batch")
    svc.decide.flush()
    learned = svc.decide.refresh_bandits(now=t0 + 10_000)
    assert learned == {"home.hero#0": 300}
    (state,) = svc.decide.bandit_states("home.hero")
    assert state.probabilities[1] == pytest.approx(0.9, abs=0.02)  # b wins; a keeps its 0.1 floor
    rows = stored_decisions(svc)
    assert all(
        r.propensity == pytest.approx(dict(zip(r.detail["arms"], r.detail["probabilities"], strict=True))[r.variant])
        for r in rows
    )
    later = [svc.decide.decide("home.hero", anonymous_id=f"w{i}")["variant"] for i in range(100)]
    assert later.count("b") > 70
    assert svc.decide.refresh_bandits(now=t0 + 10_000) == {"home.hero#0": 0}  # learned once


def test_off_policy_evaluation_from_logged_decisions(svc):
    svc.decide.put_slot(
        slot(rules=[{"then": {"kind": "bandit", "policy": "epsilon_greedy", "params": {"epsilon": 1.0, "seed": 7}}}])
    )  # uniform logging
    clicks = []
    for i in range(600):
        d = svc.decide.decide("home.hero", anonymous_id=f"v{i}")
        if (d["variant"] == "b" and i % 2 == 0) or (d["variant"] == "a" and i % 10 == 0):
            clicks.append(track("Slot Clicked", {"decision_id": d["decision_id"]}, anon=f"v{i}"))
    svc.decide.flush()
    svc.ingest.ingest(clicks, prefix="batch")
    out = svc.decide.ope("home.hero", "arm:b").model_dump(exclude_unset=True)
    assert out["decisions"] == 600 and out["target_arm"] == "b" and out["message"] == ""
    by_name = {e["estimator"]: e for e in out["estimates"]}
    assert set(by_name) == {"ips", "snips", "doubly_robust"}
    for e in by_name.values():
        assert e["ci_low"] < 0.5 < e["ci_high"]  # b's true click rate is 0.5
    greedy = svc.decide.ope("home.hero", "greedy")
    assert greedy.target_arm == "b" and greedy.fold_arms == ["b", "b"]  # chosen on each half, scored on the other
    assert "cross-fitted" in greedy.message and greedy.estimates[0].ci_low < 0.5 < greedy.estimates[0].ci_high
    with pytest.raises(InvalidConfig):
        svc.decide.ope("home.hero", "arm:zzz")
    assert svc.decide.ope("other-slot").message.startswith("no logged decisions")


# ------------------------------------------------------------------------------------------ recommender
def test_recommender_fills_a_product_list_slot(svc):
    svc.recommend.upsert_items(
        [
            {"item_id": f"p{i}", "title": f"Product {i}", "attributes": {"url": f"/p/{i}", "price": 10 + i}}
            for i in range(5)
        ]
    )
    svc.ingest.ingest(
        [track("Product Viewed", {"product_id": f"p{i % 3}"}, user=f"u{i}") for i in range(9)], prefix="batch"
    )
    svc.decide.put_block(
        {
            "id": "recs",
            "type": "product_list",
            "content": {"title": "For you"},
            "template": "{% for i in items %}<a href='{{ i.url }}'>{{ i.title }}</a>{% endfor %}",
        }
    )
    svc.decide.put_slot({"id": "home.recs", "default": {"kind": "recommender", "k": 3, "block": "recs"}})
    d = svc.decide.decide("home.recs", user_id="someone")
    assert d["variant"] is None and d["reason"]["kind"] == "recommender" and d["block"]["type"] == "product_list"
    items = d["block"]["content"]["items"]
    assert d["block"]["content"]["title"] == "For you" and len(items) == 3
    assert {it["item_id"] for it in items} == {"p0", "p1", "p2"} and items[0]["title"].startswith("Product")
    assert items[0]["url"].startswith("/p/") and d["html"].count("<a href") == 3
    (row,) = stored_decisions(svc)
    assert row.reason == "recommender" and row.detail["items"] == [it["item_id"] for it in items]


def test_an_empty_recommender_falls_through(svc):
    svc.decide.put_slot(slot(rules=[{"then": {"kind": "recommender"}}]))
    d = svc.decide.decide("home.hero", user_id="u")
    assert (d["variant"], d["reason"]["kind"]) == ("a", "default")


# ------------------------------------------------------------------------------------------ privacy
def test_export_and_erasure_cover_decisions_and_outcomes(svc):
    svc.decide.put_slot(slot())
    d = svc.decide.decide("home.hero", user_id="carol")
    svc.decide.flush()
    svc.ingest.ingest([track("Slot Clicked", {"decision_id": d["decision_id"]}, user="carol")])
    svc.decide.flush()
    out = svc.privacy.export("carol")
    assert [x["decision_id"] for x in out.decisions] == [d["decision_id"]]
    assert [o["kind"] for o in out.decision_outcomes] == ["Slot Clicked"]
    with svc.decide.log.hold():
        queued = svc.decide.decide("home.hero", user_id="carol")  # not written yet at erasure time
        assert [x["decision_id"] for x in svc.privacy.export("carol").pending_decisions] == [queued["decision_id"]]
        erased = svc.privacy.erase("carol")
    assert erased.deleted["decisions"] == 1 and erased.deleted["decision_outcomes"] == 1
    assert erased.deleted["pending_decisions"] == 1
    svc.decide.flush()
    with svc.store.transaction(write=False) as tx:
        assert list(tx.iter_decisions()) == [] and tx.outcomes_of([d["decision_id"]]) == []


def test_visitors_seen_first_by_decide_can_be_exported_and_erased(svc):
    svc.decide.put_slot(slot())
    svc.decide.decide("home.hero", anonymous_id="fresh-visitor")
    svc.decide.flush()
    assert len(svc.privacy.export("fresh-visitor").decisions) == 1
    assert svc.privacy.erase("fresh-visitor").deleted["decisions"] == 1


def test_default_denied_consent_stores_no_decisions(tmp_path):
    svc = Services.build(make_settings(tmp_path, default_consent="denied"))
    try:
        svc.decide.put_block({"id": "b", "type": "text", "content": {"text": "hi"}})
        svc.decide.put_slot({"id": "s", "variants": {"v": "b"}, "default": {"kind": "variant", "variant": "v"}})
        assert svc.decide.decide("s", anonymous_id="x")["variant"] == "v"
        svc.decide.flush()
        with svc.store.transaction(write=False) as tx:
            assert list(tx.iter_decisions()) == []
    finally:
        svc.close()


def test_queued_decisions_survive_a_storage_failure(svc, monkeypatch):
    svc.decide.log._ensure_thread = lambda: None  # drained by hand below
    svc.decide.put_slot(slot())
    ids = [svc.decide.decide("home.hero", anonymous_id=f"v{i}")["decision_id"] for i in range(3)]
    real = svc.store.transaction

    def broken(*args, **kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(svc.store, "transaction", broken)
    with pytest.raises(RuntimeError):
        svc.decide.flush()
    monkeypatch.setattr(svc.store, "transaction", real)
    assert sorted(r.decision_id for r in stored_decisions(svc)) == sorted(ids)  # kept, written on the next round


def test_imported_history_is_not_queued_for_attribution(svc):
    old = datetime.fromtimestamp(time.time() - 30 * 86400, UTC).isoformat()
    history = [track("Order Completed", {"revenue": 1}, user=f"h{i}", timestamp=old) for i in range(50)]
    svc.ingest.ingest(history, prefix="batch")  # no slot yet: nothing is queued at all
    svc.decide.put_slot(slot())
    svc.ingest.ingest([track("Order Completed", {"revenue": 1}, user="h1", timestamp=old, messageId="again")])
    assert svc.decide.log._thread is None  # nothing was ever queued (the queue starts the thread)


@pytest.mark.parametrize(
    "template",
    [
        '<a href="/go?d={{ decision_id }}" data-slot="{{ slot }}">{{ title }} ({{ variant }})</a>{{ decision_id }}',
        "{{ title }} {{ decision_id|upper }} {% if decision_id > '8' %}late{% else %}early{% endif %}",
    ],
)
def test_variant_html_is_what_rendering_each_decision_gives(svc: Services, template: str) -> None:
    """Cached renders (a template that only prints the id) and per-decision renders give the same HTML."""
    from pertinent.decide.blocks import Block, prints_id_only, render

    svc.decide.put_block({"id": "hero-t", "type": "headline", "content": {"title": "T <1>"}, "template": template})
    svc.decide.put_slot({"id": "home.t", "variants": {"t": "hero-t"}, "default": {"kind": "variant", "variant": "t"}})
    block = Block(id="hero-t", type="headline", content={"title": "T <1>"}, template=template)
    seen = set()
    for i in range(20):
        d = svc.decide.decide("home.t", anonymous_id=f"v{i}")
        assert d["html"] == render(block, decision_id=d["decision_id"], slot="home.t", variant="t")
        seen.add(d["html"])
    assert len(seen) == 20  # every decision's own id
    assert bool(svc.decide.serving.renderer.cached()) == prints_id_only(
        template
    )  # the first template renders once, the second each time
    svc.decide.put_block({"id": "hero-t", "type": "headline", "content": {"title": "U"}, "template": template})
    assert "U" in svc.decide.decide("home.t", anonymous_id="v1")["html"]  # a new block version renders anew
