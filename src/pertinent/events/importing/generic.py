"""Any other file: a :class:`ColumnMapping` says which column holds what, the :class:`GenericConverter` applies it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pertinent.events.importing.cleaning import (
    clean_ids,
    drop_none,
    finite_or_none,
    iso_utc,
    parse_timestamps,
    to_numbers,
)
from pertinent.events.importing.converter import CATALOGUE_COLUMNS, Converter
from pertinent.events.importing.messages import LIBRARY, ORDER_EVENTS, PRODUCT_EVENTS, message_id
from pertinent.events.importing.readers import ImportFileError, read_chunks
from pertinent.events.importing.report import ImportReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnMapping", "GenericConverter", "parse_event_map"]


def parse_event_map(pairs: Iterable[str] | str | None) -> dict[str, str]:
    """Parse CLI event mappings like ``pv=Product Viewed`` (a list, or one comma-separated string).

    >>> parse_event_map(["pv=Product Viewed", "buy = Order Completed"])
    {'pv': 'Product Viewed', 'buy': 'Order Completed'}
    >>> parse_event_map("cart=Product Added,fav=Product Added to Wishlist")["fav"]
    'Product Added to Wishlist'
    """
    if pairs is None:
        return {}
    if isinstance(pairs, str):
        pairs = [p for p in pairs.split(",") if p.strip()]
    out: dict[str, str] = {}
    for pair in pairs:
        raw, sep, event = pair.partition("=")
        if not sep or not raw.strip() or not event.strip():
            raise ValueError(f"event mapping {pair!r}: expected RAW=Event Name, e.g. 'pv=Product Viewed'")
        out[raw.strip()] = event.strip()
    return out


def _categories(values: pd.Series) -> pd.Series:
    """A category column: text as identifiers are cleaned, and a list column's values (Parquet ``list<string>``,
    read as arrays) as lists of their non-empty texts, not the array's printed form ``"['a' 'b']"``.

    >>> import numpy as np, pandas as pd
    >>> _categories(pd.Series([np.array(["a", " b "]), np.array([]), None], dtype=object)).tolist()
    [['a', 'b'], None, None]
    """
    import numpy as np
    import pandas as pd

    def is_list(v: Any) -> bool:
        return isinstance(v, list | tuple | np.ndarray)

    if values.dtype != object or not any(is_list(v) for v in values):
        return clean_ids(values)
    out = []
    for v in values:
        if is_list(v):
            items = [str(x).strip() for x in list(v) if x is not None and str(x).strip()]
            out.append(items or None)
        else:
            out.append(clean_ids(pd.Series([v], dtype=object)).iloc[0])
    return pd.Series(out, index=values.index, dtype=object)


class ColumnMapping(BaseModel):
    """How the columns of an arbitrary CSV/Parquet file map onto Segment events.

    >>> m = ColumnMapping(user_col="uid", item_col="sku", event_col="kind", timestamp_col="ts",
    ...                   event_map={"pv": "Product Viewed"}, timestamp_format="unix_s")
    >>> ColumnMapping.model_validate_json(m.model_dump_json()) == m
    True
    """

    model_config = ConfigDict(extra="forbid")

    user_col: str | None = None  # at least one of user_col / anonymous_col
    timestamp_col: str
    item_col: str | None = None
    event_col: str | None = None
    anonymous_col: str | None = None
    rating_col: str | None = None
    price_col: str | None = None
    quantity_col: str | None = None
    category_col: str | None = None
    title_col: str | None = None
    order_col: str | None = None
    event_map: dict[str, str] = Field(default_factory=dict)
    default_event: str = "Product Viewed"
    keep_unmapped_events: bool = True
    timestamp_format: str = "auto"
    timezone: str = "UTC"
    currency: str = "USD"
    category_separator: str | None = None
    column_names: list[str] | None = None  # for a CSV without header line
    delimiter: str | None = None
    encoding: str = "utf-8"
    source: str = "generic"

    @model_validator(mode="after")
    def _needs_an_id(self) -> ColumnMapping:
        if not self.user_col and not self.anonymous_col:
            raise ValueError("user_col or anonymous_col is required")
        return self

    @field_validator("timestamp_format")
    @classmethod
    def _check_format(cls, v: str) -> str:
        if v not in ("auto", "iso", "unix_s", "unix_ms") and "%" not in v:
            raise ValueError("timestamp_format must be auto, iso, unix_s, unix_ms or a strftime pattern with %")
        return v

    @field_validator("encoding")
    @classmethod
    def _check_encoding(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError as e:
            raise ValueError(f"unknown encoding {v!r} (e.g. utf-8, latin-1, cp1252)") from e
        return v

    @field_validator("delimiter")
    @classmethod
    def _check_delimiter(cls, v: str | None) -> str | None:
        if v is not None:
            v = "\t" if v in ("\\t", "tab", "TAB") else v
            if len(v) != 1 or v in '\r\n"':
                raise ValueError(f"delimiter must be one character (not a quote or newline), got {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown timezone {v!r}") from e
        return v

    def used_columns(self) -> list[str]:
        cols = [
            self.user_col,
            self.timestamp_col,
            self.item_col,
            self.event_col,
            self.anonymous_col,
            self.rating_col,
            self.price_col,
            self.quantity_col,
            self.category_col,
            self.title_col,
            self.order_col,
        ]
        return list(dict.fromkeys(c for c in cols if c))


class GenericConverter(Converter):
    """Any file, through a :class:`ColumnMapping`. Product events need an item id when ``item_col`` is set;
    "Product Reviewed" needs a numeric rating; order events get one product and ``revenue = price * qty``.

    >>> import pandas as pd
    >>> conv = GenericConverter(ColumnMapping(user_col="u", item_col="i", timestamp_col="t", rating_col="r",
    ...                                       default_event="Product Reviewed"))
    >>> msgs = list(conv.convert(pd.DataFrame({"u": ["7"], "i": ["42"], "t": ["2020-05-01"], "r": ["4.5"]}),
    ...                          1, ImportReport()))
    >>> msgs[0]["properties"], msgs[0]["timestamp"]
    ({'product_id': '42', 'rating': 4.5}, '2020-05-01T00:00:00.000Z')
    """

    def __init__(self, mapping: ColumnMapping):
        self.mapping = mapping
        self.name = mapping.source
        self.header = mapping.column_names is None
        self.names = mapping.column_names
        self.delimiter = mapping.delimiter
        self.encoding = mapping.encoding

    def columns(self, path: Path) -> list[str] | None:
        return self.mapping.used_columns()

    def convert(self, chunk: pd.DataFrame, first_row: int, report: ImportReport) -> Iterator[dict[str, Any]]:
        import pandas as pd

        m = self.mapping
        n = len(chunk)
        chunk = chunk.reset_index(drop=True)
        rows = pd.RangeIndex(first_row, first_row + n)
        users = clean_ids(chunk[m.user_col]) if m.user_col else pd.Series([None] * n, dtype=object)
        anons = clean_ids(chunk[m.anonymous_col]) if m.anonymous_col else pd.Series([None] * n, dtype=object)
        ts = parse_timestamps(chunk[m.timestamp_col], m.timestamp_format, m.timezone)
        items = clean_ids(chunk[m.item_col]) if m.item_col else pd.Series([None] * n, dtype=object)
        if m.event_col:
            raw_events = clean_ids(chunk[m.event_col])
            events = raw_events.map(
                lambda v: None if v is None else m.event_map.get(v, v if m.keep_unmapped_events else None)
            )
        else:
            raw_events = pd.Series([None] * n, dtype=object)
            events = pd.Series([m.default_event] * n, dtype=object)
        nan = pd.Series([float("nan")] * n)
        ratings = to_numbers(chunk[m.rating_col]) if m.rating_col else nan
        prices = to_numbers(chunk[m.price_col]) if m.price_col else nan
        qtys = to_numbers(chunk[m.quantity_col]) if m.quantity_col else nan
        cats = _categories(chunk[m.category_col]) if m.category_col else pd.Series([None] * n, dtype=object)
        titles = clean_ids(chunk[m.title_col]) if m.title_col else pd.Series([None] * n, dtype=object)
        orders = clean_ids(chunk[m.order_col]) if m.order_col else pd.Series([None] * n, dtype=object)

        no_user = users.isna() & anons.isna()
        bad_ts = ts.isna() & ~no_user
        if m.event_col and not m.keep_unmapped_events:
            no_event = events.isna() & raw_events.notna()
            unmapped_reason = "unmapped event"
        else:
            no_event = events.isna()
            unmapped_reason = "missing event"
        no_event &= ~no_user & ~bad_ts
        is_product = events.isin(PRODUCT_EVENTS)
        no_item = (is_product & items.isna() & (m.item_col is not None)) & ~no_user & ~bad_ts & ~no_event
        bad_rating = (events == "Product Reviewed") & ratings.isna() & ~no_user & ~bad_ts & ~no_event & ~no_item
        for mask, reason, col in (
            (no_user, "missing user id", m.user_col or m.anonymous_col),
            (bad_ts, "bad timestamp", m.timestamp_col),
            (no_event, unmapped_reason, m.event_col),
            (no_item, "missing item id", m.item_col),
            (bad_rating, "bad rating", m.rating_col),
        ):
            if mask.any():
                vals = chunk[col][mask].tolist() if col else []
                report.skip(reason, rows[mask.to_numpy()].tolist(), vals)
        keep = ~(no_user | bad_ts | no_event | no_item | bad_rating)
        stamps = iso_utc(ts)
        sep = m.category_separator
        ctx = {"library": LIBRARY}
        # Plain lists for the row loop: a pandas scalar lookup per field and row took ~10% of an import.
        ev, us, an, it, ca, ti, od = (col.tolist() for col in (events, users, anons, items, cats, titles, orders))
        pr, qt, ra = prices.tolist(), qtys.tolist(), ratings.tolist()
        for i in keep.to_numpy().nonzero()[0].tolist():
            event = ev[i]
            user, anon, item = us[i], an[i], it[i]
            ts_text = stamps[i]
            cat = ca[i]
            category: Any = cat
            if isinstance(cat, str) and sep:
                category = [c.strip() for c in cat.split(sep) if c.strip()]
            price = finite_or_none(pr[i])
            qty = finite_or_none(qt[i])
            rating = finite_or_none(ra[i])
            mid = message_id(m.source, user, anon, event, item, ts_text, rating, price, qty, cat, od[i])
            if event in ORDER_EVENTS:
                quantity = abs(qty) if qty is not None else 1.0
                product = drop_none(
                    {
                        "product_id": item,
                        "name": ti[i],
                        "price": price,
                        "quantity": quantity,
                        "category": category,
                    }
                )
                props: dict[str, Any] = drop_none(
                    {
                        "order_id": od[i] or mid,
                        "revenue": round(abs(price) * quantity, 2) if price is not None else None,
                        "currency": m.currency if price is not None else None,
                        "products": [product] if item is not None else [],
                    }
                )
            else:
                props = drop_none(
                    {
                        "product_id": item,
                        "name": ti[i],
                        "category": category,
                        "price": price,
                        "quantity": qty,
                        "rating": rating,
                    }
                )
            msg: dict[str, Any] = {
                "type": "track",
                "messageId": mid,
                "event": event,
                "timestamp": ts_text,
                "properties": props,
                "context": ctx,
            }
            if user is not None:
                msg["userId"] = user
            if anon is not None:
                msg["anonymousId"] = anon
            yield msg

    def catalogue(self, path: Path, chunk_rows: int = 200_000) -> pd.DataFrame:
        import pandas as pd

        m = self.mapping
        if not m.item_col:
            raise ImportFileError("a catalogue needs item_col")
        cols = [c for c in (m.item_col, m.title_col, m.category_col, m.price_col) if c]
        parts = []
        for chunk in read_chunks(
            path,
            columns=cols,
            names=self.names,
            chunk_rows=chunk_rows,
            delimiter=self.delimiter,
            encoding=self.encoding,
        ):
            part = pd.DataFrame({"item_id": clean_ids(chunk[m.item_col])})
            part["title"] = clean_ids(chunk[m.title_col]) if m.title_col else None
            part["category"] = _categories(chunk[m.category_col]) if m.category_col else None
            part["price"] = to_numbers(chunk[m.price_col]) if m.price_col else float("nan")
            part = part[part["item_id"].notna()]
            parts.append(
                part.groupby("item_id", sort=False).agg(
                    title=("title", "first"), category=("category", "first"), price=("price", "median")
                )
            )
        if not parts:
            return pd.DataFrame(columns=CATALOGUE_COLUMNS)
        agg = (
            pd.concat(parts)
            .groupby(level=0, sort=False)
            .agg(title=("title", "first"), category=("category", "first"), price=("price", "median"))
        )
        sep = m.category_separator

        def split(c: Any) -> list[str]:
            if c is None or (isinstance(c, float) and math.isnan(c)):
                return []
            if isinstance(c, list):  # a list column's value (Parquet), already split
                return c
            return [x.strip() for x in str(c).split(sep) if x.strip()] if sep else [str(c)]

        out = pd.DataFrame(
            {
                "item_id": agg.index.astype(str),
                "title": agg["title"].to_numpy(),
                "categories": [split(c) for c in agg["category"]],
                "tags": [[] for _ in range(len(agg))],
                "price": agg["price"].to_numpy(dtype=float),
            }
        )
        return out.reset_index(drop=True)
