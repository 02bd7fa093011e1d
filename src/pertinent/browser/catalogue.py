"""The catalogue as a site shows it: items that are available now, read with the public write key.

Sites (and the demo shop) need titles, prices and categories to render recommendations and product
pages; the admin item endpoints must never be called from a browser, so this read-only view is what
``GET /v1/catalog`` serves. Every field of an item is public here, ``attributes`` included: keep costs
or margins out of the catalogue, or out of ``attributes``.

>>> import tempfile
>>> from pertinent.storage.base import ItemRow
>>> from pertinent.storage.sql import SqlStore
>>> store = SqlStore(f"sqlite:///{tempfile.mkdtemp()}/c.db"); store.migrate()
>>> with store.transaction() as tx:
...     tx.upsert_items([ItemRow("b", "Boots", categories=["Shoes"]), ItemRow("m", "Mug", categories=["kitchen"]),
...                      ItemRow("x", "Gone", available_until=1.0)])
>>> catalogue = PublicCatalogue(store)
>>> [i.item_id for i in catalogue.items(category="shoes").items]
['b']
>>> catalogue.items(ids=["m", "x", "nope"]).missing
['x', 'nope']
>>> catalogue.items(limit=1).next, [i.item_id for i in catalogue.items(limit=1, after="b").items]
('b', ['m'])
>>> catalogue.categories().model_dump()["categories"]
[{'name': 'kitchen', 'items': 1}, {'name': 'Shoes', 'items': 1}]
>>> store.close()
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from pertinent.errors import InvalidInput
from pertinent.runtime.cache import TTLCache
from pertinent.storage.base import ItemRow, Store

MAX_LIMIT = 100


class PublicItem(BaseModel):
    """An item as sites see it: every field but the availability window."""

    item_id: str
    title: str
    text: str
    categories: list[str]
    tags: list[str]
    attributes: dict[str, Any]


class CataloguePage(BaseModel):
    """A page of the catalogue in id order; ``next`` is the cursor of the following page (null on the last)."""

    items: list[PublicItem]
    next: str | None


class CatalogueLookup(BaseModel):
    """Items asked for by id, in the order asked; ``missing`` lists the unknown or unavailable ids."""

    items: list[PublicItem]
    missing: list[str]


class CategoryCount(BaseModel):
    name: str
    items: int


class CatalogueCategories(BaseModel):
    """Categories of the available items, with their item counts, by name (case-insensitive)."""

    categories: list[CategoryCount]


def public_item(row: ItemRow) -> PublicItem:
    return PublicItem(
        item_id=row.item_id,
        title=row.title,
        text=row.text,
        categories=row.categories,
        tags=row.tags,
        attributes=row.attributes,
    )


def _available(row: ItemRow, now: float) -> bool:
    return (row.available_from is None or row.available_from <= now) and (
        row.available_until is None or now < row.available_until
    )


class PublicCatalogue:
    """Read-only, available-only catalogue for sites. Listings come from a copy refreshed every ``ttl_s``
    seconds (a new item shows up in listings within that time); lookups by id always read the store."""

    def __init__(self, store: Store, ttl_s: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._listing: TTLCache[list[ItemRow]] = TTLCache(ttl_s, size=1)

    def _load(self) -> list[ItemRow]:
        with self.store.transaction(write=False) as tx:
            return list(tx.iter_items())  # in item_id order (keyset pagination)

    def _all(self) -> list[ItemRow]:
        return self._listing.get_or_compute("items", self._load)

    def items(
        self, ids: Sequence[str] | None = None, category: str | None = None, limit: int = 24, after: str | None = None
    ) -> CataloguePage | CatalogueLookup:
        """Items by id (in the order asked; unknown or unavailable ones listed in ``missing``), or a page of
        the catalogue in id order, optionally of one category (case-insensitive); ``next`` is the cursor."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput.field("limit", f"must be between 1 and {MAX_LIMIT}")
        now = self.clock()
        if ids:
            with self.store.transaction(write=False) as tx:
                found = tx.get_items(ids)
            wanted = list(dict.fromkeys(ids))
            shown = [found[i] for i in wanted if i in found and _available(found[i], now)]
            return CatalogueLookup(
                items=[public_item(r) for r in shown],
                missing=[i for i in wanted if i not in found or not _available(found[i], now)],
            )
        wanted_cat = category.casefold() if category else None
        page: list[ItemRow] = []
        more = False
        for row in self._all():
            if after is not None and row.item_id <= after:
                continue
            if not _available(row, now):
                continue
            if wanted_cat is not None and all(c.casefold() != wanted_cat for c in row.categories):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(row)
        return CataloguePage(items=[public_item(r) for r in page], next=page[-1].item_id if more else None)

    def categories(self) -> CatalogueCategories:
        """Categories of the available items with their item counts, by name."""
        now = self.clock()
        counts: Counter[str] = Counter()
        for row in self._all():
            if _available(row, now):
                counts.update(dict.fromkeys(row.categories, 1))
        ordered = sorted(counts.items(), key=lambda pair: pair[0].casefold())
        return CatalogueCategories(categories=[CategoryCount(name=name, items=n) for name, n in ordered])
