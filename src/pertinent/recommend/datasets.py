"""Loaders for the public datasets used in tests and benchmarks (read in place, never copied).

>>> import pandas as pd
>>> raw = pd.DataFrame({"InvoiceNo": ["1", "C2", "3"], "StockCode": ["A", "A", "POST"],
...                     "Quantity": [1, 1, 1], "CustomerID": [7.0, 7.0, 7.0], "UnitPrice": [1.0] * 3,
...                     "Description": ["x"] * 3})
>>> len(clean_online_retail(raw))
1
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

NON_PRODUCT_CODES = frozenset(
    {"POST", "D", "M", "m", "BANK CHARGES", "DOT", "C2", "AMAZONFEE", "CRUK", "PADS", "S", "B"}
)


def clean_online_retail(raw: pd.DataFrame, require_customer: bool = True) -> pd.DataFrame:
    """Drop cancellations (InvoiceNo 'C...'), non-positive quantities, missing CustomerID and
    non-product stock codes (POST, D, M, BANK CHARGES, DOT, C2, AMAZONFEE, CRUK, PADS, ...)."""
    df = raw[~raw["InvoiceNo"].astype(str).str.startswith("C")]
    df = df[df["Quantity"] > 0]
    if require_customer:
        df = df.dropna(subset=["CustomerID"])
    code = df["StockCode"].astype(str).str.strip()
    df = df[~code.isin(NON_PRODUCT_CODES) & ~code.str.upper().str.startswith(("DCGS", "GIFT_"))]
    return df.assign(StockCode=df["StockCode"].astype(str).str.strip())


def online_retail_positives(path: str | Path) -> pd.DataFrame:
    """Customer x StockCode purchase pairs (columns user, item, timestamp) after cleaning."""
    import pandas as pd

    df = clean_online_retail(pd.read_parquet(path))
    return pd.DataFrame(
        {"user": df["CustomerID"].astype("int64").astype(str), "item": df["StockCode"], "timestamp": df["InvoiceDate"]}
    )


def movielens_positives(folder: str | Path, min_rating: float = 3.5) -> pd.DataFrame:
    """MovieLens ratings >= ``min_rating`` (columns user, item, rating, timestamp)."""
    import pandas as pd

    r = pd.read_csv(Path(folder) / "ratings.csv")
    r = r[r["rating"] >= min_rating]
    return pd.DataFrame(
        {
            "user": r["userId"].astype(str),
            "item": r["movieId"].astype(str),
            "rating": r["rating"],
            "timestamp": r["timestamp"],
        }
    )


def taobao_events(path: str | Path) -> pd.DataFrame:
    """Taobao UserBehavior rows (user, item, category, behavior, timestamp)."""
    import pandas as pd

    return pd.read_csv(
        path,
        header=None,
        names=["user", "item", "category", "behavior", "timestamp"],
        dtype={"user": str, "item": str, "category": str, "behavior": str},
    )


def min_user_positives(frame: pd.DataFrame, n: int = 5, user_col: str = "user") -> pd.DataFrame:
    """Keep users with at least ``n`` distinct positive items."""
    counts = frame.drop_duplicates([user_col, "item"]).groupby(user_col).size()
    return frame[frame[user_col].isin(counts[counts >= n].index)]
