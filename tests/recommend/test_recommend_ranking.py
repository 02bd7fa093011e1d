"""Time-aware candidates and the LambdaRank ranker: times in the history row, recency-weighted scoring, sequences,
held-out labels, explanations from the model, persistence and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pertinent.recommend import Catalogue, EASERecommender, Interactions, ModelRegistry, Recommender
from pertinent.recommend.base import ModelFileError
from pertinent.recommend.models.repeat import RepeatRecommender
from pertinent.recommend.models.transitions import TransitionRecommender
from pertinent.recommend.ranking.labels import holdout_last
from pertinent.recommend.ranking.ranker import RankerRecommender

DAY = 86400.0


def journeys(n_users: int = 120, seed: int = 0) -> tuple[Interactions, Catalogue]:
    """Users walk along one of two chains of items (c0 -> c1 -> ... and d0 -> d1 -> ...), starting anywhere; a
    few popular items are chosen by everyone, long ago."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        chain = "c" if u % 2 == 0 else "d"
        start = int(rng.integers(0, 12))
        t0 = float(rng.integers(0, 30)) * DAY
        for p in ("p0", "p1"):
            rows.append((f"u{u}", p, t0 - 5 * DAY))
        for step in range(8):
            rows.append((f"u{u}", f"{chain}{start + step}", t0 + step * 3600.0))
    df = pd.DataFrame(rows, columns=["user", "item", "t"])
    ids = sorted(df["item"].unique())
    cat = Catalogue.from_frame(
        pd.DataFrame(
            {
                "id": ids,
                "title": [f"item {i}" for i in ids],
                "categories": [[i[0]] for i in ids],
                "price": [1.0 + (ord(i[-1]) % 7) for i in ids],
            }
        )
    )
    return Interactions.from_frame(df, timestamp_col="t", item_ids=cat.ids), cat


@pytest.fixture(scope="module")
def data() -> tuple[Interactions, Catalogue]:
    return journeys()


@pytest.fixture(scope="module")
def ranker(data) -> RankerRecommender:
    interactions, cat = data
    return RankerRecommender(rounds=40, min_data_in_leaf=5).fit(interactions, cat)


def test_the_model_keeps_each_pairs_newest_time(data) -> None:
    interactions, _ = data
    model = EASERecommender(regularization=10.0).fit(interactions)
    times = model.times_for("u0")
    items = interactions.history_items("u0")
    assert times.nnz == len(items)
    assert model.reference_time == interactions.events["timestamp"].max()
    # a request's new item is newer than anything trained on
    after = model.times_for("u0", items=["d10"])
    assert after[0, model.item_index["d10"]] > times.data.max()
    assert model.times_for("nobody").nnz == 0


def test_recency_weighted_ease_follows_the_newest_item(data) -> None:
    interactions, _ = data
    plain = EASERecommender(regularization=10.0).fit(interactions)
    recent = EASERecommender(regularization=10.0, recency={"decay": 0.1}).fit(interactions)
    assert recent.wants_times() and not plain.wants_times()
    # an old taste for the c chain, and the newest item from the d chain
    history = ["p0", "p1", "c0", "c1", "c2", "c3", "d5"]
    ts = {"p0": 0.5, "p1": 0.5, "c0": 1.0, "c1": 2.0, "c2": 3.0, "c3": 4.0, "d5": 100.0}
    row = interactions.vector(history)
    from scipy import sparse as sp

    times = sp.csr_matrix(
        ([ts[i] for i in history], ([0] * len(history), [interactions.item_index[i] for i in history])), shape=row.shape
    )
    from pertinent.recommend.primitives import Context

    top_recent = recent.recommend(history=row, k=1, context=Context(times=times))[0].item
    top_plain = plain.recommend(history=row, k=1)[0].item
    assert top_recent.startswith("d") and top_plain.startswith("c")


def test_transitions_learn_what_comes_next(data) -> None:
    interactions, cat = data
    model = TransitionRecommender(window=1).fit(interactions, cat)
    recs = model.recommend(items=["c4"], k=1)
    assert recs[0].item == "c5" and recs[0].reason == "often chosen after item c4"


def test_repeat_is_detected_from_data() -> None:
    once = pd.DataFrame({"user": ["a", "a", "b"], "item": ["x", "y", "x"], "t": [1, 2, 3]})
    again = pd.DataFrame({"user": ["a", "a", "a", "b"], "item": ["x", "x", "y", "x"], "t": [1, 5, 2, 3]})
    assert not RepeatRecommender().fit(Interactions.from_frame(once, timestamp_col="t")).enabled
    model = RepeatRecommender().fit(Interactions.from_frame(again, timestamp_col="t"))
    assert model.enabled and model.rate == pytest.approx(1 / 3)
    assert not RepeatRecommender(mode="off").fit(Interactions.from_frame(again, timestamp_col="t")).enabled


def test_labels_are_held_out_of_the_training_part(data) -> None:
    interactions, _ = data
    part, labels = holdout_last(interactions, 0.25, 3)
    assert labels.nnz > 0
    overlap = part.matrix.multiply(labels)
    assert overlap.nnz == 0  # nothing a label holds is in what the generators learn from
    # the labels are each user's newest items
    u = interactions.user_index["u0"]
    held = {str(interactions.item_ids[j]) for j in labels[u].indices}
    ev = interactions.events[interactions.events.user == u]
    newest = ev.sort_values("timestamp")["item"].map(lambda j: str(interactions.item_ids[j])).tolist()[-len(held) :]
    assert held == set(newest)


