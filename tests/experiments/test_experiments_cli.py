"""`pertinent experiments analyze` on the real cookie-cats export, checked against statsmodels."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest
from typer.testing import CliRunner

from pertinent.cli import app
from tests.support.common import DATASETS

COOKIE = DATASETS / "cookie-cats" / "cookie_cats.csv"
runner = CliRunner()


def _analyze(*args: str):
    return runner.invoke(app, ["experiments", "analyze", *args])


@pytest.fixture(scope="module")
def cookie_json():
    if not COOKIE.is_file():
        pytest.skip(f"cookie-cats dataset not found at {COOKIE}")
    result = _analyze(
        "--file",
        str(COOKIE),
        "--unit-col",
        "userid",
        "--variant-col",
        "version",
        "--metric-col",
        "retention_1",
        "--metric-col",
        "retention_7",
        "--metric-col",
        "sum_gamerounds",
        "--control",
        "gate_30",
        "--json",
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow  # the whole cookie-cats export through the CLI
@pytest.mark.parametrize("metric", ["retention_1", "retention_7"])
def test_cookie_cats_p_values_match_statsmodels(cookie_json, metric):
    df = pd.read_csv(COOKIE)
    grouped = df.groupby("version")[metric].agg(["sum", "count"]).loc[["gate_40", "gate_30"]]
    _, ref_p = proportions_ztest(grouped["sum"].to_numpy(), grouped["count"].to_numpy())
    metrics = {m["name"]: m for m in cookie_json["metrics"]}
    got = metrics[metric]["comparisons"]["gate_40"]["p_value"]
    assert round(got, 4) == round(float(ref_p), 4)


def test_cookie_cats_shape(cookie_json):
    assert cookie_json["control"] == "gate_30"
    assert cookie_json["units"] == {"gate_30": 44700, "gate_40": 45489}
    metrics = {m["name"]: m for m in cookie_json["metrics"]}
    assert metrics["retention_7"]["kind"] == "conversion"
    assert metrics["sum_gamerounds"]["kind"] == "continuous"
    assert metrics["sum_gamerounds"]["comparisons"]["gate_40"]["test"]["test"] == "welch_t"
    r7 = metrics["retention_7"]["comparisons"]["gate_40"]
    assert r7["lift"]["ci_high"] < 0  # 7-day retention dropped
    assert r7["bayesian"]["chance_to_win"] < 0.01
    assert r7["p_value_adjusted"] >= r7["p_value"]
    assert set(cookie_json["srm"]) >= {"p_value", "flagged"}


def test_table_output_and_guardrail(tmp_path):
    df = pd.DataFrame(
        {
            "u": range(8),
            "v": ["a", "b"] * 4,
            "ok": ["TRUE", "FALSE", "TRUE", "TRUE", "FALSE", "FALSE", "TRUE", "FALSE"],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "x_pre": [1.1, 2.0, 2.9, 4.2, 5.0, 5.9, 7.1, 8.0],
        }
    )
    path = tmp_path / "exp.parquet"
    df.to_parquet(path)
    result = _analyze(
        "--file",
        str(path),
        "--unit-col",
        "u",
        "--variant-col",
        "v",
        "--metric-col",
        "ok",
        "--metric-col",
        "x",
        "--guardrail",
        "x",
        "--covariate",
        "x=x_pre",
    )
    assert result.exit_code == 0, result.output
    assert "ok (conversion)" in result.stdout and "guardrail" in result.stdout
    data = json.loads(
        _analyze(
            "--file",
            str(path),
            "--unit-col",
            "u",
            "--variant-col",
            "v",
            "--metric-col",
            "x",
            "--covariate",
            "x=x_pre",
            "--json",
        ).stdout
    )
    assert data["metrics"][0]["comparisons"]["b"]["test"]["test"] == "cuped_t"


@pytest.mark.parametrize(
    ("frame", "args", "needle"),
    [
        ({"u": [1, 2], "v": ["a", "b"], "m": [1, 0]}, ["--metric-col", "nope"], "not found"),
        ({"u": [1, 1], "v": ["a", "b"], "m": [1, 0]}, ["--metric-col", "m"], "duplicate unit"),
        ({"u": [1, 2], "v": ["a", "b"], "m": ["x", "y"]}, ["--metric-col", "m"], "neither boolean"),
        ({"u": [1, 2], "v": ["a", "b"], "m": [1, 0]}, ["--metric-col", "m", "--control", "zz"], "'zz' not found"),
        ({"u": [1, 2], "v": ["a", "b"], "m": [1, 0]}, ["--metric-col", "m", "--covariate", "m"], "METRIC=PRE_COLUMN"),
    ],
)
def test_bad_input_gives_clear_error(tmp_path, frame, args, needle):
    path = tmp_path / "bad.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    result = _analyze("--file", str(path), "--unit-col", "u", "--variant-col", "v", *args)
    assert result.exit_code != 0
    assert needle in " ".join(result.output.split())


def test_missing_file_and_single_variant(tmp_path):
    result = _analyze(
        "--file", str(tmp_path / "none.csv"), "--unit-col", "u", "--variant-col", "v", "--metric-col", "m"
    )
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())
    path = tmp_path / "one.csv"
    pd.DataFrame({"u": [1, 2, 3], "v": ["a"] * 3, "m": [True, False, True]}).to_csv(path, index=False)
    out = _analyze("--file", str(path), "--unit-col", "u", "--variant-col", "v", "--metric-col", "m", "--json")
    assert out.exit_code == 0
    assert json.loads(out.stdout)["message"] == "only one variant; nothing to compare"


def test_help_texts():
    assert _analyze("--help").exit_code == 0
    assert runner.invoke(app, ["experiments", "--help"]).exit_code == 0
