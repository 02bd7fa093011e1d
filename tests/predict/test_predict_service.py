"""Predictive traits on the stored data: train on both backends, predicted.* in the profile, the export, erasure,
segment rules, the registry, scheduled refits, drift, thin data and a forged trait."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pertinent.cli import app
from pertinent.predictions.config import PredictConfig
from pertinent.predictions.models import TrainReport
from pertinent.predictions.service import PredictionService
from pertinent.services import Services
from tests.predict.store_data import ingest_shop
from tests.support.common import ADMIN, api_client, make_settings

NOW = time.time()
TRAITS = ("purchase_propensity", "churn_risk", "days_to_next_purchase")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """One SQLite store with the synthetic shop (200 profiles, 150 days), trained once for the module."""
    tmp = tmp_path_factory.mktemp("predict")
    svc = Services.build(make_settings(tmp, predict={"timing_horizon_days": 30}))
    ingest_shop(svc, NOW)
    assert svc.predictions is not None
    report = svc.predictions.train(NOW)
    svc.segments.wait_idle(30)
    yield svc, report
    svc.close()


@pytest.mark.slow
def test_train_reports_each_trait_next_to_its_baseline(trained):
    _, report = trained
    assert report.n_profiles == 200 and report.scored_profiles == 200, report.message
    by = {t.trait: t for t in report.traits}
    assert set(by) == set(TRAITS)
    for trait in ("purchase_propensity", "churn_risk"):
        t = by[trait]
        assert t.trained and t.model_version and t.registry_version == "v1"
        assert 0.5 < t.model["auc"] <= 1 and 0.5 < t.baseline["auc"] <= 1
        assert t.lift == pytest.approx(t.model["auc"] - t.baseline["auc"])
        for key in ("pr_auc", "f1", "brier"):
            assert t.model[key] is not None and t.baseline[key] is not None
        assert len(t.calibration) >= 5 and t.feature_selection.startswith("The model mostly uses")
        assert 0 < t.threshold < 1
    timing = by["days_to_next_purchase"]
    assert timing.trained and timing.model["mae"] > 0 and timing.baseline["mae"] > 0


@pytest.mark.slow
def test_profile_shows_predicted_traits_with_versions_and_rules_use_them(trained):
    svc, report = trained
    versions = {t.trait: t.model_version for t in report.traits}
    for c in api_client(svc):
        seen = 0
        for user in ("u0", "u1", "u2", "u3", "u4", "u5"):
            body = c.get(f"/v1/profiles/{user}", headers=ADMIN).json()
            predicted = body["predicted"]
            for trait in ("purchase_propensity", "churn_risk"):
                assert 0 <= predicted[trait]["value"] <= 1
                assert predicted[trait]["model_version"] == versions[trait]
                assert body["traits"]["predicted"][trait] == predicted[trait]["value"]
            if "days_to_next_purchase" in predicted:  # repeat buyers only
                d = predicted["days_to_next_purchase"]
                assert d["model_version"] == versions["days_to_next_purchase"]
                assert d["low"] <= d["value"] <= d["high"] <= 30
                seen += 1
        assert seen > 0
    # a segment rule on a predicted trait: members are exactly the profiles above the threshold
    svc.segments.create(
        {
            "id": "at-risk",
            "name": "At risk",
            "rule": {"type": "trait", "path": ["predicted", "churn_risk"], "op": "gt", "value": 0.5},
        },
        backfill="sync",
    )
    with svc.store.transaction(write=False) as tx:
        rows = list(tx.iter_profiles())
        members = tx.segments_of([r.profile_id for r in rows])
    expected = {r.profile_id for r in rows if r.traits.get("predicted", {}).get("churn_risk", 0) > 0.5}
    got = {pid for pid, segs in members.items() if any(s.startswith("at-risk") for s in segs)}
    assert expected and got == expected


@pytest.mark.slow
def test_registry_lists_models_and_drift_is_typed(trained):
    svc, report = trained
    entries = {e.trait: e for e in svc.predictions.models()}
    assert set(entries) == set(TRAITS)
    assert entries["churn_risk"].metrics["model"]["auc"] == next(
        t.model["auc"] for t in report.traits if t.trait == "churn_risk"
    )
    drift = {d.trait: d for d in svc.predictions.drift(NOW)}
    assert set(drift) == set(TRAITS)
    for d in drift.values():
        assert d.prediction is not None and d.prediction.statistic is not None and d.prediction.statistic >= 0
        assert not d.performance and "performance comes later" in d.message  # no label window closed yet
    later = svc.predictions.drift(NOW + 40 * 86_400.0)  # 40 days on: the windows after training have closed
    assert any(p.value is not None for d in later for p in d.performance)


@pytest.mark.slow
def test_export_has_predicted_traits_and_erasure_removes_them(trained):
    svc, _ = trained
    export = svc.privacy.export("u7")
    assert "churn_risk" in export.profile.traits["predicted"]
    svc.privacy.erase("u7")
    assert svc.profiles.get("u7") is None
    # a rescoring pass does not bring an erased profile back
    svc.predictions.score(NOW)
    assert svc.profiles.get("u7") is None


@pytest.mark.slow
def test_consent_withdrawn_clears_predicted_traits(trained):
    svc, _ = trained
    assert "predicted" in svc.profiles.get("u9").traits
    svc.privacy.set_consent({"personalization": False}, user_id="u9")
    hidden = svc.profiles.get("u9")  # not shown without consent, even before the next pass
    assert hidden.predicted == {} and "predicted" not in hidden.traits
    assert "churn_risk" in svc.privacy.export("u9").profile.traits["predicted"]  # but exported while stored
    report = svc.predictions.score(NOW)
    assert report.cleared == 1
    assert "predicted" not in svc.profiles.get("u9").traits


@pytest.mark.slow
def test_train_and_score_on_each_backend(services):
    ingest_shop(services, NOW, n_users=120, days=150, seed=3)
    report = services.predictions.train(NOW)
    assert report.any_trained and report.scored_profiles == 120, report.message
    assert services.profiles.get("u1").predicted["churn_risk"].model_version
    again = services.predictions.score(NOW)  # idempotent: the same values written again, nothing cleared
    assert (again.written, again.cleared) == (120, 0)


def test_too_few_profiles_is_a_message_not_a_crash(services):
    services.ingest.ingest([{"type": "track", "event": "Order Completed", "userId": "solo"}])
    report = services.predictions.train()
    assert not report.any_trained and report.traits == []
    assert "fewer than predict.min_profiles=50" in report.message
    assert services.predictions.score().message.startswith("no registered model")


def test_client_cannot_forge_predicted_traits(client):
    r = client.post("/v1/identify", json={"userId": "u1", "traits": {"predicted": {"churn_risk": 0.99}}})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "traits"
    assert "reserved" in r.json()["errors"][0]["message"]


def test_refit_is_due_on_schedule_and_after_enough_events(tmp_path):
    clock = [NOW]
    svc = Services.build(make_settings(tmp_path))
    try:
        config = PredictConfig(min_profiles=2, refit_interval_s=3600, refit_after_events=5)
        p = PredictionService(svc.store, svc.settings, svc.ingest.profile_config, config, clock=lambda: clock[0])
        trained = []
        report = TrainReport(trained_at=NOW, n_events=0, n_profiles=0)
        p.train = lambda now=None, score=True: trained.append(now) or report  # type: ignore[method-assign]
        assert p.refit_due() is report  # never fitted: due
        p.registry.save("churn_risk", {}, {}, {"trained_at": NOW, "n_events": 0, "model_version": "x"}, [])
        assert p.refit_due() is None  # just fitted, no new events
        svc.ingest.ingest([{"type": "track", "event": "E", "userId": f"u{i}"} for i in range(5)])
        assert p.refit_due() is report  # five new events
        p.registry.save("churn_risk", {}, {}, {"trained_at": NOW, "n_events": 5, "model_version": "y"}, [])
        clock[0] = NOW + 3600
        assert p.refit_due() is report  # an hour later
        assert len(trained) == 3
    finally:
        svc.close()


@pytest.mark.slow
def test_cli_predict_train_json(tmp_path, monkeypatch):
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    runner = CliRunner()
    empty = runner.invoke(app, ["predict", "train", "--json"])
    assert empty.exit_code == 1 and "fewer than predict.min_profiles" in json.loads(empty.stdout)["message"]

    from pertinent.privacy.keys import ensure_keys
    from pertinent.settings import load_settings

    svc = Services.build(ensure_keys(load_settings()))
    ingest_shop(svc, time.time(), n_users=100, days=150, seed=1)
    svc.close()
    result = runner.invoke(app, ["predict", "train", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["scored_profiles"] == 100
    assert {t["trait"] for t in body["traits"] if t["trained"]} >= {"purchase_propensity", "churn_risk"}
    text = runner.invoke(app, ["predict", "models"])
    assert "churn_risk: churn-30d-" in text.output
    assert Path(tmp_path, "predict_models", "churn_risk", "latest").read_text() == "v1"


@pytest.mark.slow
def test_fairness_audit_covers_the_predicted_traits(trained):
    svc, _ = trained
    audit = svc.fairness.audit(now=NOW)
    section = next(s for s in audit.sections if s.name == "predicted.churn_risk")
    device = next(
        p for p in section.parity if p.metric == "flagged by predicted.churn_risk" and p.dimension == "device"
    )
    assert {g.group for g in device.groups} - {"unknown"} == {"mobile", "desktop"}  # u9 withdrew: no context
    assert sum(g.n for g in device.groups) >= 190  # every scored profile (one erased by another test at most)
    assert device.verdict in ("no material disparity", "possible disparity", "disparity") and device.summary
    eo = next(p for p in section.parity if "true-positive rate" in p.metric and p.dimension == "country")
    assert {g.group for g in eo.groups} - {"unknown"} == {"FR", "DE"}


@pytest.mark.slow
def test_dashboard_models_page_shows_the_models_and_their_drift(trained):
    from tests.support.common import dashboard_login

    svc, report = trained
    for c in api_client(svc):
        assert dashboard_login(c).status_code == 303
        page = c.get("/dashboard/models?window=30d")
        assert page.status_code == 200
        html = page.text
        for t in report.traits:
            assert f'data-testid="predictive-{t.trait}"' in html and t.model_version in html
        assert 'data-testid="prediction-drift-table"' in html and 'data-testid="drift-churn_risk"' in html
        assert 'data-testid="recommender-hits-empty"' in html


@pytest.mark.slow
def test_slot_targeting_on_a_predicted_trait(trained):
    svc, _ = trained
    with svc.store.transaction(write=False) as tx:
        rows = list(tx.iter_profiles())
    risk = {r.profile_id: r.traits["predicted"]["churn_risk"] for r in rows if "predicted" in r.traits}
    ids = {u: p.profile_id for u in (f"u{i}" for i in range(200)) if (p := svc.profiles.get(u)) is not None}
    high = next(u for u, pid in ids.items() if risk.get(pid, 0) > 0.7)  # (another test may have erased one)
    low = next(u for u, pid in ids.items() if risk.get(pid, 1) < 0.3)
    for c in api_client(svc):
        for bid in ("win-back", "regular"):
            r = c.put(f"/v1/blocks/{bid}", headers=ADMIN, json={"type": "headline", "content": {"title": bid}})
            assert r.status_code == 200, r.text
        slot = {
            "variants": {"a": "regular", "b": "win-back"},
            "default": {"kind": "variant", "variant": "a"},
            "rules": [
                {
                    "name": "likely to churn",
                    "then": {"kind": "variant", "variant": "b"},
                    "when": {"type": "trait", "path": ["predicted", "churn_risk"], "op": "gt", "value": 0.7},
                }
            ],
        }
        assert c.put("/v1/slots/account.banner", headers=ADMIN, json=slot).status_code == 200
        shown = {
            u: c.get("/v1/decide", params={"slot": "account.banner", "user_id": u}).json()["variant"]
            for u in (high, low)
        }
        assert shown == {high: "b", low: "a"}


@pytest.mark.slow
def test_dashboard_profile_page_shows_predicted_traits(trained):
    from tests.support.common import dashboard_login

    svc, report = trained
    for c in api_client(svc):
        assert dashboard_login(c).status_code == 303
        html = c.get("/dashboard/profiles", params={"user_id": "u3"}).text
        assert 'data-testid="predicted-churn_risk"' in html
        assert next(t.model_version for t in report.traits if t.trait == "churn_risk") in html
        assert c.get("/dashboard/profiles", params={"user_id": "nobody"}).status_code == 404
        assert c.get("/dashboard/profiles").status_code == 200


def test_a_scheduled_fit_on_thin_data_is_not_retried_at_every_check(tmp_path):
    clock = [NOW]
    svc = Services.build(make_settings(tmp_path))
    try:
        config = PredictConfig(refit_after_events=1, check_interval_s=60)
        p = PredictionService(svc.store, svc.settings, svc.ingest.profile_config, config, clock=lambda: clock[0])
        first = p.refit_due()
        assert first is not None and not first.any_trained and "min_profiles" in first.message
        clock[0] = NOW + 600
        assert p.refit_due() is None  # ten minutes later: not again
        clock[0] = NOW + 3700
        assert p.refit_due() is not None  # an hour later: tried again
    finally:
        svc.close()


def test_the_server_schedule_runs_the_refit_on_the_job_runner(tmp_path):
    svc = Services.build(make_settings(tmp_path, predict={"refit_after_events": 1, "check_interval_s": 0.05}))
    try:
        p = svc.predictions
        ran = []
        p.refit_due = lambda: ran.append(1)  # type: ignore[method-assign]
        p.start()
        p.jobs.wait_idle(5)
        deadline = time.monotonic() + 5
        while not ran and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ran, "the periodic refit check never ran"
        off = PredictionService(svc.store, svc.settings, svc.ingest.profile_config, PredictConfig())
        off.start()
        assert off.jobs._thread is None  # both triggers off (the default): no thread at all
        off.close()
    finally:
        svc.close()
