"""``taobao``: Taobao ``UserBehavior.csv`` (no header): pv / cart / fav / buy -> "Product Viewed" / "Product
Added" / "Product Added to Wishlist" / "Order Completed" with one product; ``category`` is the category id.
The log has no prices, so orders carry no revenue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertinent.events.importing.cleaning import clean_ids, iso_utc, parse_timestamps
from pertinent.events.importing.converter import CATALOGUE_COLUMNS, Converter, in_folder, skip_masks
from pertinent.events.importing.messages import LIBRARY, message_id
from pertinent.events.importing.readers import read_chunks
from pertinent.events.importing.report import ImportReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TAOBAO_EVENTS", "TaobaoPreset"]

TAOBAO_EVENTS = {
    "pv": "Product Viewed",
    "cart": "Product Added",
    "fav": "Product Added to Wishlist",
    "buy": "Order Completed",
}


class TaobaoPreset(Converter):
    """Taobao ``UserBehavior.csv`` (no header) -> view / add / wishlist / order events.

    >>> TaobaoPreset().names
    ['user_id', 'item_id', 'category_id', 'behavior', 'timestamp']
    """

    name = "taobao"
    header = False
    names = ["user_id", "item_id", "category_id", "behavior", "timestamp"]

    def source_file(self, path: Path) -> Path:
        return in_folder(path, "UserBehavior.csv")

    def convert(self, chunk: pd.DataFrame, first_row: int, report: ImportReport) -> Iterator[dict[str, Any]]:
        import pandas as pd

        chunk = chunk.reset_index(drop=True)
        rows = pd.RangeIndex(first_row, first_row + len(chunk))
        users = clean_ids(chunk["user_id"])
        items = clean_ids(chunk["item_id"])
        cats = clean_ids(chunk["category_id"])
        behavior = clean_ids(chunk["behavior"]).map(lambda b: b.lower() if b else None)
        ts = parse_timestamps(chunk["timestamp"], "unix_s")
        keep = skip_masks(
            rows,
            report,
            [
                (users.isna(), "missing user id", chunk["user_id"]),
                (ts.isna(), "bad timestamp", chunk["timestamp"]),
                (items.isna(), "missing item id", chunk["item_id"]),
                (~behavior.isin(list(TAOBAO_EVENTS)), "unknown behavior", chunk["behavior"]),
            ],
        )
        stamps = iso_utc(ts)
        ctx = {"library": LIBRARY}
        u_l, i_l, c_l, b_l = users.tolist(), items.tolist(), cats.tolist(), behavior.tolist()
        for i in keep[keep].index:
            b, user, item, cat = b_l[i], u_l[i], i_l[i], c_l[i]
            if b == "buy":
                product = {"product_id": item, "quantity": 1}
                if cat is not None:
                    product["category"] = cat
                props: dict[str, Any] = {"order_id": f"{user}-{item}-{stamps[i]}", "products": [product]}
            else:
                props = {"product_id": item}
                if cat is not None:
                    props["category"] = cat
                if b == "cart":
                    props["quantity"] = 1
            yield {
                "type": "track",
                "event": TAOBAO_EVENTS[b],
                "messageId": message_id(self.name, user, item, b, stamps[i]),
                "userId": user,
                "timestamp": stamps[i],
                "properties": props,
                "context": ctx,
            }

    def catalogue(self, path: Path, chunk_rows: int = 200_000) -> pd.DataFrame:
        import pandas as pd

        path = self.source_file(path)
        parts = []
        for chunk in read_chunks(path, columns=["item_id", "category_id"], names=self.names, chunk_rows=chunk_rows):
            df = pd.DataFrame({"item_id": clean_ids(chunk["item_id"]), "category": clean_ids(chunk["category_id"])})
            parts.append(df[df["item_id"].notna()].drop_duplicates())
        if not parts:
            return pd.DataFrame(columns=CATALOGUE_COLUMNS)
        df = pd.concat(parts).drop_duplicates()
        cats = df[df["category"].notna()].groupby("item_id", sort=False)["category"].agg(list)
        items = df["item_id"].drop_duplicates()
        out = pd.DataFrame({"item_id": items.to_numpy()})
        out["title"] = None
        out["categories"] = [sorted(cats.get(i, [])) for i in out["item_id"]]
        out["tags"] = [[] for _ in range(len(out))]
        out["price"] = float("nan")
        return out[CATALOGUE_COLUMNS]
