"""What a model keeps of the last one-row request of each serving thread (for the reasons asked next) holds one
user's history: ``forget_recent`` (called on erasure) must free it in every thread, a thread still alive
included, for each model that keeps one: the ranker (both serving paths) and the hybrid behind the default."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from pertinent.recommend import DefaultRecommender
from pertinent.recommend.last_request import LastRequest
from pertinent.recommend.ranking.config import ServingConfig
from pertinent.recommend.ranking.ranker import RankerRecommender
from tests.recommend.test_recommend_ranker_serving import shop


def kept_by_a_live_thread(fill: Callable[[], None], peek: Callable[[], Any], forget: Callable[[], None]) -> None:
    """``fill`` then ``peek`` in a thread that stays alive while ``forget`` runs here: what it kept is freed and
    the thread finds nothing afterwards."""
    refs: list[weakref.ref[Any]] = []
    after: list[Any] = []
    filled, release = threading.Event(), threading.Event()

    def run() -> None:
        try:
            fill()
            refs.append(weakref.ref(peek()))
        finally:
            filled.set()
        release.wait(60)
        after.append(peek())

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert filled.wait(60) and refs and refs[0]() is not None
        forget()
        gc.collect()
        assert refs[0]() is None
    finally:
        release.set()
        thread.join(60)
    assert after == [None]


class Box:
    pass


def test_clear_frees_every_threads_values() -> None:
    kept = LastRequest()
    kept.put(mine=Box())  # this thread's value goes too
    kept_by_a_live_thread(lambda: kept.put(value=Box()), lambda: kept.get("value"), kept.clear)
    assert kept.get("mine") is None


@pytest.fixture(scope="module")
def ranker() -> RankerRecommender:
    data, cat = shop(n_users=150, n_items=120)
    model = RankerRecommender(rounds=10, min_data_in_leaf=5).fit(data, cat)
    model.chosen = None  # served by its booster whichever generator validated better
    return model


def test_the_rankers_lists_path_forgets(ranker: RankerRecommender) -> None:
    serving = ranker.serving()
    assert serving is not None
    user = next(iter(ranker.user_index))
    kept_by_a_live_thread(
        lambda: ranker.recommend(user, k=5), lambda: serving._recent.get("served"), ranker.forget_recent
    )


def test_the_rankers_exhaustive_path_forgets(ranker: RankerRecommender) -> None:
    slow = RankerRecommender(ranker.config.model_copy(update={"serving": ServingConfig(exhaustive=True)}))
    slow.__dict__.update({k: v for k, v in ranker.__dict__.items() if k not in ("config", "_serving", "_recent")})
    slow._serving, slow._recent = None, LastRequest()
    assert slow.serving() is None
    user = next(iter(ranker.user_index))

    def key() -> Any:
        found = slow._recent.get("key")
        return None if found is None else found[0]  # the history row's items

    kept_by_a_live_thread(lambda: slow.recommend(user, k=5), key, slow.forget_recent)


def test_the_default_models_hybrid_forgets() -> None:
    data, cat = shop(n_users=60, n_items=60)
    model = DefaultRecommender(min_validation_items=5).fit(data, cat)
    user = next(iter(model.user_index))

    def parts() -> Any:
        found = model.chosen._recent.get("parts")
        return None if found is None else found[0]  # the history row

    kept_by_a_live_thread(lambda: model.score(model.history_for(user)), parts, model.forget_recent)
