"""The deployment files (Dockerfile, deploy/compose.yaml, deploy/k8s/) cannot be run here (no container engine),
so their structure is checked against the code: every command and option they run exists in the CLI, every
PERTINENT_* variable they set is a real setting, probes hit real routes, references between objects resolve,
and the topology is the documented one (2+ API nodes with the jobs off, a worker, shared keys)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from pertinent.api.app import create_app
from pertinent.cli import app as cli_app
from pertinent.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _routes() -> set[str]:
    app = create_app(Settings(write_key="w", admin_key="a"))
    return {getattr(r, "path", "") for r in iter_route_contexts(app.routes)}


def _check_command(argv: list[str]) -> Any:
    """``argv`` (``pertinent serve --port 8000``) names a real command with real options."""
    assert argv[0] == "pertinent", argv
    group = typer.main.get_command(cli_app)  # a click group (Typer may ship its own copy of click)
    command = group.commands.get(argv[1])  # type: ignore[attr-defined]
    assert command is not None, f"no command {argv[1]!r}"
    known = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for arg in argv[2:]:
        if arg.startswith("--"):
            assert arg.split("=")[0] in known, f"{argv[1]} has no option {arg}"
    return command


def _setting_exists(name: str) -> bool:
    """``PERTINENT_RECOMMEND__MODEL`` -> Settings.recommend.model, as pydantic-settings reads it."""
    if not name.startswith("PERTINENT_"):
        return True
    model: type[BaseModel] = Settings
    parts = name.removeprefix("PERTINENT_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(parts) - 1:
            sub = field.annotation
            if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
                return False
            model = sub
    return True


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


# -- Dockerfile ------------------------------------------------------------------------------------------------------
def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_the_package_and_serves_as_a_non_root_user():
    steps = _dockerfile()
    bases = [arg for op, arg in steps if op == "FROM"]
    assert bases and all(re.match(r"python:3\.(1[1-9])", b) for b in bases)  # requires-python >= 3.11
    assert not any(op == "ADD" and "://" in arg for op, arg in steps)  # nothing fetched at build from a URL
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [arg for op, arg in final if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    cmd = next(arg for op, arg in reversed(final) if op == "CMD")
    argv = yaml.safe_load(cmd)  # the JSON (exec) form
    _check_command(argv)
    port = argv[argv.index("--port") + 1]
    assert ("EXPOSE", port) in final
    health = next(arg for op, arg in final if op == "HEALTHCHECK")
    path = re.search(r"http://127\.0\.0\.1:\d+(/\w+)", health).group(1)
    assert path in _routes()
    for op, arg in final:
        if op == "ENV":
            for name in re.findall(r"(PERTINENT_\w+)=", arg):
                assert _setting_exists(name), name


# -- compose ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_postgres_two_api_nodes_and_a_worker(compose):
    services = compose["services"]
    api = [s for s in services.values() if s.get("command", [None, None])[:2] == ["pertinent", "serve"]]
    workers = [s for s in services.values() if s.get("command", [None, None])[:2] == ["pertinent", "worker"]]
    assert len(api) >= 2 and len(workers) == 1
    assert "postgres" in services
    for node in api:
        _check_command(node["command"])
        assert str(node["environment"]["PERTINENT_RUN_JOBS"]).lower() == "false"  # jobs belong to the worker
    _check_command(workers[0]["command"])
    assert "PERTINENT_RUN_JOBS" not in workers[0]["environment"]


def test_compose_nodes_share_keys_database_and_settings_that_exist(compose):
    services = compose["services"]
    nodes = {n: s for n, s in services.items() if s.get("command", [""])[0] == "pertinent"}
    env_files = {str(s["env_file"]) for s in nodes.values()}
    assert len(env_files) == 1  # one source of keys for every node
    example = _env_file(DEPLOY / (env_files.pop() + ".example"))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_IDENTITY_SECRET"):
        assert key in example
    for name, node in nodes.items():
        env = node["environment"]
        for var in [*env, *example]:
            assert _setting_exists(var), f"{name}: {var} is not a setting"
        host = re.search(r"@([\w.-]+):\d+/", env["PERTINENT_DATABASE_URL"]).group(1)
        assert host in services and env["PERTINENT_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "postgres" in node["depends_on"]
        redis_host = re.match(r"redis://([\w.-]+):\d+/\d+$", env["PERTINENT_REDIS_URL"]).group(1)
        assert redis_host in services and redis_host in node["depends_on"]
    mounts = {tuple(sorted(s.get("volumes", []))) for s in nodes.values()}
    assert len(mounts) == 1 and mounts.pop()  # the same shared data volume on every node
    for volume in next(iter(nodes.values()))["volumes"]:
        assert volume.split(":")[0] in compose["volumes"]


def test_the_load_balancer_spreads_over_every_api_node(compose):
    api = {n for n, s in compose["services"].items() if s.get("command", [None, None])[:2] == ["pertinent", "serve"]}
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = set(re.findall(r"server\s+([\w-]+):8000", conf))
    assert upstream == api
    lb = compose["services"]["lb"]
    assert set(lb["depends_on"]) == api


# -- Kubernetes ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc
    return docs


def _by(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_k8s_api_and_worker_deployments(k8s):
    deployments = _by(k8s, "Deployment")
    routes = _routes()
    api = deployments["pertinent-api"]
    worker = deployments["pertinent-worker"]
    assert api["spec"]["replicas"] >= 2 and worker["spec"]["replicas"] >= 1
    for dep in (api, worker):
        pod = dep["spec"]["template"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        (container,) = pod["spec"]["containers"]
        _check_command(container["command"])
        for e in container.get("env", []):
            assert _setting_exists(e["name"]), e["name"]
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["path"] in routes
    (api_container,) = api["spec"]["template"]["spec"]["containers"]
    assert api_container["command"][:2] == ["pertinent", "serve"] and "readinessProbe" in api_container
    assert {"name": "PERTINENT_RUN_JOBS", "value": "false"} in api_container["env"]
    (worker_container,) = worker["spec"]["template"]["spec"]["containers"]
    assert worker_container["command"][:2] == ["pertinent", "worker"]


def test_k8s_references_resolve(k8s):
    config = _by(k8s, "ConfigMap")
    secrets = _by(k8s, "Secret")
    claims = _by(k8s, "PersistentVolumeClaim")
    for name in [*config, *secrets]:
        data = (config.get(name) or {}).get("data") or secrets[name]["stringData"]
        for var in data:
            assert _setting_exists(var), var
    assert "PERTINENT_PSEUDONYM_KEYS" in next(iter(secrets.values()))["stringData"]
    for dep in _by(k8s, "Deployment").values():
        spec = dep["spec"]["template"]["spec"]
        for container in spec["containers"]:
            for ref in container.get("envFrom", []):
                if "configMapRef" in ref:
                    assert ref["configMapRef"]["name"] in config
                if "secretRef" in ref:
                    assert ref["secretRef"]["name"] in secrets
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for mount in container.get("volumeMounts", []):
                assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] in claims
    redis_host = re.match(r"redis://([\w.-]+):", config["pertinent-config"]["data"]["PERTINENT_REDIS_URL"]).group(1)
    assert redis_host in _by(k8s, "Service")
    service = _by(k8s, "Service")["pertinent"]
    api_labels = _by(k8s, "Deployment")["pertinent-api"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= api_labels.items()


def test_docs_show_the_commands_the_files_use():
    text = (ROOT / "docs" / "deploy.md").read_text()
    commands = re.findall(r"^\s*(?:(PERTINENT_\w+)=\S+\s+)?(pertinent \w+.*)$", text, flags=re.M)
    assert len(commands) >= 3
    for env, line in commands:
        assert not env or _setting_exists(env)
        _check_command(shlex.split(line.split("#")[0]))
