"""The spark_als kind without Spark: factors from elsewhere, fold-in, erasure and export of its user factors, and the
CLI's checks that fail before a JVM starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pertinent.recommend import Interactions
from pertinent.recommend.registry import ModelRegistry
from pertinent.spark.model import SparkALSConfig, SparkALSRecommender
from pertinent.spark.session import SparkInputError, export_files


def data() -> Interactions:
    frame = pd.DataFrame(
        {"user": ["a", "a", "b", "b", "c"], "item": ["x", "y", "x", "z", "z"], "weight": [1, 5, 1, 1, 3]}
    )
    return Interactions.from_frame(frame, weight_col="weight")


def test_from_factors_checks_shapes_and_folds_in_with_sparks_update() -> None:
    d = data()
    cfg = SparkALSConfig(rank=2, reg_param=0.1, alpha=2.0)
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    with pytest.raises(ValueError, match="^factors: expected"):
        SparkALSRecommender.from_factors(cfg, d, users[:2], items)
    model = SparkALSRecommender.from_factors(cfg, d, users, items)
    # Spark's implicit user step for user a: (YtY + sum c1 y yT + reg*n I) x = sum (1 + c1) y
    y = items.astype(np.float32)
    row = d.user_row("a")
    c1 = 2.0 * row.data
    yh = y[row.indices]
    a = y.T @ y + (yh.T * c1) @ yh + 0.1 * len(row.indices) * np.eye(2)
    expected = np.linalg.solve(a, (yh * (1 + c1)[:, None]).sum(axis=0))
    np.testing.assert_allclose(model.fold_in(row)[0], expected, rtol=1e-4)
    assert model.recommend("a", k=1)[0].item == "z"  # the only unseen item


def test_the_in_process_fit_solves_sparks_objective() -> None:
    """Without Spark the kind trains with ``implicit``, given Spark's confidence (1 + alpha * weight) and its
    per-rating penalty: on data where every user and item has 5 ratings the two objectives are the same, so the
    learned user factors are (at convergence) Spark's user step against the learned item factors: the fold-in."""
    n, k = 40, 5
    rows = [(f"u{u:02d}", f"i{(u + j) % n:02d}", float(1 + (u + j) % 3)) for u in range(n) for j in range(k)]
    d = Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item", "w"]), weight_col="w")
    model = SparkALSRecommender(rank=4, reg_param=0.1, alpha=2.0, max_iter=30, seed=0).fit(d)
    gap = np.abs(model.fold_in(d.matrix) - model.user_factors).max() / np.abs(model.user_factors).max()
    assert gap < 0.015  # implicit's own confidence (alpha * weight) and penalty (0.1) give about 0.04


def test_implicit_regularization_is_sparks_penalty_at_the_mean_count() -> None:
    from pertinent.spark.model import implicit_regularization

    assert implicit_regularization(0.01, data().matrix) == pytest.approx(0.01 * 2 * 5 / 6)  # 3 users, 3 items
    assert implicit_regularization(0.5, np.zeros((2, 2))) == 0.5  # nothing rated: nothing to scale by


def test_defaults_are_the_in_process_als_kinds_and_the_clis() -> None:
    """Spark ALS and the ``als`` kind compared at their defaults train the same shape of model (issue 15)."""
    import inspect

    from pertinent.cli.spark import als
    from pertinent.recommend.models.factorization import ALSConfig

    spark, local = SparkALSConfig(), ALSConfig()
    assert (spark.rank, spark.max_iter, spark.alpha, spark.seed) == (
        local.factors,
        local.iterations,
        local.alpha,
        local.seed,
    )
    options = {name: p.default.default for name, p in inspect.signature(als).parameters.items()}
    assert {k: options[k] for k in ("rank", "max_iter", "reg_param", "alpha")} == spark.model_dump(
        include={"rank", "max_iter", "reg_param", "alpha"}
    )


def test_erasure_and_export_cover_the_saved_user_factors(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    model = SparkALSRecommender(rank=3, max_iter=2).fit(data())
    registry.save("spark_als", model)
    row = model.user_index["b"]
    (entry,) = registry.user_rows("b")
    assert entry["items"] == ["x", "z"] and entry["per_user"]["factors"] == pytest.approx(model.user_factors[row])
    assert registry.forget_user("b") == 1 and registry.user_rows("b") == []
    loaded = registry.load("spark_als")
    assert isinstance(loaded, SparkALSRecommender) and "b" not in loaded.user_index
    assert not loaded.user_factors[row].any() and loaded.user_factors[model.user_index["a"]].any()


def test_export_folder_errors_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(SparkInputError, match="^export: export folder") as err:
        export_files(tmp_path / "nope", "events")
    assert err.value.errors == [{"field": "export", "message": err.value.message.removeprefix("export: ")}]
    (tmp_path / "events").mkdir()
    with pytest.raises(SparkInputError, match="^export: no events in .*pertinent export events"):
        export_files(tmp_path, "events")


def test_cli_refuses_bad_input_before_starting_spark(tmp_path: Path) -> None:
    from pertinent.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["spark", "rfm", "--export", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "export: export folder" in result.output
    result = runner.invoke(app, ["spark", "kmeans", "--export", str(tmp_path), "--k", "1"])
    assert result.exit_code == 2 and "k: must be at least 2" in result.output
    result = runner.invoke(app, ["spark", "als", "--export", str(tmp_path)])
    assert result.exit_code == 2 and "export: no events" in result.output


def test_the_api_serves_a_spark_als_version_when_the_model_names_it(tmp_path: Path) -> None:
    from pertinent.services import Services
    from tests.support.common import make_settings

    ModelRegistry.for_data_dir(tmp_path).save("spark_als", SparkALSRecommender(rank=3, max_iter=2).fit(data()))
    services = Services.build(make_settings(tmp_path, recommend={"model": "spark_als"}))
    try:
        services.store.migrate()
        services.recommend.refresh_model()
        version, model = services.recommend.model()
        assert version == "v1" and isinstance(model, SparkALSRecommender)
        assert services.recommend.forget_user("a") == 1  # the service's erasure reaches the version
    finally:
        services.close()


def test_the_composition_root_registers_the_kind() -> None:
    """An API node loads ``spark_als`` versions without importing anything of Spark itself."""
    import subprocess
    import sys

    code = "import pertinent.services; from pertinent.recommend.base import registered_kinds as k; print(sorted(k()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'spark_als'" in out
    code = "import pertinent.services, sys; print('pyspark' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
