"""`pertinent segments list / create / delete` on a generated shop."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pertinent.cli import app
from tests.cli.test_cli import env  # noqa: F401  (the fixture: a fresh data directory)

runner = CliRunner()


@pytest.fixture
def shop(env):  # noqa: F811  (env is the fixture imported above)
    result = runner.invoke(app, ["generate", "--users", "120", "--items", "60", "--seed", "5", "--days", "20"])
    assert result.exit_code == 0, result.output
    return env


def _json(output: str):
    return json.loads(output[min(i for i in (output.find("{"), output.find("[")) if i >= 0) :])


def test_create_list_and_delete_rule_rfm_and_ml_segments(shop):
    (shop / "browsers.json").write_text(json.dumps({"template": "browsers", "params": {"min_views": 1}}))
    (shop / "rfm.json").write_text(json.dumps({"id": "rfm", "name": "RFM", "kind": "rfm"}))
    (shop / "ml.json").write_text(
        json.dumps({"id": "clusters", "name": "Clusters", "kind": "ml", "config": {"clustering": {"k": 3}}})
    )
    for name in ("browsers", "rfm", "ml"):
        result = runner.invoke(app, ["segments", "create", "--file", str(shop / f"{name}.json"), "--json"])
        assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["segments", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    found = {d["id"]: d for d in _json(listed.output)}
    assert {d["kind"] for d in found.values()} == {"rule", "rfm", "ml"}
    assert found["browsers"]["size"] > 0  # evaluated over the stored profiles when created
    assert found["rfm"]["size"] == sum(s["size"] for s in found["rfm"]["segments"]) > 0
    assert len(found["clusters"]["segments"]) == 3 and found["clusters"]["size"] > 0
    reconciled = runner.invoke(app, ["segments", "reconcile"])
    assert reconciled.exit_code == 0 and "0 entries, 0 exits" in reconciled.output  # nothing was missed
    table = runner.invoke(app, ["segments", "list"])
    assert "rfm:champions" in table.output and "Browsers" in table.output
    deleted = runner.invoke(app, ["segments", "delete", "browsers"])
    assert deleted.exit_code == 0 and "deleted" in deleted.output
    assert "browsers" not in {d["id"] for d in _json(runner.invoke(app, ["segments", "list", "--json"]).output)}


def test_create_reports_the_bad_part_and_unknown_ids(shop):
    (shop / "bad.json").write_text(
        json.dumps(
            {
                "id": "x",
                "name": "x",
                "rule": {"type": "event_count", "event": "Order Completed", "window_days": 90, "value": 1},
            }
        )
    )
    result = runner.invoke(app, ["segments", "create", "--file", str(shop / "bad.json")])
    assert result.exit_code == 2 and "rule.window_days" in result.output
    missing = runner.invoke(app, ["segments", "create", "--file", str(shop / "nope.json")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    gone = runner.invoke(app, ["segments", "delete", "ghost"])
    assert gone.exit_code == 2 and "no segment 'ghost'" in gone.output
