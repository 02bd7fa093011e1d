"""Segments discovered from the stored profiles (no --from-file): the profile feature frame and the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pertinent.cli import app
from pertinent.profiles.features import DAY, ProfileConfig, ProfileEvent, apply_event
from pertinent.profiles.frame import features_frame
from pertinent.storage.base import ProfileRow

runner = CliRunner()


def _buyer(pid: str, orders: list[tuple[float, float]], consent: dict | None = None) -> ProfileRow:
    state: dict = {}
    for day, revenue in orders:
        apply_event(state, ProfileEvent("track", "Order Completed", day * DAY, {"revenue": revenue}), ProfileConfig())
    return ProfileRow(pid, state=state, consent=consent or {})


def test_frame_is_relative_to_the_newest_event_and_respects_consent():
    rows = [
        _buyer("u_a", [(100, 10.0), (110, 30.0)]),
        _buyer("u_b", [(120, 5.0)]),
        _buyer("u_denied", [(120, 99.0)], consent={"personalization": {"granted": False, "at": 1, "source": "api"}}),
        ProfileRow("a_empty"),
    ]
    frame = features_frame(rows, "granted", ProfileConfig())
    assert list(frame.index) == ["u_a", "u_b"]  # no consent, no state: left out
    assert frame.attrs["as_of"] == 120 * DAY
    assert frame.loc["u_a", "recency_days"] == 10 and frame.loc["u_a", "frequency"] == 2
    assert frame.loc["u_a", "monetary"] == 40 and frame.loc["u_a", "avg_order_value"] == 20
    assert frame.loc["u_b", "tenure_days"] == 0 and frame.loc["u_b", "identified"] == 1


@pytest.fixture
def shop(tmp_path, monkeypatch):
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    for key in ("PERTINENT_WRITE_KEY", "PERTINENT_ADMIN_KEY", "PERTINENT_PSEUDONYM_KEYS", "PERTINENT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    result = runner.invoke(app, ["generate", "--users", "150", "--items", "80", "--seed", "3"])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_rfm_and_discover_read_the_stored_profiles(shop):
    rfm = runner.invoke(app, ["segments", "rfm", "--json"])
    assert rfm.exit_code == 0, rfm.output
    report = json.loads(rfm.output[rfm.output.index("{") :])
    assert report["ok"] and report["n_profiles"] > 10
    assert sum(s["customers"] for s in report["segments"]) == report["n_profiles"]
    found = runner.invoke(
        app,
        [
            "segments",
            "discover",
            "--json",
            "--k-range",
            "2-4",
            "--features",
            "events_total,sessions,frequency,monetary,views",
        ],
    )
    assert found.exit_code == 0, found.output
    discovery = json.loads(found.output[found.output.index("{") :])
    assert 2 <= discovery["k"] <= 4 and len(discovery["segments"]) == discovery["k"]


def test_empty_store_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["segments", "rfm"])
    assert result.exit_code != 0 and "no stored profiles" in result.output
