"""Deterministic synthetic shop: catalogue, content articles, users with latent tastes, and their sessions
as Segment-spec event messages.

Everything derives from :class:`SyntheticConfig` (``seed`` included): the same config gives the same
messages, byte for byte, including ``messageId``. Users are generated in blocks, each block from its own
random stream, so a million profiles stream in bounded memory and the ground truth of any user can be
recomputed without generating the events.

The model:

* categories have unit latent vectors; items and articles sit near their category's vector;
* each user has a dominant category (the planted taste segment), sometimes a secondary one, a taste
  vector ``u`` built from them, a price sensitivity, and may be a *deal seeker*;
* items are chosen with probability ``softmax(u . v_item + popularity_weight * log popularity)``;
* a session starts from a campaign (utm; deal campaigns attract deal seekers) or a referrer, views
  products, may add to cart (less likely the more expensive, more likely in a deal session), may
  purchase (price sensitive on the cart total), may read articles; purchases may be reviewed (the rating
  follows the user's affinity) or refunded later;
* users are *known* (identify at their first visit), *identified later* (anonymous sessions first, then
  a "Signed Up" and an ``identify`` carrying both ids) or *anonymous* for good; a share deny the
  personalization purpose in ``context.consent``.

Typical use (e.g. ``make demo``)::

    gen = SyntheticGenerator(SyntheticConfig(n_users=5000, seed=7))
    with rich.progress.Progress() as bar:
        task = bar.add_task("users", total=gen.config.n_users)
        for batch in gen.batches(500):
            ingest(batch)
            bar.update(task, completed=gen.users_done)
    truth = gen.users()  # planted tastes/segments for checking downstream components

Messages of one user are in time order; users follow each other block by block (the stream as a whole
is not globally sorted by time).

>>> gen = SyntheticGenerator(SyntheticConfig(seed=1, n_users=20, n_items=40, days=7))
>>> batches = list(gen.batches(batch_size=100))
>>> messages = [m for b in batches for m in b]
>>> sorted({m["type"] for m in messages}) == ["identify", "page", "track"]
True
>>> [m["messageId"] for m in messages[:3]] == [m["messageId"] for m in list(gen.messages())[:3]]
True
>>> gen.users().shape[0], gen.catalogue().shape[0]
(20, 40)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pertinent.events.importing.messages import message_id

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Campaign", "SyntheticConfig", "SyntheticGenerator", "USER_AGENTS", "generate"]


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


# ---------------------------------------------------------------------------------------------------
# Static tables: vocabulary, user agents, countries, referrers

_VOCAB: list[tuple[str, list[str], list[str], list[str]]] = [
    # category, nouns, modifiers, tags
    (
        "electronics",
        ["headphones", "speaker", "charger", "keyboard", "monitor", "webcam", "router", "earbuds"],
        ["wireless", "bluetooth", "usb-c", "noise-cancelling", "smart", "portable"],
        ["gadgets", "tech", "audio", "accessories", "wireless"],
    ),
    (
        "books",
        ["novel", "cookbook", "biography", "thriller", "anthology", "atlas", "memoir", "guidebook"],
        ["paperback", "hardcover", "illustrated", "bestselling", "classic", "annotated"],
        ["reading", "fiction", "nonfiction", "literature", "gift"],
    ),
    (
        "fashion",
        ["jacket", "sneakers", "dress", "scarf", "jeans", "sweater", "boots", "handbag"],
        ["linen", "leather", "denim", "slim-fit", "vintage", "woolen"],
        ["style", "apparel", "seasonal", "streetwear", "outfit"],
    ),
    (
        "home",
        ["lamp", "cushion", "rug", "vase", "curtains", "candle", "blanket", "shelf"],
        ["ceramic", "cozy", "scandinavian", "velvet", "oak", "minimalist"],
        ["decor", "interior", "living", "cosy", "furnishing"],
    ),
    (
        "beauty",
        ["serum", "moisturizer", "lipstick", "shampoo", "perfume", "mascara", "cleanser", "sunscreen"],
        ["organic", "hydrating", "vegan", "matte", "fragrance-free", "herbal"],
        ["skincare", "makeup", "selfcare", "cosmetics", "haircare"],
    ),
    (
        "sports",
        ["dumbbells", "yoga-mat", "racket", "treadmill", "jersey", "football", "kettlebell", "bicycle"],
        ["adjustable", "lightweight", "pro", "breathable", "carbon", "training"],
        ["fitness", "workout", "training", "running", "gym"],
    ),
    (
        "toys",
        ["puzzle", "robot", "doll", "blocks", "boardgame", "plushie", "kite", "train-set"],
        ["educational", "wooden", "colorful", "interactive", "giant", "magnetic"],
        ["kids", "play", "family", "learning", "games"],
    ),
    (
        "garden",
        ["planter", "hose", "shears", "seeds", "compost", "birdhouse", "trowel", "lantern"],
        ["terracotta", "weatherproof", "solar", "perennial", "galvanized", "heirloom"],
        ["gardening", "outdoor", "plants", "patio", "growing"],
    ),
    (
        "grocery",
        ["coffee", "olive-oil", "chocolate", "tea", "pasta", "honey", "granola", "spices"],
        ["artisan", "fair-trade", "gluten-free", "roasted", "single-origin", "wholegrain"],
        ["food", "pantry", "gourmet", "snacks", "organic"],
    ),
    (
        "music",
        ["guitar", "vinyl", "ukulele", "drumsticks", "amplifier", "keyboard-stand", "microphone", "capo"],
        ["acoustic", "electric", "studio", "remastered", "tuned", "analog"],
        ["instruments", "records", "audio", "musicians", "studio"],
    ),
    (
        "pets",
        ["leash", "catnip", "kibble", "aquarium", "dog-bed", "scratcher", "collar", "birdseed"],
        ["chewproof", "grain-free", "reflective", "orthopedic", "catnip-filled", "washable"],
        ["dogs", "cats", "petcare", "treats", "animals"],
    ),
    (
        "travel",
        ["backpack", "suitcase", "passport-holder", "neck-pillow", "tent", "compass", "duffel", "adapter"],
        ["carry-on", "waterproof", "foldable", "rugged", "ultralight", "hardshell"],
        ["adventure", "luggage", "camping", "trips", "outdoor"],
    ),
]
_BRANDS = [
    "Northwind",
    "Acme",
    "Lumen",
    "Bramble",
    "Kestrel",
    "Solstice",
    "Harbor",
    "Vertex",
    "Juniper",
    "Atlas",
    "Cobalt",
    "Meridian",
    "Pioneer",
    "Quill",
    "Riverside",
    "Summit",
]
_SYLLABLES = ["ka", "lo", "mi", "ra", "ven", "tor", "sa", "bel", "dri", "no", "qua", "zen", "fi", "mar", "po"]
_ARTICLE_TEMPLATES = [
    "How to choose the right {noun}",
    "{n} {modifier} {noun}s we love this season",
    "The beginner's guide to {tag}",
    "Why a {modifier} {noun} is worth it",
    "Caring for your {noun}: a {tag} checklist",
    "{tag} trends: what's new in {category}",
]

# Real browser user agents (desktop / mobile / tablet).
USER_AGENTS: dict[str, list[str]] = {
    "desktop": [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    ],
    "mobile": [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
    ],
    "tablet": [
        "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Safari/537.36",
    ],
}
_DEVICE_TYPES = ["desktop", "mobile", "tablet"]
_DEVICE_WEIGHTS = np.array([0.45, 0.45, 0.10])
# country, locale, timezone, weight
_COUNTRIES = [
    ("US", "en-US", "America/New_York", 0.20),
    ("US", "en-US", "America/Los_Angeles", 0.10),
    ("GB", "en-GB", "Europe/London", 0.14),
    ("DE", "de-DE", "Europe/Berlin", 0.10),
    ("FR", "fr-FR", "Europe/Paris", 0.08),
    ("ES", "es-ES", "Europe/Madrid", 0.05),
    ("IT", "it-IT", "Europe/Rome", 0.05),
    ("NL", "nl-NL", "Europe/Amsterdam", 0.04),
    ("CA", "en-CA", "America/Toronto", 0.05),
    ("BR", "pt-BR", "America/Sao_Paulo", 0.05),
    ("IN", "en-IN", "Asia/Kolkata", 0.05),
    ("JP", "ja-JP", "Asia/Tokyo", 0.04),
    ("AU", "en-AU", "Australia/Sydney", 0.05),
]
_COUNTRY_WEIGHTS = np.array([c[3] for c in _COUNTRIES]) / sum(c[3] for c in _COUNTRIES)
# Referrer of a non-campaign session (None = direct traffic).
_REFERRERS: list[tuple[str | None, float]] = [
    (None, 0.40),
    ("https://www.google.com/", 0.35),
    ("https://www.bing.com/", 0.07),
    ("https://www.facebook.com/", 0.06),
    ("https://www.instagram.com/", 0.05),
    ("https://duckduckgo.com/", 0.04),
    ("https://www.pinterest.com/", 0.03),
]
_REFERRER_CUM = np.cumsum([w for _, w in _REFERRERS])
_CAMPAIGN_REFERRER = {
    "cpc": "https://www.google.com/",
    "social": "https://www.facebook.com/",
    "display": "https://ads.example.net/",
    "email": None,
}
# Share of sessions starting at each local hour (quiet at night, peaks at lunch and in the evening).
_HOURLY = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 4, 4.5, 5, 4.5, 4, 4, 4.5, 5, 6, 7, 7.5, 6.5, 4.5, 2.5])
_HOURLY = _HOURLY / _HOURLY.sum()
_SESSION_ROOM = 3 * 3600.0  # latest session start: this long before the end of the period
_IDENTITIES = ["known", "identified_later", "anonymous"]
_FIRST_NAMES = [
    "Alex",
    "Sam",
    "Maria",
    "Yuki",
    "Lena",
    "Omar",
    "Priya",
    "Jonas",
    "Chloe",
    "Diego",
    "Ava",
    "Noah",
    "Mia",
    "Luca",
    "Zoe",
    "Ethan",
]


def _pseudo_word(rng: np.random.Generator, syllables: int = 3) -> str:
    return "".join(rng.choice(_SYLLABLES, size=syllables))


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


_DAY_CACHE: dict[int, str] = {}


def _iso(t: float) -> str:
    """ISO-8601 UTC with milliseconds for epoch seconds ``t`` (cached per day: strftime is slow)."""
    ms = int(round(t * 1000))
    day, rest = divmod(ms, 86_400_000)
    prefix = _DAY_CACHE.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
        if len(_DAY_CACHE) < 100_000:
            _DAY_CACHE[day] = prefix
    sec, milli = divmod(rest, 1000)
    h, rem = divmod(sec, 3600)
    m, sec = divmod(rem, 60)
    return f"{prefix}{h:02d}:{m:02d}:{sec:02d}.{milli:03d}Z"


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _pick(cum: np.ndarray, rng: np.random.Generator) -> int:
    """Index drawn from a cumulative weight array (much faster than ``rng.choice(p=...)`` per call)."""
    return min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(cum) - 1)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


# ---------------------------------------------------------------------------------------------------


class SyntheticGenerator:
    """Generates the catalogue, the users' ground truth and their event stream from a config.

    >>> gen = SyntheticGenerator(SyntheticConfig(seed=5, n_users=3, n_items=10, n_articles=2))
    >>> list(gen.users().columns[:4])
    ['user_index', 'user_id', 'anonymous_id', 'identity']
    >>> gen.user_factors().shape
    (3, 8)
    """

    BLOCK_USERS = 1000

    def __init__(self, config: SyntheticConfig | None = None):
        self.config = config or SyntheticConfig()
        self.users_done = 0
        self._build_world()

    # ------------------------------------------------------------------ world: categories, items, articles

    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, *stream])

    def _build_world(self) -> None:
        cfg = self.config
        rng = self._rng(1)
        k = cfg.n_factors
        names, nouns, mods, tags = [], [], [], []
        for c in range(cfg.n_categories):
            if c < len(_VOCAB):
                name, n, m, t = _VOCAB[c]
            else:  # beyond the built-in vocabulary: made-up but category-specific words
                name = f"{_pseudo_word(rng, 2)}-{c}"
                n = [_pseudo_word(rng) for _ in range(8)]
                m = [_pseudo_word(rng, 2) for _ in range(6)]
                t = [_pseudo_word(rng, 2) for _ in range(5)]
            names.append(name)
            nouns.append(n)
            mods.append(m)
            tags.append(t)
        self.categories: list[str] = names
        cat_vecs = rng.normal(size=(cfg.n_categories, k))
        self.category_factors = cat_vecs / np.linalg.norm(cat_vecs, axis=1, keepdims=True)
        # Uneven category sizes and popularity.
        self.category_share = rng.dirichlet(np.full(cfg.n_categories, 4.0))

        n = cfg.n_items
        item_cat = rng.choice(cfg.n_categories, size=n, p=self.category_share)
        noise = rng.normal(scale=0.35 / math.sqrt(k), size=(n, k))
        self._item_factors = self.category_factors[item_cat] + noise
        log_pop = rng.normal(scale=1.0, size=n)
        self._item_log_pop = log_pop - np.log(np.exp(log_pop).sum())
        base_price = np.exp(rng.normal(3.2, 0.7, size=cfg.n_categories))
        price = base_price[item_cat] * np.exp(rng.normal(0, 0.5, size=n))
        self._item_price = np.maximum(np.round(price) - 0.01, 0.99)
        self._item_cat = item_cat
        titles, item_tags = [], []
        for i in range(n):
            c = item_cat[i]
            brand = _BRANDS[rng.integers(len(_BRANDS))]
            mod = mods[c][rng.integers(len(mods[c]))]
            noun = nouns[c][rng.integers(len(nouns[c]))]
            titles.append(f"{brand} {mod.title()} {noun.replace('-', ' ').title()}")
            t = list(rng.choice(tags[c], size=int(rng.integers(1, 4)), replace=False))
            if rng.random() < 0.1:
                t.append("eco")
            if rng.random() < 0.15:
                t.append("new")
            item_tags.append([str(x) for x in t])
        self._item_ids = [f"sku-{i + 1:06d}" for i in range(n)]
        self._item_titles = titles
        self._item_tags = item_tags
        self._median_price = float(np.median(self._item_price))

        a = cfg.n_articles
        art_cat = rng.choice(cfg.n_categories, size=a, p=self.category_share) if a else np.zeros(0, int)
        self._article_factors = self.category_factors[art_cat] + rng.normal(scale=0.35 / math.sqrt(k), size=(a, k))
        self._article_cat = art_cat
        self._article_titles, self._article_tags, self._article_paths = [], [], []
        for j in range(a):
            c = art_cat[j]
            tpl = _ARTICLE_TEMPLATES[rng.integers(len(_ARTICLE_TEMPLATES))]
            noun = nouns[c][rng.integers(len(nouns[c]))].replace("-", " ")
            tag = tags[c][rng.integers(len(tags[c]))]
            title = tpl.format(
                noun=noun,
                modifier=mods[c][rng.integers(len(mods[c]))],
                tag=tag,
                category=names[c],
                n=int(rng.integers(3, 12)),
            )
            title = title[0].upper() + title[1:]
            self._article_titles.append(title)
            self._article_tags.append(sorted({tag, *rng.choice(tags[c], size=2, replace=False).tolist()}))
            self._article_paths.append(f"/blog/{_slug(title)}-{j + 1}")
        total_w = sum(c.weight for c in cfg.campaigns)
        self._campaign_w = np.array([c.weight / total_w for c in cfg.campaigns]) if cfg.campaigns else None

    def catalogue(self) -> pd.DataFrame:
        """Items: ``item_id, title, categories, tags, price`` (as the importers' catalogues) plus
        ``category`` and ``popularity`` (ground truth)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "item_id": self._item_ids,
                "title": self._item_titles,
                "categories": [[self.categories[c]] for c in self._item_cat],
                "tags": self._item_tags,
                "price": self._item_price,
                "category": [self.categories[c] for c in self._item_cat],
                "popularity": np.exp(self._item_log_pop),
            }
        )

    def articles(self) -> pd.DataFrame:
        """Content articles: ``article_id, title, category, tags, path``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "article_id": [f"article-{j + 1:04d}" for j in range(self.config.n_articles)],
                "title": self._article_titles,
                "category": [self.categories[c] for c in self._article_cat],
                "tags": self._article_tags,
                "path": self._article_paths,
            }
        )

    def item_factors(self) -> np.ndarray:
        """Latent item vectors, one row per catalogue item (ground truth)."""
        return self._item_factors.copy()

    # ------------------------------------------------------------------ users (ground truth)

    def _n_blocks(self) -> int:
        return -(-self.config.n_users // self.BLOCK_USERS)

    def _user_block(self, b: int) -> dict[str, np.ndarray]:
        cfg = self.config
        rng = self._rng(2, b)
        lo = b * self.BLOCK_USERS
        n = min(self.BLOCK_USERS, cfg.n_users - lo)
        k = cfg.n_factors
        dominant = rng.choice(cfg.n_categories, size=n, p=self.category_share)
        secondary = rng.choice(cfg.n_categories, size=n, p=self.category_share)
        has_secondary = (rng.random(n) < cfg.secondary_taste_share) & (secondary != dominant)
        taste = (
            self.category_factors[dominant]
            + 0.5 * has_secondary[:, None] * self.category_factors[secondary]
            + rng.normal(scale=0.3 / math.sqrt(k), size=(n, k))
        )
        taste = cfg.taste_strength * taste / np.linalg.norm(taste, axis=1, keepdims=True)
        u = rng.random(n)
        identity = np.where(
            u < cfg.anonymous_share, 2, np.where(u < cfg.anonymous_share + cfg.identified_later_share, 1, 0)
        )
        deal = rng.random(n) < cfg.deal_seeker_share
        price_sens = np.exp(rng.normal(0.0, 0.4, size=n)) * np.where(deal, 1.6, 1.0)
        denied = rng.random(n) < cfg.personalization_denied_share
        country = rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_WEIGHTS)
        device = rng.choice(3, size=n, p=_DEVICE_WEIGHTS)
        ua = np.array([rng.integers(len(USER_AGENTS[_DEVICE_TYPES[d]])) for d in device], dtype=int)
        activity = rng.gamma(cfg.sessions_dispersion, cfg.sessions_mean / cfg.sessions_dispersion, size=n)
        sessions = np.clip(rng.poisson(activity), 1, cfg.max_sessions)
        return {
            "index": np.arange(lo, lo + n),
            "dominant": dominant,
            "secondary": np.where(has_secondary, secondary, -1),
            "taste": taste,
            "identity": identity,
            "deal": deal,
            "price_sens": price_sens,
            "denied": denied,
            "country": country,
            "device": device,
            "ua": ua,
            "sessions": sessions,
            "ip": rng.integers(1, 255, size=n),
        }

    @staticmethod
    def user_id(index: int) -> str:
        return f"user-{index + 1:07d}"

    def anonymous_id(self, index: int) -> str:
        return message_id("synthetic-anon", self.config.seed, index)

    def users(self) -> pd.DataFrame:
        """Ground truth per user (no events needed): ids, identity kind, planted segments and traits.

        ``user_id`` is the id the user will eventually have (``None`` for the anonymous-for-good);
        ``dominant_category`` / ``secondary_category`` are the planted taste segments; ``deal_seeker``,
        ``price_sensitivity``, ``personalization_consent`` the other planted attributes.
        """
        import pandas as pd

        frames = []
        for b in range(self._n_blocks()):
            u = self._user_block(b)
            frames.append(
                pd.DataFrame(
                    {
                        "user_index": u["index"],
                        "user_id": [
                            None if ident == 2 else self.user_id(i)
                            for i, ident in zip(u["index"], u["identity"], strict=True)
                        ],
                        "anonymous_id": [self.anonymous_id(i) for i in u["index"]],
                        "identity": [_IDENTITIES[i] for i in u["identity"]],
                        "dominant_category": [self.categories[c] for c in u["dominant"]],
                        "secondary_category": [self.categories[c] if c >= 0 else None for c in u["secondary"]],
                        "deal_seeker": u["deal"],
                        "price_sensitivity": u["price_sens"],
                        "personalization_consent": ~u["denied"],
                        "country": [_COUNTRIES[c][0] for c in u["country"]],
                        "timezone": [_COUNTRIES[c][2] for c in u["country"]],
                        "device_type": [_DEVICE_TYPES[d] for d in u["device"]],
                        "planned_sessions": u["sessions"],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def user_factors(self) -> np.ndarray:
        """Latent taste vectors, one row per user (ground truth)."""
        return np.vstack([self._user_block(b)["taste"] for b in range(self._n_blocks())])

    def planted_segments(self, price_sensitive_quantile: float = 0.75) -> dict[str, set[str]]:
        """The segments planted in the population, as sets of ``anonymousId`` (every message of a user
        carries it, before and after they identify).

        Keys: ``taste:<category>`` (dominant category), ``deal_seekers``, ``price_sensitive`` (top quarter
        of price sensitivity), ``personalization_denied``, ``identified_later``, ``anonymous``, ``known``.

        >>> seg = SyntheticGenerator(SyntheticConfig(seed=5, n_users=50, n_items=10)).planted_segments()
        >>> sum(len(v) for k, v in seg.items() if k.startswith("taste:"))
        50
        """
        users = self.users()
        anon = users["anonymous_id"]
        out: dict[str, set[str]] = {}
        for category in self.categories:
            out[f"taste:{category}"] = set(anon[users["dominant_category"] == category])
        out["deal_seekers"] = set(anon[users["deal_seeker"]])
        cut = users["price_sensitivity"].quantile(price_sensitive_quantile)
        out["price_sensitive"] = set(anon[users["price_sensitivity"] >= cut])
        out["personalization_denied"] = set(anon[~users["personalization_consent"]])
        for kind in _IDENTITIES:
            out[kind] = set(anon[users["identity"] == kind])
        return out

    # ------------------------------------------------------------------ events

    def batches(self, batch_size: int = 500) -> Iterator[list[dict[str, Any]]]:
        """Stream all messages in lists of ``batch_size``."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        batch: list[dict[str, Any]] = []
        for msg in self.messages():
            batch.append(msg)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    __iter__ = batches

    def messages(self) -> Iterator[dict[str, Any]]:
        """Stream all messages one by one (user after user, each user's in time order).

        ``users_done`` counts the users fully emitted so far (for a progress bar with total ``n_users``).
        """
        self.users_done = 0
        for b in range(self._n_blocks()):
            yield from self._block_messages(b)

    def _block_messages(self, b: int) -> Iterator[dict[str, Any]]:
        cfg = self.config
        users = self._user_block(b)
        rng = self._rng(3, b)
        pop = cfg.popularity_weight * self._item_log_pop
        for row in range(len(users["index"])):
            # One user at a time: memory stays O(n_items) whatever the block or catalogue size.
            taste = users["taste"][row]
            probs = _softmax(self._item_factors @ taste + pop)
            a_probs = _softmax(self._article_factors @ taste) if cfg.n_articles else None
            msgs = self._user_messages(users, row, probs, a_probs, rng)
            msgs.sort(key=lambda m: (m["timestamp"], m["_seq"]))
            for m in msgs:
                del m["_seq"]
                yield m
            self.users_done += 1

    def _user_messages(
        self,
        users: dict[str, np.ndarray],
        row: int,
        p_items: np.ndarray,
        p_articles: np.ndarray | None,
        rng: np.random.Generator,
    ) -> list[dict[str, Any]]:
        cfg = self.config
        idx = int(users["index"][row])
        identity = int(users["identity"][row])
        deal_seeker = bool(users["deal"][row])
        country, locale, tzname, _ = _COUNTRIES[users["country"][row]]
        tz = ZoneInfo(tzname)
        device = _DEVICE_TYPES[users["device"][row]]
        ip_last = int(users["ip"][row])
        user = _User(
            gen=self,
            idx=idx,
            user_id=self.user_id(idx),
            anonymous_id=self.anonymous_id(idx),
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
                "consent": {
                    "categoryPreferences": {"analytics": True, "personalization": not bool(users["denied"][row])}
                },
            },
        )
        n_sessions = int(users["sessions"][row])
        session_days = np.sort(rng.integers(0, cfg.days, size=n_sessions))
        session_hours = rng.choice(24, size=n_sessions, p=_HOURLY)
        # The session in which an identified-later user signs up (known users identify in the first one).
        signup_session = int(rng.integers(0, n_sessions)) if identity == 1 else 0
        local_start = datetime(cfg.start.year, cfg.start.month, cfg.start.day, tzinfo=tz)
        start, articles_cum = cfg.start.timestamp(), None if p_articles is None else np.cumsum(p_articles)
        deal_cum = None
        if self._campaign_w is not None:
            w = self._campaign_w * np.array([3.0 if (c.deal and deal_seeker) else 1.0 for c in cfg.campaigns])
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
                campaign = cfg.campaigns[_pick(deal_cum, rng)]
                referrer = _CAMPAIGN_REFERRER.get(campaign.medium)
            else:
                referrer = _REFERRERS[_pick(_REFERRER_CUM, rng)][0]
            user.start_session(t, campaign, referrer, known=identity == 0 or (identity == 1 and s > signup_session))
            if identity == 0 and s == 0:
                user.identify()
            elif identity == 1 and s == signup_session:
                user.browse(n_views=1 + int(rng.poisson(1.0)), allow_order=False)
                user.sign_up()
            if p_articles is not None and rng.random() < cfg.article_session_share:
                for _ in range(1 + int(rng.poisson(0.7))):
                    user.read_article(_pick(articles_cum, rng))
            user.browse(n_views=1 + int(rng.poisson(max(cfg.views_per_session_mean - 1, 0))), allow_order=True)
        return user.out


