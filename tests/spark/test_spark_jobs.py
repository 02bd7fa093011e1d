"""The Spark jobs on a synthetic export in local[2]: ALS version, RFM features, k-means, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pertinent.recommend.registry import ModelRegistry
from pertinent.spark.model import SparkALSConfig, SparkALSRecommender
from pertinent.spark.session import SparkInputError
from tests.spark.conftest import write_export

pytestmark = pytest.mark.slow

SMALL = SparkALSConfig(rank=8, max_iter=8, reg_param=0.05, alpha=5.0)


def test_als_job_saves_a_version_that_recommends_for_known_users(spark: Any, export: Path, tmp_path: Path) -> None:
    from pertinent.spark.als import run_als

    result = run_als(spark, export, tmp_path, name="spark_als", config=SMALL)
    assert result.version == "v1" and result.n_users == 40 and result.n_items == 20
    registry = ModelRegistry.for_data_dir(tmp_path)
    model = registry.load("spark_als")
    assert isinstance(model, SparkALSRecommender)
    assert model.user_factors.shape == (40, 8) and np.abs(model.user_factors).sum() > 0
    assert "temporal" in registry.metrics("spark_als") and registry.meta("spark_als")["trained_by"] == "spark"
    for user in ("u2", "u3"):
        recs = model.recommend(user, k=4)
        seen = set(model.history_for(user).indices.tolist())
        assert len(recs) == 4 and not {model.item_index[r.item] for r in recs} & seen
        taste = np.asarray([model.item_index[str(i)] for i in (range(0, 10) if user == "u2" else range(10, 20))])
        scores = model.score(model.history_for(user))[0]
        assert scores[taste].mean() > np.delete(scores, taste).mean()
    new_user = model.recommend(items=["0", "1", "2"], k=3)  # fold-in of a new history
    assert sum(int(r.item) < 10 for r in new_user) >= 2, [r.item for r in new_user]
    # the anonymous event, the untracked name and the product-less part are not interactions
    assert "p0" not in model.item_index and len(model.user_index) == 40

    # privacy: the version's user factors are in the person's export and gone after erasure
    rows = registry.user_rows("u3")
    assert rows and rows[0]["per_user"]["factors"] == pytest.approx(model.user_factors[model.user_index["u3"]].tolist())
    assert registry.forget_user("u3") == 1
    again = registry.load("spark_als")
    assert "u3" not in again.user_index and registry.user_rows("u3") == []
    assert not np.abs(again.user_factors[model.user_index["u3"]]).any()


def test_rfm_matches_pandas(spark: Any, export: Path, events: list[dict[str, Any]], tmp_path: Path) -> None:
    from pertinent.spark.rfm import run_rfm

    result = run_rfm(spark, export, tmp_path / "rfm")
    got = pq.read_table(tmp_path / "rfm").to_pandas().set_index("profile_id").sort_index()

    ev = pd.DataFrame(events).dropna(subset=["profile_id"])
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], utc=True)
    as_of = ev["timestamp"].max()
    props = ev["properties"].map(json.loads)
    buys = ev[(ev["type"] == "track") & (ev["event"] == "Order Completed")].copy()
    buys["order"] = [p.get("order_id") or m for p, m in zip(props[buys.index], buys["message_id"], strict=True)]
    buys["amount"] = [p.get("revenue", 0.0) for p in props[buys.index]]
    g = buys.groupby("profile_id")
    day = pd.Timedelta(days=1)
    expected = pd.DataFrame(
        {
            "recency_days": (as_of - g["timestamp"].max()) / day,
            "frequency": g["order"].nunique(),
            "monetary": g["amount"].sum(),
        }
    ).reindex(sorted(ev["profile_id"].unique()))
    act = ev.groupby("profile_id")
    expected["frequency"] = expected["frequency"].fillna(0)
    expected["monetary"] = expected["monetary"].fillna(0.0)
    expected["n_events"] = act.size()
    expected["active_days"] = act["timestamp"].apply(lambda t: t.dt.floor("D").nunique())
    expected["tenure_days"] = (act["timestamp"].max() - act["timestamp"].min()) / day
    expected["last_seen_days"] = (as_of - act["timestamp"].max()) / day

    assert result.profiles == 40 and result.buyers == int((expected["frequency"] > 0).sum())
    assert list(got.index) == list(expected.index)
    for col in expected.columns:
        np.testing.assert_allclose(got[col].astype(float), expected[col].astype(float), rtol=1e-9, err_msg=col)


def test_kmeans_assigns_every_profile(spark: Any, export: Path, tmp_path: Path) -> None:
    from pertinent.spark.kmeans import run_kmeans

    result = run_kmeans(spark, export, tmp_path / "km", k=3)
    assigned = pq.read_table(tmp_path / "km" / "assignments").to_pandas()
    assert sorted(assigned["profile_id"]) == sorted(f"u{u}" for u in range(40))
    assert set(assigned["cluster"]) <= {0, 1, 2} and assigned["cluster"].nunique() > 1
    summary = json.loads((tmp_path / "km" / "summary.json").read_text())
    assert sum(c["size"] for c in summary["clusters"]) == 40 == result.profiles
    assert set(summary["clusters"][0]["means"]) == set(result.features)


def test_bad_input_names_the_option(spark: Any, tmp_path: Path) -> None:
    from pertinent.spark.als import run_als
    from pertinent.spark.kmeans import run_kmeans
    from pertinent.spark.rfm import run_rfm

    with pytest.raises(SparkInputError, match="^export: export folder .* not found") as err:
        run_rfm(spark, tmp_path / "missing", tmp_path / "out")
    assert err.value.errors[0]["field"] == "export"
    empty = write_export(tmp_path / "empty", [])
    with pytest.raises(SparkInputError, match="^export: the events export .* has no rows"):
        run_als(spark, empty, tmp_path, config=SMALL)
    only_pages = write_export(tmp_path / "pages", [r for r in _pages()])
    with pytest.raises(SparkInputError, match="^export: no track events with product ids"):
        run_als(spark, only_pages, tmp_path, config=SMALL)
    with pytest.raises(SparkInputError, match="^k: "):
        run_kmeans(spark, only_pages, tmp_path / "km", k=1)


def _pages() -> list[dict[str, Any]]:
    from tests.spark.conftest import synthetic_events

    return [r for r in synthetic_events(n_users=3) if r["type"] != "track"]
