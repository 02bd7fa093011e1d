"""Vectorised cleaning of raw columns, shared by every converter: identifiers, numbers, timestamps.

Each function takes a pandas Series as read (strings, or typed Parquet columns) and never raises on a bad
value: it yields ``None`` / NaN / NaT there, and the converter counts the row as skipped.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported lazily: the CLI imports this module.
    import pandas as pd

__all__ = [
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "TimestampFormat",
    "clean_ids",
    "drop_none",
    "finite_or_none",
    "iso_utc",
    "parse_timestamps",
    "to_numbers",
]

# Timestamps outside this window (epoch itself excluded) are garbage: 0, 99999999999, year 9999...
MIN_TIMESTAMP = "1970-01-01"
_AUTO_MS_FROM = 4_102_444_800  # 2100-01-01 in Unix seconds
MAX_TIMESTAMP = "2100-01-01"


def clean_ids(values: pd.Series) -> pd.Series:
    """Identifiers as stripped strings; ``None`` where missing/empty. Integral floats (and texts like ``12.0``)
    lose their ``.0``; NUL
    characters (a file's binary debris, which PostgreSQL cannot store and ingestion refuses) are removed.

    >>> import pandas as pd
    >>> clean_ids(pd.Series([" a\\x00b ", 3])).tolist(), clean_ids(pd.Series(["\\x00"], dtype="string")).tolist()
    (['ab', '3'], [None])
    """
    import numpy as np
    import pandas as pd

    if pd.api.types.is_float_dtype(values):
        out = pd.Series([None] * len(values), index=values.index, dtype=object)
        finite = np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        vals = values[finite]
        integral = (vals % 1 == 0) & (vals.abs() < 2**53)
        out[vals.index[integral]] = vals[integral].astype("int64").astype(str).to_numpy()
        out[vals.index[~integral]] = vals[~integral].astype(str).to_numpy()
        return out
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype(str).astype(object).where(values.notna(), None)
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        stripped = values.str.replace("\x00", "", regex=False).str.strip()
        empty = stripped.isna() | (stripped == "")
        return _float_ints(stripped.astype(object).where(~empty, None))
    s = values.astype(object).where(values.notna(), None)
    return _float_ints(s.map(lambda v: None if v is None else (str(v).replace("\x00", "").strip() or None)))


_FLOAT_INT = r"[+-]?\d+\.0+"


def _float_ints(ids: pd.Series) -> pd.Series:
    """Text ids that are integers written as floats (``17850.0``: how pandas writes an integer column with missing
    values to CSV) lose the ``.0``, as the same column read from Parquet does (there they are numbers). Value by
    value, so that a file's ids never depend on how it is cut into chunks.

    >>> import pandas as pd
    >>> _float_ints(pd.Series(["17850.0", None, "12.00", "1.5", "A-1"])).tolist()
    ['17850', None, '12', '1.5', 'A-1']
    """
    import pandas as pd

    floats = ids.astype(str).str.fullmatch(_FLOAT_INT) & ids.notna()
    if not floats.any():
        return ids
    out = [
        str(int(str(v).split(".", 1)[0])) if f else (None if v is None or v != v else v)  # v != v: NaN
        for v, f in zip(ids.tolist(), floats.tolist(), strict=True)
    ]
    return pd.Series(out, index=ids.index, dtype=object)


def to_numbers(values: pd.Series) -> pd.Series:
    """Float series; anything non-numeric or non-finite becomes NaN."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        values = values.astype(float)
    num = pd.to_numeric(values, errors="coerce") if not pd.api.types.is_numeric_dtype(values) else values
    num = num.astype("float64")
    return num.where(np.isfinite(num.to_numpy(dtype=float, na_value=np.nan)))


TimestampFormat = str  # "auto" | "iso" | "unix_s" | "unix_ms" | a strftime pattern containing "%"


def parse_timestamps(values: pd.Series, fmt: TimestampFormat = "auto", timezone: str = "UTC") -> pd.Series:
    """Parse a column to tz-aware UTC timestamps; NaT if unparseable, at/before the epoch or from 2100 on.

    ``fmt``: ``auto`` (numbers are Unix seconds, or milliseconds from 4,102,444,800 on, which as
    seconds would be year 2100; text is ISO-8601), ``iso``, ``unix_s``, ``unix_ms`` or a strftime pattern.
    ``timezone`` is the zone of naive values (wall-clock times without offset); values that carry
    an offset are converted from it.

    >>> import pandas as pd
    >>> ts = parse_timestamps(pd.Series(["1511544070", "2017-11-24T18:21:10+01:00", "x", "0"]))
    >>> [None if t is pd.NaT else t.isoformat() for t in ts]
    ['2017-11-24T17:21:10+00:00', '2017-11-24T17:21:10+00:00', None, None]
    """
    import pandas as pd

    n = len(values)
    idx = values.index
    out = pd.Series(pd.NaT, index=idx, dtype="datetime64[us, UTC]")
    if n == 0:
        return out
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values
        if getattr(ts.dt, "tz", None) is None:
            ts = _localize(ts, timezone)
        out = ts.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    else:
        numeric = to_numbers(values) if fmt in ("auto", "unix_s", "unix_ms") else None
        if numeric is not None and numeric.notna().any():
            if fmt == "unix_ms":
                seconds = numeric / 1000.0
            elif fmt == "unix_s":
                seconds = numeric
            else:  # auto: as seconds these would be year 2100 or later, so they are milliseconds
                seconds = numeric.where(numeric.abs() < _AUTO_MS_FROM, numeric / 1000.0)
            ok = seconds.notna() & (seconds.abs() < 1e11)
            if ok.any():
                us = (seconds[ok] * 1e6).round().astype("int64")
                out[ok] = pd.to_datetime(us, unit="us", utc=True)
        if fmt not in ("unix_s", "unix_ms"):
            rest = out.isna() & values.notna()
            if numeric is not None:
                rest &= numeric.isna()
            if rest.any():
                text = values[rest].astype(str).str.strip()
                if fmt in ("auto", "iso"):
                    out[rest] = _parse_text(text, "ISO8601", timezone)
                else:
                    out[rest] = _parse_text(text, fmt, timezone)
    lo, hi = pd.Timestamp(MIN_TIMESTAMP, tz="UTC"), pd.Timestamp(MAX_TIMESTAMP, tz="UTC")
    bad = out.notna() & ((out <= lo) | (out >= hi))
    out[bad] = pd.NaT
    return out


def _localize(ts: pd.Series, timezone: str) -> pd.Series:
    localized: pd.Series = ts.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return localized


def _parse_text(text: pd.Series, fmt: str, timezone: str) -> pd.Series:
    import pandas as pd

    if timezone == "UTC":
        return pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    # Values with an explicit offset are absolute; the others are wall-clock times in ``timezone``.
    has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
    res = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if has_offset.any():
        res[has_offset] = pd.to_datetime(text[has_offset], format=fmt, errors="coerce", utc=True)
    naive = ~has_offset
    if naive.any():
        parsed = pd.to_datetime(text[naive], format=fmt, errors="coerce")
        if getattr(parsed.dt, "tz", None) is None:
            parsed = _localize(parsed, timezone)
        res[naive] = parsed.dt.tz_convert("UTC")
    return res


def iso_utc(ts: pd.Series) -> list[str | None]:
    """ISO-8601 UTC strings with millisecond precision, e.g. ``2017-11-24T17:21:10.000Z``."""
    ms = (ts.dt.microsecond // 1000).astype("Int64").astype(str).str.zfill(3)
    s = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.") + ms + "Z"
    out: list[str | None] = s.where(ts.notna(), None).tolist()
    return out


def finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
