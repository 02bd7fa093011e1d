"""Scheduled retraining is claimed in the database (``job_claims``), not with a file beside the model registry:
retrainers of several processes (here with data folders of their own, as on machines that share nothing but the
database) train once per interval, and a holder that died mid-round is taken over when its lease ends. On both
backends."""

from __future__ import annotations

import threading
from pathlib import Path

from pertinent.recommend.registry import ModelRegistry
from pertinent.recommend.retrain import Retrainer
from pertinent.services import Services
from pertinent.storage.base import Store
from pertinent.storage.claims import StoreClaims
from tests.recommend.test_recommend_retrain import views
from tests.support.common import make_settings


def _node(store: Store, folder: Path, name: str) -> Services:
    return Services.build(
        make_settings(folder / name, recommend={"model": "popularity", "retrain_interval_s": 60}), store
    )


def test_two_retrainers_on_one_database_train_once_per_interval(store: Store, tmp_path: Path) -> None:
    nodes = [_node(store, tmp_path, name) for name in ("a", "b")]
    try:
        nodes[0].ingest.ingest(views("a", range(4), ["a", "b"]), prefix="batch")
        clock = [1_000_000.0]
        retrainers = [
            Retrainer(n.recommend, StoreClaims(store, holder=f"node-{i}"), lambda: clock[0])
            for i, n in enumerate(nodes)
        ]
        results: list[object] = [None, None]
        start = threading.Barrier(2)

        def round_of(i: int) -> None:
            start.wait()
            results[i] = retrainers[i].run_once()

        threads = [threading.Thread(target=round_of, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        trained = [r for r in results if r is not None]
        assert len(trained) == 1  # each registry is empty (separate folders): only the claim kept one out
        registries = [ModelRegistry.for_data_dir(tmp_path / name) for name in ("a", "b")]
        assert sorted(len(r.versions("popularity")) for r in registries) == [0, 1]
        # the same interval, asked again: the other node still does not train
        loser = results.index(None)
        assert retrainers[loser].run_once() is None
        clock[0] += 61  # the next interval: the node without a version trains now
        assert retrainers[loser].run_once() is not None
    finally:
        for n in nodes:
            n.segments.close()
            n.decide.close()


def test_a_dead_holders_round_is_taken_over_when_its_lease_ends(store: Store, tmp_path: Path) -> None:
    node = _node(store, tmp_path, "b")
    try:
        node.ingest.ingest(views("a", range(4), ["a", "b"]), prefix="batch")
        clock = [2_000_000.0]
        job = "recommend.retrain.popularity"
        dead = StoreClaims(store, lease_s=300, holder="crashed-node")
        assert dead.claim(job, 1.0, clock[0]) is not None  # claimed, then the process died (no release, no renewal)
        retrainer = Retrainer(node.recommend, StoreClaims(store, holder="survivor"), lambda: clock[0])
        node.recommend.config.retrain_interval_s = 1.0
        clock[0] += 120  # the interval has passed, the dead holder's lease has not
        assert retrainer.run_once() is None
        clock[0] += 200  # its lease ended (300 s after its claim)
        result = retrainer.run_once()
        assert result is not None and result.version == "v1"
        assert ModelRegistry.for_data_dir(tmp_path / "b").versions("popularity") == ["v1"]
        # the dead holder's fencing token is stale: it cannot record a result over the survivor's round
        with store.transaction(write=False) as tx:
            assert tx.job_state(job) is None
    finally:
        node.segments.close()
        node.decide.close()
