"""The server tunes the cyclic garbage collector once its own services are up (``api/app.py``'s
``tune_collector``): startup objects frozen out of full collections, a high young-generation threshold. A process
that hands in its services (tests, embedding) keeps its own collector settings."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pertinent.api.app import COLLECTOR_THRESHOLDS, create_app
from pertinent.services import Services
from tests.support.common import make_settings


def _record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Record the calls instead of changing this test process's collector."""
    calls: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr("pertinent.api.app.gc.freeze", lambda: calls.append(("freeze", ())))
    monkeypatch.setattr("pertinent.api.app.gc.set_threshold", lambda *a: calls.append(("set_threshold", a)))
    return calls


@pytest.mark.parametrize("run_jobs", [True, False])  # the embedded default, and an API node of a cluster
def test_a_server_with_its_own_services_tunes_the_collector(tmp_path, monkeypatch, run_jobs):
    calls = _record(monkeypatch)
    with TestClient(create_app(make_settings(tmp_path, run_jobs=run_jobs))) as c:
        assert c.get("/healthz").status_code == 200
        assert calls == [("freeze", ()), ("set_threshold", COLLECTOR_THRESHOLDS)]


def test_services_handed_in_keep_the_process_collector(tmp_path, monkeypatch):
    calls = _record(monkeypatch)
    svc = Services.build(make_settings(tmp_path))
    try:
        with TestClient(create_app(services=svc)) as c:
            assert c.get("/healthz").status_code == 200
    finally:
        svc.close()
    assert calls == []
