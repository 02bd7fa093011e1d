"""The learning-to-rank recommender (kind ``ranker``): candidate generators that see time, re-ranked by LightGBM
LambdaRank over their scores and ranks, item popularity windows, item age and the user's real-time profile.

Training (``fit``): each user's last distinct items are held out of the training data (``labels.holdout_last``),
the generators are trained on the earlier part, the union of their candidates is labelled by the held-out items
and LambdaRank learns to order it; then the generators are trained again on all the data. Business rules and
filters apply after the ranker (``Recommender.recommend``). Reasons come from the model's per-feature
contributions (``explain``). With too few labels to learn from, it ranks by its first item x item generator.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel

from pertinent.evaluation.metrics import ndcg_of_groups
from pertinent.recommend.base import Recommender
from pertinent.recommend.last_request import LastRequest
from pertinent.recommend.primitives import Context
from pertinent.recommend.ranking.candidates import Generators, last_affinity, rank_within_rows, union_candidates
from pertinent.recommend.ranking.config import RankerConfig
from pertinent.recommend.ranking.explain import explain
from pertinent.recommend.ranking.features import ItemStats, pair_features, user_features
from pertinent.recommend.ranking.labels import holdout_last
from pertinent.recommend.ranking.serving import Serving, fingerprint, same_row
from pertinent.recommend.recency import newest_item, weigh

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions

log = logging.getLogger("pertinent.recommend")

FORMAT = 1  # bumped when the saved state changes; older files get a clear "retrain it"


class Candidates:
    """The candidate pairs of some history rows with their feature matrix."""

    def __init__(self, rows: np.ndarray, items: np.ndarray, features: np.ndarray, scores: dict[str, np.ndarray]):
        self.rows, self.items, self.features, self.scores = rows, items, features, scores


class RankerRecommender(Recommender):
    kind = "ranker"
    config_class = RankerConfig
    config: RankerConfig

    def __init__(self, config: BaseModel | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.generators: Generators | None = None
        self.stats: ItemStats | None = None
        self.booster: Any = None
        self.chosen: str | None = None  # a generator that ranked better than the booster on validation
        self._recent = LastRequest()  # the last one-row score's generator scores, per serving thread
        self.feature_names: list[str] = []
        self.report: dict[str, Any] = {}
        self._serving: Serving | None = None  # precomputed candidate lists and feature tables (request time)
        self._serving_lock = threading.Lock()

    # ---------------------------------------------------------------- features
    def _names(self) -> list[str]:
        from pertinent.recommend.ranking.features import ITEM_FEATURES, PAIR_FEATURES, USER_FEATURES

        gens = [f"{s.name}_{part}" for s in self.config.generators for part in ("score", "norm", "rank")]
        names = [*gens, "like_last", "after_last", *ITEM_FEATURES, *USER_FEATURES, *PAIR_FEATURES]
        if self.config.user_time_features:
            from pertinent.recommend.ranking.features import USER_TIME_FEATURES

            names += USER_TIME_FEATURES
        return names

    def _candidates(
        self,
        gens: Generators,
        stats: ItemStats,
        history: sp.csr_matrix,
        times: Any,
        now: float,
        pairs: tuple[np.ndarray, np.ndarray] | None = None,
        scores: dict[str, np.ndarray] | None = None,
    ) -> Candidates:
        """The union of the generators' candidates (or the given ``pairs``) with their features."""
        h = sp.csr_matrix(history, dtype=np.float32)
        if scores is None:
            scores = gens.scores(h, times)
        if pairs is None:
            blocked = np.zeros(h.shape, dtype=bool)
            blocked[np.repeat(np.arange(h.shape[0]), np.diff(h.indptr)), h.indices] = True
            rows, items = union_candidates(scores, {s.name: s.candidates for s in gens.specs}, blocked)
        else:
            rows, items = pairs
        cols: list[np.ndarray] = []
        for spec in gens.specs:
            s = scores[spec.name]
            top = np.abs(s).max(axis=1) if s.size else np.ones(h.shape[0])
            v = s[rows, items].astype(np.float64)
            cols += [v, v / np.where(top > 0, top, 1.0)[rows], rank_within_rows(rows, v)]
        last = newest_item(h, times)[rows]
        after = next((gens.model(s) for s in gens.specs if s.kind == "transitions"), None)
        cols += [last_affinity(gens.base(), last, items), last_affinity(after, last, items)]
        item_cols = stats.columns()
        from pertinent.recommend.ranking.features import ITEM_FEATURES

        cols += [np.asarray(item_cols[name], dtype=np.float64)[items] for name in ITEM_FEATURES]
        users = user_features(h, times, stats, now, self.config.session_gap_s)
        cols += [users[name][rows] for name in ("hist_len", "user_idle_days", "session_len", "hist_mean_pop")]
        pair = pair_features(h, rows, items, stats)
        cols += [pair["category_affinity"], pair["price_ratio"]]
        if self.config.user_time_features:
            from pertinent.recommend.ranking.features import USER_TIME_FEATURES, user_time_features

            timed = user_time_features(h, times, rows, items, stats)
            cols += [timed[name] for name in USER_TIME_FEATURES]
        features = np.column_stack(cols).astype(np.float32) if len(rows) else np.zeros((0, len(cols)), np.float32)
        return Candidates(rows, items, features, scores)

    # ---------------------------------------------------------------- training
    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        import lightgbm as lgb

        cfg = self.config
        started = time.perf_counter()
        self.feature_names = self._names()
        report: dict[str, Any] = {"timestamps": data.has_timestamps}
        self.booster = None
        self.chosen = None
        rng = np.random.default_rng(cfg.seed)
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        groups: list[np.ndarray] = []
        level_users: list[int] = []
        source = data
        for _ in range(cfg.label_cutoffs):
            part, labels = holdout_last(source, cfg.holdout, cfg.min_user_items, cfg.label_random_share, cfg.seed)
            users = np.flatnonzero(np.diff(labels.indptr))
            if len(users) > cfg.max_train_users:
                users = np.sort(rng.choice(users, cfg.max_train_users, replace=False))
            if len(users) < 10:
                break
            level_users.append(int(len(users)))
            self._label_rows(part, labels, users, catalogue, xs, ys, groups)
            source = part
        report["label_users"] = level_users[0] if level_users else 0
        if len(level_users) > 1:
            report["label_users_per_cutoff"] = level_users
        if xs:
            x, y = np.vstack(xs), np.concatenate(ys)
            group = np.concatenate(groups)
            report.update({"pairs": int(len(y)), "positives": int(y.sum()), "groups": int(len(group))})
            if len(group) >= 10 and y.sum() >= 10:
                self.booster = self._train(lgb, x, y, group, rng, report)
        else:
            found = report["label_users"]
            report["message"] = f"only {found} users to learn ranking from: ranks by the first generator"
        self.generators = Generators.fit(cfg.generators, data, catalogue)
        self.stats = ItemStats.fit(data, catalogue, event_keys=cfg.user_time_features)
        report["fit_s"] = round(time.perf_counter() - started, 2)
        self.report = report
        log.info("ranker: %s", report)
        self._serving = None
        self.serving()  # the request-time lists are built with the model

    def _label_rows(
        self,
        part: Interactions,
        labels: sp.csr_matrix,
        users: np.ndarray,
        catalogue: Catalogue | None,
        xs: list[np.ndarray],
        ys: list[np.ndarray],
        groups: list[np.ndarray],
    ) -> None:
        """Candidate groups of ``users`` (generators trained on ``part``) labelled by ``labels``, appended."""
        from pertinent.recommend.recency import last_times

        cfg = self.config
        gens = Generators.fit(cfg.generators, part, catalogue)
        stats = ItemStats.fit(part, catalogue, event_keys=cfg.user_time_features)
        times = last_times(part.events, part.shape)
        for start in range(0, len(users), cfg.batch_size):
            chunk = users[start : start + cfg.batch_size]
            cand = self._candidates(gens, stats, part.matrix[chunk], None if times is None else times[chunk], stats.now)
            truth = labels[chunk]
            y = np.asarray(truth[cand.rows, cand.items]).ravel().astype(np.float32)
            sizes = np.bincount(cand.rows, minlength=len(chunk))
            hits = np.bincount(cand.rows, weights=y, minlength=len(chunk))
            keep_rows = hits > 0  # a group without a positive teaches LambdaRank nothing
            keep = keep_rows[cand.rows]
            xs.append(cand.features[keep])
            ys.append(y[keep])
            groups.append(sizes[keep_rows])

    def _train(
        self, lgb: Any, x: np.ndarray, y: np.ndarray, group: np.ndarray, rng: Any, report: dict[str, Any]
    ) -> Any:
        cfg = self.config
        params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_data_in_leaf": cfg.min_data_in_leaf,
            "feature_fraction": 0.9,
            "lambdarank_truncation_level": 20,
            "num_threads": cfg.threads,
            "seed": cfg.seed,
            "deterministic": True,
            "verbosity": -1,
        }
        n_groups = len(group)
        n_valid = int(n_groups * cfg.valid_fraction) if n_groups >= 40 else 0
        bounds = np.concatenate([[0], np.cumsum(group)])
        order = rng.permutation(n_groups)
        valid_groups = np.sort(order[:n_valid])
        train_groups = np.sort(order[n_valid:])

        def take(gs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            idx = np.concatenate([np.arange(bounds[g], bounds[g + 1]) for g in gs])
            return x[idx], y[idx], group[gs]

        xt, yt, gt = take(train_groups)
        train = lgb.Dataset(xt, yt, group=gt, feature_name=self.feature_names, free_raw_data=True)
        callbacks = []
        valid_sets = []
        if n_valid:
            xv, yv, gv = take(valid_groups)
            valid_sets = [lgb.Dataset(xv, yv, group=gv, reference=train)]
            callbacks = [lgb.early_stopping(50, verbose=False)]
        booster = lgb.train(params, train, num_boost_round=cfg.rounds, valid_sets=valid_sets, callbacks=callbacks)
        report["rounds"] = int(booster.best_iteration or booster.current_iteration())
        if n_valid:
            self._compare(booster, xv, yv, gv, report)
        return booster

    def _compare(self, booster: Any, x: np.ndarray, y: np.ndarray, group: np.ndarray, report: dict[str, Any]) -> None:
        """NDCG@10 on the validation users of the booster and of each generator alone (its score column orders
        the same candidates, which hold its own top 10); the best generator ranks instead when it wins."""
        pred = np.asarray(booster.predict(x, num_threads=self.config.threads))
        found = {"ranker": float(ndcg_of_groups(pred, y, group, k=10).mean())}
        for spec in self.config.generators:
            if spec.candidates >= 10:
                column = x[:, self.feature_names.index(f"{spec.name}_score")]
                found[spec.name] = float(ndcg_of_groups(column, y, group, k=10).mean())
        report["valid_ndcg"] = {k: round(v, 5) for k, v in found.items()}
        best = max(found, key=found.__getitem__)
        if best != "ranker":
            self.chosen = best
            report["chosen"] = best
            log.warning("ranker: generator %s ranks better than the learned ranker on validation; serving it", best)

    # ---------------------------------------------------------------- scoring
    def _parts(self) -> tuple[Generators, ItemStats]:
        self._check()
        assert self.generators is not None and self.stats is not None
        return self.generators, self.stats

    def wants_times(self) -> bool:
        return True

    def _now(self, context: Context | None) -> tuple[Any, float]:
        times = context.times if context is not None else None
        now = context.now if context is not None and context.now is not None else None
        return times, float(now) if now is not None else max(self.stats.now if self.stats else 0.0, 0.0)

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        gens, stats = self._parts()
        times, now = self._now(context)
        h = sp.csr_matrix(history, dtype=np.float32)
        base_spec = next(s for s in gens.specs if gens.model(s) is gens.base())
        if self.booster is None or self.chosen is not None:
            spec = self._alone()
            alone: np.ndarray = np.asarray(gens.model(spec).score(gens.weighted(spec, h, times)), dtype=np.float32)
            return alone
        anchor_name = self.config.anchor if self.config.anchor_weight > 0 else None
        fusing = anchor_name is not None
        serving = None if fusing else self.serving()  # fusion needs every item's anchor score
        if serving is not None:
            return serving.scores(self.booster, h, times, now)
        cand = self._candidates(gens, stats, h, times, now)
        if h.shape[0] == 1:  # serving: ``because`` on the same row reuses the generators' scores
            self._recent.put(key=fingerprint(h, times), scores=cand.scores)
        base = cand.scores[base_spec.name]
        lo = base.min(axis=1, keepdims=True)
        hi = base.max(axis=1, keepdims=True)
        out: np.ndarray = ((base - lo) / np.where(hi > lo, hi - lo, 1.0) - 2.0).astype(np.float32)  # in [-2, -1]
        if len(cand.rows):
            pred = np.asarray(self.booster.predict(cand.features, num_threads=self.config.threads))  # exhaustive
            pred = pred - pred.min() + 1.0  # every candidate above every other item
            out[cand.rows, cand.items] = pred.astype(np.float32)
        if anchor_name is not None:
            from pertinent.recommend.ranking.fusion import fuse

            anchor = cand.scores[anchor_name]
            return fuse(out, anchor, h, self.config.anchor_weight, self.config.fusion_k)
        return out

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        gens, stats = self._parts()
        times, now = self._now(context)
        h = sp.csr_matrix(history[:1], dtype=np.float32)
        items = np.asarray(items, dtype=np.int64)
        if self.booster is None or self.chosen is not None or not len(items):
            spec = self._alone()
            return gens.model(spec).because(gens.weighted(spec, h, times), items)
        t = sp.csr_matrix(times)[:1] if times is not None else None
        serving = self.serving()
        if serving is not None:
            x = serving.features_of(h, t, now, items)
            contrib = serving.contributions_of(self.booster, x)
            weighted, newest = weigh(h, t, serving.recency)
            last = int(newest[0]) if newest[0] >= 0 else None
            names, recent = self.feature_names, self.config.reason_recent
            return explain(self, gens, stats, contrib, names, h, t, items, last, recent, weighted)
        cached = self._recent.get("key")
        fresh = cached is not None and same_row(cached, fingerprint(h, times))
        reuse = self._recent.get("scores") if fresh else None
        cand = self._candidates(gens, stats, h, t, now, (np.zeros(len(items), np.int64), items), reuse)
        contrib = np.asarray(self.booster.predict(cand.features, pred_contrib=True, num_threads=self.config.threads))
        first = int(newest_item(h, t)[0])
        names, recent = self.feature_names, self.config.reason_recent
        return explain(self, gens, stats, contrib, names, h, t, items, first if first >= 0 else None, recent)

    def forget_recent(self) -> None:
        self._recent.clear()
        built = self._serving
        if built is not None:
            built.forget_recent()
        if self.generators is not None:
            for model in self.generators.members.values():
                model.forget_recent()

    def serving(self) -> Serving | None:
        """What requests are served from (built once per trained model), or None to score every item: configured
        ``serving.exhaustive``, no learned ranker, or a feature the request-time assembly does not know."""
        if self.booster is None or self.chosen is not None or self.config.serving.exhaustive:
            return None
        built = self._serving
        if built is not None:  # every request after the first: no lock
            return built if built.usable else None
        with self._serving_lock:
            if self._serving is None:
                gens, stats = self._parts()
                self._serving = Serving(gens, stats, self.config, self.feature_names)
                if not self._serving.usable:
                    log.warning("ranker: a feature unknown at request time; every request scores every item")
            return self._serving if self._serving.usable else None

    def _alone(self) -> Any:
        """The generator that ranks without the booster: the chosen one, else the first item x item one."""
        gens = self._parts()[0]
        by_name = {s.name: s for s in gens.specs}
        if self.chosen is not None and self.chosen in by_name:
            return by_name[self.chosen]
        return next(s for s in gens.specs if gens.model(s) is gens.base())

    def item_similarity(self, item: int) -> np.ndarray | None:
        return self._parts()[0].base().item_similarity(item)

    def pair_similarity(self, items: np.ndarray) -> np.ndarray | None:
        return self._parts()[0].base().pair_similarity(items)

    # ---------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        gens, stats = self._parts()
        return {
            "format": np.asarray(FORMAT),
            "generators": gens.state(),
            "stats": stats.state(),
            "booster": np.asarray("" if self.booster is None else self.booster.model_to_string()),
            "features": np.asarray(self.feature_names, dtype=str),
            "chosen": np.asarray(self.chosen or ""),
            "report": np.asarray(json.dumps(self.report, default=float)),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        import lightgbm as lgb

        found = int(state["format"]) if "format" in state else 0
        if found != FORMAT:
            raise ValueError(f"ranker format {found}, this version reads format {FORMAT}")
        self.generators = Generators.restore(self.config.generators, state["generators"], self)
        self.stats = ItemStats.from_state(state["stats"])
        text = str(state["booster"])
        self.booster = lgb.Booster(model_str=text) if text else None
        self.feature_names = [str(n) for n in state["features"]]
        self.chosen = str(state.get("chosen", "")) or None
        self.report = json.loads(str(state.get("report", "{}")))
        self._serving = None
        self.serving()
