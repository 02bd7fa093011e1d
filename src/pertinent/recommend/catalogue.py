"""The item catalogue: titles, text, categories, tags, numeric attributes and availability windows.

>>> import pandas as pd
>>> cat = Catalogue.from_frame(pd.DataFrame({"id": [1, 2], "title": ["Red mug", "Blue cup"],
...                                          "categories": [["kitchen"], ["kitchen", "sale"]]}))
>>> cat.ids
['1', '2']
>>> cat.in_categories(["sale"]).tolist()
[False, True]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

LIST_COLUMNS = ("categories", "tags")


class CatalogueError(ValueError):
    """Bad catalogue input."""


def _as_list(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split("|") if v.strip()]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    return [str(value)]


@dataclass
class Catalogue:
    """DataFrame-backed catalogue indexed by string item id.

    Columns: ``id``, ``title``, ``text``, ``categories`` (list), ``tags`` (list), any numeric
    attributes (e.g. ``price``) and optional ``available_from`` / ``available_until`` (UTC).
    """

    frame: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, id_col: str = "id") -> Catalogue:
        import pandas as pd

        if id_col not in frame.columns:
            raise CatalogueError(f"id_col: column {id_col!r} not found (columns: {list(frame.columns)})")
        df = frame.rename(columns={id_col: "id"}).copy()
        if df["id"].isna().any():
            raise CatalogueError("id: missing item ids")
        from pertinent.recommend.interactions import _ids

        df["id"] = _ids(df["id"].to_numpy())
        df = df.drop_duplicates("id", keep="last").reset_index(drop=True)
        for col in ("title", "text"):
            df[col] = df[col].fillna("").astype(str) if col in df.columns else ""
        for col in LIST_COLUMNS:
            df[col] = [_as_list(v) for v in df[col]] if col in df.columns else [[] for _ in range(len(df))]
        for col in ("available_from", "available_until"):
            if col in df.columns:
                df[col] = pd.to_datetime(df[col], utc=True, errors="coerce")
        return cls(df)

    @property
    def ids(self) -> list[str]:
        return self.frame["id"].tolist()

    def __len__(self) -> int:
        return len(self.frame)

    def aligned(self, item_ids: np.ndarray | list[str]) -> pd.DataFrame:
        """Rows in the order of ``item_ids`` (items missing from the catalogue get empty rows)."""
        df = self.frame.set_index("id").reindex(list(item_ids))
        for col in LIST_COLUMNS:
            df[col] = [v if isinstance(v, list) else [] for v in df[col]]
        for col in ("title", "text"):
            df[col] = df[col].fillna("")
        return df

    def available(self, item_ids: np.ndarray | list[str] | None = None, at: datetime | None = None) -> np.ndarray:
        """Boolean mask: item is in its availability window at ``at`` (default now).

        Items absent from the catalogue count as available (nothing says otherwise).
        """
        df = self.frame.set_index("id") if item_ids is None else self.aligned(item_ids)
        at_ts = _utc(at or datetime.now(UTC))
        mask = np.ones(len(df), dtype=bool)
        if "available_from" in df.columns:
            start = df["available_from"]
            mask &= ~(start.notna() & (start > at_ts)).to_numpy()
        if "available_until" in df.columns:
            end = df["available_until"]
            mask &= ~(end.notna() & (end <= at_ts)).to_numpy()
        return mask

    def in_categories(self, categories: list[str], item_ids: np.ndarray | list[str] | None = None) -> np.ndarray:
        """Boolean mask: item has at least one of ``categories``."""
        wanted = set(categories)
        df = self.frame if item_ids is None else self.aligned(item_ids)
        return np.array([bool(wanted.intersection(c)) for c in df["categories"]], dtype=bool)

    def documents(self, item_ids: np.ndarray | list[str]) -> list[str]:
        """One text per item for content models: title, text, categories and tags."""
        df = self.aligned(item_ids)
        return [
            " ".join([t, x, " ".join(c), " ".join(g)]).strip()
            for t, x, c, g in zip(df["title"], df["text"], df["categories"], df["tags"], strict=True)
        ]

    def titles(self) -> dict[str, str]:
        return dict(zip(self.frame["id"], self.frame["title"], strict=True))

    # ----------------------------------------------------------------- loaders
    @classmethod
    def from_movielens(cls, folder: str | Path, with_tags: bool = True) -> Catalogue:
        """MovieLens ``movies.csv`` (genres as categories) plus ``tags.csv`` (user tags) if present."""
        import pandas as pd

        folder = Path(folder)
        movies_path = folder / "movies.csv"
        if not movies_path.exists():
            raise CatalogueError(f"movies.csv not found in {folder}")
        movies = pd.read_csv(movies_path)
        df = pd.DataFrame(
            {
                "id": movies["movieId"],
                "title": movies["title"],
                "categories": [
                    [g for g in s.split("|") if g != "(no genres listed)"] for s in movies["genres"].fillna("")
                ],
            }
        )
        tags_path = folder / "tags.csv"
        if with_tags and tags_path.exists():
            tags = pd.read_csv(tags_path).dropna(subset=["tag"])
            grouped = tags.groupby("movieId")["tag"].apply(lambda s: sorted(set(s.astype(str).str.lower())))
            df["tags"] = [grouped.get(m, []) for m in movies["movieId"]]
        return cls.from_frame(df)

    @classmethod
    def from_online_retail(cls, path: str | Path) -> Catalogue:
        """UCI Online Retail products: StockCode -> most frequent Description, median UnitPrice."""
        import pandas as pd

        from pertinent.recommend.datasets import clean_online_retail

        raw = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
        df = clean_online_retail(raw, require_customer=False)
        desc = (
            df.dropna(subset=["Description"])
            .groupby("StockCode")["Description"]
            .agg(lambda s: s.value_counts().index[0])
        )
        price = df.groupby("StockCode")["UnitPrice"].median()
        out = pd.DataFrame({"id": desc.index, "title": desc.str.strip().str.title().to_numpy()})
        out["price"] = price.reindex(desc.index).to_numpy()
        return cls.from_frame(out)


def _utc(at: datetime) -> pd.Timestamp:
    import pandas as pd

    ts = pd.Timestamp(at)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
