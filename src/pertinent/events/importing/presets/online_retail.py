"""``online-retail``: UCI Online Retail (Parquet or CSV) invoice lines -> orders and refunds.

One "Order Completed" per invoice and customer with its product lines, ``revenue = sum(quantity * unit price)``
in GBP; cancellations (InvoiceNo ``C...`` or a negative quantity) become "Order Refunded" with a positive
revenue. Lines without CustomerID are kept by default as guest orders with a deterministic ``anonymousId`` per
invoice (``missing_customer="skip"`` drops them, counted as "missing CustomerID"). Non-product stock codes
(postage, fees, discounts, samples, vouchers...) and lines with a non-positive price (stock adjustments) are
skipped and counted. Each customer gets one ``identify`` with their country as a trait the first time they
appear (again if their country changes); every order carries ``context.location.country``. Naive InvoiceDate
values are read as Europe/London wall-clock time. The dataset has no categories: ``category`` is the product
type, the last word of the description ("WHITE HANGING HEART T-LIGHT HOLDER" -> "holder"), a heuristic. Orders
with more than ``max_products`` lines are split into several messages with the same ``order_id`` (and
``order_part``/``order_parts``) so each stays under Segment's 32 KB event limit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pertinent.events.importing.cleaning import clean_ids, iso_utc, parse_timestamps, to_numbers
from pertinent.events.importing.converter import CATALOGUE_COLUMNS, Converter, skip_masks
from pertinent.events.importing.messages import LIBRARY, message_id
from pertinent.events.importing.readers import read_chunks
from pertinent.events.importing.report import ImportReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NON_PRODUCT_CODES", "OnlineRetailPreset", "is_product_code", "retail_product_type"]

NON_PRODUCT_CODES = frozenset({"POST", "DOT", "D", "M", "S", "B", "C2", "CRUK", "PADS", "BANK CHARGES", "AMAZONFEE"})
_NON_PRODUCT_PREFIXES = ("GIFT_",)
_TYPE_STOPWORDS = frozenset(
    {
        "set",
        "of",
        "the",
        "and",
        "with",
        "in",
        "for",
        "assorted",
        "design",
        "colour",
        "colours",
        "small",
        "large",
        "mini",
        "jumbo",
        "pack",
        "box",
    }
)
_WORD = re.compile(r"[A-Za-z]{3,}")


def is_product_code(code: str) -> bool:
    """False for the shop's postage, fee, discount, sample and voucher codes.

    >>> [is_product_code(c) for c in ["85123A", "POST", "gift_0001_20", "BANK CHARGES"]]
    [True, False, False, False]
    """
    up = code.strip().upper()
    return up not in NON_PRODUCT_CODES and not up.startswith(_NON_PRODUCT_PREFIXES)


def retail_product_type(description: str | None) -> str | None:
    """The product type of an Online Retail description: its last meaningful word, lower case.

    >>> retail_product_type("WHITE HANGING HEART T-LIGHT HOLDER")
    'holder'
    >>> retail_product_type("PACK OF 72 RETROSPOT CAKE CASES"), retail_product_type("??")
    ('cases', None)
    """
    if not description:
        return None
    words = [w.lower() for w in _WORD.findall(description)]
    words = [w for w in words if w not in _TYPE_STOPWORDS]
    return words[-1] if words else None


def _tags(description: str | None) -> list[str]:
    if not description:
        return []
    words = [w.lower() for w in _WORD.findall(description)]
    return list(dict.fromkeys(w for w in words if w not in _TYPE_STOPWORDS))


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


class OnlineRetailPreset(Converter):
    """UCI Online Retail invoice lines -> orders and refunds (see the module docstring for the rules).

    >>> OnlineRetailPreset(missing_customer="skip").missing_customer
    'skip'
    """

    name = "online-retail"
    COLUMNS = [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ]

    def __init__(
        self,
        missing_customer: Literal["anonymous", "skip"] = "anonymous",
        currency: str = "GBP",
        timezone: str = "Europe/London",
        max_products: int = 150,
        encoding: str = "utf-8",
    ):
        if missing_customer not in ("anonymous", "skip"):
            raise ValueError("missing_customer must be 'anonymous' or 'skip'")
        if max_products < 1:
            raise ValueError("max_products must be >= 1")
        self.missing_customer = missing_customer
        self.currency = currency
        self.timezone = timezone
        self.max_products = max_products
        self.encoding = encoding
        self._reset()

    def _reset(self) -> None:
        self._pending: dict[str, Any] | None = None
        self._parts: Counter[tuple[str, str, str]] = Counter()
        self._seen_customers: set[tuple[str, str | None]] = set()
        self._types: dict[str, str | None] = {}

    def source_file(self, path: Path) -> Path:
        if path.is_dir():
            for name in ("online_retail.parquet", "online_retail.csv", "Online Retail.csv"):
                if (path / name).exists():
                    return path / name
            return path / "online_retail.parquet"
        return path

    def columns(self, path: Path) -> list[str]:
        return self.COLUMNS

    def start(self, path: Path) -> None:
        self._reset()

    def _timestamps(self, values: pd.Series) -> pd.Series:
        ts = parse_timestamps(values, "auto", self.timezone)
        retry = ts.isna() & values.notna()
        if retry.any():  # the original UCI CSV export writes 12/1/2010 8:26
            ts[retry] = parse_timestamps(values[retry].astype(str), "%m/%d/%Y %H:%M", self.timezone)
        return ts

    def _type(self, desc: str | None) -> str | None:
        key = desc or ""
        if key not in self._types:
            self._types[key] = retail_product_type(desc)
        return self._types[key]

    def convert(self, chunk: pd.DataFrame, first_row: int, report: ImportReport) -> Iterator[dict[str, Any]]:
        import pandas as pd

        chunk = chunk.reset_index(drop=True)
        rows = pd.RangeIndex(first_row, first_row + len(chunk))
        inv = clean_ids(chunk["InvoiceNo"])
        code = clean_ids(chunk["StockCode"])
        desc = clean_ids(chunk["Description"])
        qty = to_numbers(chunk["Quantity"])
        price = to_numbers(chunk["UnitPrice"])
        cust = clean_ids(chunk["CustomerID"])
        country = clean_ids(chunk["Country"])
        ts = self._timestamps(chunk["InvoiceDate"])
        non_product = code.map(lambda c: c is not None and not is_product_code(c)).astype(bool)
        checks = [
            (inv.isna(), "missing InvoiceNo", chunk["InvoiceNo"]),
            (ts.isna(), "bad timestamp", chunk["InvoiceDate"]),
            (code.isna(), "missing StockCode", chunk["StockCode"]),
            (non_product, "non-product stock code", code),
            (qty.isna() | (qty == 0), "bad quantity", chunk["Quantity"]),
            (price.isna() | (price <= 0), "non-positive price", chunk["UnitPrice"]),
        ]
        if self.missing_customer == "skip":
            checks.append((cust.isna(), "missing CustomerID", chunk["CustomerID"]))
        keep = skip_masks(rows, report, checks)
        refund = (inv.str.upper().str.startswith("C", na=False) | (qty < 0)).to_numpy()
        stamps = iso_utc(ts)
        inv_l, code_l, desc_l, qty_l, price_l = (
            inv.tolist(),
            code.tolist(),
            desc.tolist(),
            qty.tolist(),
            price.tolist(),
        )
        cust_l, country_l = cust.tolist(), country.tolist()
        for i in keep[keep].index:
            kind = "refund" if refund[i] else "order"
            key = (inv_l[i], cust_l[i] or "", kind)
            if self._pending is None or self._pending["key"] != key:
                if self._pending is not None:
                    yield from self._emit(self._pending)
                self._pending = {
                    "key": key,
                    "timestamp": stamps[i],
                    "country": country_l[i],
                    "products": [],
                    "revenue": 0.0,
                }
                c = cust_l[i]
                if c is not None and (c, country_l[i]) not in self._seen_customers:
                    self._seen_customers.add((c, country_l[i]))
                    yield self._identify(c, country_l[i], stamps[i])
            q = abs(qty_l[i])
            p = price_l[i]
            self._pending["products"].append(
                {
                    "product_id": code_l[i],
                    "name": desc_l[i],
                    "price": p,
                    "quantity": _number(q),
                    "category": self._type(desc_l[i]),
                }
            )
            self._pending["revenue"] += q * p

    def flush(self, report: ImportReport) -> Iterator[dict[str, Any]]:
        if self._pending is not None:
            yield from self._emit(self._pending)
            self._pending = None

    def _context(self, country: str | None) -> dict[str, Any]:
        ctx: dict[str, Any] = {"library": LIBRARY}
        if country:
            ctx["location"] = {"country": country}
        return ctx

    def _identify(self, customer: str, country: str | None, timestamp: str) -> dict[str, Any]:
        return {
            "type": "identify",
            "messageId": message_id(self.name, "identify", customer, country),
            "userId": customer,
            "timestamp": timestamp,
            "traits": {"country": country} if country else {},
            "context": self._context(country),
        }

    def _emit(self, order: dict[str, Any]) -> Iterator[dict[str, Any]]:
        invoice, customer, kind = order["key"]
        products = order["products"]
        chunks = [products[i : i + self.max_products] for i in range(0, len(products), self.max_products)]
        for n, part in enumerate(chunks):
            part_no = self._parts[order["key"]]
            self._parts[order["key"]] += 1
            props: dict[str, Any] = {
                "order_id": invoice,
                "revenue": round(sum(p["price"] * p["quantity"] for p in part), 2),
                "currency": self.currency,
                "products": part,
            }
            if len(chunks) > 1:
                props["order_part"] = n + 1
                props["order_parts"] = len(chunks)
            msg: dict[str, Any] = {
                "type": "track",
                "event": "Order Refunded" if kind == "refund" else "Order Completed",
                "messageId": message_id(self.name, kind, invoice, customer, part_no),
                "timestamp": order["timestamp"],
                "properties": props,
                "context": self._context(order["country"]),
            }
            if customer:
                msg["userId"] = customer
            else:
                msg["anonymousId"] = message_id(self.name, "guest", invoice)
            yield msg

    def catalogue(self, path: Path, chunk_rows: int = 200_000) -> pd.DataFrame:
        import pandas as pd

        path = self.source_file(path)
        counts: list[pd.DataFrame] = []
        for chunk in read_chunks(
            path,
            columns=["StockCode", "Description", "Quantity", "UnitPrice"],
            chunk_rows=chunk_rows,
            encoding=self.encoding,
        ):
            df = pd.DataFrame(
                {
                    "item_id": clean_ids(chunk["StockCode"]),
                    "title": clean_ids(chunk["Description"]),
                    "qty": to_numbers(chunk["Quantity"]),
                    "price": to_numbers(chunk["UnitPrice"]),
                }
            )
            df = df[df["item_id"].notna() & (df["qty"] > 0) & (df["price"] > 0)]
            df = df[df["item_id"].map(is_product_code).astype(bool)]
            df["title"] = df["title"].fillna("")
            counts.append(df.groupby(["item_id", "title", "price"], sort=False).size().rename("n").reset_index())
        if not counts:
            return pd.DataFrame(columns=CATALOGUE_COLUMNS)
        allc = pd.concat(counts).groupby(["item_id", "title", "price"], sort=False)["n"].sum().reset_index()
        # Most frequent description; most frequent unit price (the list price, not promotions or bulk).
        titles = (
            allc.groupby(["item_id", "title"], sort=False)["n"]
            .sum()
            .reset_index()
            .sort_values(["item_id", "n"], ascending=[True, False])
            .drop_duplicates("item_id")
        )
        prices = allc.sort_values(["item_id", "n", "price"], ascending=[True, False, True]).drop_duplicates("item_id")[
            ["item_id", "price"]
        ]
        out = titles[["item_id", "title"]].merge(prices, on="item_id")
        out["title"] = out["title"].replace("", None)
        out["categories"] = [[t] if (t := retail_product_type(d)) else [] for d in out["title"]]
        out["tags"] = [_tags(d) for d in out["title"]]
        return out[CATALOGUE_COLUMNS].sort_values("item_id").reset_index(drop=True)
