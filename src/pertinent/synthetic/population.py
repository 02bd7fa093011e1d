"""The population: users generated in blocks of :data:`BLOCK_USERS`, each block from its own random stream, so
a million profiles stream in bounded memory and the ground truth of any user is recomputed without its events.

Each user has a dominant category (the planted taste segment), sometimes a secondary one, a taste vector built
from them, a price sensitivity, and may be a *deal seeker*; users are *known*, *identified later* or
*anonymous* for good, and a share deny the personalization purpose.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from pertinent.events.importing.messages import message_id
from pertinent.synthetic.config import SyntheticConfig
from pertinent.synthetic.tables import COUNTRIES, COUNTRY_WEIGHTS, DEVICE_TYPES, DEVICE_WEIGHTS, IDENTITIES, USER_AGENTS
from pertinent.synthetic.world import World, rng_for

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BLOCK_USERS", "Population"]

BLOCK_USERS = 1000


class Population:
    """The users of a config (ground truth), block by block.

    >>> from pertinent.synthetic.config import SyntheticConfig
    >>> cfg = SyntheticConfig(seed=5, n_users=3, n_items=10, n_articles=2)
    >>> people = Population(cfg, World(cfg))
    >>> people.n_blocks(), list(people.users().columns[:4])
    (1, ['user_index', 'user_id', 'anonymous_id', 'identity'])
    """

    def __init__(self, config: SyntheticConfig, world: World) -> None:
        self.config = config
        self.world = world

    def n_blocks(self) -> int:
        """Blocks of at most :data:`BLOCK_USERS` users."""
        return -(-self.config.n_users // BLOCK_USERS)

    def block(self, b: int) -> dict[str, np.ndarray]:
        """The users of block ``b`` as arrays (one row per user), from the block's own random stream."""
        cfg = self.config
        rng = rng_for(cfg, 2, b)
        lo = b * BLOCK_USERS
        n = min(BLOCK_USERS, cfg.n_users - lo)
        k = cfg.n_factors
        dominant = rng.choice(cfg.n_categories, size=n, p=self.world.category_share)
        secondary = rng.choice(cfg.n_categories, size=n, p=self.world.category_share)
        has_secondary = (rng.random(n) < cfg.secondary_taste_share) & (secondary != dominant)
        taste = (
            self.world.category_factors[dominant]
            + 0.5 * has_secondary[:, None] * self.world.category_factors[secondary]
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
        country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS)
        device = rng.choice(3, size=n, p=DEVICE_WEIGHTS)
        ua = np.array([rng.integers(len(USER_AGENTS[DEVICE_TYPES[d]])) for d in device], dtype=int)
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
        for b in range(self.n_blocks()):
            u = self.block(b)
            frames.append(
                pd.DataFrame(
                    {
                        "user_index": u["index"],
                        "user_id": [
                            None if ident == 2 else self.user_id(i)
                            for i, ident in zip(u["index"], u["identity"], strict=True)
                        ],
                        "anonymous_id": [self.anonymous_id(i) for i in u["index"]],
                        "identity": [IDENTITIES[i] for i in u["identity"]],
                        "dominant_category": [self.world.categories[c] for c in u["dominant"]],
                        "secondary_category": [self.world.categories[c] if c >= 0 else None for c in u["secondary"]],
                        "deal_seeker": u["deal"],
                        "price_sensitivity": u["price_sens"],
                        "personalization_consent": ~u["denied"],
                        "country": [COUNTRIES[c][0] for c in u["country"]],
                        "timezone": [COUNTRIES[c][2] for c in u["country"]],
                        "device_type": [DEVICE_TYPES[d] for d in u["device"]],
                        "planned_sessions": u["sessions"],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def user_factors(self) -> np.ndarray:
        """Latent taste vectors, one row per user (ground truth)."""
        return np.vstack([self.block(b)["taste"] for b in range(self.n_blocks())])

    def planted_segments(self, price_sensitive_quantile: float = 0.75) -> dict[str, set[str]]:
        """The segments planted in the population, as sets of ``anonymousId`` (every message of a user
        carries it, before and after they identify).

        Keys: ``taste:<category>`` (dominant category), ``deal_seekers``, ``price_sensitive`` (top quarter
        of price sensitivity), ``personalization_denied``, ``identified_later``, ``anonymous``, ``known``.

        >>> cfg = SyntheticConfig(seed=5, n_users=50, n_items=10)
        >>> seg = Population(cfg, World(cfg)).planted_segments()
        >>> sum(len(v) for k, v in seg.items() if k.startswith("taste:"))
        50
        """
        users = self.users()
        anon = users["anonymous_id"]
        out: dict[str, set[str]] = {}
        for category in self.world.categories:
            out[f"taste:{category}"] = set(anon[users["dominant_category"] == category])
        out["deal_seekers"] = set(anon[users["deal_seeker"]])
        cut = users["price_sensitivity"].quantile(price_sensitive_quantile)
        out["price_sensitive"] = set(anon[users["price_sensitivity"] >= cut])
        out["personalization_denied"] = set(anon[~users["personalization_consent"]])
        for kind in IDENTITIES:
            out[kind] = set(anon[users["identity"] == kind])
        return out
