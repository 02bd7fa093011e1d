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


def timed_data(tmp_path):
    """Users walk one of two item clusters over time; half the users only arrive late (new users)."""
    rows = []
    for u in range(40):
        lo = 0 if u % 2 == 0 else 12
        start = 1_600_000_000 + (0 if u < 20 else 10_000)
        for t in range(8):
            rows.append((f"u{u}", 100 + lo + (u + t) % 12, start + 100 * t))
    path = tmp_path / "timed.csv"
    pd.DataFrame(rows, columns=["uid", "sku", "ts"]).to_csv(path, index=False)
    return path


def evaluate_args(path, *extra: str) -> list[str]:
    return ["evaluate", "--interactions", str(path), "--user-col", "uid", "--item-col", "sku", *extra]


def test_evaluate_temporal_is_the_default_with_timestamps_and_reports_new_metrics(tmp_path) -> None:
    path = timed_data(tmp_path)
    out = tmp_path / "eval.json"
    args = evaluate_args(path, "--timestamp-col", "ts", "--models", "popularity,ease,rw-ease,transitions")
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "temporal: 40 test users (0 = 0% without training history)" in result.output
    data = json.loads(out.read_text())
    assert set(data) == {"popularity", "ease", "rw-ease", "transitions"}
    for entry in data.values():
        assert {"ndcg", "recall@20", "map", "coverage"} <= set(entry["metrics"])
        assert entry["cold_share"] == 0.0
    assert data["rw-ease"]["metrics"]["ndcg"] > data["popularity"]["metrics"]["ndcg"]
    assert "WARNING" not in result.output
    explicit_args = evaluate_args(path, "--timestamp-col", "ts", "--split", "temporal", "--models", "ease")
    explicit = runner.invoke(app, explicit_args)
    assert explicit.exit_code == 0 and "temporal: 40 test users" in explicit.output
    sampled = runner.invoke(app, [*explicit_args, "--max-users", "10", "--json", str(out)])
    assert sampled.exit_code == 0, sampled.output
    assert json.loads(out.read_text())["ease"]["n_users"] == 10


