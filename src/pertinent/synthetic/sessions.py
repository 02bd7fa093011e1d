"""Sessions and the events they make: a user's sessions are planned (days, local hours, campaign or referrer)
and a :class:`Shopper` acts them out.

A session starts from a campaign (utm; deal campaigns attract deal seekers) or a referrer, views products,
may add to cart (less likely the more expensive, more likely in a deal session), may purchase (price sensitive
on the cart total), may read articles; purchases may be reviewed (the rating follows the user's affinity) or
refunded later. Known users identify at their first visit; identified-later users browse anonymously first,
then send a "Signed Up" and an ``identify`` carrying both ids.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from pertinent.events.importing.messages import message_id
from pertinent.synthetic.config import Campaign
from pertinent.synthetic.tables import (
    CAMPAIGN_REFERRER,
    COUNTRIES,
    DEVICE_TYPES,
    FIRST_NAMES,
    HOURLY,
    REFERRER_CUM,
    REFERRERS,
    USER_AGENTS,
)
from pertinent.synthetic.util import iso, logit, pick, sigmoid
from pertinent.synthetic.world import World

if TYPE_CHECKING:
    from pertinent.synthetic.population import Population

__all__ = ["Shopper", "user_messages"]

_SESSION_ROOM = 3 * 3600.0  # latest session start: this long before the end of the period


def user_messages(
    population: Population,
    users: dict[str, np.ndarray],
    row: int,
    p_items: np.ndarray,
    p_articles: np.ndarray | None,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """The messages of the user in row ``row`` of a block, unsorted, each with its ``_seq`` (emission order).

    Plans the sessions (days, local hours, campaign or referrer), then lets a :class:`Shopper` act them out:
    identify or sign up, read articles, browse, maybe order.
    """
    cfg, world = population.config, population.world
    idx = int(users["index"][row])
    identity = int(users["identity"][row])
    deal_seeker = bool(users["deal"][row])
    country, locale, tzname, _ = COUNTRIES[users["country"][row]]
    tz = ZoneInfo(tzname)
    device = DEVICE_TYPES[users["device"][row]]
    ip_last = int(users["ip"][row])
    user = Shopper(
        world=world,
        idx=idx,
        user_id=population.user_id(idx),
        anonymous_id=population.anonymous_id(idx),
        dominant=int(users["dominant"][row]),
        price_sens=float(users["price_sens"][row]),
        taste=users["taste"][row],
        p_items=p_items,
        rng=rng,
        base_ctx={
            "userAgent": USER_AGENTS[device][users["ua"][row]],
            "ip": f"203.0.113.{ip_last}" if idx % 2 else f"198.51.100.{ip_last}",  # documentation ranges
            "locale": locale,
            "timezone": tzname,
            "device": {"type": device},
            "location": {"country": country},
            "consent": {"categoryPreferences": {"analytics": True, "personalization": not bool(users["denied"][row])}},
        },
    )
    n_sessions = int(users["sessions"][row])
    session_days = np.sort(rng.integers(0, cfg.days, size=n_sessions))
    session_hours = rng.choice(24, size=n_sessions, p=HOURLY)
    # The session in which an identified-later user signs up (known users identify in the first one).
    signup_session = int(rng.integers(0, n_sessions)) if identity == 1 else 0
    local_start = datetime(cfg.start.year, cfg.start.month, cfg.start.day, tzinfo=tz)
    start, articles_cum = cfg.start.timestamp(), None if p_articles is None else np.cumsum(p_articles)
    deal_cum = None
    if world.campaign_weights is not None:
        w = world.campaign_weights * np.array([3.0 if (c.deal and deal_seeker) else 1.0 for c in cfg.campaigns])
        deal_cum = np.cumsum(w)
    starts = []
    for s in range(n_sessions):
        local = local_start + timedelta(
            days=int(session_days[s]), hours=int(session_hours[s]), seconds=int(rng.integers(0, 3600))
        )
        t = local.timestamp()
        if t < start or t >= user.end:  # local midnight differs from UTC midnight at the edges
            t = start + 86_400 * int(session_days[s]) + int(rng.integers(0, 86400))
        # Leave room for the session itself before the end of the period.
        starts.append(max(start, min(t, user.end - _SESSION_ROOM)))
    starts.sort()
    for s in range(n_sessions):
        # Sessions never overlap: a session starts at least a minute after the previous one ended.
        t = starts[s] if s == 0 else max(starts[s], user.t + 60.0)
        campaign = None
        referrer = None
        share = cfg.campaign_session_share * (1.5 if deal_seeker else 1.0)
        if deal_cum is not None and rng.random() < min(share, 1.0):
            campaign = cfg.campaigns[pick(deal_cum, rng)]
            referrer = CAMPAIGN_REFERRER.get(campaign.medium)
        else:
            referrer = REFERRERS[pick(REFERRER_CUM, rng)][0]
        user.start_session(t, campaign, referrer, known=identity == 0 or (identity == 1 and s > signup_session))
        if identity == 0 and s == 0:
            user.identify()
        elif identity == 1 and s == signup_session:
            user.browse(n_views=1 + int(rng.poisson(1.0)), allow_order=False)
            user.sign_up()
        if articles_cum is not None and rng.random() < cfg.article_session_share:
            for _ in range(1 + int(rng.poisson(0.7))):
                user.read_article(pick(articles_cum, rng))
        user.browse(n_views=1 + int(rng.poisson(max(cfg.views_per_session_mean - 1, 0))), allow_order=True)
    return user.out


class Shopper:
    """Event builder for one synthetic user: holds the session clock, ids and context."""

    def __init__(
        self,
        world: World,
        idx: int,
        user_id: str,
        anonymous_id: str,
        dominant: int,
        price_sens: float,
        taste: np.ndarray,
        p_items: np.ndarray,
        rng: np.random.Generator,
        base_ctx: dict[str, Any],
    ):
        self.world, self.cfg = world, world.config
        self.idx, self.user_id, self.anonymous_id = idx, user_id, anonymous_id
        self.dominant, self.price_sens, self.rng = dominant, price_sens, rng
        self.items_cum = np.cumsum(p_items)
        self.taste = taste / max(float(np.linalg.norm(taste)), 1e-9)
        self.base_ctx = base_ctx
        self.end = (self.cfg.start + timedelta(days=self.cfg.days)).timestamp()
        self.out: list[dict[str, Any]] = []
        self.seq = 0
        self.t = self.cfg.start.timestamp()
        self.known = False
        self.campaign: Campaign | None = None
        self.session_ctx: dict[str, Any] = base_ctx
        self.referrer: str | None = None
        self.first_page = True

    # -- plumbing

    def start_session(self, t: float, campaign: Campaign | None, referrer: str | None, known: bool) -> None:
        self.t, self.campaign, self.referrer, self.known = min(t, self.end - 0.001), campaign, referrer, known
        self.first_page = True
        self.session_ctx = dict(self.base_ctx)
        if campaign is not None:
            self.session_ctx["campaign"] = {"name": campaign.name, "source": campaign.source, "medium": campaign.medium}

    def tick(self, mean: float = 45.0) -> None:
        # Never past the end of the period (events then share the last millisecond, in order).
        self.t = min(self.t + 1 + float(self.rng.exponential(mean)), self.end - 0.001)

    def ctx(self, path: str, title: str) -> dict[str, Any]:
        url = f"https://{self.cfg.domain}{path}"
        c = self.campaign
        if self.first_page and c is not None:
            url += f"?utm_source={c.source}&utm_medium={c.medium}&utm_campaign={c.name}"
        page: dict[str, Any] = {"path": path, "url": url, "title": title}
        if self.first_page and self.referrer:
            page["referrer"] = self.referrer
        self.first_page = False
        return {**self.session_ctx, "page": page}

    def emit(self, kind: str, ctx: dict[str, Any], at: float | None = None, **fields: Any) -> None:
        msg: dict[str, Any] = {
            "type": kind,
            "messageId": message_id("synthetic", self.cfg.seed, self.idx, self.seq),
            "timestamp": iso(self.t if at is None else at),
            "_seq": self.seq,
        }
        self.seq += 1
        if self.known:
            msg["userId"] = self.user_id
        msg["anonymousId"] = self.anonymous_id
        msg.update(fields)
        msg["context"] = ctx
        self.out.append(msg)

    def track(self, event: str, path: str, title: str, properties: dict[str, Any], at: float | None = None) -> None:
        """A track event now, or at a later time ``at`` (a later visit: no campaign, no referrer)."""
        if at is None:
            ctx = self.ctx(path, title)
        else:
            page = {"path": path, "url": f"https://{self.cfg.domain}{path}", "title": title}
            ctx = {**self.base_ctx, "page": page}
        self.emit("track", ctx, at=at, event=event, properties=properties)

    # -- behaviours

    def identify(self) -> None:
        country = self.base_ctx["location"]["country"]
        traits = {
            "email": f"{self.user_id}@example.com",
            "first_name": FIRST_NAMES[self.idx % len(FIRST_NAMES)],
            "country": country,
            "created_at": iso(self.t),
        }
        self.known = True
        self.emit("identify", self.ctx("/account", "Your account"), traits=traits)
        self.tick(5)

    def sign_up(self) -> None:
        self.tick()
        self.known = True
        self.track("Signed Up", "/signup", "Create your account", {"method": "email"})
        self.identify()

    def read_article(self, j: int) -> None:
        g = self.world
        title, path = g.article_titles[j], g.article_paths[j]
        ctx = self.ctx(path, title)
        self.emit(
            "page",
            ctx,
            name=title,
            properties={
                "category": g.categories[g.article_cat[j]],
                "tags": list(g.article_tags[j]),
                "title": title,
                "url": ctx["page"]["url"],
                "path": path,
            },
        )
        self.tick(90)

    def browse(self, n_views: int, allow_order: bool) -> None:
        """Views -> add to cart (price sensitive, boosted by taste and deals) -> maybe an order."""
        g, cfg, rng = self.world, self.cfg, self.rng
        c = self.campaign
        deal = c is not None and c.deal
        discount = c.discount if c is not None and c.deal else 0.0
        cart: list[tuple[int, int]] = []
        draws = np.searchsorted(self.items_cum, rng.random(n_views) * self.items_cum[-1], side="right")
        for i in np.minimum(draws, len(self.items_cum) - 1):
            i = int(i)
            product = g.product(i)
            price = product["price"] * (1 - discount)
            self.track(
                "Product Viewed",
                f"/products/{product['product_id']}",
                product["name"],
                {**product, "tags": list(g.item_tags[i])},
            )
            self.tick()
            liked = 0.8 if g.item_cat[i] == self.dominant else 0.0
            x = (
                logit(cfg.cart_rate)
                + liked
                + (0.8 if deal else 0.0)
                - self.price_sens * math.log(price / g.median_price)
            )
            if rng.random() < sigmoid(x):
                qty = 1 + int(rng.poisson(0.25))
                cart.append((i, qty))
                self.track(
                    "Product Added",
                    f"/products/{product['product_id']}",
                    product["name"],
                    {
                        "product_id": product["product_id"],
                        "category": product["category"],
                        "price": round(price, 2),
                        "quantity": qty,
                    },
                )
                self.tick(20)
            elif rng.random() < cfg.wishlist_rate:
                self.track(
                    "Product Added to Wishlist",
                    f"/products/{product['product_id']}",
                    product["name"],
                    {"product_id": product["product_id"], "category": product["category"]},
                )
                self.tick(10)
        if not cart or not allow_order:
            return
        total = sum(float(g.item_price[i]) * (1 - discount) * q for i, q in cart)
        x = (
            logit(cfg.purchase_rate)
            + (0.7 if deal else 0.0)
            - 0.5 * self.price_sens * math.log(max(total, 1.0) / g.median_price)
        )
        if rng.random() >= sigmoid(x):
            return
        self.tick(120)
        products = [
            {**g.product(i), "price": round(float(g.item_price[i]) * (1 - discount), 2), "quantity": q} for i, q in cart
        ]
        revenue = round(sum(p["price"] * p["quantity"] for p in products), 2)
        order_id = message_id("synthetic-order", cfg.seed, self.idx, self.seq)[:13]
        props: dict[str, Any] = {
            "order_id": order_id,
            "revenue": revenue,
            "currency": cfg.currency,
            "products": products,
        }
        if deal and c is not None:
            props["coupon"] = c.name
            props["discount"] = round(sum(float(g.item_price[i]) * q for i, q in cart) - revenue, 2)
        self.track("Order Completed", "/checkout/complete", "Thank you for your order", props)
        # Later: a review per product (rating follows affinity), or a refund of the whole order.
        if rng.random() < cfg.refund_rate:
            at = self.t + 86_400 * float(rng.uniform(1, 14))
            if at < self.end:
                self.track(
                    "Order Refunded",
                    "/account/orders",
                    "Your orders",
                    {"order_id": order_id, "revenue": revenue, "currency": cfg.currency, "products": products},
                    at=at,
                )
            return
        for p_i, (i, _) in enumerate(cart):
            if rng.random() >= cfg.review_rate:
                continue
            at = self.t + 86_400 * float(rng.uniform(2, 20)) + p_i
            if at >= self.end:
                continue
            v = g.item_factors[i]
            affinity = float(v @ self.taste) / max(float(np.linalg.norm(v)), 1e-9)  # cosine, -1..1
            rating = int(np.clip(round(3.2 + 1.8 * affinity + rng.normal(0, 0.7)), 1, 5))
            product = g.product(i)
            self.track(
                "Product Reviewed",
                f"/products/{product['product_id']}",
                product["name"],
                {"product_id": product["product_id"], "category": product["category"], "rating": rating},
                at=at,
            )
