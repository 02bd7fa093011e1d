"""Recommendations while the database is away (docs/deploy.md): the popularity fallback of a node that never
computed popularity comes from the served model's training interactions."""

from __future__ import annotations

from pathlib import Path

from pertinent.recommend.retrain import Retrainer
from pertinent.services import Services
from tests.recommend.test_recommend_retrain import views
from tests.support.common import make_settings


def test_popularity_never_read_comes_from_the_served_model_while_storage_is_away(tmp_path: Path) -> None:
    """A node that never computed popularity when the database goes away: the ranking is derived from the served
    model's training interactions (kept in memory with it) instead of failing the request."""
    import sqlalchemy.exc

    svc = Services.build(make_settings(tmp_path, recommend={"model": "popularity", "retrain_interval_s": 60}))
    svc.store.migrate()
    try:
        svc.ingest.ingest(views("a", range(4), ["a"]) + views("b", range(2), ["b"]), prefix="batch")
        assert Retrainer(svc.recommend).run_once() is not None
        serving = svc.recommend.serving
        serving.refresh_model()
        assert serving.popularity_loaded() is False

        def away() -> None:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))

        serving._popularity.load = away  # type: ignore[assignment]
        pop = serving.popularity()
        assert pop is not None and [r.item for r in pop.recommend(k=2)] == ["a", "b"]
    finally:
        svc.close()
