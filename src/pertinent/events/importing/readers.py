"""Reading CSV / TSV / Parquet files in chunks: row counts up front, column names, streamed DataFrames.

A multi-GB file is never loaded at once (pyarrow's streaming CSV reader, Parquet record batches); a malformed
CSV line is counted in the :class:`~pertinent.events.importing.report.ImportReport` and skipped, never fatal.
pandas and pyarrow are imported lazily: the CLI imports this module.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pertinent.events.importing.report import ImportReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ImportFileError",
    "check_exists",
    "count_rows",
    "file_format",
    "read_chunks",
    "read_column_names",
    "sniff_delimiter",
]

DELIMITERS = (",", ";", "\t", "|")
"""What :func:`sniff_delimiter` chooses among when a file's delimiter is not given."""


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (missing, unknown format, column not found)."""


def file_format(path: Path) -> Literal["csv", "parquet"]:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if any(s in (".csv", ".tsv", ".txt") for s in suffixes):
        return "csv"
    raise ImportFileError(f"{path}: unknown file type (expected .csv, .tsv, .txt or .parquet)")


def check_exists(path: Path) -> None:
    """Refuse a folder or a missing path with an :class:`ImportFileError` naming it."""
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
    check_exists(path)
    if file_format(path) == "parquet":
        return int(_parquet(path).metadata.num_rows)
    lines = 0
    last = b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - (1 if header else 0), 0)


def _text_encoding(encoding: str) -> str:
    """UTF-8 read with its byte-order mark dropped (spreadsheets write one): ``utf-8`` -> ``utf-8-sig``."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def read_column_names(path: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> list[str]:
    """Column names of a CSV header line (a UTF-8 byte-order mark is not part of the first) or a Parquet schema."""
    check_exists(path)
    if file_format(path) == "parquet":
        return list(_parquet(path).schema_arrow.names)
    with path.open(encoding=_text_encoding(encoding), errors="replace", newline="") as f:
        return next(csv.reader(f, delimiter=delimiter), [])


def sniff_delimiter(path: Path, *, encoding: str = "utf-8") -> str:
    """The delimiter of a CSV file whose delimiter was not given: of ``, ; TAB |``, the one the first line holds
    most often (``,`` when it holds none, and for ``.tsv`` files a tab), so that a semicolon-separated export
    (a European spreadsheet's) is read by its columns rather than as one.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = f.write_text("user;item;ts\\n1;a,b;2\\n")
    >>> sniff_delimiter(f)
    ';'
    """
    if path.suffix.lower() == ".tsv":
        return "\t"
    with path.open(encoding=_text_encoding(encoding), errors="replace", newline="") as f:
        first = f.readline()
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties go to the earlier one: "," first
    return best if counts[best] else ","


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

    check_exists(path)
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

    header = names is None
    if delimiter is None:  # a header line names columns, so its separators tell; a data line's values might not
        delimiter = (
            sniff_delimiter(path, encoding=encoding) if header else ("\t" if path.suffix.lower() == ".tsv" else ",")
        )
    all_names = list(names) if names is not None else read_column_names(path, delimiter=delimiter, encoding=encoding)
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
        hint = ""
        if "UTF8" in str(e).replace("-", ""):
            hint = " (is it UTF-8? give its encoding: --encoding latin-1, or encoding= in the mapping)"
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
    wanted = list(wanted)
    missing = [c for c in wanted if c not in available]
    if missing:
        raise ImportFileError(
            f"{path.name}: column(s) {', '.join(map(repr, missing))} not found; "
            f"the file has {', '.join(map(repr, available))}"
        )
    twice = [c for c in dict.fromkeys(wanted) if available.count(c) > 1]
    if twice:  # which of the two would be read is the reader's choice: refuse rather than guess
        raise ImportFileError(
            f"{path.name}: column(s) {', '.join(map(repr, twice))} appear more than once in the header; "
            "rename them so each name is unique"
        )
