"""The converter interface: what turns chunks of one kind of file into Segment messages.

Implementations: the presets (:mod:`pertinent.events.importing.presets`) and the
:class:`~pertinent.events.importing.generic.GenericConverter` driven by a column mapping.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertinent.events.importing.readers import read_chunks
from pertinent.events.importing.report import ImportReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CATALOGUE_COLUMNS", "Converter", "in_folder", "skip_masks"]

CATALOGUE_COLUMNS = ["item_id", "title", "categories", "tags", "price"]


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


def in_folder(path: Path, default: str) -> Path:
    """``path`` itself, or the file named ``default`` in it when ``path`` is a folder (a dataset's folder)."""
    return path / default if path.is_dir() else path


def skip_masks(chunk_rows: Any, report: ImportReport, checks: list[tuple[Any, str, Any]]) -> Any:
    """Apply skip checks in order (a row is counted under its first failing reason); return keep mask.

    ``checks`` are (mask, reason, raw values for the examples) with masks aligned on ``chunk_rows``.
    """
    if not checks:
        raise ValueError("skip_masks needs at least one check")
    dropped: Any = None
    for mask, reason, values in checks:
        if dropped is not None:
            mask = mask & ~dropped
        if mask.any():
            report.skip(
                reason,
                chunk_rows[mask.to_numpy()].tolist(),
                values[mask].tolist() if values is not None else [],
            )
        dropped = mask if dropped is None else (dropped | mask)
    return ~dropped
