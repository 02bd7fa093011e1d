"""User x item interaction data: a scipy CSR matrix with id <-> index maps.

All ids are strings, so ids read from CSV, Parquet, a users file or the event store match.

>>> import pandas as pd
>>> df = pd.DataFrame({"user": ["u1", "u1", "u2"], "item": ["a", "b", "a"]})
>>> data = Interactions.from_frame(df)
>>> data.shape
(2, 2)
>>> data.history_items("u1")
['a', 'b']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    # Segment ecommerce spec names
    "Product Viewed": 1.0,
    "Product Clicked": 1.0,
    "Product Added to Wishlist": 2.0,
    "Product Added": 3.0,
    "Order Completed": 5.0,
    "Product Reviewed": 4.0,
    # raw / Taobao-style names
    "view": 1.0,
    "pv": 1.0,
    "fav": 2.0,
    "cart": 3.0,
    "buy": 5.0,
    "purchase": 5.0,
}


class InteractionConfig(BaseModel):
    """How raw events turn into interaction weights.

    Reviews (``Product Reviewed`` with ``rating``) only count when ``rating >= rating_threshold``;
    events whose name is not in ``event_weights`` are dropped.

    >>> InteractionConfig().weight_for("Order Completed") > InteractionConfig().weight_for("Product Viewed")
    True
    """

    model_config = ConfigDict(extra="forbid")

    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    rating_threshold: float = 3.5
    aggregate: Literal["max", "sum"] = "max"
    binary: bool = False

    def weight_for(self, event: str) -> float:
        return float(self.event_weights.get(event, 0.0))


class InteractionError(ValueError):
    """Bad interaction input (missing column, empty data, ...)."""


def _ids(values: object) -> np.ndarray:
    import pandas as pd

    series = pd.Series(values)
    if pd.api.types.is_float_dtype(series) and series.notna().all() and (series % 1 == 0).all():
        series = series.astype("int64")
    return series.astype(str).to_numpy(dtype=object)


@dataclass
class Interactions:
    """A user x item weight matrix (CSR, float32) plus the id maps and the long-format events.

    ``events`` has integer columns ``user``, ``item``, float ``weight`` and optionally ``timestamp``
    (seconds) and any grouping columns kept from the input (for per-segment popularity).
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    events: pd.DataFrame
    user_index: dict[str, int] = field(default_factory=dict)
    item_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.user_index:
            self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        if not self.item_index:
            self.item_index = {t: i for i, t in enumerate(self.item_ids)}

    # ----------------------------------------------------------------- building
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        user_col: str = "user",
        item_col: str = "item",
        weight_col: str | None = None,
        event_col: str | None = None,
        rating_col: str | None = None,
        min_rating: float | None = None,
        timestamp_col: str | None = None,
        keep_cols: tuple[str, ...] = (),
        config: InteractionConfig | None = None,
        item_ids: list[str] | np.ndarray | None = None,
        user_ids: list[str] | np.ndarray | None = None,
    ) -> Interactions:
        """Build from a long DataFrame; rows with unknown events, low ratings, missing ids or (with
        ``timestamp_col``) no readable time are dropped.

        ``item_ids``/``user_ids`` fix the vocabulary (e.g. the whole catalogue, so new items have
        empty columns); rows with ids outside it are dropped.
        """
        import pandas as pd

        config = config or InteractionConfig()
        for name, col in (
            ("user_col", user_col),
            ("item_col", item_col),
            ("weight_col", weight_col),
            ("event_col", event_col),
            ("rating_col", rating_col),
            ("timestamp_col", timestamp_col),
            *(("keep_cols", c) for c in keep_cols),
        ):
            if col is not None and col not in frame.columns:
                raise InteractionError(f"{name}: column {col!r} not found (columns: {list(frame.columns)})")
        df = frame.dropna(subset=[user_col, item_col])
        weight = np.ones(len(df), dtype=np.float64)
        keep = np.ones(len(df), dtype=bool)
        seconds = None
        if timestamp_col is not None:  # a row with no readable time cannot be ordered (it broke every time split)
            seconds = to_seconds(df[timestamp_col].to_numpy())
            keep &= np.isfinite(seconds)
        if weight_col is not None:
            weight = pd.to_numeric(df[weight_col], errors="coerce").to_numpy(dtype=np.float64)
            keep &= np.isfinite(weight) & (weight > 0)
        if event_col is not None:
            ev = df[event_col].astype(str)
            ev_weight = ev.map(config.event_weights).fillna(0.0).to_numpy(dtype=np.float64)
            weight = weight * ev_weight
            keep &= ev_weight > 0
        if rating_col is not None:
            rating = pd.to_numeric(df[rating_col], errors="coerce").to_numpy(dtype=np.float64)
            threshold = config.rating_threshold if min_rating is None else min_rating
            is_review = np.ones(len(df), dtype=bool)
            if event_col is not None:  # only review events carry a rating
                is_review = (df[event_col].astype(str) == "Product Reviewed").to_numpy()
            keep &= ~is_review | (np.nan_to_num(rating, nan=-np.inf) >= threshold)
        df = df.loc[keep]
        weight = np.minimum(weight[keep], np.finfo(np.float32).max)
        if config.binary:
            weight = np.ones_like(weight)
        users = _ids(df[user_col].to_numpy())
        items = _ids(df[item_col].to_numpy())
        u_vocab = np.asarray(user_ids, dtype=object) if user_ids is not None else pd.unique(users)
        i_vocab = np.asarray(item_ids, dtype=object) if item_ids is not None else pd.unique(items)
        u_index = {u: i for i, u in enumerate(u_vocab)}
        i_index = {t: i for i, t in enumerate(i_vocab)}
        u = pd.Series(users).map(u_index).to_numpy()
        i = pd.Series(items).map(i_index).to_numpy()
        ok = ~(pd.isna(u) | pd.isna(i)) & (weight.astype(np.float32) > 0)
        events = pd.DataFrame(
            {"user": u[ok].astype(np.int64), "item": i[ok].astype(np.int64), "weight": weight[ok].astype(np.float32)}
        )
        if seconds is not None:
            events["timestamp"] = seconds[keep][ok]
        for col in keep_cols:
            events[col] = df[col].to_numpy()[ok]
        return cls.from_events(
            events, u_vocab, i_vocab, aggregate=config.aggregate, user_index=u_index, item_index=i_index
        )

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        *,
        aggregate: Literal["max", "sum"] = "max",
        user_index: dict[str, int] | None = None,
        item_index: dict[str, int] | None = None,
    ) -> Interactions:
        """Build from integer-coded events (columns user, item, weight) over the given vocabularies."""
        shape = (len(user_ids), len(item_ids))
        if aggregate == "sum":
            m = sp.csr_matrix(
                (events["weight"].to_numpy(np.float32), (events["user"].to_numpy(), events["item"].to_numpy())),
                shape=shape,
            )
        else:
            if len(events):
                g = events.groupby(["user", "item"], sort=False)["weight"].max()
                rows = g.index.get_level_values(0).to_numpy()
                cols = g.index.get_level_values(1).to_numpy()
                vals = g.to_numpy(np.float32)
            else:
                rows = cols = np.zeros(0, dtype=np.int64)
                vals = np.zeros(0, dtype=np.float32)
            m = sp.csr_matrix((vals, (rows, cols)), shape=shape)
        m.sum_duplicates()
        m.sort_indices()
        m = m.astype(np.float32)
        return cls(
            m,
            np.asarray(user_ids, dtype=object),
            np.asarray(item_ids, dtype=object),
            events.reset_index(drop=True),
            user_index or {},
            item_index or {},
        )

    @classmethod
    def from_matrix(cls, matrix: sp.spmatrix, user_ids: np.ndarray, item_ids: np.ndarray) -> Interactions:
        """Wrap a user x item matrix (events are rebuilt from its non-zeros, without timestamps)."""
        import pandas as pd

        m = sp.csr_matrix(matrix, dtype=np.float32)
        coo = m.tocoo()
        events = pd.DataFrame(
            {"user": coo.row.astype(np.int64), "item": coo.col.astype(np.int64), "weight": coo.data.astype(np.float32)}
        )
        m.sort_indices()
        return cls(m, np.asarray(user_ids, dtype=object), np.asarray(item_ids, dtype=object), events)

    # ----------------------------------------------------------------- views
    @property
    def shape(self) -> tuple[int, int]:
        n_users, n_items = self.matrix.shape
        return int(n_users), int(n_items)

    @property
    def n_users(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def has_timestamps(self) -> bool:
        return "timestamp" in self.events.columns

    def item_counts(self) -> np.ndarray:
        """Number of users who interacted with each item."""
        return np.diff(self.matrix.tocsc().indptr)

    def user_row(self, user: str) -> sp.csr_matrix:
        """The user's interaction row (1 x n_items); empty if the user is unknown."""
        idx = self.user_index.get(str(user))
        if idx is None:
            return sp.csr_matrix((1, self.n_items), dtype=np.float32)
        return self.matrix[idx]

    def history_items(self, user: str) -> list[str]:
        return [str(self.item_ids[j]) for j in self.user_row(user).indices]

    def vector(self, items: list[str], weights: list[float] | None = None) -> sp.csr_matrix:
        """A 1 x n_items history row from item ids (unknown ids are ignored): fold-in for new users."""
        cols, vals = [], []
        for pos, item in enumerate(items):
            j = self.item_index.get(str(item))
            if j is not None:
                cols.append(j)
                vals.append(1.0 if weights is None else float(weights[pos]))
        m = sp.csr_matrix((np.asarray(vals, np.float32), (np.zeros(len(cols), int), cols)), shape=(1, self.n_items))
        m.sum_duplicates()
        return m

    def with_events(self, events: pd.DataFrame) -> Interactions:
        """Same vocabularies, different events (used by the splitters)."""
        return Interactions.from_events(
            events, self.user_ids, self.item_ids, user_index=self.user_index, item_index=self.item_index
        )


def to_seconds(values: np.ndarray) -> np.ndarray:
    """Times as Unix seconds (NaN where a value is neither a number nor a date).

    >>> to_seconds(np.array(["2024-01-01", "1700000000", "2024-01-02 12:00", "bad", None], dtype=object)).tolist()
    [1704067200.0, 1700000000.0, 1704196800.0, nan, nan]
    """
    import pandas as pd

    series = pd.Series(values)
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64)
    # Each value on its own: seconds written as text, then ISO-8601 (with or without a time, an offset), then any
    # other date. Inferring one format from the first value made every other format NaN (a date-only first row
    # turned "2024-02-01 10:00" into NaN) or raised (OutOfBoundsDatetime on "-3").
    seconds = pd.to_numeric(series, errors="coerce").astype(np.float64)
    seconds = seconds.where(np.isfinite(seconds))  # "1e400" is no time
    for fmt in ("ISO8601", "mixed"):
        rest = seconds.isna() & series.notna()
        if not rest.any():
            break
        try:
            parsed = pd.to_datetime(series[rest].astype(str).str.strip(), errors="coerce", utc=True, format=fmt)
        except (ValueError, OverflowError):  # a value out of datetime's range with a format that raises anyway
            continue
        seconds[rest] = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    if seconds.isna().all():
        raise InteractionError("timestamp_col: values are neither numbers nor dates")
    return seconds.to_numpy(dtype=np.float64)


def read_table(path: str) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension), with a clear error when it is missing or unreadable."""
    from pathlib import Path

    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InteractionError(f"file not found: {path}")
    if p.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(p)
    return pd.read_csv(p)
