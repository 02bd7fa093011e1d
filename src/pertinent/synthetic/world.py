"""The shop's world: categories with unit latent vectors, items and articles near their category's vector.

Everything here is drawn from the config's random stream 1, so the catalogue of a seed never depends on the
number of users.

>>> from pertinent.synthetic.config import SyntheticConfig
>>> world = World(SyntheticConfig(seed=5, n_items=10, n_articles=2))
>>> world.catalogue().shape, list(world.articles().columns)
((10, 7), ['article_id', 'title', 'category', 'tags', 'path'])
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from pertinent.synthetic.config import SyntheticConfig
from pertinent.synthetic.tables import ARTICLE_TEMPLATES, BRANDS, VOCAB
from pertinent.synthetic.util import pseudo_word, slug

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["World", "rng_for"]


def rng_for(config: SyntheticConfig, *stream: int) -> np.random.Generator:
    """The random stream ``stream`` of a config's seed (1: the world; (2, b): user block b; (3, b): its events)."""
    return np.random.default_rng([config.seed, *stream])


class World:
    """Categories, items (with prices, popularity and tags) and content articles of one config."""

    def __init__(self, config: SyntheticConfig) -> None:
        cfg = self.config = config
        rng = rng_for(cfg, 1)
        k = cfg.n_factors
        names: list[str] = []
        nouns: list[list[str]] = []
        mods: list[list[str]] = []
        tags: list[list[str]] = []
        for c in range(cfg.n_categories):
            if c < len(VOCAB):
                name, n_, m_, t_ = VOCAB[c]
            else:  # beyond the built-in vocabulary: made-up but category-specific words
                name = f"{pseudo_word(rng, 2)}-{c}"
                n_ = [pseudo_word(rng) for _ in range(8)]
                m_ = [pseudo_word(rng, 2) for _ in range(6)]
                t_ = [pseudo_word(rng, 2) for _ in range(5)]
            names.append(name)
            nouns.append(n_)
            mods.append(m_)
            tags.append(t_)
        self.categories: list[str] = names
        cat_vecs = rng.normal(size=(cfg.n_categories, k))
        self.category_factors = cat_vecs / np.linalg.norm(cat_vecs, axis=1, keepdims=True)
        # Uneven category sizes and popularity.
        self.category_share = rng.dirichlet(np.full(cfg.n_categories, 4.0))

        n = cfg.n_items
        item_cat = rng.choice(cfg.n_categories, size=n, p=self.category_share)
        noise = rng.normal(scale=0.35 / math.sqrt(k), size=(n, k))
        self.item_factors: np.ndarray = self.category_factors[item_cat] + noise
        log_pop = rng.normal(scale=1.0, size=n)
        self.item_log_pop = log_pop - np.log(np.exp(log_pop).sum())
        base_price = np.exp(rng.normal(3.2, 0.7, size=cfg.n_categories))
        price = base_price[item_cat] * np.exp(rng.normal(0, 0.5, size=n))
        self.item_price = np.maximum(np.round(price) - 0.01, 0.99)
        self.item_cat = item_cat
        titles, item_tags = [], []
        for i in range(n):
            c = item_cat[i]
            brand = BRANDS[rng.integers(len(BRANDS))]
            mod = mods[c][rng.integers(len(mods[c]))]
            noun = nouns[c][rng.integers(len(nouns[c]))]
            titles.append(f"{brand} {mod.title()} {noun.replace('-', ' ').title()}")
            t = list(rng.choice(tags[c], size=int(rng.integers(1, 4)), replace=False))
            if rng.random() < 0.1:
                t.append("eco")
            if rng.random() < 0.15:
                t.append("new")
            item_tags.append([str(x) for x in t])
        self.item_ids = [f"sku-{i + 1:06d}" for i in range(n)]
        self.item_titles = titles
        self.item_tags = item_tags
        self.median_price = float(np.median(self.item_price))

        a = cfg.n_articles
        art_cat = rng.choice(cfg.n_categories, size=a, p=self.category_share) if a else np.zeros(0, int)
        self.article_factors = self.category_factors[art_cat] + rng.normal(scale=0.35 / math.sqrt(k), size=(a, k))
        self.article_cat = art_cat
        self.article_titles: list[str] = []
        self.article_tags: list[list[str]] = []
        self.article_paths: list[str] = []
        for j in range(a):
            c = art_cat[j]
            tpl = ARTICLE_TEMPLATES[rng.integers(len(ARTICLE_TEMPLATES))]
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
            self.article_titles.append(title)
            self.article_tags.append(sorted({tag, *rng.choice(tags[c], size=2, replace=False).tolist()}))
            self.article_paths.append(f"/blog/{slug(title)}-{j + 1}")
        total_w = sum(c.weight for c in cfg.campaigns)
        self.campaign_weights = np.array([c.weight / total_w for c in cfg.campaigns]) if cfg.campaigns else None

    def catalogue(self) -> pd.DataFrame:
        """Items: ``item_id, title, categories, tags, price`` (as the importers' catalogues) plus
        ``category`` and ``popularity`` (ground truth)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "item_id": self.item_ids,
                "title": self.item_titles,
                "categories": [[self.categories[c]] for c in self.item_cat],
                "tags": self.item_tags,
                "price": self.item_price,
                "category": [self.categories[c] for c in self.item_cat],
                "popularity": np.exp(self.item_log_pop),
            }
        )

    def articles(self) -> pd.DataFrame:
        """Content articles: ``article_id, title, category, tags, path``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "article_id": [f"article-{j + 1:04d}" for j in range(self.config.n_articles)],
                "title": self.article_titles,
                "category": [self.categories[c] for c in self.article_cat],
                "tags": self.article_tags,
                "path": self.article_paths,
            }
        )

    def product(self, i: int) -> dict[str, Any]:
        """The product properties of item ``i`` as events carry them."""
        return {
            "product_id": self.item_ids[i],
            "name": self.item_titles[i],
            "category": self.categories[self.item_cat[i]],
            "price": float(self.item_price[i]),
        }
