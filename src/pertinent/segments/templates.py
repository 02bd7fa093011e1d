"""Ready-to-use rule segments from common e-commerce practice. Each template is a function whose keyword
arguments tune its thresholds; ``TEMPLATES`` maps template ids to them.

>>> sorted(TEMPLATES)
['at_risk', 'browsers', 'cart_abandoners', 'deal_seekers', 'frequent_buyers', 'high_value_loyalists', 'new_visitors']
>>> seg = template("frequent_buyers", min_orders=3)
>>> seg.id, seg.rule.value
('frequent_buyers', 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pertinent.rules.conditions import (
    CampaignCondition,
    DidAndNotCondition,
    EventCountCondition,
    FeatureCondition,
    SinceCondition,
)
from pertinent.rules.language import AndRule
from pertinent.segments.rules import Segment

PURCHASE = "Order Completed"
DEAL_WORDS = ["deal", "sale", "promo", "discount", "coupon"]


def frequent_buyers(min_orders: int = 6, window_days: int = 30, event: str = PURCHASE) -> Segment:
    """At least ``min_orders`` purchases (default: more than 5) in the last ``window_days`` days."""
    return Segment(
        id="frequent_buyers",
        name="Frequent buyers",
        description=f"{min_orders}+ '{event}' events in the last {window_days} days",
        rule=EventCountCondition(event=event, window_days=window_days, op="gt", value=min_orders - 1),
    )


def browsers(
    min_views: int = 5, window_days: int = 30, view_event: str = "Product Viewed", purchase_event: str = PURCHASE
) -> Segment:
    """Viewed products at least ``min_views`` times in the window and bought nothing."""
    return Segment(
        id="browsers",
        name="Browsers",
        description=f"{min_views}+ product views and no purchase in the last {window_days} days",
        rule=DidAndNotCondition(did=view_event, min_count=min_views, did_not=purchase_event, window_days=window_days),
    )


def deal_seekers(words: list[str] | None = None) -> Segment:
    """Arrived through a promotion: UTM campaign or medium contains deal/sale/promo/discount/coupon."""
    words = words or DEAL_WORDS
    return Segment(
        id="deal_seekers",
        name="Deal seekers",
        description="arrived through a campaign whose name or medium mentions " + "/".join(words),
        rule=CampaignCondition(fields=["utm_campaign", "utm_medium"], match="contains", values=words),
    )


def cart_abandoners(window_days: int = 7, add_event: str = "Product Added", purchase_event: str = PURCHASE) -> Segment:
    """Added to cart in the last ``window_days`` days and did not complete an order in that time."""
    return Segment(
        id="cart_abandoners",
        name="Cart abandoners",
        description=f"added to cart but no order in the last {window_days} days",
        rule=DidAndNotCondition(did=add_event, did_not=purchase_event, window_days=window_days),
    )


def new_visitors(days: float = 7) -> Segment:
    """First seen less than ``days`` days ago."""
    return Segment(
        id="new_visitors",
        name="New visitors",
        description=f"first seen within {days:g} days",
        rule=SinceCondition(field="first_seen", op="lt", days=days),
    )


def high_value_loyalists(min_monetary: float = 500.0, min_frequency: int = 5) -> Segment:
    """Lifetime spend of at least ``min_monetary`` over at least ``min_frequency`` orders."""
    return Segment(
        id="high_value_loyalists",
        name="High-value loyalists",
        description=f"spent {min_monetary:g}+ over {min_frequency}+ orders",
        rule=AndRule(
            conditions=[
                FeatureCondition(path=["rfm", "monetary"], op="gte", value=min_monetary),
                FeatureCondition(path=["rfm", "frequency"], op="gte", value=min_frequency),
            ]
        ),
    )


def at_risk(inactive_days: float = 60) -> Segment:
    """Bought before, but the last purchase is more than ``inactive_days`` days ago."""
    return Segment(
        id="at_risk",
        name="At risk",
        description=f"customers whose last purchase is over {inactive_days:g} days old",
        rule=AndRule(
            conditions=[
                FeatureCondition(path=["rfm", "frequency"], op="gte", value=1),
                SinceCondition(field="last_purchase", op="gt", days=inactive_days),
            ]
        ),
    )


TEMPLATES: dict[str, Callable[..., Segment]] = {
    "frequent_buyers": frequent_buyers,
    "browsers": browsers,
    "deal_seekers": deal_seekers,
    "cart_abandoners": cart_abandoners,
    "new_visitors": new_visitors,
    "high_value_loyalists": high_value_loyalists,
    "at_risk": at_risk,
}


def template(name: str, **params: Any) -> Segment:
    """A template segment by id, thresholds overridden by ``params``. Unknown names raise ``KeyError``
    listing the known ones."""
    if name not in TEMPLATES:
        raise KeyError(f"unknown template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[name](**params)


def all_templates() -> list[Segment]:
    """Every template with its default thresholds."""
    return [make() for make in TEMPLATES.values()]
