"""Settings from the environment and an optional TOML file; nothing read at import time."""

from __future__ import annotations

import pytest

from pertinent.settings import load_settings


def test_toml_file_then_environment_overrides(tmp_path, monkeypatch):
    cfg = tmp_path / "pertinent.toml"
    cfg.write_text('data_dir = "/srv/pertinent"\nwrite_key = "from-toml"\ndefault_consent = "denied"\n'
                   'pseudonym_keys = ["k-new", "k-old"]\n[limits]\nmax_event_bytes = 1024\n')
    monkeypatch.setenv("PERTINENT_CONFIG", str(cfg))
    monkeypatch.setenv("PERTINENT_WRITE_KEY", "from-env")
    monkeypatch.delenv("PERTINENT_DATA_DIR", raising=False)
    s = load_settings()
    assert str(s.data_dir) == "/srv/pertinent" and s.default_consent == "denied"
    assert s.write_key == "from-env"  # the environment wins over the file
    assert s.pseudonym_keys == ["k-new", "k-old"] and s.limits.max_event_bytes == 1024
    assert s.resolved_database_url() == "sqlite:////srv/pertinent/pertinent.db"


def test_nested_limits_from_environment(monkeypatch):
    monkeypatch.delenv("PERTINENT_CONFIG", raising=False)
    monkeypatch.setenv("PERTINENT_LIMITS__MAX_BATCH_BYTES", "2048")
    monkeypatch.setenv("PERTINENT_DATABASE_URL", "postgresql://u@db/p")
    s = load_settings()
    assert s.limits.max_batch_bytes == 2048 and s.resolved_database_url() == "postgresql://u@db/p"


def test_bad_values_name_the_setting(monkeypatch):
    monkeypatch.setenv("PERTINENT_DEFAULT_CONSENT", "maybe")
    with pytest.raises(ValueError, match="default_consent"):
        load_settings()


def test_missing_keys_are_reported_by_name(tmp_path):
    s = load_settings(data_dir=tmp_path, write_key=None, admin_key=None)
    with pytest.raises(ValueError, match="PERTINENT_WRITE_KEY, PERTINENT_ADMIN_KEY"):
        s.require_keys()
