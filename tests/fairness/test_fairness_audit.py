"""The fairness audit on stored decisions, outcomes and profiles (both backends), and its CLI."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from pertinent.cli import app
from pertinent.services import Services
from pertinent.storage.base import DecisionRow, ItemRow, OutcomeRow

NOW = time.time()
MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"


def populate(svc: Services, n: int = 160) -> None:
    """Half the profiles on mobile, half on desktop, each half split evenly FR / DE. Every profile got one
    recommender decision; desktop profiles were shown books and 40% converted, mobile ones toys and 10%.
    Conversion does not depend on the country (same rate in FR and DE)."""
    messages = []
    for i in range(n):
        mobile = i % 2 == 0
        messages.append(
            {
                "type": "identify",
                "userId": f"p{i}",
                "traits": {"plan": "pro" if i % 4 < 2 else "free", "tags": ["x"] if i == 0 else "t"},
                "context": {
                    "userAgent": MOBILE if mobile else DESKTOP,
                    "locale": "fr-FR" if i % 4 in (0, 1) else "de-DE",
                },
            }
        )
    assert svc.ingest.ingest(messages, received_at=NOW).accepted == n
    pids = {}
    for i in range(n):
        pids[i] = svc.profiles.get(f"p{i}").profile_id
    decisions, outcomes = [], []
    for i in range(n):
        mobile = i % 2 == 0
        items = ["t1", "t2", "b1"] if mobile else ["b1", "b2", "t1"]
        d = DecisionRow(f"d{i}", pids[i], "home", "recs", "recommender", NOW - 3600, detail={"items": items})
        decisions.append(d)
        rank = (i // 2) % 20  # within each device; even ranks are FR, odd ones DE
        if rank < (2 if mobile else 8):
            outcomes.append(OutcomeRow(d.decision_id, pids[i], "Order Completed", f"m{i}", NOW - 1800, 10.0))
    with svc.store.transaction() as tx:
        tx.upsert_items(
            [
                ItemRow("t1", categories=["toys"]),
                ItemRow("t2", categories=["toys"]),
                ItemRow("b1", categories=["books"]),
                ItemRow("b2", categories=["books"]),
            ]
        )
        tx.insert_decisions(decisions)
        tx.insert_outcomes(outcomes)


def _find(audit, section, metric, dimension):
    sec = next(s for s in audit.sections if s.name == section)
    return next(p for p in sec.parity if p.metric == metric and p.dimension == dimension)


def test_audit_finds_the_device_gap_and_no_country_gap(services):
    populate(services)
    audit = services.fairness.audit(["plan", "tags"], now=NOW)
    assert {"device", "country", "trait:plan", "trait:tags"} <= set(audit.dimensions)
    device = _find(audit, "decisions", "conversion after a decision", "device")
    assert device.verdict == "disparity" and (device.best, device.worst) == ("desktop", "mobile")
    assert device.difference == pytest.approx(0.3) and device.low > 0
    assert {g.group: g.rate for g in device.groups} == pytest.approx({"desktop": 0.4, "mobile": 0.1})
    country = _find(audit, "decisions", "conversion after a decision", "country")
    assert country.verdict == "no material disparity" and country.difference == pytest.approx(0.0)
    rec = _find(audit, "recommendations", "conversion after a recommendation", "device")
    assert rec.verdict == "disparity"
    exposure = {(e.dimension, e.group): e for s in audit.sections for e in s.exposure}
    assert dict(exposure[("device", "mobile")].categories)["toys"] == pytest.approx(2 / 3)
    assert exposure[("device", "mobile")].distance_from_rest == pytest.approx(1 / 3)
    tags = _find(audit, "decisions", "conversion after a decision", "trait:tags")
    assert {g.group for g in tags.groups} == {"t", "invalid type"}  # a wrong type is counted, not a crash
    assert "disparity" in audit.verdict
    preds = next(s for s in audit.sections if s.name == "predictive traits")
    assert "run pertinent predict train" in preds.message


def test_audit_on_an_empty_store_is_a_message(services):
    audit = services.fairness.audit(now=NOW)
    assert audit.message == "no decisions in the last 30 days"
    assert audit.verdict == "too little data to compare any groups"


def test_cli_fairness_audit(tmp_path, monkeypatch):
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    from pertinent.privacy.keys import ensure_keys
    from pertinent.settings import load_settings

    svc = Services.build(ensure_keys(load_settings()))
    populate(svc)
    svc.close()
    runner = CliRunner()
    result = runner.invoke(app, ["fairness", "audit", "--json", "--sensitive", "plan"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert "trait:plan" in body["dimensions"] and "disparity" in body["verdict"]
    text = runner.invoke(app, ["fairness", "audit", "--no-predictions"])
    assert text.exit_code == 0 and "[disparity] conversion after a decision by device" in text.output
    bad = runner.invoke(app, ["fairness", "audit", "--sensitive", "a..b"])
    assert bad.exit_code == 2 and "not a trait path" in bad.output


def test_dashboard_fairness_page(sqlite_services):
    from tests.support.common import api_client, dashboard_login

    populate(sqlite_services)
    for c in api_client(sqlite_services):
        assert dashboard_login(c).status_code == 303
        html = c.get("/dashboard/fairness").text
        assert 'data-testid="fairness-verdict"' in html and "disparity" in html
        assert "conversion after a decision" in html and "toys" in html
        models = c.get("/dashboard/models").text
        assert 'data-testid="recommender-hit-rate"' in models and 'data-testid="hits-unknown"' in models


@pytest.mark.parametrize("value", ["gender, address.country", '["gender", "address.country"]'])
def test_sensitive_traits_from_the_environment_as_a_list_or_commas(monkeypatch, value) -> None:
    """Both forms the docs give for PERTINENT_FAIRNESS__SENSITIVE_TRAITS load (the comma form used to stop every
    command with a settings traceback)."""
    from pertinent.settings import load_settings

    monkeypatch.delenv("PERTINENT_CONFIG", raising=False)
    monkeypatch.setenv("PERTINENT_FAIRNESS__SENSITIVE_TRAITS", value)
    assert load_settings().fairness.sensitive_traits == ["gender", "address.country"]
    monkeypatch.setenv("PERTINENT_FAIRNESS__SENSITIVE_TRAITS", '["gender", ')
    with pytest.raises(ValueError, match="sensitive_traits"):
        load_settings()
