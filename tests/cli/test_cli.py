"""The ``pertinent`` command line: help everywhere, import, generate, demo and serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pertinent.cli import app
from pertinent.services import Services
from tests.support.common import DATASETS, make_settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def _commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


def test_every_command_has_help():
    import typer

    root = typer.main.get_command(app)
    names = list(_commands(root))
    for expected in ("serve", "import", "generate", "demo"):
        assert (expected,) in names
    for path in names:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def _services(tmp_path: Path) -> Services:
    from pertinent.privacy.keys import ensure_keys

    return Services.build(ensure_keys(make_settings(tmp_path, write_key=None, admin_key=None, pseudonym_keys=[])))


def test_import_generic_mapping_reports_bad_rows(env):
    path = env / "clicks.csv"
    path.write_text("uid,sku,kind,ts\nu1,a,pv,1700000000\nu1,b,buy,1700000100\n,c,pv,1700000200\nu2,d,pv,oops\n")
    args = [
        "import",
        str(path),
        "--user-col",
        "uid",
        "--item-col",
        "sku",
        "--event-col",
        "kind",
        "--timestamp-col",
        "ts",
        "--event-map",
        "pv=Product Viewed",
        "--event-map",
        "buy=Order Completed",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "stored 2" in result.output and "missing user id" in result.output and "bad timestamp" in result.output
    svc = _services(env)
    profile = svc.profiles.get("u1")
    assert profile.features.counts["Product Viewed"]["total"] == 1
    assert profile.features.rfm.frequency == 1
    svc.close()
    again = runner.invoke(app, args)
    assert "stored 0" in again.output and "duplicates 2" in again.output  # idempotent re-import


def test_import_errors_are_clear(env):
    result = runner.invoke(app, ["import", str(env / "missing.csv"), "--preset", "taobao"])
    assert result.exit_code == 2 and "error:" in result.output
    result = runner.invoke(app, ["import", str(env / "x.csv")])
    assert result.exit_code == 2 and "--user-col" in result.output


def test_import_file_errors_found_while_reading_are_clear(env):
    """The file is read as it is imported: a missing column or a non-UTF-8 byte is a clear error (exit 2), not a
    traceback, and --encoding imports the same file."""
    args = ["--user-col", "user", "--item-col", "item", "--timestamp-col", "ts"]
    path = env / "x.csv"
    path.write_text("uid,item,ts\nu1,a,1700000000\n")
    result = runner.invoke(app, ["import", str(path), *args])
    assert result.exit_code == 2 and "error: x.csv: column(s) 'user' not found" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    latin = env / "latin.csv"
    latin.write_bytes("user,item,ts\nJosé,crème,1700000000\n".encode("latin-1"))
    result = runner.invoke(app, ["import", str(latin), *args])
    assert result.exit_code == 2 and "--encoding latin-1" in result.output
    result = runner.invoke(app, ["import", str(latin), *args, "--encoding", "latin-1"])
    assert result.exit_code == 0 and "stored 1" in result.output, result.output
    svc = _services(env)
    assert svc.profiles.get("José") is not None
    svc.close()


def test_import_says_why_ingestion_rejected_rows(env):
    """A row the file reader accepts but ingestion refuses (an event dated years ahead) is counted with its reason,
    not only as a bare 'rejected' count."""
    path = env / "future.csv"
    path.write_text("user,item,ts\nu1,a,1700000000\nu2,b,2090-01-01\n")
    result = runner.invoke(
        app, ["import", str(path), "--user-col", "user", "--item-col", "item", "--timestamp-col", "ts"]
    )
    assert result.exit_code == 0, result.output
    assert "stored 1" in result.output and "rejected 1" in result.output
    assert "rejected by ingestion:" in result.output and "rejected 1: timestamp: must be between" in result.output


@pytest.mark.skipif(not (DATASETS / "movielens-latest-small").exists(), reason="../shared/datasets not present")
def test_import_movielens_preset(env):
    result = runner.invoke(
        app, ["import", str(DATASETS / "movielens-latest-small"), "--preset", "movielens", "--limit", "3000"]
    )
    assert result.exit_code == 0, result.output
    assert "rows read 3000" in result.output
    svc = _services(env)
    profile = svc.profiles.get("1")  # MovieLens user 1 rated the first rows of ratings.csv
    assert profile.features.counts["Product Reviewed"]["total"] > 100
    assert profile.features.affinities["category"]  # genres became category affinities
    svc.close()


def test_generate_and_demo_without_serving(env):
    result = runner.invoke(app, ["demo", "--users", "50", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "write key" in result.output and "admin key" in result.output and "http://127.0.0.1:8000" in result.output
    keys = (env / "keys.json").read_text()
    assert "wk_" in keys and oct((env / "keys.json").stat().st_mode & 0o777) == "0o600"
    secret = json.loads(keys)["identity_secret"]  # generated with the other keys, printed for the site's server
    assert secret.startswith("is_") and f"identity secret     {secret}" in result.output
    assert "http://127.0.0.1:8000/demo/" in result.output  # the demo shop's address
    svc = _services(env)
    with svc.store.transaction(write=False) as tx:
        assert tx.count_profiles() > 10 and tx.count_events() > 100
    assert svc.decide.get("slot", "home.hero")  # the demo shop's hero slot
    svc.close()
    again = runner.invoke(app, ["demo", "--no-serve"])
    assert "not loading the shop again" in again.output


def test_serve_answers_healthz(env):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("pertinent")), "serve", "--port", str(port)],
        env={**os.environ, "PERTINENT_DATA_DIR": str(env)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["backend"] == "sqlite"
    finally:
        proc.terminate()
        proc.wait(10)
