"""The data-quality report of an import file, made before anything is written (``pertinent import --dry-run``).

It reads the file as the import would (same converter, same chunks) and reports, per source column, the null rate,
the range of numeric columns and the values that do not parse as numbers; rows repeated whole; messages with the
same id; messages the ingest validation would refuse (by field); the rows the converter skips (bad timestamps,
missing ids...); and what normalisation and the tracking plan would do.

>>> import pandas as pd
>>> check = ImportCheck()
>>> check.chunk(pd.DataFrame({"uid": ["a", "b", None, "b", "c"], "price": ["1.5", "2", "x", "2", "3"]}))
>>> check.message({"type": "track", "event": "E", "userId": "a", "messageId": "m1"})
>>> check.message({"type": "track", "userId": "a", "messageId": "m1"})
>>> r = check.result()
>>> [(c.name, c.nulls, c.unparseable, c.min, c.max) for c in r.columns]
[('uid', 1, 0, None, None), ('price', 0, 1, 1.5, 3.0)]
>>> r.duplicate_rows, r.duplicate_message_ids, r.invalid_messages
(1, 1, {'event': 1})
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
from pydantic import BaseModel

from pertinent.events.schema import validate_message
from pertinent.quality.ingest import IngestQuality

NUMERIC_SHARE = 0.5  # a column whose non-null values parse as numbers at least this often is numeric
MAX_TRACKED = 5_000_000  # rows / ids remembered for duplicate detection


class ColumnReport(BaseModel):
    name: str
    rows: int
    nulls: int
    null_rate: float
    numeric: bool
    min: float | None = None
    max: float | None = None
    unparseable: int = 0  # non-null values of a numeric column that are not numbers
    examples: list[str] = []


class ImportQualityReport(BaseModel):
    """What an import would meet, before anything is written."""

    rows: int
    columns: list[ColumnReport]
    duplicate_rows: int
    messages: int
    duplicate_message_ids: int
    invalid_messages: dict[str, int]  # field -> messages the ingest validation refuses
    skipped_rows: dict[str, int]  # the converter's reasons (bad timestamp, missing user id...)
    normalisation: dict[str, int]  # "normalised context.location.country" -> values
    violations: dict[str, int]  # "Order Completed properties.total (blocked)" -> events


class _Column:
    def __init__(self) -> None:
        self.rows = self.nulls = self.numbers = self.bad = 0
        self.low: float | None = None
        self.high: float | None = None
        self.examples: list[str] = []


class ImportCheck:
    """Accumulates the report chunk by chunk (``chunk``) and message by message (``message``)."""

    def __init__(self, quality: IngestQuality | None = None) -> None:
        self.quality = quality
        self.columns: dict[str, _Column] = {}
        self.rows = 0
        self.row_hashes: set[int] = set()
        self.duplicate_rows = 0
        self.ids: set[str] = set()
        self.duplicate_ids = 0
        self.messages = 0
        self.invalid: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()

    def chunk(self, frame: pd.DataFrame) -> None:
        self.rows += len(frame)
        for name in frame.columns:
            col = self.columns.setdefault(str(name), _Column())
            values = frame[name]
            text = values.astype("string").str.strip()
            missing = values.isna() | (text == "")
            col.rows += len(values)
            col.nulls += int(missing.sum())
            present = values[~missing]
            numbers = pd.to_numeric(present, errors="coerce")
            ok = numbers.notna()
            col.numbers += int(ok.sum())
            col.bad += int((~ok).sum())
            if ok.any():
                low, high = float(numbers[ok].min()), float(numbers[ok].max())
                col.low = low if col.low is None else min(col.low, low)
                col.high = high if col.high is None else max(col.high, high)
            if len(col.examples) < 5:
                col.examples += [str(v)[:40] for v in present[~ok].head(5 - len(col.examples))]
        if len(self.row_hashes) < MAX_TRACKED:
            for h in pd.util.hash_pandas_object(frame, index=False).tolist():
                if h in self.row_hashes:
                    self.duplicate_rows += 1
                else:
                    self.row_hashes.add(h)

    def message(self, raw: dict[str, Any]) -> None:
        self.messages += 1
        mid = raw.get("messageId")
        if isinstance(mid, str) and len(self.ids) < MAX_TRACKED:
            if mid in self.ids:
                self.duplicate_ids += 1
            self.ids.add(mid)
        msg, errors = validate_message(raw)
        if errors:
            self.invalid.update({e["field"] for e in errors})
            return
        if self.quality is not None:
            self.quality.normalise(msg)
            self.quality.check(msg)

    def result(self, skipped: dict[str, int] | None = None) -> ImportQualityReport:
        columns = []
        for name, c in self.columns.items():
            present = c.rows - c.nulls
            numeric = present > 0 and c.numbers / present >= NUMERIC_SHARE
            columns.append(
                ColumnReport(
                    name=name,
                    rows=c.rows,
                    nulls=c.nulls,
                    null_rate=round(c.nulls / c.rows, 4) if c.rows else 0.0,
                    numeric=numeric,
                    min=c.low if numeric else None,
                    max=c.high if numeric else None,
                    unparseable=c.bad if numeric else 0,
                    examples=c.examples if numeric else [],
                )
            )
        counts = self.quality.take_counts() if self.quality is not None else Counter()
        normalised = {f"{k} {f}": n for (k, _e, f), n in counts.items() if k in ("normalised", "unparseable")}
        violations = {f"{e} {f} ({k})": n for (k, e, f), n in counts.items() if k in ("violation", "blocked")}
        return ImportQualityReport(
            rows=self.rows,
            columns=columns,
            duplicate_rows=self.duplicate_rows,
            messages=self.messages,
            duplicate_message_ids=self.duplicate_ids,
            invalid_messages=dict(self.invalid),
            skipped_rows=dict(skipped or {}),
            normalisation=dict(Counter(normalised)),
            violations=violations,
        )


def check_import(job: Any, quality: IngestQuality | None = None) -> ImportQualityReport:
    """Read an import job (``events.importing.FileImport``) to its end without writing, and report."""
    check = ImportCheck(quality)
    job.on_chunk = check.chunk
    try:
        for batch in job:
            for raw in batch:
                check.message(raw)
    finally:
        job.on_chunk = None
    return check.result(dict(job.report.skipped))
