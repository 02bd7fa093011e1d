"""Turn CSV / Parquet interaction histories into Segment-spec event messages, in batches.

The entry point is :func:`import_file`: it returns a :class:`FileImport` that knows the row count
up front (for a progress bar), yields lists of message dicts, and keeps a running
:class:`ImportReport` of skipped rows and why. Files are read in chunks (pyarrow streaming CSV
reader / Parquet record batches), so a multi-GB file is never loaded at once; a bad row is counted
and skipped, never fatal.

What a file means is decided by a :class:`Converter`: the presets in :mod:`pertinent.events.presets`
(``online-retail``, ``movielens``, ``taobao``) or a :class:`GenericConverter` driven by a
:class:`ColumnMapping` for any other file.

Typical use (e.g. ``pertinent import``)::

    job = import_file(path, preset="online-retail")        # or mapping=ColumnMapping(...)
    with rich.progress.Progress() as bar:
        task = bar.add_task("rows", total=job.total_rows)
        for batch in job:                                    # lists of <= batch_size message dicts
            ingest(batch)
            bar.update(task, completed=job.report.rows_read)
    print(job.report.summary())                              # skipped rows by reason, examples

``messageId`` is a UUID5 of the source name and the row's content (never the file path or position),
so importing the same file twice yields the same ids and the ingestion side can de-duplicate.

>>> import pandas as pd, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "clicks.csv"
>>> pd.DataFrame({"uid": ["u1", "", "u2"], "sku": ["a", "b", "c"], "ts": [1700000000, 1700000001, "oops"]}
...              ).to_csv(path, index=False)
>>> job = import_file(path, mapping=ColumnMapping(user_col="uid", item_col="sku", timestamp_col="ts"))
>>> job.total_rows
3
>>> [m["event"] for batch in job for m in batch]
['Product Viewed']
>>> dict(job.report.skipped)
{'missing user id': 1, 'bad timestamp': 1}
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:  # pandas / pyarrow are imported lazily: this module is imported by the CLI.
    import pandas as pd

__all__ = [
    "ColumnMapping",
    "Converter",
    "FileImport",
    "GenericConverter",
    "ImportFileError",
    "ImportReport",
    "SkippedRow",
    "extract_catalogue",
    "import_file",
    "message_id",
    "message_problems",
    "parse_event_map",
]

MESSAGE_NAMESPACE = uuid.UUID("7d1a4c2e-5b7f-4f0a-9a43-1f3c8e2b6d90")
LIBRARY = {"name": "pertinent-importer", "version": "1"}
CATALOGUE_COLUMNS = ["item_id", "title", "categories", "tags", "price"]
# Timestamps outside this window (epoch itself excluded) are garbage: 0, 99999999999, year 9999...
MIN_TIMESTAMP = "1970-01-01"
_AUTO_MS_FROM = 4_102_444_800  # 2100-01-01 in Unix seconds
MAX_TIMESTAMP = "2100-01-01"
PRODUCT_EVENTS = frozenset(
    {
        "Product Viewed",
        "Product Clicked",
        "Product Added",
        "Product Removed",
        "Product Added to Wishlist",
        "Product Reviewed",
        "Order Completed",
        "Order Refunded",
    }
)
ORDER_EVENTS = frozenset({"Order Completed", "Order Refunded"})


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (missing, unknown format, column not found)."""