def test_evaluate_global_split_warns_when_most_test_users_are_new(tmp_path) -> None:
    path = timed_data(tmp_path)
    out = tmp_path / "eval.json"
    # cut between the two cohorts: the 20 late users have no training history, the early ones are all train
    args = evaluate_args(path, "--timestamp-col", "ts", "--split", "global", "--at", "1600005000")
    result = runner.invoke(app, [*args, "--models", "popularity,itemknn", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "20 test users (20 = 100% without training history)" in result.output
    assert "WARNING: 20 of 20 test users (100%) have no training history" in result.output
    assert json.loads(out.read_text())["itemknn"]["cold_share"] == 1.0
    dated = runner.invoke(app, [*evaluate_args(path, "--timestamp-col", "ts", "--split", "global", "--at", "nope")])
    assert dated.exit_code != 0 and "--at" in dated.output


def test_evaluate_random_without_timestamps_and_names_bad_models(tmp_path) -> None:
    path = timed_data(tmp_path)
    result = runner.invoke(app, evaluate_args(path, "--models", "popularity,ease,transitions"))
    assert result.exit_code == 0, result.output
    assert "random:" in result.output
    assert "transitions: skipped: needs timestamps" in result.output
    bad = runner.invoke(app, evaluate_args(path, "--models", "nonsense"))
    assert bad.exit_code != 0 and "nonsense" in bad.output and "rw-ease" in bad.output
    bad_split = runner.invoke(app, evaluate_args(path, "--split", "sideways"))
    assert bad_split.exit_code != 0 and "--split" in bad_split.output


def test_peer_help_names_every_peer() -> None:
    from pertinent.cli.recommend import PEER_HELP
    from pertinent.evaluation.peers import PEER_NAMES

    assert set(PEER_HELP) == set(PEER_NAMES)


def float_id_files(tmp_path, users_lines: list[str]):
    """Interactions as pandas writes an int id column with a missing value: 12347.0, 12348.0, ... and ''."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(30):
        for i in rng.choice(20, size=6, replace=False):
            rows.append((float(12347 + u), f"{i:03d}"))
    df = pd.DataFrame(rows, columns=["CustomerID", "StockCode"])
    df.loc[len(df)] = [np.nan, "001"]
    path = tmp_path / "events.csv"
    df.to_csv(path, index=False)
    assert "12347.0" in path.read_text()
    users = tmp_path / "users.txt"
    users.write_text("\n".join(users_lines) + "\n")
    return path, users


def batch_args(path, users, out) -> list[str]:
    return [
        "batch-recommend",
        *("--interactions", str(path), "--user-col", "CustomerID", "--item-col", "StockCode"),
        *("--users", str(users), "--k", "3", "--output", str(out), "--model", "itemknn"),
    ]


def test_batch_recommend_matches_float_written_ids(tmp_path) -> None:
    for lines in (["12347", "12348", "99999"], ["12347.0", "12348.0", "99999.0"]):
        path, users = float_id_files(tmp_path, lines)
        out = tmp_path / "recs.csv"
        result = runner.invoke(app, batch_args(path, users, out))
        assert result.exit_code == 0, result.output
        assert "1 without history" in result.output
        assert "warning" not in result.stderr
        recs = pd.read_csv(out, dtype=str)
        assert set(recs.user) == {"12347", "12348", "99999"}
        # item ids stay text: leading zeros survive, and a user's own items are excluded
        assert recs["item"].str.len().eq(3).all()
        events = pd.read_csv(path, dtype=str)
        own = set(events.loc[events.CustomerID == "12347.0", "StockCode"])
        assert not own & set(recs.loc[recs.user == "12347", "item"])


def test_batch_recommend_warns_loudly_when_most_users_are_unknown(tmp_path) -> None:
    path, users = float_id_files(tmp_path, ["C12347", "C12348", "12349"])
    out = tmp_path / "recs.csv"
    result = runner.invoke(app, batch_args(path, users, out))
    assert result.exit_code == 0, result.output
    assert "warning: 2 of 3 listed users (67%) are not in --interactions" in result.stderr


def test_unreadable_or_empty_files_are_clear_errors_not_tracebacks(tmp_path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("1\n")
    files = {
        "zero.csv": (b"", "the file is empty"),
        "header.csv": (b"user,item\n", "no usable rows"),
        "latin.csv": ("user,item\n1,crème\n".encode("latin-1"), "not UTF-8"),
    }
    for name, (content, message) in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        for command in (["evaluate"], ["batch-recommend", "--users", str(users), "--output", str(tmp_path / "r.csv")]):
            result = runner.invoke(app, [*command, "--interactions", str(path)])
            assert result.exit_code == 2, (name, command, result.output, result.exception)
            said = " ".join(result.output.replace("│", " ").split())  # the error box wraps long lines
            assert message in said, (name, command, result.output)


def test_spreadsheet_files_read_by_their_columns(tmp_path) -> None:
    """A ';'-separated export with a byte-order mark, and a users file with one: the ids match."""
    path = tmp_path / "semi.csv"
    path.write_bytes(b"\xef\xbb\xbfuser;item\n" + b"".join(f"{u};{i}\n".encode() for u in "ab" for i in "xyz"))
    users = tmp_path / "users.txt"
    users.write_bytes(b"\xef\xbb\xbfa\nb\n")
    out = tmp_path / "recs.csv"
    args = ["batch-recommend", "--interactions", str(path), "--users", str(users), "--output", str(out)]
    result = runner.invoke(app, [*args, "--model", "popularity"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output  # both listed users were found in the interactions
    assert set(pd.read_csv(out, dtype=str)["user"]) <= {"a", "b"}


def test_evaluate_says_how_many_rows_have_no_readable_time(tmp_path) -> None:
    path = tmp_path / "events.csv"
    lines = [f"u{u},i{(u + k) % 7},2024-01-0{k + 1}" for u in range(12) for k in range(6)] + ["u1,i3,someday"]
    path.write_text("user,item,ts\n" + "\n".join(lines) + "\n")
    result = runner.invoke(
        app,
        ["evaluate", "--interactions", str(path), "--timestamp-col", "ts", "--models", "popularity"],
    )
    assert result.exit_code == 0, result.output
    assert "warning: 1 of 73 rows have no readable time in 'ts' (e.g. 'someday') and are left out" in result.output
    assert "no training history" not in result.output


def test_evaluate_search_errors_name_the_option(tmp_path) -> None:
    """A grid over a parameter the model does not have (or of the wrong type), or for a model not evaluated, is a
    usage error naming --search, not a pydantic traceback or a search that silently does not run."""
    _, path, _ = write_data(tmp_path)
    base = ["evaluate", "--interactions", str(path), "--user-col", "uid", "--item-col", "sku", "--models", "ease"]
    for search, said in (("ease:nonexistent=1,2", "nonexistent"), ("ease:regularization=-5", "greater than 0")):
        result = runner.invoke(app, [*base, "--search", search])
        assert result.exit_code == 2 and "--search" in result.output and said in result.output, result.output
    result = runner.invoke(app, [*base, "--search", "itemknn:neighbors=5,10"])
    assert result.exit_code == 2 and "itemknn: not among --models" in result.output, result.output


def test_evaluate_json_is_strict_json_when_a_peer_is_skipped(tmp_path) -> None:
    """Without timestamps the rw-ease peer is skipped with a NaN fit time; the file must still be JSON (null)."""
    _, path, _ = write_data(tmp_path)
    out = tmp_path / "eval.json"
    args = ["--user-col", "uid", "--item-col", "sku", "--models", "popularity,rw-ease", "--json", str(out)]
    result = runner.invoke(app, ["evaluate", "--interactions", str(path), *args])
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    data = json.loads(out.read_text(), parse_constant=refuse)
    assert data["rw-ease"]["fit_seconds"] is None and "skipped" in data["rw-ease"]["note"]
