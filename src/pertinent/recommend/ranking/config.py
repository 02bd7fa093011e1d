"""The ranker's configuration: its candidate generators and the LightGBM LambdaRank stage.

>>> cfg = RankerConfig()
>>> [g.name for g in cfg.generators][:2]
['ease_recent', 'ease']
>>> RankerConfig.model_validate_json(cfg.model_dump_json()) == cfg
True
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pertinent.recommend.recency import RecencyConfig

GeneratorKind = Literal[
    "ease", "itemknn", "als", "bpr", "content", "popularity", "transitions", "trending", "fresh", "repeat"
]


class GeneratorSpec(BaseModel):
    """One candidate generator: a model ``kind`` with its ``config``; the user's row is weighted by ``recency``
    before it scores; its ``candidates`` best unseen items join the union (0: its score is only a feature).
    Generators with the same kind and config are trained once and shared."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    kind: GeneratorKind
    config: dict[str, Any] = Field(default_factory=dict)
    recency: RecencyConfig = Field(default_factory=RecencyConfig)
    candidates: int = Field(default=50, ge=0, le=1000)


def default_generators() -> list[GeneratorSpec]:
    ease = {"regularization": 200.0, "min_item_count": 3, "max_dense_items": 8000}
    return [
        GeneratorSpec(name="ease_recent", kind="ease", config=ease, recency=RecencyConfig(decay=0.8), candidates=60),
        GeneratorSpec(name="ease", kind="ease", config=ease, candidates=30),
        GeneratorSpec(
            name="knn_recent",
            kind="itemknn",
            config={"neighbors": 100},
            recency=RecencyConfig(decay=0.8),
            candidates=20,
        ),
        GeneratorSpec(name="transitions", kind="transitions", recency=RecencyConfig(decay=0.6), candidates=30),
        GeneratorSpec(name="trending", kind="trending", candidates=15),
        GeneratorSpec(name="popularity", kind="popularity", candidates=15),
        GeneratorSpec(name="fresh", kind="fresh", candidates=0),
    ]


class ServingConfig(BaseModel):
    """How the ranker answers a request (``pertinent.recommend.ranking.retrieval``): ``exhaustive`` scores every
    item with every generator, as training does; otherwise dense EASE generators merge each item's
    ``neighbours`` strongest weights over the user's ``sources`` heaviest items and score the best ``pool`` of
    them exactly. ``explain="paths"`` reads each feature's share of a prediction from the decision paths of the
    reached leaves (precomputed per leaf), ``"shap"`` asks LightGBM for TreeSHAP (``pred_contrib``), which costs
    about 1-2 ms per item on deep LambdaRank trees."""

    model_config = ConfigDict(extra="forbid")

    exhaustive: bool = False
    neighbours: int = Field(default=500, ge=1, le=100_000)
    sources: int = Field(default=100, ge=1, le=100_000)
    pool: int = Field(default=300, ge=1, le=100_000)
    explain: Literal["paths", "shap"] = "paths"


class RankerConfig(BaseModel):
    """``generators`` make the candidates (the first one with an item x item notion answers "similar items" and
    scores when no ranker could be learned); the LambdaRank model is trained on each user's last ``holdout``
    share of distinct items (users with >= ``min_user_items``; at most ``max_train_users`` of them), with
    candidates from the earlier part. ``rounds`` boosting rounds at most, early-stopped on ``valid_fraction``
    of those users. ``reason_recent`` phrases the explanation "because you viewed X recently".

    Options measured in docs/benchmarks.md (all off by default): ``label_cutoffs`` > 1 holds out the last share
    again from what is left, for more label groups; ``user_time_features`` adds item time features relative to
    the user's own newest event; ``anchor`` (a generator's name) with ``anchor_weight`` fuses the learned order
    with that generator's by weighted reciprocal rank (constant ``fusion_k``; weight 1 = the anchor alone)."""

    model_config = ConfigDict(extra="forbid")

    generators: list[GeneratorSpec] = Field(default_factory=default_generators, min_length=1)
    holdout: float = Field(default=0.2, gt=0, lt=1)
    min_user_items: int = Field(default=3, ge=2)
    label_random_share: float = Field(default=0.0, ge=0, le=1)
    label_cutoffs: int = Field(default=1, ge=1, le=5)
    user_time_features: bool = False
    anchor: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$")
    anchor_weight: float = Field(default=0.0, ge=0, le=1)
    fusion_k: float = Field(default=20.0, gt=0)
    max_train_users: int = Field(default=3000, ge=10)
    valid_fraction: float = Field(default=0.15, ge=0, lt=0.5)
    rounds: int = Field(default=600, ge=1, le=5000)
    learning_rate: float = Field(default=0.03, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2, le=1024)
    min_data_in_leaf: int = Field(default=20, ge=1)
    threads: int = Field(default=1, ge=0)
    batch_size: int = Field(default=256, ge=1)
    session_gap_s: float = Field(default=1800.0, gt=0)
    seed: int = 42
    reason_recent: str = Field(default="because you viewed {item} recently", max_length=200)
    serving: ServingConfig = Field(default_factory=ServingConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> RankerConfig:
        names = [g.name for g in self.generators]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"generators: names must be unique (repeated: {dupes})")
        if self.anchor is not None and self.anchor not in names:
            raise ValueError(f"anchor: {self.anchor!r} is not one of the generators {names}")
        if not any(g.candidates > 0 for g in self.generators):
            raise ValueError("generators: at least one must give candidates (candidates > 0)")
        return self