def message_id(*parts: object) -> str:
    """Deterministic Segment ``messageId`` from the parts that identify a source row.

    >>> message_id("movielens", "1", "31", 964982703) == message_id("movielens", "1", "31", 964982703)
    True
    >>> message_id("movielens", "1", "31") == message_id("movielens", "13", "1")
    False
    """
    # Same bytes as ``uuid.uuid5`` (the tests check it), without building UUID objects: ~3x faster.
    h = _NAMESPACE_SHA1.copy()
    h.update("\x1f".join([str(p) for p in parts]).encode("utf-8", "surrogatepass"))
    d = bytearray(h.digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x50
    d[8] = (d[8] & 0x3F) | 0x80
    x = d.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


_NAMESPACE_SHA1 = hashlib.sha1(MESSAGE_NAMESPACE.bytes)


_ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
# Properties each event of the project's conventions must carry.
REQUIRED_PROPERTIES = {
    "Product Viewed": ("product_id",),
    "Product Added": ("product_id",),
    "Product Added to Wishlist": ("product_id",),
    "Product Reviewed": ("product_id", "rating"),
    "Order Completed": ("order_id", "products"),
    "Order Refunded": ("order_id", "products"),
}


def message_problems(msg: Any) -> list[str]:
    """What is wrong with a produced message (Segment shape + this project's event conventions).

    An empty list means: a dict with a known ``type``, a ``messageId``, a ``userId`` or
    ``anonymousId``, an ISO-8601 UTC ``timestamp`` ending in ``Z``, an ``event`` name for tracks, and the
    properties the conventions require (e.g. ``product_id`` on "Product Viewed").

    >>> message_problems({"type": "track", "event": "Product Viewed", "messageId": "m", "userId": "u",
    ...                   "timestamp": "2020-01-01T00:00:00.000Z", "properties": {"product_id": "1"}})
    []
    >>> message_problems({"type": "track", "event": "Order Completed", "anonymousId": "a", "timestamp": "x"})
    ['messageId missing', 'timestamp not ISO-8601 UTC', 'properties.order_id missing', 'properties.products missing']
    """
    if not isinstance(msg, dict):
        return ["not a dict"]
    problems = []
    kind = msg.get("type")
    if kind not in ("track", "page", "identify", "screen", "group", "alias"):
        problems.append(f"unknown type {kind!r}")
    if not isinstance(msg.get("messageId"), str) or not msg.get("messageId"):
        problems.append("messageId missing")
    if not any(isinstance(msg.get(k), str) and msg.get(k) for k in ("userId", "anonymousId")):
        problems.append("userId and anonymousId missing")
    ts = msg.get("timestamp")
    if not isinstance(ts, str) or not _ISO_UTC.match(ts):
        problems.append("timestamp not ISO-8601 UTC")
    props = msg.get("properties", {})
    if not isinstance(props, dict):
        problems.append("properties not a dict")
        props = {}
    if kind == "track":
        event = msg.get("event")
        if not isinstance(event, str) or not event:
            problems.append("event missing")
        for key in REQUIRED_PROPERTIES.get(event, ()):  # type: ignore[arg-type]
            if props.get(key) is None:
                problems.append(f"properties.{key} missing")
        if event in ORDER_EVENTS and isinstance(props.get("products"), list):
            for i, p in enumerate(props["products"]):
                if not isinstance(p, dict) or "product_id" not in p:
                    problems.append(f"properties.products[{i}].product_id missing")
        if "revenue" in props and (finite_or_none(props["revenue"]) is None or props["revenue"] < 0):
            problems.append("properties.revenue not a non-negative number")
    if kind == "identify" and not isinstance(msg.get("traits", {}), dict):
        problems.append("traits not a dict")
    if not isinstance(msg.get("context", {}), dict):
        problems.append("context not a dict")
    return problems


# ---------------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class SkippedRow:
    """One example of a skipped row: 1-based data row number (header excluded), reason, offending value.

    Malformed CSV lines carry their data line number; rows after one are numbered among the parsed rows.
    """

    row: int | None
    reason: str
    value: str = ""


@dataclass
class ImportReport:
    """Running counts of an import; safe to read while the import is going on.

    >>> r = ImportReport(total_rows=10)
    >>> r.skip("bad timestamp", [3, 7], ["x", "y"])
    >>> r.rows_read = 10
    >>> r.rows_skipped, r.skipped["bad timestamp"], r.examples[0].row
    (2, 2, 3)
    """

    total_rows: int | None = None
    rows_read: int = 0
    messages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[SkippedRow] = field(default_factory=list)
    max_examples: int = 20

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, rows: Iterable[int | None], values: Iterable[Any] = ()) -> None:
        """Count ``rows`` as skipped for ``reason``; keep the first few as examples."""
        rows = list(rows)
        if not rows:
            return
        self.skipped[reason] += len(rows)
        room = self.max_examples - len(self.examples)
        if room > 0:
            vals = list(values)[:room] if values else []
            for i, row in enumerate(rows[:room]):
                value = "" if i >= len(vals) else str(vals[i])[:80]
                self.examples.append(SkippedRow(row=row, reason=reason, value=value))

    def summary(self) -> str:
        """One human line plus one line per skip reason."""
        lines = [f"{self.rows_read} rows read, {self.rows_skipped} skipped, {self.messages} messages"]
        lines += [f"  skipped {n}: {reason}" for reason, n in self.skipped.most_common()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_rows": self.total_rows,
            "rows_read": self.rows_read,
            "rows_skipped": self.rows_skipped,
            "messages": self.messages,
            "skipped": dict(self.skipped),
            "examples": [e.__dict__ for e in self.examples],
        }


