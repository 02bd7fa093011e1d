"""Turn CSV / Parquet interaction histories into Segment-spec event messages, in batches.

The entry point is :func:`import_file`: it returns a :class:`FileImport` that knows the row count
up front (for a progress bar), yields lists of message dicts, and keeps a running
:class:`ImportReport` of skipped rows and why. Files are read in chunks (pyarrow streaming CSV
reader / Parquet record batches), so a multi-GB file is never loaded at once; a bad row is counted
and skipped, never fatal.

What a file means is decided by a :class:`Converter`: the presets in :mod:`.presets`
(``online-retail``, ``movielens``, ``taobao``) or a :class:`GenericConverter` driven by a
:class:`ColumnMapping` for any other file.

The modules, in the order data flows through them: :mod:`.readers` (files in chunks), :mod:`.cleaning`
(identifiers, numbers, timestamps), :mod:`.converter` (the interface) with :mod:`.generic` and
:mod:`.presets` (rows -> messages, with :mod:`.messages` for ids), :mod:`.report` (skipped rows),
:mod:`.importer` (the job); :mod:`.validation` checks produced messages.

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

from pertinent.events.importing.converter import CATALOGUE_COLUMNS, Converter
from pertinent.events.importing.generic import ColumnMapping, GenericConverter, parse_event_map
from pertinent.events.importing.importer import FileImport, extract_catalogue, get_converter, import_file
from pertinent.events.importing.messages import message_id
from pertinent.events.importing.presets import PRESETS
from pertinent.events.importing.readers import ImportFileError
from pertinent.events.importing.report import ImportReport, SkippedRow
from pertinent.events.importing.validation import message_problems

__all__ = [
    "CATALOGUE_COLUMNS",
    "PRESETS",
    "ColumnMapping",
    "Converter",
    "FileImport",
    "GenericConverter",
    "ImportFileError",
    "ImportReport",
    "SkippedRow",
    "extract_catalogue",
    "get_converter",
    "import_file",
    "message_id",
    "message_problems",
    "parse_event_map",
]
