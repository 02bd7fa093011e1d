"""The events frame contract and its validation.

Columns: ``user`` (strings; integer ids are accepted and turned into strings), ``timestamp`` (UTC seconds,
or datetimes: naive ones are read as UTC), ``event`` (strings), optional ``revenue`` (numbers, NaN = 0),
optional ``item`` (anything, compared as strings) and optional ``category`` (labels; missing = ""). Extra
columns are ignored. A missing column or a column of the wrong type raises ``ValueError`` naming it.

>>> import pandas as pd
>>> log = EventLog.from_frame(pd.DataFrame({"user": ["a", "a"], "timestamp": [0, 86400],
...                                         "event": ["view", "order"], "revenue": [0.0, 12.5]}))
>>> (len(log), log.n_users, log.purchases.revenue.sum())
(2, 1, np.float64(12.5))
>>> EventLog.from_frame(pd.DataFrame({"user": ["a"], "event": ["view"]}))
Traceback (most recent call last):
...
ValueError: events frame is missing column 'timestamp' (columns are ['user', 'event'])
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pertinent.predict.config import EventSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

REQUIRED = ("user", "timestamp", "event")


def to_seconds(when: float | int | datetime | pd.Timestamp | np.datetime64) -> float:
    """UTC seconds for a cutoff given as seconds or a datetime (naive = UTC).

    >>> to_seconds(pd.Timestamp("1970-01-02"))
    86400.0
    """
    if isinstance(when, (datetime, np.datetime64)):
        ts = pd.Timestamp(when)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return float((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1))
    if isinstance(when, bool) or not isinstance(when, (int, float, np.integer, np.floating)):
        raise ValueError(f"cutoff must be UTC seconds or a datetime, got {type(when).__name__}")
    value = float(when)
    if not np.isfinite(value):
        raise ValueError(f"cutoff must be finite, got {value}")
    return value


def _strings(frame: pd.DataFrame, column: str) -> pd.Series:
    s = frame[column]
    if s.isna().any():
        raise ValueError(f"column {column!r} has {int(s.isna().sum())} missing values")
    if pd.api.types.is_integer_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("int64").astype(str).astype(object)
    if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        if s.dtype == object and not s.map(lambda v: isinstance(v, str)).all():
            raise ValueError(f"column {column!r} must hold strings (or integer ids); found other values")
        return s.astype(str).astype(object)
    raise ValueError(f"column {column!r} must hold strings (or integer ids), got dtype {s.dtype}")


def _seconds(frame: pd.DataFrame) -> np.ndarray:
    s = frame["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if s.isna().any():
            raise ValueError(f"column 'timestamp' has {int(s.isna().sum())} missing values")
        dt = pd.DatetimeIndex(s)
        dt = dt.tz_localize("UTC") if dt.tz is None else dt.tz_convert("UTC")
        out = ((dt - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
        return np.asarray(out, dtype=float)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        values = s.to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(values).all():
            raise ValueError(f"column 'timestamp' has {int((~np.isfinite(values)).sum())} missing or infinite values")
        return values
    raise ValueError(f"column 'timestamp' must hold UTC seconds or datetimes, got dtype {s.dtype}")


def _revenue(frame: pd.DataFrame) -> np.ndarray:
    if "revenue" not in frame.columns:
        return np.zeros(len(frame))
    s = frame["revenue"]
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise ValueError(f"column 'revenue' must be numeric (NaN allowed), got dtype {s.dtype}")
    values = s.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        raise ValueError("column 'revenue' has infinite values")
    return np.asarray(np.nan_to_num(values, nan=0.0), dtype=float)


@dataclass(frozen=True, eq=False)
class EventLog:
    """A validated events frame, sorted by time (columns user, ts, event, revenue, purchase, [item]).

    ``ts`` is UTC seconds; ``purchase`` marks purchase events. Build with :meth:`from_frame`.
    """

    frame: pd.DataFrame
    spec: EventSpec
    has_items: bool

    @classmethod
    def from_frame(cls, frame: pd.DataFrame | EventLog, spec: EventSpec | None = None) -> EventLog:
        """Validate ``frame`` against the contract (an ``EventLog`` passes through, re-specced if asked)."""
        if isinstance(frame, EventLog):
            return frame if spec is None or spec == frame.spec else cls._build(frame.frame, spec, frame.has_items)
        spec = spec or EventSpec()
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"events must be a pandas DataFrame, got {type(frame).__name__}")
        for column in REQUIRED:
            if column not in frame.columns:
                raise ValueError(f"events frame is missing column {column!r} (columns are {list(frame.columns)})")
        if len(frame) == 0:  # an empty frame is valid whatever dtypes its columns were given
            frame = pd.DataFrame(
                {c: pd.Series([], dtype=float if c in ("timestamp", "revenue") else object) for c in frame.columns}
            )
        data = {
            "user": _strings(frame, "user").to_numpy(),
            "ts": _seconds(frame),
            "event": _strings(frame, "event").to_numpy(),
            "revenue": _revenue(frame),
        }
        has_items = "item" in frame.columns
        if has_items:
            if frame["item"].isna().any():
                raise ValueError(f"column 'item' has {int(frame['item'].isna().sum())} missing values")
            data["item"] = frame["item"].astype(str).to_numpy(dtype=object)
        if "category" in frame.columns:  # optional: labels (missing = "")
            data["category"] = frame["category"].fillna("").astype(str).to_numpy(dtype=object)
        return cls._build(pd.DataFrame(data), spec, has_items)

    @classmethod
    def _build(cls, data: pd.DataFrame, spec: EventSpec, has_items: bool) -> EventLog:
        data = data.drop(columns=["purchase"], errors="ignore")
        data["purchase"] = data["event"].isin(list(spec.purchase_events)).to_numpy(dtype=bool)
        data = data.sort_values("ts", kind="stable").reset_index(drop=True)
        return cls(data, spec, has_items)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def n_users(self) -> int:
        """Distinct users."""
        return int(self.frame["user"].nunique())

    @property
    def start(self) -> float:
        """The first timestamp (NaN when empty)."""
        return float(self.frame["ts"].iloc[0]) if len(self.frame) else float("nan")

    @property
    def end(self) -> float:
        """The last timestamp (NaN when empty)."""
        return float(self.frame["ts"].iloc[-1]) if len(self.frame) else float("nan")

    @property
    def purchases(self) -> pd.DataFrame:
        """The purchase events."""
        return self.frame[self.frame["purchase"].to_numpy(dtype=bool)]

    def before(self, cutoff: float) -> pd.DataFrame:
        """Events strictly before ``cutoff`` (seconds)."""
        stop = int(np.searchsorted(self.frame["ts"].to_numpy(), cutoff, side="left"))
        return self.frame.iloc[:stop]

    def between(self, start: float, stop: float) -> pd.DataFrame:
        """Events with ``start <= ts < stop``."""
        ts = self.frame["ts"].to_numpy()
        lo = int(np.searchsorted(ts, start, side="left"))
        hi = int(np.searchsorted(ts, stop, side="left"))
        return self.frame.iloc[lo:hi]

    def activity(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` that count as activity: purchases and ``spec.activity_events`` (all when None)."""
        if self.spec.activity_events is None:
            return frame
        names: Sequence[str] = self.spec.activity_events
        keep = frame["event"].isin(list(names)).to_numpy(dtype=bool) | frame["purchase"].to_numpy(dtype=bool)
        out: pd.DataFrame = frame[keep]
        return out
