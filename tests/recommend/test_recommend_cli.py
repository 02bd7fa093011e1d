"""`pertinent batch-recommend` and `pertinent evaluate` end to end on small files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from pertinent.cli import app

runner = CliRunner()


def write_data(tmp_path, fmt: str = "csv"):
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        lo = 0 if u % 2 == 0 else 12
        for t, i in enumerate(rng.choice(np.arange(lo, lo + 12), size=7, replace=False)):
            rows.append((u, 100 + i, float(rng.choice([2.0, 4.0, 5.0])), 1_600_000_000 + t))
    df = pd.DataFrame(rows, columns=["uid", "sku", "stars", "ts"])
    path = tmp_path / f"events.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path)
    users = tmp_path / "users.txt"
    users.write_text("0\n1\n\nnew-user\n")
    return df, path, users


def test_batch_recommend_writes_ranked_unseen_items(tmp_path) -> None:
    df, path, users = write_data(tmp_path, "parquet")
    out = tmp_path / "recs.csv"
    result = runner.invoke(
        app,
        [
            "batch-recommend",
            "--interactions",
            str(path),
            "--user-col",
            "uid",
            "--item-col",
            "sku",
            "--rating-col",
            "stars",
            "--min-rating",
            "3.5",
            "--users",
            str(users),
            "--k",
            "5",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    recs = pd.read_csv(out, dtype={"user": str, "item": str})
    assert list(recs.columns) == ["user", "item", "rank", "score"]
    assert set(recs.user) == {"0", "1", "new-user"}
    for user, group in recs.groupby("user"):
        assert group["rank"].tolist() == [1, 2, 3, 4, 5]
        if user != "new-user":
            positives = df[(df.uid == int(user)) & (df.stars >= 3.5)]["sku"].astype(str)
            assert not set(group["item"]) & set(positives)
    # user 0 likes items 100..111: most recommendations should come from that cluster
    mine = recs[recs.user == "0"]["item"].astype(int)
    assert (mine < 112).sum() >= 4


def test_batch_recommend_names_a_bad_column(tmp_path) -> None:
    _, path, users = write_data(tmp_path)
    result = runner.invoke(
        app,
        [
            "batch-recommend",
            "--interactions",
            str(path),
            "--user-col",
            "nope",
            "--item-col",
            "sku",
            "--users",
            str(users),
        ],
    )
    assert result.exit_code != 0
    assert "nope" in result.output


def test_evaluate_prints_table_and_json(tmp_path) -> None:
    _, path, _ = write_data(tmp_path)
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--interactions",
            str(path),
            "--user-col",
            "uid",
            "--item-col",
            "sku",
            "--models",
            "popularity,ease",
            "--k",
            "5",
            "--json",
            str(out),
            "--search",
            "ease:regularization=1,10",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data) == {"popularity", "ease"}
    assert 0 <= data["ease"]["metrics"]["ndcg"] <= 1
    assert data["ease"]["search"]["best_params"]["regularization"] in (1, 10)
    assert data["ease"]["metrics"]["ndcg"] > data["popularity"]["metrics"]["ndcg"]


def test_evaluate_leave_last_out_needs_timestamps(tmp_path) -> None:
    _, path, _ = write_data(tmp_path)
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--interactions",
            str(path),
            "--user-col",
            "uid",
            "--item-col",
            "sku",
            "--split",
            "last",
            "--models",
            "popularity",
        ],
    )
    assert result.exit_code != 0 and "timestamp" in result.output
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--interactions",
            str(path),
            "--user-col",
            "uid",
            "--item-col",
            "sku",
            "--split",
            "last",
            "--timestamp-col",
            "ts",
            "--models",
            "itemknn",
        ],
    )
    assert result.exit_code == 0, result.output
