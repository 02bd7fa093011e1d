"""``pertinent worker`` runs the scheduled jobs without HTTP, and API nodes with ``run_jobs`` off run none
(issue 15's topology): the jobs are claimed in the database, so the worker's runs are visible there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from pertinent.api.app import create_app
from tests.support.common import make_settings


def _claims(db: Path) -> dict[str, float]:
    if not db.exists():
        return {}
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name, last_run FROM job_claims")).all()
    except Exception:  # not migrated yet
        return {}
    finally:
        engine.dispose()
    return {name: last for name, last in rows}


def test_worker_runs_the_scheduled_jobs_and_stops_on_sigterm(tmp_path):
    env = {
        **os.environ,
        "PERTINENT_DATA_DIR": str(tmp_path),
        "PERTINENT_SEGMENTS__SWEEP_INTERVAL_S": "1",
        "PERTINENT_SEGMENTS__SIZES_INTERVAL_S": "1",
    }
    env.pop("PERTINENT_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pertinent.cli import app; app()", "worker", "--heartbeat-s", "0.5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        claims: dict[str, float] = {}
        while time.monotonic() < deadline and not {"sweep", "sizes"} <= claims.keys():
            time.sleep(0.3)
            claims = _claims(tmp_path / "pertinent.db")
        assert {"sweep", "sizes"} <= claims.keys(), proc.stderr.read() if proc.poll() is not None else claims
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "worker stopped" in err


def test_api_nodes_with_run_jobs_off_start_no_jobs(tmp_path, monkeypatch):
    monkeypatch.setattr("pertinent.api.app.gc.freeze", lambda: None)  # not this test process's collector
    monkeypatch.setattr("pertinent.api.app.gc.set_threshold", lambda *a: None)
    on = make_settings(tmp_path / "on")
    off = make_settings(tmp_path / "off", run_jobs=False)
    with TestClient(create_app(on)) as client:
        assert client.app.state.services.segments._started
    with TestClient(create_app(off)) as client:
        assert client.get("/healthz").status_code == 200
        assert not client.app.state.services.segments._started