def test_the_ranker_learns_the_next_item_and_explains_it(ranker: RankerRecommender, data) -> None:
    interactions, _ = data
    assert ranker.booster is not None and ranker.report["label_users"] >= 100
    assert ranker.chosen is None and set(ranker.report["valid_ndcg"]) >= {"ranker", "transitions"}
    assert ranker.stats is not None and len(ranker.stats.keys) == 0  # no user time features: no per-event keys
    hits = 0
    users = [f"u{u}" for u in range(0, 40)]
    for user in users:
        history = interactions.history_items(user)
        chain = [h for h in history if h[0] in "cd"]
        last = max(chain, key=lambda i: int(i[1:]))
        nxt = f"{last[0]}{int(last[1:]) + 1}"
        recs = ranker.recommend(user, k=3)
        hits += nxt in {r.item for r in recs}
        assert all(r.reason for r in recs)
    assert hits >= 0.8 * len(users)
    reasons = {r.reason for u in users for r in ranker.recommend(u, k=3)}
    allowed = ("because you viewed", "often chosen after", "similar to", "trending now", "popular", "because you like")
    assert all(r.startswith(allowed) or r == "recommended for you" for r in reasons), reasons
    assert any(r.startswith(("because you viewed", "often chosen after")) for r in reasons), reasons


def test_the_ranker_round_trips_and_registry_erases_its_times(ranker: RankerRecommender, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    version = registry.save("home", ranker)
    loaded = registry.load("home", version)
    assert [r.item for r in loaded.recommend("u3", k=5)] == [r.item for r in ranker.recommend("u3", k=5)]
    rows = registry.user_rows("u3")
    assert rows and rows[0]["times"] and set(rows[0]["times"]) == set(rows[0]["items"])
    assert registry.forget_user("u3") == 1
    assert registry.user_rows("u3") == []
    again = registry.load("home", version)
    assert again.times_for("u3").nnz == 0 and again.history_for("u3").nnz == 0
    assert len(again.recommend("u3", k=3)) == 3  # an erased user is an unknown user, not an error


def test_unknown_ids_and_empty_history_get_a_list(ranker: RankerRecommender) -> None:
    assert len(ranker.recommend("nobody", k=4)) == 4
    assert len(ranker.recommend(items=["no-such-item"], k=4)) == 4
    recs = ranker.recommend(items=["c3"], k=2)
    assert len(recs) == 2 and "c3" not in {r.item for r in recs}
    assert ranker.similar_items("no-such-item") == []


def test_a_model_file_from_an_older_version_says_retrain(ranker: RankerRecommender, tmp_path: Path) -> None:
    folder = ranker.save(tmp_path / "m")
    with np.load(folder / "state.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "format"}  # as written before the format number existed
    np.savez(folder / "state.npz", **arrays)
    with pytest.raises(ModelFileError, match="retrain it"):
        Recommender.load(folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["no_such_option"] = 1
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="does not match this version"):
        Recommender.load(folder)
    (folder / "state.npz").write_bytes(b"not a zip")
    meta["config"].pop("no_such_option")
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="damaged"):
        Recommender.load(folder)


def test_bad_ranker_config_names_the_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="generators"):
        RankerRecommender(generators=[{"name": "a", "kind": "ease"}, {"name": "a", "kind": "popularity"}])
    with pytest.raises(ValidationError, match="kind"):
        RankerRecommender(generators=[{"name": "a", "kind": "nope"}])


def test_too_few_users_rank_by_the_first_generator() -> None:
    df = pd.DataFrame({"user": ["a", "a", "b", "b"], "item": ["x", "y", "x", "z"], "t": [1, 2, 3, 4]})
    model = RankerRecommender(rounds=5).fit(Interactions.from_frame(df, timestamp_col="t"))
    assert model.booster is None and "ranks by the first generator" in model.report["message"]
    assert [r.item for r in model.recommend(items=["x"], k=2)]


@pytest.mark.parametrize("damage", [b"", b"not a zip", b"PK\x03\x04truncated"])
def test_a_damaged_version_never_blocks_export_or_erasure(
    ranker: RankerRecommender, tmp_path: Path, damage: bytes
) -> None:
    """A version whose state cannot be read is named in the export, and erasure deletes it (it cannot be cleaned
    of the person) while still cleaning every readable version."""
    registry = ModelRegistry(tmp_path)
    good = registry.save("home", ranker)
    bad = registry.save("home", ranker)
    (registry.path("home", bad) / "state.npz").write_bytes(damage)
    rows = registry.user_rows("u3")
    assert [r["version"] for r in rows if "unreadable" in r] == [bad]
    assert [r["version"] for r in rows if "unreadable" not in r] == [good]
    assert registry.forget_user("u3") == 2
    assert not (registry.path("home", bad) / "state.npz").exists()
    assert registry.user_rows("u3") == []
    with pytest.raises(ModelFileError):
        registry.load("home", bad)
