"""``pertinent quality ...`` and ``pertinent import --dry-run``: the report as JSON, plans from files, a broken
column or an invalid schema named, and a dry run that writes nothing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pertinent.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def _csv(path):
    path.write_text(
        "uid,sku,ts,price\nu1,a,1700000000,1.5\nu2,b,1700000001,x\nu2,b,1700000001,x\n,c,oops,3\n", encoding="utf-8"
    )
    return path


def test_report_json_lists_the_four_sections(env) -> None:
    out = runner.invoke(app, ["quality", "report", "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert {"duplicate_candidates", "outliers", "violations", "normalisation"} <= set(body)


def test_plan_set_refuses_an_invalid_schema_naming_the_field(env) -> None:
    bad = env / "bad.json"
    bad.write_text(json.dumps({"type": "object", "properties": {"total": {"type": "numbr"}}}))
    out = runner.invoke(app, ["quality", "plan", "set", "Order Completed", str(bad), "--mode", "block"])
    assert out.exit_code == 2 and "schema.properties.total.type" in out.output
    good = env / "good.json"
    good.write_text(json.dumps({"type": "object", "properties": {"total": {"type": "number"}}}))
    assert runner.invoke(app, ["quality", "plan", "set", "Order Completed", str(good)]).exit_code == 0
    listed = runner.invoke(app, ["quality", "plan", "list", "--json"])
    assert json.loads(listed.output)[0]["schema"]["properties"]["total"]["type"] == "number"


def test_import_dry_run_reports_and_writes_nothing(env) -> None:
    path = _csv(env / "clicks.csv")
    args = ["import", str(path), "--user-col", "uid", "--item-col", "sku", "--timestamp-col", "ts"]
    out = runner.invoke(app, [*args, "--price-col", "price", "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    columns = {c["name"]: c for c in report["columns"]}
    assert columns["uid"]["null_rate"] == 0.25
    assert columns["price"]["unparseable"] == 2 and columns["price"]["max"] == 3.0
    assert report["duplicate_rows"] == 1 and report["duplicate_message_ids"] == 1
    assert report["skipped_rows"] == {"missing user id": 1}
    from pertinent.privacy.keys import ensure_keys
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    try:
        with services.store.transaction(write=False) as tx:
            assert tx.count_profiles() == 0  # nothing written
    finally:
        services.close()


def test_import_with_a_broken_column_names_it(env) -> None:
    path = _csv(env / "clicks.csv")
    out = runner.invoke(app, ["import", str(path), "--user-col", "user", "--timestamp-col", "ts", "--dry-run"])
    assert out.exit_code == 2 and "'user'" in out.output
