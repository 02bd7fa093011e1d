"""Public datasets as events frames (read in place; the benchmark and the real-data test use them).

Online Retail: one ``order`` event per cleaned invoice line (revenue = quantity x unit price, item = stock
code); lines of one invoice share a timestamp, so they form one order. Cleaning as the datasets README
says: cancellations (``C`` invoices), non-positive quantities, lines without CustomerID and non-product
stock codes are dropped.

Taobao UserBehavior: ``pv`` / ``cart`` / ``fav`` / ``buy`` events (no revenue) with item ids, kept to the
documented nine days (2017-11-25 to 2017-12-03, China time = UTC+8); a handful of stray rows fall outside.

>>> raw = pd.DataFrame({"InvoiceNo": ["1", "C2", "3", "4"], "StockCode": ["A", "A", "POST", "B"],
...                     "Quantity": [2, 1, 1, 0], "UnitPrice": [1.5] * 4, "CustomerID": [7.0] * 4,
...                     "InvoiceDate": pd.to_datetime(["2011-01-01"] * 4)})
>>> online_retail_events(raw)[["user", "event", "revenue", "item"]].to_dict("records")
[{'user': '7', 'event': 'order', 'revenue': 3.0, 'item': 'A'}]
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

NON_PRODUCT_CODES = frozenset(
    {"POST", "D", "M", "m", "BANK CHARGES", "DOT", "C2", "AMAZONFEE", "CRUK", "PADS", "S", "B"}
)
TAOBAO_START = pd.Timestamp("2017-11-24 16:00", tz="UTC")  # 2017-11-25 00:00 in China
TAOBAO_END = pd.Timestamp("2017-12-03 16:00", tz="UTC")  # 2017-12-04 00:00 in China


def online_retail_events(raw: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Cleaned Online Retail lines as events (user, timestamp, event='order', revenue, item)."""
    df = pd.read_parquet(raw) if isinstance(raw, (str, Path)) else raw
    df = df[~df["InvoiceNo"].astype(str).str.startswith("C")]
    df = df[df["Quantity"] > 0]
    df = df.dropna(subset=["CustomerID"])
    code = df["StockCode"].astype(str).str.strip()
    df = df[~code.isin(NON_PRODUCT_CODES) & ~code.str.upper().str.startswith(("DCGS", "GIFT_"))]
    return pd.DataFrame(
        {
            "user": df["CustomerID"].astype("int64").astype(str).to_numpy(dtype=object),
            "timestamp": pd.to_datetime(df["InvoiceDate"]).to_numpy(),
            "event": "order",
            "revenue": (df["Quantity"] * df["UnitPrice"]).astype(float).to_numpy(),
            "item": df["StockCode"].astype(str).str.strip().to_numpy(dtype=object),
        }
    ).reset_index(drop=True)


def taobao_events(path: str | Path) -> pd.DataFrame:
    """Taobao UserBehavior rows as events (user, timestamp in seconds, event, revenue=NaN, item)."""
    raw = pd.read_csv(
        path,
        header=None,
        names=["user", "item", "category", "behavior", "timestamp"],
        dtype={"user": str, "item": str, "category": str, "behavior": str},
    )
    start, end = TAOBAO_START.timestamp(), TAOBAO_END.timestamp()
    raw = raw[(raw["timestamp"] >= start) & (raw["timestamp"] < end)]
    return pd.DataFrame(
        {
            "user": raw["user"].to_numpy(dtype=object),
            "timestamp": raw["timestamp"].astype(float).to_numpy(),
            "event": raw["behavior"].to_numpy(dtype=object),
            "revenue": float("nan"),
            "item": raw["item"].to_numpy(dtype=object),
            "category": raw["category"].to_numpy(dtype=object),
        }
    ).reset_index(drop=True)
