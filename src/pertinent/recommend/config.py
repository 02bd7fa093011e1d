"""Serving configuration of recommendations: which model is served, caches, scheduled retraining and the
business rules applied to every list. Plain pydantic (no numpy), so ``Settings`` can hold it.

From the environment: ``PERTINENT_RECOMMEND__MODEL=ease``, ``PERTINENT_RECOMMEND__RETRAIN_INTERVAL_S=3600``,
``PERTINENT_RECOMMEND__RULES__BURY='["sku-1"]'``; or a ``[recommend]`` table in the TOML file.

>>> cfg = RecommendConfig(model="ease", rules=BusinessRules(boost={"sku-1": 2.0}, diversity=0.3))
>>> RecommendConfig.model_validate_json(cfg.model_dump_json()) == cfg
True
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


def positive_factors(value: dict[str, float]) -> dict[str, float]:
    bad = [k for k, v in value.items() if not (v > 0 and v != float("inf"))]
    if bad:
        raise ValueError(f"factors must be finite and > 0 (bad: {bad[:5]})")
    return value


class BusinessRules(BaseModel):
    """Merchandising rules applied to recommendation and similar-item lists.

    ``pin`` puts items first, in order (if they may be recommended at all); ``boost`` multiplies an item's
    normalised score (factor > 1 lifts it, < 1 lowers it); ``boost_categories`` does the same for every item
    of a category; ``bury`` and ``bury_categories`` move items below all others; ``diversity`` > 0 re-ranks
    with MMR (0 = pure relevance, 1 = pure novelty).

    >>> BusinessRules(pin=["a"]).merged(BusinessRules(pin=["b", "a"], diversity=0.2)).pin
    ['b', 'a']
    """

    model_config = ConfigDict(extra="forbid")

    pin: list[str] = Field(default_factory=list, max_length=100)
    boost: dict[str, float] = Field(default_factory=dict)
    boost_categories: dict[str, float] = Field(default_factory=dict)
    bury: list[str] = Field(default_factory=list)
    bury_categories: list[str] = Field(default_factory=list)
    diversity: float = Field(default=0.0, ge=0.0, le=1.0)

    check_factors = field_validator("boost", "boost_categories")(positive_factors)

    def merged(self, request: BusinessRules) -> BusinessRules:
        """These (configured) rules with a request's rules on top: the request's pins come first, its
        factors override, burials add up, and its diversity wins when it sets one."""
        pin = list(dict.fromkeys([*request.pin, *self.pin]))
        return BusinessRules(
            pin=pin,
            boost={**self.boost, **request.boost},
            boost_categories={**self.boost_categories, **request.boost_categories},
            bury=list(dict.fromkeys([*self.bury, *request.bury])),
            bury_categories=list(dict.fromkeys([*self.bury_categories, *request.bury_categories])),
            diversity=request.diversity or self.diversity,
        )


class FreshConfig(BaseModel):
    """The cold-item layer (``recommend/fresh.py``): catalogue items the served model does not know (added after
    training, or never interacted with) get a bounded share of every list, ranked by content similarity to the
    user's recent items, the user's affinity for their categories and their freshness.

    ``share``: at most ``max(1, floor(share * k))`` of a list's ``k`` places go to such items (0 turns the layer
    off); ``max_age_s``: items older than this (see ``docs/recommend-serving.md``: their age counts from
    ``attributes.published_at``, else ``available_from``, else their last catalogue write) get no places;
    ``half_life_s``: freshness halves every this long; ``min_relevance``: for users with a history, an item needs
    at least this relevance (content and category, 0..1); ``for_new_users``: users without a history (nothing
    to match new items against) get the freshest items too, as Gorse's "latest" does; ``max_items``: the newest
    this many unknown items are considered; ``in_similar``: similar-item lists use the layer too.

    >>> FreshConfig(share=0.25).slots(10), FreshConfig(share=0.25).slots(2), FreshConfig(share=0).slots(10)
    (2, 1, 0)
    """

    model_config = ConfigDict(extra="forbid")

    share: float = Field(default=0.2, ge=0, le=1)
    max_age_s: float = Field(default=14 * 86400.0, gt=0)
    half_life_s: float = Field(default=2 * 86400.0, gt=0)
    min_relevance: float = Field(default=0.05, ge=0, le=1)
    for_new_users: bool = False
    in_similar: bool = True
    max_items: int = Field(default=5000, ge=1)

    def slots(self, k: int) -> int:
        """How many of ``k`` places unknown items may take."""
        return 0 if self.share <= 0 or k < 1 else max(1, int(self.share * k))


class RecommendConfig(BaseModel):
    """Serving settings (``Settings.recommend``).

    ``retrain_interval_s`` > 0 makes the server retrain ``model`` from stored events in a background
    thread whenever that many seconds have passed since the newest version and new events arrived;
    the new version is served without a restart (``reload_interval_s`` is how often the registry is checked).

    >>> RecommendConfig.model_validate_json(RecommendConfig().model_dump_json()) == RecommendConfig()
    True
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    reload_interval_s: float = Field(default=5.0, ge=0)
    popularity_ttl_s: float = Field(default=60.0, ge=0)
    catalogue_ttl_s: float = Field(default=30.0, ge=0)
    popularity_max_events: int = Field(default=200_000, ge=1)
    max_k: int = Field(default=100, ge=1)
    # Finished lists (requests without their own rules) are kept per profile and served again while the profile's
    # recent items, the served model, the catalogue and the configured rules are the same and no item's
    # availability has changed; at most this many profiles (0 = no cache), for at most this long.
    result_cache_size: int = Field(default=20_000, ge=0)
    result_cache_ttl_s: float = Field(default=60.0, ge=0)
    # Once a catalogue is loaded it is authoritative: items missing from it (deleted, never listed) are not
    # recommended. With an empty catalogue every item of the model may be recommended.
    catalogue_only: bool = True
    rules: BusinessRules = Field(default_factory=BusinessRules)
    fresh: FreshConfig = Field(default_factory=FreshConfig)
    retrain_interval_s: float = Field(default=0.0, ge=0)
    retrain_max_events: int | None = Field(default=None, ge=1)
    # the served model's own config for (scheduled) training, e.g. {"hybrid": {"content": {"encoder":
    # "embedding"}}}; validated by that model when it is trained
    train_config: dict[str, Any] = Field(default_factory=dict)
