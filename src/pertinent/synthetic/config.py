"""What shapes the synthetic data: :class:`SyntheticConfig` (with its :class:`Campaign` list), seed included."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DEFAULT_CAMPAIGNS", "Campaign", "SyntheticConfig"]


class Campaign(BaseModel):
    """A marketing campaign that brings sessions in with utm parameters.

    >>> Campaign(name="spring_sale", source="google", medium="cpc", deal=True).deal
    True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source: str
    medium: str
    deal: bool = False  # a promotion: discounts, attracts deal seekers
    weight: float = Field(1.0, gt=0)
    discount: float = Field(0.0, ge=0, lt=1)


DEFAULT_CAMPAIGNS = [
    Campaign(name="spring_sale", source="google", medium="cpc", deal=True, weight=2.0, discount=0.2),
    Campaign(name="flash_deals", source="newsletter", medium="email", deal=True, weight=1.0, discount=0.3),
    Campaign(name="brand_story", source="facebook", medium="social", weight=1.5),
    Campaign(name="weekly_digest", source="newsletter", medium="email", weight=1.0),
    Campaign(name="retargeting", source="criteo", medium="display", weight=1.0),
]


class SyntheticConfig(BaseModel):
    """Everything that shapes the synthetic data; JSON round-trips.

    >>> c = SyntheticConfig(seed=3, n_users=10)
    >>> SyntheticConfig.model_validate_json(c.model_dump_json()) == c
    True
    """

    model_config = ConfigDict(extra="forbid")

    seed: int = 42
    n_users: int = Field(1000, ge=1)
    n_items: int = Field(500, ge=1)
    n_categories: int = Field(8, ge=1, le=200)
    n_articles: int = Field(60, ge=0)
    n_factors: int = Field(8, ge=2, le=256)
    days: int = Field(30, ge=1)
    start: datetime = datetime(2024, 3, 1, tzinfo=UTC)
    sessions_mean: float = Field(4.0, gt=0)
    sessions_dispersion: float = Field(1.0, gt=0)  # gamma shape: smaller = heavier tail of very active users
    max_sessions: int = Field(200, ge=1)
    views_per_session_mean: float = Field(4.0, gt=0)
    identified_later_share: float = Field(0.3, ge=0, le=1)  # anonymous first, identify later
    anonymous_share: float = Field(0.2, ge=0, le=1)  # never identify
    personalization_denied_share: float = Field(0.1, ge=0, le=1)
    deal_seeker_share: float = Field(0.25, ge=0, le=1)
    secondary_taste_share: float = Field(0.4, ge=0, le=1)
    campaign_session_share: float = Field(0.3, ge=0, le=1)
    campaigns: list[Campaign] = Field(default_factory=lambda: list(DEFAULT_CAMPAIGNS))
    article_session_share: float = Field(0.3, ge=0, le=1)
    taste_strength: float = Field(3.5, ge=0)
    popularity_weight: float = Field(1.0, ge=0)
    cart_rate: float = Field(0.08, gt=0, lt=1)
    purchase_rate: float = Field(0.45, gt=0, lt=1)
    wishlist_rate: float = Field(0.04, ge=0, le=1)
    review_rate: float = Field(0.3, ge=0, le=1)
    refund_rate: float = Field(0.04, ge=0, le=1)
    currency: str = "USD"
    domain: str = "shop.example.com"

    @model_validator(mode="after")
    def _check_shares(self) -> SyntheticConfig:
        if self.identified_later_share + self.anonymous_share > 1:
            raise ValueError("identified_later_share + anonymous_share must be <= 1")
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)
        return self
