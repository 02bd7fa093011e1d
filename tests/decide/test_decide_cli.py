"""``pertinent decide results`` and ``pertinent decide ope`` on the stored decisions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from pertinent.cli import app
from pertinent.privacy.keys import ensure_keys
from pertinent.services import Services
from pertinent.settings import load_settings

runner = CliRunner()


def cli_services(tmp_path, monkeypatch) -> Services:
    """The services the CLI will open (data in ``tmp_path``), with blocks ``blk-a`` and ``blk-b``."""
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    svc = Services.build(ensure_keys(load_settings()))
    for bid in ("a", "b"):
        svc.decide.put_block({"id": f"blk-{bid}", "type": "text", "content": {"text": bid}})
    return svc


@pytest.fixture
def env(tmp_path, monkeypatch):
    svc = cli_services(tmp_path, monkeypatch)
    try:
        d = svc.decide
        d.put_experiment({"key": "exp", "variants": ["a", "b"]})
        d.start_experiment("exp")
        base = {"variants": {"a": "blk-a", "b": "blk-b"}, "default": {"kind": "variant", "variant": "a"}}
        d.put_slot({**base, "id": "hero", "rules": [{"then": {"kind": "experiment", "experiment": "exp"}}]})
        d.put_slot(
            {
                **base,
                "id": "side",
                "rules": [
                    {"then": {"kind": "bandit", "policy": "epsilon_greedy", "params": {"epsilon": 1.0, "seed": 2}}}
                ],
            }
        )
        clicks = []
        for i in range(60):
            for slot in ("hero", "side"):
                r = d.decide(slot, user_id=f"u{i}")
                if r["variant"] == "b" and i % 2:
                    clicks.append(
                        {
                            "type": "track",
                            "event": "Slot Clicked",
                            "userId": f"u{i}",
                            "properties": {"decision_id": r["decision_id"]},
                        }
                    )
        d.flush()
        svc.ingest.ingest(clicks, prefix="batch")
    finally:
        svc.close()
    return tmp_path


def test_results_command(env):
    result = runner.invoke(app, ["decide", "results", "--experiment", "exp", "--json"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.output)
    assert sum(res["units"].values()) == 60 and res["experiment"] == "exp"
    clicked = next(m for m in res["metrics"] if m["name"] == "clicked")
    assert clicked["variants"]["a"]["mean"] == 0 and clicked["variants"]["b"]["mean"] > 0.3
    text = runner.invoke(app, ["decide", "results", "--experiment", "exp"])
    assert text.exit_code == 0 and "clicked (conversion)" in text.output and "note: thin data" in text.output
    missing = runner.invoke(app, ["decide", "results", "--experiment", "nope"])
    assert missing.exit_code == 2 and "unknown experiment 'nope'" in missing.output


def test_ope_command(env):
    result = runner.invoke(app, ["decide", "ope", "--slot", "side", "--target", "arm:b", "--json"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.output)
    assert res["decisions"] == 60 and {e["estimator"] for e in res["estimates"]} == {"ips", "snips", "doubly_robust"}
    text = runner.invoke(app, ["decide", "ope", "--slot", "side", "--target", "greedy"])
    assert text.exit_code == 0 and "doubly_robust" in text.output and "(b)" in text.output
    bad = runner.invoke(app, ["decide", "ope", "--slot", "side", "--target", "best"])
    assert bad.exit_code == 2 and "target" in bad.output


def test_results_command_shows_the_cuped_adjustment(tmp_path, monkeypatch):
    svc = cli_services(tmp_path, monkeypatch)
    try:
        d = svc.decide
        d.put_experiment(
            {
                "key": "rev",
                "variants": ["a", "b"],
                "cuped_pre_period_days": 7,
                "metrics": [{"name": "revenue", "kind": "continuous", "events": ["Order Completed"]}],
            }
        )
        d.start_experiment("rev")
        d.put_slot(
            {
                "id": "hero",
                "variants": {"a": "blk-a", "b": "blk-b"},
                "default": {"kind": "variant", "variant": "a"},
                "rules": [{"then": {"kind": "experiment", "experiment": "rev"}}],
            }
        )
        past = datetime.fromtimestamp(time.time() - 2 * 86400, UTC).isoformat()
        svc.ingest.ingest(
            [
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": f"u{i}",
                    "timestamp": past,
                    "properties": {"revenue": 10 + i},
                }
                for i in range(40)
            ],
            prefix="batch",
        )
        orders = []
        for i in range(40):
            r = d.decide("hero", user_id=f"u{i}")
            orders.append(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": f"u{i}",
                    "properties": {"revenue": 10 + i + (3 if r["variant"] == "b" else 0) + (i * 7) % 5},
                }
            )
        d.flush()
        svc.ingest.ingest(orders, prefix="batch")
    finally:
        svc.close()
    text = runner.invoke(app, ["decide", "results", "--experiment", "rev"])
    assert text.exit_code == 0, text.output
    assert "CUPED: pre-period 7 days, 40 units with pre-period data" in text.output
    assert "of the variance; unadjusted lift" in text.output
