"""Per-customer features from invoice lines (the UCI "Online Retail" layout), for segments and RFM.

``clean_invoice_lines`` drops cancellations (InvoiceNo starting with "C"), non-positive quantities
and prices, lines without a customer and non-product stock codes (postage, fees, manual adjustments);
``customer_features`` builds one row per customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

NON_PRODUCT_CODES: frozenset[str] = frozenset(
    {"POST", "D", "M", "BANK CHARGES", "DOT", "C2", "AMAZONFEE", "CRUK", "PADS", "S", "B"}
)
REQUIRED_COLUMNS = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")


@dataclass(frozen=True)
class CleaningStats:
    """How many invoice lines each cleaning rule removed."""

    lines_in: int
    cancellations: int
    non_positive_quantity: int
    non_positive_price: int
    missing_customer: int
    non_product_codes: int
    lines_out: int


def load_invoice_lines(path: str | Path) -> pd.DataFrame:
    """Read invoice lines from parquet or CSV and check the expected columns are there."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"invoice file not found: {path}")
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is missing invoice column(s) {missing}; has {list(frame.columns)}")
    return frame


def clean_invoice_lines(lines: pd.DataFrame) -> tuple[pd.DataFrame, CleaningStats]:
    """Keep product purchases by known customers (see the module docstring for the rules).

    >>> import pandas as pd
    >>> lines = pd.DataFrame({"InvoiceNo": ["1", "C2", "3", "4", "5"], "StockCode": ["A", "A", "POST", "A", "A"],
    ...     "Quantity": [2, -1, 1, 0, 1], "InvoiceDate": pd.to_datetime(["2011-01-01"] * 5),
    ...     "UnitPrice": [1.0, 1.0, 5.0, 1.0, 1.0], "CustomerID": [1.0, 1.0, 1.0, 1.0, None]})
    >>> clean, stats = clean_invoice_lines(lines)
    >>> len(clean), stats.cancellations, stats.non_product_codes, stats.missing_customer
    (1, 1, 1, 1)
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in lines.columns]
    if missing:
        raise ValueError(f"invoice lines are missing column(s) {missing}")
    n = len(lines)
    invoice = lines["InvoiceNo"].astype(str)
    code = lines["StockCode"].astype(str).str.strip().str.upper()
    cancel = invoice.str.upper().str.startswith("C")
    qty = ~cancel & (lines["Quantity"] <= 0)
    price = ~cancel & ~qty & (lines["UnitPrice"] <= 0)
    customer = ~cancel & ~qty & ~price & lines["CustomerID"].isna()
    non_product = ~cancel & ~qty & ~price & ~customer & code.isin(NON_PRODUCT_CODES)
    keep = ~(cancel | qty | price | customer | non_product)
    clean = lines.loc[keep].copy()
    clean["CustomerID"] = clean["CustomerID"].astype("int64")
    clean["InvoiceDate"] = pd.to_datetime(clean["InvoiceDate"])
    stats = CleaningStats(
        lines_in=n,
        cancellations=int(cancel.sum()),
        non_positive_quantity=int(qty.sum()),
        non_positive_price=int(price.sum()),
        missing_customer=int(customer.sum()),
        non_product_codes=int(non_product.sum()),
        lines_out=int(keep.sum()),
    )
    return clean, stats


def customer_features(lines: pd.DataFrame, reference_date: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per customer (index ``customer_id``) from cleaned invoice lines.

    Columns: recency_days (days from the customer's last invoice to ``reference_date``, default the
    last invoice date in the data), frequency (distinct invoices), monetary (sum Quantity*UnitPrice),
    avg_basket_value (monetary / frequency), distinct_products, total_units, tenure_days (first to
    last invoice).

    >>> import pandas as pd
    >>> lines = pd.DataFrame({"InvoiceNo": ["1", "1", "2"], "StockCode": ["A", "B", "A"], "Quantity": [2, 1, 1],
    ...     "InvoiceDate": pd.to_datetime(["2011-01-01", "2011-01-01", "2011-01-11"]),
    ...     "UnitPrice": [1.5, 4.0, 1.5], "CustomerID": [7, 7, 7]})
    >>> customer_features(lines).loc[7, ["recency_days", "frequency", "monetary", "tenure_days"]].tolist()
    [0.0, 2.0, 8.5, 10.0]
    """
    if lines.empty:
        raise ValueError("no invoice lines left to build customer features from")
    frame = lines.assign(amount=lines["Quantity"] * lines["UnitPrice"])
    reference = pd.Timestamp(reference_date) if reference_date is not None else frame["InvoiceDate"].max()
    grouped = frame.groupby("CustomerID")
    first = grouped["InvoiceDate"].min()
    last = grouped["InvoiceDate"].max()
    out = pd.DataFrame(
        {
            "recency_days": (reference.normalize() - last.dt.normalize()).dt.days,
            "frequency": grouped["InvoiceNo"].nunique(),
            "monetary": grouped["amount"].sum(),
            "distinct_products": grouped["StockCode"].nunique(),
            "total_units": grouped["Quantity"].sum(),
            "tenure_days": (last.dt.normalize() - first.dt.normalize()).dt.days,
        }
    ).astype(float)
    out.insert(3, "avg_basket_value", out["monetary"] / out["frequency"])
    out.index = out.index.astype("int64")
    out.index.name = "customer_id"
    return out


def online_retail_features(path: str | Path) -> tuple[pd.DataFrame, CleaningStats]:
    """Load, clean and featurise an Online Retail file in one call."""
    clean, stats = clean_invoice_lines(load_invoice_lines(path))
    return customer_features(clean), stats
