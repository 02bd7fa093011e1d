"""``movielens``: MovieLens ``ratings.csv`` -> "Product Reviewed" with the rating, the title (``movies.csv``
beside it) as ``name`` and the genre list as ``category``; the catalogue adds the top tags of ``tags.csv``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertinent.events.importing.cleaning import clean_ids, iso_utc, parse_timestamps, to_numbers
from pertinent.events.importing.converter import CATALOGUE_COLUMNS, Converter, in_folder, skip_masks
from pertinent.events.importing.messages import LIBRARY, message_id
from pertinent.events.importing.readers import ImportFileError, read_chunks
from pertinent.events.importing.report import ImportReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MovieLensPreset"]


class MovieLensPreset(Converter):
    """MovieLens ``ratings.csv`` -> "Product Reviewed" (genres from ``movies.csv`` as the category list).

    >>> MovieLensPreset().name
    'movielens'
    """

    name = "movielens"

    def __init__(self, max_tags: int = 10):
        self.max_tags = max_tags
        self._movies: dict[str, tuple[str | None, list[str]]] = {}

    def source_file(self, path: Path) -> Path:
        return in_folder(path, "ratings.csv")

    def columns(self, path: Path) -> list[str]:
        return ["userId", "movieId", "rating", "timestamp"]

    def _movies_file(self, path: Path) -> Path:
        return path.parent / "movies.csv"

    def _load_movies(self, path: Path) -> pd.DataFrame:
        import pandas as pd

        movies_path = self._movies_file(path)
        if not movies_path.exists():
            return pd.DataFrame({"item_id": [], "title": [], "categories": []})
        parts = list(read_chunks(movies_path, columns=["movieId", "title", "genres"], chunk_rows=200_000))
        movies = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["movieId", "title", "genres"])
        ids = clean_ids(movies["movieId"])
        genres = [
            [] if not isinstance(g, str) else [x for x in g.split("|") if x and x != "(no genres listed)"]
            for g in movies["genres"]
        ]
        out = pd.DataFrame({"item_id": ids, "title": clean_ids(movies["title"]), "categories": genres})
        return out[out["item_id"].notna()].drop_duplicates("item_id")

    def start(self, path: Path) -> None:
        movies = self._load_movies(path)
        self._movies = dict(
            zip(movies["item_id"], zip(movies["title"], movies["categories"], strict=True), strict=True)
        )

    def convert(self, chunk: pd.DataFrame, first_row: int, report: ImportReport) -> Iterator[dict[str, Any]]:
        import pandas as pd

        chunk = chunk.reset_index(drop=True)
        rows = pd.RangeIndex(first_row, first_row + len(chunk))
        users = clean_ids(chunk["userId"])
        movies = clean_ids(chunk["movieId"])
        ratings = to_numbers(chunk["rating"])
        ts = parse_timestamps(chunk["timestamp"], "auto")
        keep = skip_masks(
            rows,
            report,
            [
                (users.isna(), "missing user id", chunk["userId"]),
                (ts.isna(), "bad timestamp", chunk["timestamp"]),
                (movies.isna(), "missing movieId", chunk["movieId"]),
                (ratings.isna() | (ratings <= 0) | (ratings > 5), "bad rating", chunk["rating"]),
            ],
        )
        stamps = iso_utc(ts)
        ctx = {"library": LIBRARY}
        u_l, m_l, r_l = users.tolist(), movies.tolist(), ratings.tolist()
        for i in keep[keep].index:
            title, genres = self._movies.get(m_l[i], (None, []))
            props: dict[str, Any] = {"product_id": m_l[i], "rating": r_l[i], "category": list(genres)}
            if title:
                props["name"] = title
            yield {
                "type": "track",
                "event": "Product Reviewed",
                "messageId": message_id(self.name, u_l[i], m_l[i], stamps[i]),
                "userId": u_l[i],
                "timestamp": stamps[i],
                "properties": props,
                "context": ctx,
            }

    def catalogue(self, path: Path, chunk_rows: int = 200_000) -> pd.DataFrame:

        path = self.source_file(path)
        movies = self._load_movies(path)
        if not self._movies_file(path).exists():
            raise ImportFileError(f"{self._movies_file(path)}: file not found (the catalogue needs movies.csv)")
        tags_path = path.parent / "tags.csv"
        top: dict[str, list[str]] = {}
        if tags_path.exists():
            counts: Counter[tuple[str, str]] = Counter()
            for chunk in read_chunks(tags_path, columns=["movieId", "tag"], chunk_rows=chunk_rows):
                ids = clean_ids(chunk["movieId"])
                tags = clean_ids(chunk["tag"]).map(lambda t: t.lower() if t else None)
                ok = ids.notna() & tags.notna()
                counts.update(zip(ids[ok], tags[ok], strict=True))
            per: dict[str, list[tuple[int, str]]] = {}
            for (mid, tag), n in counts.items():
                per.setdefault(mid, []).append((-n, tag))
            top = {mid: [t for _, t in sorted(v)[: self.max_tags]] for mid, v in per.items()}
        out = movies.copy()
        out["tags"] = [top.get(m, []) for m in out["item_id"]]
        out["price"] = float("nan")
        return out[CATALOGUE_COLUMNS].reset_index(drop=True)
