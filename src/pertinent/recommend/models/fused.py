"""Fused recommender (kind ``fused``): "what this user likes" (EASE) and "what comes next" (the LambdaRank ranker)
in one list, their mix chosen by the model's own validation at training time.

The score of an item is ``(1 - a) * z(EASE) + a * z(ranker)``, each model's scores standardised over the row's
unseen items (the ranker's candidates shifted per row so that a row's scores do not depend on its batch).
Training (``fit``) carves two validation folds out of ITS data, as the two test protocols do: in one, each user
with >= ``min_validation_items`` distinct items loses the newest ``validation_fraction`` of them (labels of "next");
in the other, the same share drawn at random (labels of "likes"). EASE (each of ``ease_lambdas``) and the ranker
are fitted on each fold; EASE's lambda is the best on the "likes" fold, and the ranker share ``a`` (from
``weights``) the best on the "next" fold among the shares that keep the "likes" fold's NDCG@k at least
``1 - tolerance`` times EASE's alone (none: EASE alone). Then both are fitted again on all the data. No test data
is seen.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": [f"u{i % 30}" for i in range(300)], "item": [f"i{(i * 7) % 23}" for i in range(300)]})
>>> model = FusedRecommender(ranker={"rounds": 5}).fit(Interactions.from_frame(df))
>>> model.report["share"] in model.config.weights, model.report["next_users"] > 0
(True, True)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.evaluation.metrics import ndcg_of_scores
from pertinent.recommend.base import Recommender, log
from pertinent.recommend.models.ease import EASEConfig, EASERecommender
from pertinent.recommend.primitives import Context, NotFittedError
from pertinent.recommend.ranking.config import RankerConfig
from pertinent.recommend.ranking.labels import holdout_last
from pertinent.recommend.ranking.ranker import RankerRecommender

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


class FusedConfig(BaseModel):
    """``weights``: the ranker shares tried (0 = EASE alone); ``tolerance``: how far below EASE's own NDCG@k the
    "likes" fold may fall for a share to be chosen; ``max_validation_users`` are scored in each fold."""

    model_config = ConfigDict(extra="forbid")

    ease_lambdas: list[float] = Field(default_factory=lambda: [100.0, 200.0, 400.0], min_length=1)
    ease: EASEConfig = Field(default_factory=EASEConfig)
    ranker: RankerConfig = Field(default_factory=RankerConfig)
    weights: list[float] = Field(
        default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85], min_length=1
    )
    tolerance: float = Field(default=0.0, ge=0, lt=1)
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    min_validation_items: int = Field(default=5, ge=2)
    max_validation_users: int = Field(default=3000, ge=2)
    k: int = Field(default=10, ge=1)
    seed: int = 7


def standardise(scores: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    """Each row's scores minus their mean over the row's unseen items, over their standard deviation.

    >>> standardise(np.array([[1.0, 2.0, 3.0, 9.0]]), sp.csr_matrix(np.array([[0, 0, 0, 1]]))).round(3).tolist()
    [[-1.225, 0.0, 1.225, 8.573]]
    """
    s = np.asarray(scores, dtype=np.float64)
    unseen = np.ones(s.shape, dtype=bool)
    h = sp.csr_matrix(seen)
    unseen[np.repeat(np.arange(h.shape[0]), np.diff(h.indptr)), h.indices] = False
    count = np.maximum(unseen.sum(axis=1, keepdims=True), 1)
    mean = np.where(unseen, s, 0.0).sum(axis=1, keepdims=True) / count
    sd = np.sqrt(np.where(unseen, (s - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count)
    out: np.ndarray = (s - mean) / np.where(sd > 0, sd, 1.0)
    return out


def per_row_candidates(scores: np.ndarray) -> np.ndarray:
    """The ranker's scores with each row's candidates (scores >= 1, every other item is below -1 there) shifted so
    that the row's lowest candidate scores 1: a row's scores no longer depend on the rows scored with it."""
    s = np.array(scores, dtype=np.float64, copy=True)
    cand = s >= 1.0
    low = np.where(cand, s, np.inf).min(axis=1, keepdims=True)
    return np.where(cand, s - np.where(np.isfinite(low), low, 1.0) + 1.0, s)


def learned(ranker: RankerRecommender) -> bool:
    """Whether the ranker orders by its booster (else by one generator's scores, as they are)."""
    return ranker.booster is not None and ranker.chosen is None


def fuse_scores(anchor: np.ndarray, ranker: np.ndarray, seen: sp.csr_matrix, share: float) -> np.ndarray:
    """``(1 - share) * z(anchor) + share * z(ranker)`` as float32 (``ranker`` already ``per_row_candidates``)."""
    if share <= 0:
        return np.asarray(anchor, dtype=np.float32)
    z = standardise(ranker, seen)
    if share < 1:
        z = (1.0 - share) * standardise(anchor, seen) + share * z
    return z.astype(np.float32)


class Standardised:
    """The two rows' standardised scores of a fold, computed once: ``mix(share)`` equals
    ``fuse_scores(anchor, ranker, seen, share)`` for every share, without standardising again."""

    def __init__(self, anchor: np.ndarray, ranker: np.ndarray, seen: sp.csr_matrix) -> None:
        self.anchor = np.asarray(anchor, dtype=np.float32)
        self.z_anchor = standardise(anchor, seen)
        self.z_ranker = standardise(ranker, seen)

    def mix(self, share: float) -> np.ndarray:
        if share <= 0:
            return self.anchor
        z = self.z_ranker if share >= 1 else (1.0 - share) * self.z_anchor + share * self.z_ranker
        out: np.ndarray = z.astype(np.float32)
        return out


@dataclass(frozen=True)
class Fold:
    """A validation fold: the training data without the labels, the scored users and their labels (rows)."""

    data: Interactions
    users: np.ndarray
    truth: sp.csr_matrix


class FusedRecommender(Recommender):
    kind = "fused"
    config_class = FusedConfig
    config: FusedConfig

    def __init__(self, config: BaseModel | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.ease: EASERecommender | None = None
        self.ranker: RankerRecommender | None = None
        self.share = 0.0
        self.ease_lambda = self.config.ease.regularization
        self.report: dict[str, Any] = {}

    # ---------------------------------------------------------------- training
    def _folds(self, data: Interactions) -> list[Fold]:
        """The "next" fold (each user's newest items held out) and the "likes" fold (random items held out)."""
        from pertinent.evaluation.splits import holdout_matrix

        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        _, last = holdout_last(data, cfg.validation_fraction, cfg.min_validation_items)
        _, drawn = holdout_matrix(data.matrix, cfg.validation_fraction, cfg.seed, cfg.min_validation_items)
        folds = []
        for labels in (last, drawn):
            held = labels.tocoo()
            ev = data.events
            codes = ev["user"].to_numpy(np.int64) * np.int64(data.n_items) + ev["item"].to_numpy(np.int64)
            held_codes = held.row.astype(np.int64) * np.int64(data.n_items) + held.col.astype(np.int64)
            inner = data.with_events(ev.loc[~np.isin(codes, held_codes)])
            users = np.flatnonzero(np.diff(labels.indptr))
            if len(users) > cfg.max_validation_users:
                users = np.sort(rng.choice(users, cfg.max_validation_users, replace=False))
            folds.append(Fold(inner, users, sp.csr_matrix(labels[users])))
        return folds

    def _scores(self, model: Recommender, fold: Fold) -> np.ndarray:
        from pertinent.recommend.recency import last_times

        data, users = fold.data, fold.users
        times = last_times(data.events, data.shape) if model.wants_times() else None
        ctx = Context(times=times[users]) if times is not None else None
        out = np.asarray(model.score(data.matrix[users], ctx), dtype=np.float32)
        if isinstance(model, RankerRecommender) and learned(model):
            return per_row_candidates(out)
        return out

    def _ranked(self, fold: Fold, catalogue: Catalogue | None, report: dict[str, Any]) -> np.ndarray:
        """The scores of the fold's users by a ranker fitted on the fold (dropped once it has scored)."""
        ranker = RankerRecommender(self.config.ranker).fit(fold.data, catalogue)
        report.setdefault("ranker_learned", []).append(learned(ranker))
        return self._scores(ranker, fold)

    def _ndcg(self, scores: np.ndarray, fold: Fold) -> float:
        return float(ndcg_of_scores(scores, fold.data.matrix[fold.users], fold.truth, self.config.k).mean())

    def choose(self, data: Interactions, catalogue: Catalogue | None) -> dict[str, Any]:
        """EASE's lambda and the ranker share, chosen on the two validation folds of ``data`` (the report)."""
        cfg = self.config
        nxt, likes = self._folds(data)
        report: dict[str, Any] = {"next_users": int(len(nxt.users)), "likes_users": int(len(likes.users))}
        if len(nxt.users) < 10 or len(likes.users) < 10:
            report["message"] = "too few validation users: EASE alone at its configured lambda"
            report.update({"ease_lambda": cfg.ease.regularization, "share": 0.0})
            return report
        # one Gram matrix for every lambda; each model dropped once it has scored its fold
        ease_likes = {
            lam: self._scores(model, likes)
            for lam, model in EASERecommender.fit_lambdas(cfg.ease, cfg.ease_lambdas, likes.data, catalogue)
        }
        found = {lam: self._ndcg(s, likes) for lam, s in ease_likes.items()}
        lam = max(cfg.ease_lambdas, key=lambda x: (found[x], -abs(np.log(x / cfg.ease.regularization))))
        report["ease_lambda"] = lam
        report["ease_likes_ndcg"] = {str(k): round(v, 5) for k, v in found.items()}
        ease_next = self._scores(
            EASERecommender(cfg.ease.model_copy(update={"regularization": lam})).fit(nxt.data, catalogue), nxt
        )
        shares = sorted(set(cfg.weights) | {0.0})
        trials = []
        fused: list[Standardised] = []
        if len(shares) > 1:  # only then is a ranker needed
            fused = [
                Standardised(anchor, self._ranked(fold, catalogue, report), fold.data.matrix[fold.users])
                for anchor, fold in ((ease_next, nxt), (ease_likes[lam], likes))
            ]
        for share in shares:
            n, like = (
                (self._ndcg(ease_next, nxt), self._ndcg(ease_likes[lam], likes))
                if share <= 0
                else (self._ndcg(fused[0].mix(share), nxt), self._ndcg(fused[1].mix(share), likes))
            )
            trials.append({"share": share, "next_ndcg": round(n, 5), "likes_ndcg": round(like, 5)})
        floor = (1.0 - cfg.tolerance) * trials[0]["likes_ndcg"]  # EASE alone on the "likes" fold
        allowed = [t for t in trials if t["share"] in cfg.weights and t["likes_ndcg"] >= floor]
        best = max(allowed, key=lambda t: (t["next_ndcg"], -t["share"])) if allowed else trials[0]
        report.update({"share": best["share"], "trials": trials})
        return report

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        started = time.perf_counter()
        report = self.choose(data, catalogue)
        self.ease_lambda = float(report["ease_lambda"])
        self.share = float(report["share"])
        self.ease = EASERecommender(self.config.ease.model_copy(update={"regularization": self.ease_lambda}))
        self.ease.fit(data, catalogue)
        self.ranker = RankerRecommender(self.config.ranker).fit(data, catalogue) if self.share > 0 else None
        report["fit_s"] = round(time.perf_counter() - started, 2)
        self.report = report
        log.info("fused recommender: EASE lambda %s, ranker share %s (%s)", self.ease_lambda, self.share, report)

    # ---------------------------------------------------------------- scoring
    def _parts(self) -> tuple[EASERecommender, RankerRecommender | None]:
        self._check()
        if self.ease is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")
        return self.ease, self.ranker

    def wants_times(self) -> bool:
        return self.ranker is not None

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        ease, ranker = self._parts()
        h = sp.csr_matrix(history, dtype=np.float32)
        anchor = np.asarray(ease.score(h), dtype=np.float32)
        if ranker is None or self.share <= 0:
            return anchor
        ranked = np.asarray(ranker.score(h, context))
        return fuse_scores(anchor, per_row_candidates(ranked) if learned(ranker) else ranked, h, self.share)

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        ease, ranker = self._parts()
        if ranker is not None and self.share >= 0.5:
            return ranker.because(history, items, context)
        return ease.because(history, items, context)

    def item_similarity(self, item: int) -> np.ndarray | None:
        return self._parts()[0].item_similarity(item)

    def pair_similarity(self, items: np.ndarray) -> np.ndarray | None:
        return self._parts()[0].pair_similarity(items)

    # ---------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        ease, ranker = self._parts()
        state: dict[str, Any] = {
            "ease": ease._get_state(),
            "ease_lambda": np.asarray(self.ease_lambda),
            "share": np.asarray(self.share),
            "report": np.asarray(json.dumps(self.report, default=float)),
        }
        if ranker is not None:
            state["ranker"] = ranker._get_state()
        return state

    def _child(self, model: Recommender) -> Recommender:
        model.item_ids, model.item_index, model.user_index = self.item_ids, self.item_index, self.user_index
        model._train_rows, model._train_times = self._train_rows, self._train_times
        model._titles, model.catalogue = self._titles, self.catalogue
        return model

    def _set_state(self, state: dict[str, Any]) -> None:
        self.ease_lambda = float(state["ease_lambda"])
        self.share = float(state["share"])
        ease = EASERecommender(self.config.ease.model_copy(update={"regularization": self.ease_lambda}))
        self._child(ease)._set_state(state["ease"])
        self.ease = ease
        self.ranker = None
        if "ranker" in state:
            ranker = RankerRecommender(self.config.ranker)
            self._child(ranker)._set_state(state["ranker"])
            self.ranker = ranker
        self.report = json.loads(str(state.get("report", "{}")))
