"""Settings from the environment and an optional TOML file; nothing read at import time."""

from __future__ import annotations

import pytest

from pertinent.settings import load_settings


def test_toml_file_then_environment_overrides(tmp_path, monkeypatch):
    cfg = tmp_path / "pertinent.toml"
    cfg.write_text(
        'data_dir = "/srv/pertinent"\nwrite_key = "from-toml"\ndefault_consent = "denied"\n'
        'pseudonym_keys = ["k-new", "k-old"]\n[limits]\nmax_event_bytes = 1024\n'
    )
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


def test_recommend_config_from_toml_and_environment_round_trips(tmp_path, monkeypatch):
    from pertinent.recommend.config import RecommendConfig

    cfg = tmp_path / "pertinent.toml"
    cfg.write_text(
        '[recommend]\nmodel = "ease"\nmax_k = 50\n[recommend.rules]\nbury = ["sku-1"]\n'
        "boost_categories = {sale = 1.5}\n"
    )
    monkeypatch.setenv("PERTINENT_CONFIG", str(cfg))
    monkeypatch.setenv("PERTINENT_RECOMMEND__RETRAIN_INTERVAL_S", "600")
    monkeypatch.setenv("PERTINENT_RECOMMEND__RULES__DIVERSITY", "0.25")
    s = load_settings()
    r = s.recommend
    assert (r.model, r.max_k, r.retrain_interval_s) == ("ease", 50, 600.0)
    assert r.rules.bury == ["sku-1"] and r.rules.boost_categories == {"sale": 1.5} and r.rules.diversity == 0.25
    assert RecommendConfig.model_validate_json(r.model_dump_json()) == r
    assert load_settings(recommend=r.model_dump()).recommend == r


def test_bad_recommend_settings_name_the_field(monkeypatch):
    monkeypatch.delenv("PERTINENT_CONFIG", raising=False)
    monkeypatch.setenv("PERTINENT_RECOMMEND__RULES__BOOST", '{"sku-1": 0}')
    with pytest.raises(ValueError, match=r"recommend\.rules\.boost"):
        load_settings()
    monkeypatch.delenv("PERTINENT_RECOMMEND__RULES__BOOST")
    monkeypatch.setenv("PERTINENT_RECOMMEND__MODEL", "../etc")
    with pytest.raises(ValueError, match=r"recommend\.model"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [("PERTINENT_PREDICT__MIN_PROFILES", "abc", "predict.min_profiles"), ("PERTINENT_LIMITS", "{", "limits")],
)
def test_cli_reports_bad_settings_without_a_traceback(tmp_path, monkeypatch, capsys, name, value, named):
    """Every command reads the settings; one that does not validate is a clear error naming it, exit 2."""
    from pertinent.cli import app

    monkeypatch.delenv("PERTINENT_CONFIG", raising=False)
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        app(["predict", "models"], prog_name="pertinent")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid settings") and named in err and "Traceback" not in err
