"""`pertinent segments ...` commands and their option parsers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import make_blobs
from typer.testing import CliRunner

from pertinent.cli.segments import load_features, parse_features, parse_k_range, register
from pertinent.segments.pipeline import ClusteringConfig, FeatureConfig, SegmentationConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")  # a second command keeps `segments` a sub-command group
    def noop() -> None:
        """Nothing."""

    return app


@pytest.fixture(scope="module")
def features_csv(tmp_path_factory) -> str:
    X, _ = make_blobs(n_samples=300, n_features=3, centers=3, cluster_std=0.5, random_state=0)
    frame = pd.DataFrame(np.abs(X) * [1, 10, 100], columns=["recency_days", "frequency", "monetary"])
    frame.insert(0, "profile_id", [f"u{i}" for i in range(len(frame))])
    path = tmp_path_factory.mktemp("cli") / "features.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_discover_json(app, features_csv, tmp_path):
    result = runner.invoke(
        app,
        [
            "segments",
            "discover",
            "--from-file",
            features_csv,
            "--k-range",
            "2-6",
            "--json",
            "--save-model",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["k"] == len(report["segments"]) >= 2
    assert [row["k"] for row in report["k_scores"]] == [2, 3, 4, 5, 6]
    assert sum(s["size"] for s in report["segments"]) == 300
    assert (tmp_path / "m" / "model.json").exists()
    assigned = runner.invoke(
        app,
        [
            "segments",
            "assign",
            "--model",
            str(tmp_path / "m"),
            "--profile",
            '{"recency_days": 1, "frequency": 2, "monetary": 3}',
        ],
    )
    assert assigned.exit_code == 0, assigned.output
    assert json.loads(assigned.stdout)["segment"] in {s["id"] for s in report["segments"]}


@pytest.mark.parametrize("algorithm", ["gmm", "hdbscan"])
def test_discover_table_output(app, features_csv, algorithm):
    result = runner.invoke(
        app,
        [
            "segments",
            "discover",
            "--from-file",
            features_csv,
            "--algorithm",
            algorithm,
            "--features",
            "frequency,monetary",
            "--k-range",
            "2-4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "segments found in 300 profiles" in result.stdout
    assert "recency_days" not in result.stdout.split("segments found")[1].split("\n")[0]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--k-range", "9-2"], "--k-range"),
        (["--algorithm", "spectral"], "--algorithm must be one of"),
        (["--features", "frequency,spend"], "unknown feature(s) ['spend']"),
        (["--k-rule", "gut"], "--k-rule"),
    ],
)
def test_discover_bad_options_name_the_problem(app, features_csv, args, message):
    result = runner.invoke(app, ["segments", "discover", "--from-file", features_csv, *args])
    assert result.exit_code == 2
    assert message in result.output


def test_discover_without_file_on_an_empty_store_is_a_clear_error(app, tmp_path, monkeypatch):
    monkeypatch.setenv("PERTINENT_DATA_DIR", str(tmp_path))  # no file: the stored profiles, here none
    result = runner.invoke(app, ["segments", "discover"])
    assert result.exit_code == 2 and "no stored profiles" in result.output


def test_rfm_json(app, features_csv, tmp_path):
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["segments", "rfm", "--from-file", features_csv, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_profiles"] == 300
    assert sum(s["customers"] for s in summary["segments"]) == 300
    scores = pd.read_csv(out, index_col=0)
    assert scores.index[0].startswith("u") and scores["r_score"].between(1, 5).all()


def test_load_features_guesses_the_id_column(features_csv):
    frame = load_features(features_csv)
    assert frame.index.name == "profile_id" and "profile_id" not in frame.columns
    with pytest.raises(ValueError, match="--id-column 'nope'"):
        load_features(features_csv, "nope")


@given(st.integers(2, 9999), st.integers(0, 9999))
def test_parse_k_range_accepts_valid_ranges(low, extra):
    high = min(low + extra, 9999)
    assert parse_k_range(f"{low}-{high}") == (low, high)
    assert parse_k_range(f" {low} - {high} ") == (low, high)


@given(st.text(max_size=12))
def test_parse_k_range_rejects_everything_else_with_a_message(text):
    try:
        low, high = parse_k_range(text)
    except ValueError as exc:
        assert "--k-range" in str(exc)
    else:
        assert 2 <= low <= high


@given(st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), min_size=1, max_size=6, unique=True))
def test_parse_features_round_trips(names):
    assert parse_features(",".join(names)) == names
    assert parse_features(" , ".join(names)) == names


@given(st.text(alphabet=", ab", max_size=10))
def test_parse_features_never_returns_empty_names(text):
    try:
        parsed = parse_features(text)
    except ValueError as exc:
        assert "--features" in str(exc)
    else:
        assert parsed is None or all(parsed)


@given(
    st.sampled_from(["kmeans", "minibatch", "gmm", "agglomerative", "dbscan", "hdbscan"]),
    st.integers(2, 10),
    st.integers(0, 10),
    st.sampled_from(["standard", "minmax"]),
    st.one_of(st.none(), st.tuples(st.floats(0, 0.4), st.floats(0.6, 1.0))),
)
def test_config_round_trips_through_json(algorithm, low, extra, scaling, quantiles):
    config = SegmentationConfig(
        features=FeatureConfig(scaling=scaling, clip_quantiles=quantiles),
        clustering=ClusteringConfig(algorithm=algorithm, k_range=(low, low + extra)),
    )
    assert SegmentationConfig.model_validate_json(config.model_dump_json()) == config


@given(st.floats(-1, 2), st.floats(-1, 2))
def test_bad_clip_quantiles_are_rejected_by_name(low, high):
    if 0 <= low < high <= 1:
        assert FeatureConfig(clip_quantiles=(low, high)).clip_quantiles == (low, high)
    else:
        with pytest.raises(ValueError, match="clip_quantiles"):
            FeatureConfig(clip_quantiles=(low, high))