# ---------------------------------------------------------------------------------------------------
# Reading files in chunks


def file_format(path: Path) -> Literal["csv", "parquet"]:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if any(s in (".csv", ".tsv", ".txt") for s in suffixes):
        return "csv"
    raise ImportFileError(f"{path}: unknown file type (expected .csv, .tsv, .txt or .parquet)")


def _check_exists(path: Path) -> None:
    if path.is_dir():
        raise ImportFileError(f"{path}: is a folder; give the data file")
    if not path.is_file():
        raise ImportFileError(f"{path}: file not found")


def _parquet(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise ImportFileError(f"{path.name}: not a readable Parquet file: {e}") from e


def count_rows(path: Path, *, header: bool = True) -> int:
    """Data rows in a file: exact for Parquet (metadata), line count for CSV (fast, streamed)."""
    _check_exists(path)
    if file_format(path) == "parquet":
        return _parquet(path).metadata.num_rows
    lines = 0
    last = b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - (1 if header else 0), 0)


def read_column_names(path: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> list[str]:
    """Column names of a CSV header line or a Parquet schema."""
    _check_exists(path)
    if file_format(path) == "parquet":
        return list(_parquet(path).schema_arrow.names)
    with path.open(encoding=encoding, errors="replace", newline="") as f:
        return next(csv.reader(f, delimiter=delimiter), [])


def read_chunks(
    path: Path,
    *,
    columns: list[str] | None = None,
    names: list[str] | None = None,
    chunk_rows: int = 50_000,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    report: ImportReport | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream a CSV or Parquet file as pandas DataFrames of at most ``chunk_rows`` rows.

    CSV columns are all read as strings (converted later, row by row tolerant); ``names`` gives the
    column names of a header-less CSV. Lines with the wrong number of fields are counted in ``report``
    as skipped ("malformed CSV line") and never stop the import.
    """
    import pyarrow as pa

    _check_exists(path)
    if file_format(path) == "parquet":
        pf = _parquet(path)
        available = pf.schema_arrow.names
        _require_columns(path, available, columns or [])
        batches = pf.iter_batches(batch_size=chunk_rows, columns=columns)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as e:
                raise ImportFileError(f"{path.name}: cannot read this Parquet file: {e}") from e
            yield batch.to_pandas()

    import pyarrow.csv as pacsv

    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    header = names is None
    all_names = read_column_names(path, delimiter=delimiter, encoding=encoding) if header else list(names)
    if header and not all_names:
        return
    _require_columns(path, all_names, columns or [])

    def on_invalid(row: Any) -> str:
        if report is not None:
            number = row.number - 1 if (row.number is not None and header) else row.number
            report.skip("malformed CSV line", [number], [row.text])
        return "skip"

    # Bytes per block: aim for roughly chunk_rows rows of ~100 bytes.
    block_size = max(1 << 16, min(chunk_rows * 128, 1 << 26))

    def unreadable(e: Exception) -> ImportFileError:
        hint = " (is it UTF-8? pass encoding=..., e.g. 'latin-1')" if "UTF8" in str(e).replace("-", "") else ""
        return ImportFileError(f"{path.name}: cannot read this CSV file: {e}{hint}")

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=all_names,
                skip_rows=1 if header else 0,
                block_size=block_size,
                encoding=encoding,
                use_threads=False,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in all_names},
                include_columns=columns,
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as e:
        raise unreadable(e) from e

    pending = []
    pending_rows = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as e:
            raise unreadable(e) from e
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= chunk_rows:
            yield pa.Table.from_batches(pending).to_pandas()
            pending, pending_rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending).to_pandas()


def _require_columns(path: Path, available: list[str], wanted: Iterable[str]) -> None:
    missing = [c for c in wanted if c not in available]
    if missing:
        raise ImportFileError(
            f"{path.name}: column(s) {', '.join(map(repr, missing))} not found; "
            f"the file has {', '.join(map(repr, available))}"
        )


# ---------------------------------------------------------------------------------------------------
# Vectorised cleaning helpers (shared with the presets)


def clean_ids(values: pd.Series) -> pd.Series:
    """Identifiers as stripped strings; ``None`` where missing/empty. Integral floats lose their ``.0``."""
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
        stripped = values.str.strip()
        empty = stripped.isna() | (stripped == "")
        return stripped.astype(object).where(~empty, None)
    s = values.astype(object).where(values.notna(), None)
    return s.map(lambda v: None if v is None else (str(v).strip() or None))


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
    return ts.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")


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
    return s.where(ts.notna(), None).tolist()


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


# ---------------------------------------------------------------------------------------------------
# Converters: one interface, several implementations (presets, generic mapping)


class Converter(ABC):
    """Turns chunks of one kind of file into Segment messages.

    A converter may keep state between chunks (e.g. an invoice spanning two chunks) and emit what is
    left in :meth:`flush`. ``convert`` gets each chunk with the 1-based number of its first row.
    """

    name: str = "converter"
    header: bool = True
    names: list[str] | None = None  # column names of a header-less CSV
    delimiter: str | None = None
    encoding: str = "utf-8"

    def source_file(self, path: Path) -> Path:
        """The file to read when the user points at ``path`` (a preset may accept its folder)."""
        return path

    def columns(self, path: Path) -> list[str] | None:
        """Columns to read (``None``: all)."""
        return None

    def start(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Called once before the first chunk with the resolved source file (load lookups here)."""

    @abstractmethod
    def convert(self, chunk: pd.DataFrame, first_row: int, report: ImportReport) -> Iterator[dict[str, Any]]:
        """Messages for one chunk; count skipped rows in ``report``."""

    def flush(self, report: ImportReport) -> Iterator[dict[str, Any]]:
        """Messages still held back after the last chunk."""
        return iter(())

    @abstractmethod
    def catalogue(self, path: Path, chunk_rows: int = 200_000) -> pd.DataFrame:
        """Items of the file: columns ``item_id, title, categories, tags, price`` (lists for the two)."""

    def chunks(self, path: Path, chunk_rows: int, report: ImportReport | None = None) -> Iterator[pd.DataFrame]:
        return read_chunks(
            path,
            columns=self.columns(path),
            names=None if self.header else self.names,
            chunk_rows=chunk_rows,
            delimiter=self.delimiter,
            encoding=self.encoding,
            report=report,
        )


def parse_event_map(pairs: Iterable[str] | str | None) -> dict[str, str]:
    """Parse CLI event mappings like ``pv=Product Viewed`` (a list, or one comma-separated string).

    >>> parse_event_map(["pv=Product Viewed", "buy = Order Completed"])
    {'pv': 'Product Viewed', 'buy': 'Order Completed'}
    >>> parse_event_map("cart=Product Added,fav=Product Added to Wishlist")["fav"]
    'Product Added to Wishlist'
    """
    if pairs is None:
        return {}
    if isinstance(pairs, str):
        pairs = [p for p in pairs.split(",") if p.strip()]
    out: dict[str, str] = {}
    for pair in pairs:
        raw, sep, event = pair.partition("=")
        if not sep or not raw.strip() or not event.strip():
            raise ValueError(f"event mapping {pair!r}: expected RAW=Event Name, e.g. 'pv=Product Viewed'")
        out[raw.strip()] = event.strip()
    return out


class ColumnMapping(BaseModel):
    """How the columns of an arbitrary CSV/Parquet file map onto Segment events.

    >>> m = ColumnMapping(user_col="uid", item_col="sku", event_col="kind", timestamp_col="ts",
    ...                   event_map={"pv": "Product Viewed"}, timestamp_format="unix_s")
    >>> ColumnMapping.model_validate_json(m.model_dump_json()) == m
    True
    """

    model_config = ConfigDict(extra="forbid")

    user_col: str | None = None  # at least one of user_col / anonymous_col
    timestamp_col: str
    item_col: str | None = None
    event_col: str | None = None
    anonymous_col: str | None = None
    rating_col: str | None = None
    price_col: str | None = None
    quantity_col: str | None = None
    category_col: str | None = None
    title_col: str | None = None
    order_col: str | None = None
    event_map: dict[str, str] = Field(default_factory=dict)
    default_event: str = "Product Viewed"
    keep_unmapped_events: bool = True
    timestamp_format: str = "auto"
    timezone: str = "UTC"
    currency: str = "USD"
    category_separator: str | None = None
    column_names: list[str] | None = None  # for a CSV without header line
    delimiter: str | None = None
    encoding: str = "utf-8"
    source: str = "generic"

    @model_validator(mode="after")
    def _needs_an_id(self) -> ColumnMapping:
        if not self.user_col and not self.anonymous_col:
            raise ValueError("user_col or anonymous_col is required")
        return self

    @field_validator("timestamp_format")
    @classmethod
    def _check_format(cls, v: str) -> str:
        if v not in ("auto", "iso", "unix_s", "unix_ms") and "%" not in v:
            raise ValueError("timestamp_format must be auto, iso, unix_s, unix_ms or a strftime pattern with %")
        return v

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown timezone {v!r}") from e
        return v

    def used_columns(self) -> list[str]:
        cols = [
            self.user_col,
            self.timestamp_col,
            self.item_col,
            self.event_col,
            self.anonymous_col,
            self.rating_col,
            self.price_col,
            self.quantity_col,
            self.category_col,
            self.title_col,
            self.order_col,
        ]
        return list(dict.fromkeys(c for c in cols if c))


class GenericConverter(Converter):
    """Any file, through a :class:`ColumnMapping`. Product events need an item id when ``item_col`` is set;
    "Product Reviewed" needs a numeric rating; order events get one product and ``revenue = price * qty``.

    >>> import pandas as pd
    >>> conv = GenericConverter(ColumnMapping(user_col="u", item_col="i", timestamp_col="t", rating_col="r",
    ...                                       default_event="Product Reviewed"))
    >>> msgs = list(conv.convert(pd.DataFrame({"u": ["7"], "i": ["42"], "t": ["2020-05-01"], "r": ["4.5"]}),
    ...                          1, ImportReport()))
    >>> msgs[0]["properties"], msgs[0]["timestamp"]
    ({'product_id': '42', 'rating': 4.5}, '2020-05-01T00:00:00.000Z')
    """

    def __init__(self, mapping: ColumnMapping):
        self.mapping = mapping
        self.name = mapping.source
        self.header = mapping.column_names is None
        self.names = mapping.column_names
        self.delimiter = mapping.delimiter
        self.encoding = mapping.encoding

    def columns(self, path: Path) -> list[str] | None:
        return self.mapping.used_columns()

    def _col(self, chunk: pd.DataFrame, name: str | None) -> pd.Series | None:
        return None if name is None else chunk[name]

    def convert(self, chunk: pd.DataFrame, first_row: int, report: ImportReport) -> Iterator[dict[str, Any]]:
        import pandas as pd

        m = self.mapping
        n = len(chunk)
        chunk = chunk.reset_index(drop=True)
        rows = pd.RangeIndex(first_row, first_row + n)
        users = clean_ids(chunk[m.user_col]) if m.user_col else pd.Series([None] * n, dtype=object)
        anons = clean_ids(chunk[m.anonymous_col]) if m.anonymous_col else pd.Series([None] * n, dtype=object)
        ts = parse_timestamps(chunk[m.timestamp_col], m.timestamp_format, m.timezone)
        items = clean_ids(chunk[m.item_col]) if m.item_col else pd.Series([None] * n, dtype=object)
        if m.event_col:
            raw_events = clean_ids(chunk[m.event_col])
            events = raw_events.map(
                lambda v: None if v is None else m.event_map.get(v, v if m.keep_unmapped_events else None)
            )
        else:
            raw_events = pd.Series([None] * n, dtype=object)
            events = pd.Series([m.default_event] * n, dtype=object)
        nan = pd.Series([float("nan")] * n)
        ratings = to_numbers(chunk[m.rating_col]) if m.rating_col else nan
        prices = to_numbers(chunk[m.price_col]) if m.price_col else nan
        qtys = to_numbers(chunk[m.quantity_col]) if m.quantity_col else nan
        cats = clean_ids(chunk[m.category_col]) if m.category_col else pd.Series([None] * n, dtype=object)
        titles = clean_ids(chunk[m.title_col]) if m.title_col else pd.Series([None] * n, dtype=object)
        orders = clean_ids(chunk[m.order_col]) if m.order_col else pd.Series([None] * n, dtype=object)

        no_user = users.isna() & anons.isna()
        bad_ts = ts.isna() & ~no_user
        if m.event_col and not m.keep_unmapped_events:
            no_event = events.isna() & raw_events.notna()
            unmapped_reason = "unmapped event"
        else:
            no_event = events.isna()
            unmapped_reason = "missing event"
        no_event &= ~no_user & ~bad_ts
        is_product = events.isin(PRODUCT_EVENTS)
        no_item = (is_product & items.isna() & (m.item_col is not None)) & ~no_user & ~bad_ts & ~no_event
        bad_rating = (events == "Product Reviewed") & ratings.isna() & ~no_user & ~bad_ts & ~no_event & ~no_item
        for mask, reason, col in (
            (no_user, "missing user id", m.user_col or m.anonymous_col),
            (bad_ts, "bad timestamp", m.timestamp_col),
            (no_event, unmapped_reason, m.event_col),
            (no_item, "missing item id", m.item_col),
            (bad_rating, "bad rating", m.rating_col),
        ):
            if mask.any():
                vals = chunk[col][mask].tolist() if col else []
                report.skip(reason, rows[mask.to_numpy()].tolist(), vals)
        keep = ~(no_user | bad_ts | no_event | no_item | bad_rating)
        stamps = iso_utc(ts)
        sep = m.category_separator
        ctx = {"library": LIBRARY}
        for i in keep[keep].index:
            event = events[i]
            user, anon, item = users[i], anons[i], items[i]
            ts_text = stamps[i]
            cat = cats[i]
            category: Any = cat
            if cat is not None and sep:
                category = [c.strip() for c in cat.split(sep) if c.strip()]
            price = finite_or_none(prices[i])
            qty = finite_or_none(qtys[i])
            rating = finite_or_none(ratings[i])
            mid = message_id(m.source, user, anon, event, item, ts_text, rating, price, qty, cat, orders[i])
            if event in ORDER_EVENTS:
                quantity = abs(qty) if qty is not None else 1.0
                product = drop_none(
                    {
                        "product_id": item,
                        "name": titles[i],
                        "price": price,
                        "quantity": quantity,
                        "category": category,
                    }
                )
                props: dict[str, Any] = drop_none(
                    {
                        "order_id": orders[i] or mid,
                        "revenue": round(abs(price) * quantity, 2) if price is not None else None,
                        "currency": m.currency if price is not None else None,
                        "products": [product] if item is not None else [],
                    }
                )
            else:
                props = drop_none(
                    {
                        "product_id": item,
                        "name": titles[i],
                        "category": category,
                        "price": price,
                        "quantity": qty,
                        "rating": rating,
                    }
                )
            msg: dict[str, Any] = {
                "type": "track",
                "messageId": mid,
                "event": event,
                "timestamp": ts_text,
                "properties": props,
                "context": ctx,
            }
            if user is not None:
                msg["userId"] = user
            if anon is not None:
                msg["anonymousId"] = anon
            yield msg

    def catalogue(self, path: Path, chunk_rows: int = 200_000) -> pd.DataFrame:
        import pandas as pd

        m = self.mapping
        if not m.item_col:
            raise ImportFileError("a catalogue needs item_col")
        cols = [c for c in (m.item_col, m.title_col, m.category_col, m.price_col) if c]
        parts = []
        for chunk in read_chunks(
            path,
            columns=cols,
            names=self.names,
            chunk_rows=chunk_rows,
            delimiter=self.delimiter,
            encoding=self.encoding,
        ):
            part = pd.DataFrame({"item_id": clean_ids(chunk[m.item_col])})
            part["title"] = clean_ids(chunk[m.title_col]) if m.title_col else None
            part["category"] = clean_ids(chunk[m.category_col]) if m.category_col else None
            part["price"] = to_numbers(chunk[m.price_col]) if m.price_col else float("nan")
            part = part[part["item_id"].notna()]
            parts.append(
                part.groupby("item_id", sort=False).agg(
                    title=("title", "first"), category=("category", "first"), price=("price", "median")
                )
            )
        if not parts:
            return pd.DataFrame(columns=CATALOGUE_COLUMNS)
        agg = (
            pd.concat(parts)
            .groupby(level=0, sort=False)
            .agg(title=("title", "first"), category=("category", "first"), price=("price", "median"))
        )
        sep = m.category_separator

        def split(c: Any) -> list[str]:
            if c is None or (isinstance(c, float) and math.isnan(c)):
                return []
            return [x.strip() for x in str(c).split(sep) if x.strip()] if sep else [str(c)]

        out = pd.DataFrame(
            {
                "item_id": agg.index.astype(str),
                "title": agg["title"].to_numpy(),
                "categories": [split(c) for c in agg["category"]],
                "tags": [[] for _ in range(len(agg))],
                "price": agg["price"].to_numpy(dtype=float),
            }
        )
        return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# The import job


class FileImport:
    """One file being imported: ``total_rows`` up front, batches of messages when iterated, a live ``report``.

    Iterate once; each iteration re-reads the file from the start with a fresh report.
    """

    def __init__(
        self,
        path: Path,
        converter: Converter,
        *,
        batch_size: int = 500,
        chunk_rows: int = 50_000,
        limit: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be >= 1")
        self.converter = converter
        self.path = converter.source_file(Path(path))
        _check_exists(self.path)
        file_format(self.path)
        self.batch_size = batch_size
        self.chunk_rows = chunk_rows if limit is None else max(1, min(chunk_rows, limit))
        self.limit = limit
        self._total: int | None = None
        self.report = ImportReport()

    @property
    def total_rows(self) -> int:
        """Rows the import will read (Parquet: exact; CSV: line count), honouring ``limit``."""
        if self._total is None:
            total = count_rows(self.path, header=self.converter.header)
            self._total = total if self.limit is None else min(total, self.limit)
        return self._total

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        self.report = ImportReport(total_rows=self.total_rows)
        report = self.report
        conv = self.converter
        conv.start(self.path)
        batch: list[dict[str, Any]] = []
        first_row = 1

        def messages() -> Iterator[dict[str, Any]]:
            nonlocal first_row
            for chunk in conv.chunks(self.path, self.chunk_rows, report):
                if self.limit is not None:
                    room = self.limit - report.rows_read
                    if room <= 0:
                        break
                    chunk = chunk.iloc[:room]
                yield from conv.convert(chunk, first_row, report)
                first_row += len(chunk)
                report.rows_read += len(chunk)
            yield from conv.flush(report)

        for msg in messages():
            batch.append(msg)
            report.messages += 1
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def messages(self) -> Iterator[dict[str, Any]]:
        """All messages, one by one."""
        for batch in self:
            yield from batch


def get_converter(preset: str | None = None, mapping: ColumnMapping | None = None, **options: Any) -> Converter:
    """A preset converter by name (``online-retail``, ``movielens``, ``taobao``) or a generic one."""
    if (preset is None) == (mapping is None):
        raise ValueError("give exactly one of preset= or mapping=")
    if mapping is not None:
        if options:
            raise ValueError(f"unknown options for a column mapping: {', '.join(options)}")
        return GenericConverter(mapping)
    from pertinent.events.presets import PRESETS

    try:
        cls = PRESETS[preset]  # type: ignore[index]
    except KeyError:
        raise ImportFileError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}") from None
    return cls(**options)


def import_file(
    path: str | Path,
    preset: str | None = None,
    mapping: ColumnMapping | None = None,
    *,
    batch_size: int = 500,
    chunk_rows: int = 50_000,
    limit: int | None = None,
    **options: Any,
) -> FileImport:
    """Prepare the import of one file with a preset or a column mapping; iterate the result for batches.

    ``limit`` reads only the first rows (handy for trials and tests); ``options`` go to the preset
    (e.g. ``missing_customer="skip"`` for online-retail).
    """
    conv = get_converter(preset, mapping, **options)
    return FileImport(Path(path), conv, batch_size=batch_size, chunk_rows=chunk_rows, limit=limit)


def extract_catalogue(
    path: str | Path, preset: str | None = None, mapping: ColumnMapping | None = None, **options: Any
) -> pd.DataFrame:
    """Items of a file as a DataFrame: ``item_id, title, categories (list), tags (list), price``."""
    conv = get_converter(preset, mapping, **options)
    src = conv.source_file(Path(path))
    _check_exists(src)
    return conv.catalogue(src)
