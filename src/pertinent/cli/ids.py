"""Ids read from files stay strings end to end: CSV id columns are read as text (no ``007`` -> ``7``), and
integers written as floats (``12347.0``, as pandas writes an int column with missing values) become
``12347`` only when the whole column (or the whole users file) looks like that, the same rule for the
interactions file and ``--users``.

>>> import pandas as pd
>>> normalise_ids(pd.Series(["12347.0", "12348.0", None])).tolist()[:2]
['12347', '12348']
>>> normalise_ids(pd.Series(["12347.0", "A-1"])).tolist()
['12347.0', 'A-1']
>>> match_users(["12347.0", "new"], {"12347": 0})
['12347', 'new']
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Container

    import pandas as pd

FLOAT_INT = re.compile(r"^[+-]?\d+\.0*$")
"""An integer written as a float: ``12347.0``, ``5.``, ``-3.00``."""

UNKNOWN_WARNING_SHARE = 0.5
"""Above this share of listed users unknown to the interactions, batch-recommend warns on stderr."""


def _strip(value: str) -> str:
    head = value.split(".", 1)[0]
    return head.lstrip("+") if head not in ("-0", "+0") else "0"


def is_float_ints(values: list[str]) -> bool:
    """Whether every value (at least one) is an integer written as a float."""
    return bool(values) and all(FLOAT_INT.match(v) for v in values)


def normalise_ids(series: pd.Series) -> pd.Series:
    """Text ids; ``12347.0`` -> ``12347`` only where every non-missing value is float-looking-integer."""
    import pandas as pd

    if pd.api.types.is_float_dtype(series):  # Parquet/float columns: integers lose their ".0"
        present = series.dropna()
        if len(present) and (present % 1 == 0).all():
            return series.astype("Int64").astype(str).where(series.notna(), None)
        return series.astype(str).where(series.notna(), None)
    text = series.where(series.isna(), series.astype(str).str.strip())
    values = [str(v) for v in text.dropna()]
    if is_float_ints(values):
        return text.map(lambda v: v if v is None or v != v else _strip(str(v)))
    return text


def read_interactions_table(path: str, id_cols: list[str]) -> pd.DataFrame:
    """A CSV (id columns read as text) or Parquet file, its id columns normalised (:func:`normalise_ids`)."""
    from pathlib import Path

    import pandas as pd

    from pertinent.events.importing.readers import sniff_delimiter
    from pertinent.recommend.interactions import InteractionError, read_table

    p = Path(path)
    try:
        if p.is_file() and p.suffix.lower() not in {".parquet", ".pq"}:
            sep = sniff_delimiter(p)  # a spreadsheet's ';' or '|' export, a .tsv
            header = pd.read_csv(p, nrows=0, sep=sep).columns
            frame = pd.read_csv(p, sep=sep, dtype={c: str for c in id_cols if c in header})
        else:
            frame = read_table(str(path))  # a missing file gets its clear error here
    except pd.errors.EmptyDataError:
        raise InteractionError(f"{path}: the file is empty (no header line)") from None
    except UnicodeDecodeError as e:
        raise InteractionError(f"{path}: not UTF-8 text ({e.reason}); save it as UTF-8") from None
    except (pd.errors.ParserError, ValueError, OSError) as e:  # a ragged CSV, a corrupt Parquet file, a folder
        if isinstance(e, InteractionError):
            raise
        raise InteractionError(f"{path}: cannot read this file: {e}") from None
    for col in id_cols:
        if col in frame.columns:
            frame[col] = normalise_ids(frame[col])
    if frame.empty and not len(frame.columns):
        raise InteractionError(f"{path}: no columns")
    return frame


def match_users(users: list[str], known: Container[str]) -> list[str]:
    """The users file's ids, normalised like the interactions' ids: ``12347.0`` -> ``12347`` when the whole
    list looks like that, or for one line whose float form is unknown but whose integer form is known."""
    if is_float_ints(users):
        return [_strip(u) for u in users]
    return [_strip(u) if u not in known and FLOAT_INT.match(u) and _strip(u) in known else u for u in users]


def unknown_warning(n_unknown: int, n_users: int) -> str:
    """The stderr warning when most listed users have no history in the interactions, else ''."""
    if not n_users or n_unknown / n_users <= UNKNOWN_WARNING_SHARE:
        return ""
    return (
        f"warning: {n_unknown:,} of {n_users:,} listed users ({n_unknown / n_users:.0%}) are not in --interactions "
        "and get only the popularity fallback; check --user-col and the id format (e.g. '12347' vs '12347.0')"
    )
