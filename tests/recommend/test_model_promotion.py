"""Which model version every node serves (issue 15, item 4): versions in the shared registry, promote and roll
back over the admin API and the CLI, pinned against retraining until resumed, each change audited, and the
served model switching at once."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pertinent.cli import app
from pertinent.errors import InvalidInput
from pertinent.recommend.promotion import ModelPromotions, UnknownModel
from pertinent.recommend.registry import InvalidModelName, ModelRegistry, RegistryError
from tests.support.common import ADMIN, make_settings
from tests.support.models import save_popularity


def _save(services, items: list[str]) -> str:
    """Save a popularity model whose top item is ``items[0]`` as the next version of the served model."""
    return save_popularity(services, items, metrics={"ndcg": 0.1})


def _served(services) -> str | None:
    """The version this node's serving side holds now (no reload triggered by asking)."""
    return services.recommend.serving._served[0]


def test_promote_rollback_resume_through_the_api(client, sqlite_services):
    name = sqlite_services.recommend.config.model
    v1 = _save(sqlite_services, ["a", "b"])
    v2 = _save(sqlite_services, ["b", "a"])
    sqlite_services.recommend.refresh_model()
    assert _served(sqlite_services) == v2

    listed = client.get("/v1/models", headers=ADMIN).json()["models"]
    (model,) = [m for m in listed if m["name"] == name]
    assert (model["served"], model["newest"], model["pinned"]) == (v2, v2, False)
    assert [v["version"] for v in model["versions"]] == [v1, v2] and model["versions"][0]["metrics"]["ndcg"] == 0.1

    promoted = client.post(f"/v1/models/{name}/promote", json={"version": v1}, headers=ADMIN).json()
    assert promoted == {"name": name, "before": v2, "served": v1, "pinned": True}
    assert _served(sqlite_services) == v1  # served at once on this node (the bus tells the others)

    v3 = _save(sqlite_services, ["c", "a"])  # retraining while pinned: saved, not served
    sqlite_services.recommend.refresh_model()
    assert _served(sqlite_services) == v1

    rolled = client.post(f"/v1/models/{name}/rollback", headers=ADMIN).json()
    assert (rolled["before"], rolled["served"]) == (v1, v2)
    assert _served(sqlite_services) == v2

    resumed = client.post(f"/v1/models/{name}/resume", headers=ADMIN).json()
    assert (resumed["served"], resumed["pinned"]) == (v3, False)
    assert _served(sqlite_services) == v3

    audit = client.get("/v1/audit", params={"subject": f"model:{name}"}, headers=ADMIN).json()["entries"]
    kinds = [e["kind"] for e in audit]
    assert {"model.promote", "model.rollback", "model.resume"} <= set(kinds)
    promote = next(e for e in audit if e["kind"] == "model.promote")
    assert promote["before"] == {"version": v2} and promote["after"] == {"version": v1}
    assert promote["actor"] == "admin_key"


def test_bad_requests_name_the_field(client, sqlite_services):
    name = sqlite_services.recommend.config.model
    _save(sqlite_services, ["a"])
    unknown = client.post(f"/v1/models/{name}/promote", json={"version": "v99"}, headers=ADMIN)
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "version"
    bad = client.post(f"/v1/models/{name}/promote", json={"version": "latest"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "version"
    missing = client.post("/v1/models/nope/rollback", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "name"
    only_one = client.post(f"/v1/models/{name}/rollback", headers=ADMIN)
    assert only_one.status_code == 404 and "no earlier version" in only_one.json()["message"]
    assert client.get("/v1/models").status_code == 401  # admin only


def test_cli_lists_and_promotes(tmp_path, monkeypatch):
    from pertinent.services import Services

    settings = make_settings(tmp_path)
    for key, value in {
        "DATA_DIR": tmp_path,
        "WRITE_KEY": settings.write_key,
        "ADMIN_KEY": settings.admin_key,
        "PSEUDONYM_KEYS": ",".join(settings.pseudonym_keys),
    }.items():
        monkeypatch.setenv(f"PERTINENT_{key}", str(value))
    services = Services.build(settings)
    try:
        v1 = _save(services, ["a"])
        v2 = _save(services, ["b"])
    finally:
        services.close()
    runner = CliRunner()
    name = settings.recommend.model
    out = runner.invoke(app, ["models", "promote", name, v1, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["served"] == v1
    listed = runner.invoke(app, ["models", "list"])
    assert f"serving {v1} (pinned), newest {v2}" in listed.output
    bad = runner.invoke(app, ["models", "promote", name, "v9"])
    assert bad.exit_code == 2 and "version:" in bad.output


def test_a_model_folder_without_versions_or_with_stray_folders_is_no_500(client, sqlite_services):
    """Found by fuzzing: resume on a model folder whose first training stopped before saving was a 500, and a
    stray folder named like a version ("v2-old") made rollback a 500 (its number read with int())."""
    root = sqlite_services.settings.data_dir / "models"
    (root / "unsaved").mkdir(parents=True)
    r = client.post("/v1/models/unsaved/resume", headers=ADMIN)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "name", r.text
    name = sqlite_services.recommend.config.model
    v1 = _save(sqlite_services, ["a", "b"])
    v2 = _save(sqlite_services, ["b", "a"])
    (root / name / "v2-old").mkdir()
    (root / name / "v2-old" / "config.json").write_text("{}")
    listed = client.get("/v1/models", headers=ADMIN).json()["models"]
    assert [v["version"] for m in listed if m["name"] == name for v in m["versions"]] == [v1, v2]
    rolled = client.post(f"/v1/models/{name}/rollback", headers=ADMIN)
    assert rolled.status_code == 200 and rolled.json()["served"] == v1, rolled.text
    for version in ("v0", "v01", "v" + "9" * 15):
        r = client.post(f"/v1/models/{name}/promote", json={"version": version}, headers=ADMIN)
        assert r.status_code == 404 and r.json()["errors"][0]["field"] == "version", r.text


def test_registry_refusals_are_mapped_by_their_type_and_field_not_their_message(tmp_path, sqlite_services):
    """The promotions read a registry refusal's type and field: a bad name is a 400, an unknown model or version
    a 404 naming the field the registry gave, whatever its message says."""

    class Refusing(ModelRegistry):
        error: RegistryError = RegistryError("version", "reason: with a colon, and name: in it")

        def resume(self, name: str, by: str = "system") -> str:
            raise self.error

    root = tmp_path / "models"
    (root / "m" / "v1").mkdir(parents=True)
    registry = Refusing(root)
    promotions = ModelPromotions(sqlite_services.store, registry)
    with pytest.raises(UnknownModel) as missing:
        promotions.resume("m")
    assert missing.value.status == 404
    assert missing.value.errors == [{"field": "version", "message": "reason: with a colon, and name: in it"}]
    registry.error = InvalidModelName("m/../x")
    with pytest.raises(InvalidInput) as bad:
        promotions.resume("m")
    assert bad.value.status == 400 and bad.value.errors[0]["field"] == "name"
    assert "must be 1-64 letters" in bad.value.errors[0]["message"]


def test_promote_takes_only_a_version_of_that_model(tmp_path):
    registry = ModelRegistry(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name / "v1").mkdir(parents=True)
        (tmp_path / name / "v1" / "config.json").write_text("{}")
    with pytest.raises(RegistryError) as refused:
        registry.promote("a", "../b/v1")
    assert refused.value.field == "version" and registry.latest_version("a") is None
    with pytest.raises(InvalidModelName) as bad:
        registry.versions("../a")
    assert bad.value.field == "name"