class _User:
    """Event builder for one synthetic user: holds the session clock, ids and context."""

    def __init__(
        self,
        gen: SyntheticGenerator,
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
        self.gen, self.cfg = gen, gen.config
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
            "timestamp": _iso(self.t if at is None else at),
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
            "first_name": _FIRST_NAMES[self.idx % len(_FIRST_NAMES)],
            "country": country,
            "created_at": _iso(self.t),
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
        g = self.gen
        title, path = g._article_titles[j], g._article_paths[j]
        ctx = self.ctx(path, title)
        self.emit(
            "page",
            ctx,
            name=title,
            properties={
                "category": g.categories[g._article_cat[j]],
                "tags": list(g._article_tags[j]),
                "title": title,
                "url": ctx["page"]["url"],
                "path": path,
            },
        )
        self.tick(90)

    def _product(self, i: int) -> dict[str, Any]:
        g = self.gen
        return {
            "product_id": g._item_ids[i],
            "name": g._item_titles[i],
            "category": g.categories[g._item_cat[i]],
            "price": float(g._item_price[i]),
        }

    def browse(self, n_views: int, allow_order: bool) -> None:
        """Views -> add to cart (price sensitive, boosted by taste and deals) -> maybe an order."""
        g, cfg, rng = self.gen, self.cfg, self.rng
        c = self.campaign
        deal = c is not None and c.deal
        discount = c.discount if deal else 0.0
        cart: list[tuple[int, int]] = []
        draws = np.searchsorted(self.items_cum, rng.random(n_views) * self.items_cum[-1], side="right")
        for i in np.minimum(draws, len(self.items_cum) - 1):
            i = int(i)
            product = self._product(i)
            price = product["price"] * (1 - discount)
            self.track(
                "Product Viewed",
                f"/products/{product['product_id']}",
                product["name"],
                {**product, "tags": list(g._item_tags[i])},
            )
            self.tick()
            liked = 0.8 if g._item_cat[i] == self.dominant else 0.0
            x = (
                _logit(cfg.cart_rate)
                + liked
                + (0.8 if deal else 0.0)
                - self.price_sens * math.log(price / g._median_price)
            )
            if rng.random() < _sigmoid(x):
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
        total = sum(float(g._item_price[i]) * (1 - discount) * q for i, q in cart)
        x = (
            _logit(cfg.purchase_rate)
            + (0.7 if deal else 0.0)
            - 0.5 * self.price_sens * math.log(max(total, 1.0) / g._median_price)
        )
        if rng.random() >= _sigmoid(x):
            return
        self.tick(120)
        products = [
            {**self._product(i), "price": round(float(g._item_price[i]) * (1 - discount), 2), "quantity": q}
            for i, q in cart
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
            props["discount"] = round(sum(float(g._item_price[i]) * q for i, q in cart) - revenue, 2)
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
            v = g._item_factors[i]
            affinity = float(v @ self.taste) / max(float(np.linalg.norm(v)), 1e-9)  # cosine, -1..1
            rating = int(np.clip(round(3.2 + 1.8 * affinity + rng.normal(0, 0.7)), 1, 5))
            product = self._product(i)
            self.track(
                "Product Reviewed",
                f"/products/{product['product_id']}",
                product["name"],
                {"product_id": product["product_id"], "category": product["category"], "rating": rating},
                at=at,
            )


def generate(config: SyntheticConfig | None = None, batch_size: int = 500) -> Iterator[list[dict[str, Any]]]:
    """Shortcut: stream message batches for a config (defaults if ``None``).

    >>> sum(len(b) for b in generate(SyntheticConfig(n_users=5, n_items=20, seed=2))) > 5
    True
    """
    return SyntheticGenerator(config).batches(batch_size)
