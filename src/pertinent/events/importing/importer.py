"""The import job: one file, one converter, batches of messages and a live report.

:func:`import_file` picks the converter (a preset by name, or a :class:`~.generic.GenericConverter` for a
:class:`~.generic.ColumnMapping`) and returns a :class:`FileImport`; :func:`extract_catalogue` reads the items
of a file instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertinent.events.importing.converter import Converter
from pertinent.events.importing.generic import ColumnMapping, GenericConverter
from pertinent.events.importing.presets import PRESETS
from pertinent.events.importing.readers import ImportFileError, check_exists, count_rows, file_format
from pertinent.events.importing.report import ImportReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FileImport", "extract_catalogue", "get_converter", "import_file"]


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
        check_exists(self.path)
        file_format(self.path)
        self.batch_size = batch_size
        self.chunk_rows = chunk_rows if limit is None else max(1, min(chunk_rows, limit))
        self.limit = limit
        self._total: int | None = None
        self.report = ImportReport()
        self.on_chunk: Callable[[pd.DataFrame], None] | None = None  # sees each raw chunk (data-quality report)

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
                if self.on_chunk is not None:
                    self.on_chunk(chunk)
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
    assert preset is not None  # exactly one of the two, checked above
    try:
        cls = PRESETS[preset]
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
    check_exists(src)
    return conv.catalogue(src)
