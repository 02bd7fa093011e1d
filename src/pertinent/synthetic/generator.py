"""The generator: a :class:`World` and a :class:`Population` from one config, and the event stream they make."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from pertinent.synthetic.config import SyntheticConfig
from pertinent.synthetic.population import Population
from pertinent.synthetic.sessions import user_messages
from pertinent.synthetic.util import softmax
from pertinent.synthetic.world import World, rng_for

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SyntheticGenerator", "generate"]


class SyntheticGenerator:
    """Generates the catalogue, the users' ground truth and their event stream from a config.

    >>> gen = SyntheticGenerator(SyntheticConfig(seed=5, n_users=3, n_items=10, n_articles=2))
    >>> list(gen.users().columns[:4])
    ['user_index', 'user_id', 'anonymous_id', 'identity']
    >>> gen.user_factors().shape
    (3, 8)
    """

    def __init__(self, config: SyntheticConfig | None = None):
        self.config = config or SyntheticConfig()
        self.users_done = 0
        self.world = World(self.config)
        self.population = Population(self.config, self.world)
        self.categories: list[str] = self.world.categories
        self.category_factors = self.world.category_factors
        self.category_share = self.world.category_share

    # ------------------------------------------------------------------ world: categories, items, articles

    def catalogue(self) -> pd.DataFrame:
        """Items: ``item_id, title, categories, tags, price`` (as the importers' catalogues) plus
        ``category`` and ``popularity`` (ground truth)."""
        return self.world.catalogue()

    def articles(self) -> pd.DataFrame:
        """Content articles: ``article_id, title, category, tags, path``."""
        return self.world.articles()

    def item_factors(self) -> np.ndarray:
        """Latent item vectors, one row per catalogue item (ground truth)."""
        return self.world.item_factors.copy()

    # ------------------------------------------------------------------ users (ground truth)

    @staticmethod
    def user_id(index: int) -> str:
        return Population.user_id(index)

    def anonymous_id(self, index: int) -> str:
        return self.population.anonymous_id(index)

    def users(self) -> pd.DataFrame:
        """Ground truth per user (no events needed): see :meth:`Population.users`."""
        return self.population.users()

    def user_factors(self) -> np.ndarray:
        """Latent taste vectors, one row per user (ground truth)."""
        return self.population.user_factors()

    def planted_segments(self, price_sensitive_quantile: float = 0.75) -> dict[str, set[str]]:
        """The planted segments as sets of ``anonymousId``: see :meth:`Population.planted_segments`."""
        return self.population.planted_segments(price_sensitive_quantile)

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
        for b in range(self.population.n_blocks()):
            yield from self._block_messages(b)

    def _block_messages(self, b: int) -> Iterator[dict[str, Any]]:
        cfg, world = self.config, self.world
        users = self.population.block(b)
        rng = rng_for(cfg, 3, b)
        pop = cfg.popularity_weight * world.item_log_pop
        for row in range(len(users["index"])):
            # One user at a time: memory stays O(n_items) whatever the block or catalogue size.
            taste = users["taste"][row]
            probs = softmax(world.item_factors @ taste + pop)
            a_probs = softmax(world.article_factors @ taste) if cfg.n_articles else None
            msgs = user_messages(self.population, users, row, probs, a_probs, rng)
            msgs.sort(key=lambda m: (m["timestamp"], m["_seq"]))
            for m in msgs:
                del m["_seq"]
                yield m
            self.users_done += 1


def generate(config: SyntheticConfig | None = None, batch_size: int = 500) -> Iterator[list[dict[str, Any]]]:
    """Shortcut: stream message batches for a config (defaults if ``None``).

    >>> sum(len(b) for b in generate(SyntheticConfig(n_users=5, n_items=20, seed=2))) > 5
    True
    """
    return SyntheticGenerator(config).batches(batch_size)
