"""The running report of an import: rows read, messages made, skipped rows counted by reason with examples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ImportReport", "SkippedRow"]


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
