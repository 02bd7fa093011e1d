"""Incremental Parquet exports of the stored events, profiles and decisions (``pertinent export``).

Layout of an export folder ``OUT`` (what Spark's ``spark.read.parquet(OUT + "/events")`` reads)::

    OUT/events/part-<run>.parquet      one row per stored event, each event in exactly one part
    OUT/profiles/snapshot-<run>.parquet one row per stored profile (a new snapshot replaces the previous one)
    OUT/profiles/updated-<run>.parquet  with --since: the profiles updated since then
    OUT/decisions/part-<run>.parquet   one row per logged decision

Incremental without bookkeeping by the caller: each run records, in the database (a ``warehouse_export``
document per folder and kind), the files it wrote and its watermark: the last event's insertion id, or the
end of the decisions' time window. The next run to the same folder starts there. Rows younger than
``settle_s`` are left for the next run, so a transaction still committing (PostgreSQL hands out ids before
commit) is not skipped past.

Erasure and a person's export cover every file recorded there: ``user_rows`` reads a profile's rows back,
``forget_user`` rewrites each file that holds them without them (a scan of the export files: erasures are rare,
exports are large).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pertinent.errors import InvalidInput, NotFound
from pertinent.storage.base import Store, Tx
from pertinent.warehouse.tables import SCHEMAS, decision_batch, event_batch, profile_batch

KINDS = ("events", "profiles", "decisions")
FORMATS = ("parquet",)
DOC_KIND = "warehouse_export"
PAGE = 5000


class ExportError(InvalidInput):
    """A bad export request (kind, format, folder or time), naming the field.

    >>> ExportError("kind", "unknown").message
    'kind: unknown'
    """

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__([{"field": field_name, "message": message}], f"{field_name}: {message}")


@dataclass(frozen=True)
class ExportResult:
    kind: str
    out: str
    files: list[str]
    rows: int
    watermark: float | int | None
    since: float | None
    replaced: list[str] = field(default_factory=list)


def parse_time(text: str | None, name: str = "since") -> float | None:
    """Seconds since the epoch from an ISO 8601 time (UTC when it names no zone) or a number of seconds.

    >>> parse_time("2024-01-02T00:00:00Z"), parse_time("1704153600"), parse_time(None)
    (1704153600.0, 1704153600.0, None)
    """
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ExportError(name, f"not an ISO 8601 time or epoch seconds: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _doc_id(out: Path, kind: str) -> str:
    return hashlib.sha256(f"{out}\0{kind}".encode()).hexdigest()[:32]


class WarehouseExports:
    """Writes exports and answers for them in a person's export and erasure."""

    def __init__(self, store: Store, settle_s: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settle_s = settle_s
        self.clock = clock

    # -- writing --------------------------------------------------------------------------------------------------
    def export(
        self, kind: str, out: str | Path, fmt: str = "parquet", since: str | float | None = None
    ) -> ExportResult:
        if kind not in KINDS:
            raise ExportError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
        if fmt not in FORMATS:
            raise ExportError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
        since_s = since if isinstance(since, float | int) else parse_time(since)
        if since_s is not None and not (math.isfinite(since_s) and since_s <= self.clock()):
            # a later time would move the decisions' watermark past rows not yet made: later runs would skip them
            raise ExportError("since", f"must be a finite time no later than now, got {since!r}")
        root = Path(out).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise ExportError("out", f"{str(out)!r} is a file, not a folder")
        try:
            (root / kind).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError("out", f"cannot create {str(root / kind)!r}: {exc.strerror or exc}") from None
        manifest = self._manifest(root, kind)
        run = f"{datetime.fromtimestamp(self.clock(), UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        writer = getattr(self, f"_write_{kind}")
        path, rows, watermark, replaced = writer(root, run, manifest, since_s)
        files = [f for f in manifest.get("files", []) if f not in replaced]
        if path is not None:
            files.append(path)
        mark: float | int | None = watermark if watermark is not None else manifest.get("watermark")
        body = {
            "out": str(root),
            "kind": kind,
            "files": files,
            "watermark": mark,
            "runs": int(manifest.get("runs", 0)) + 1,
        }
        with self.store.transaction() as tx:
            tx.put_document(DOC_KIND, _doc_id(root, kind), body, self.clock())
        for rel in replaced:  # after the manifest no longer lists them
            (root / rel).unlink(missing_ok=True)
        return ExportResult(kind, str(root), [path] if path else [], rows, mark, since_s, replaced)

    def _manifest(self, root: Path, kind: str) -> dict[str, Any]:
        with self.store.transaction(write=False) as tx:
            doc = tx.get_document(DOC_KIND, _doc_id(root, kind))
        return dict(doc.body) if doc is not None and doc.body else {}

    @staticmethod
    def _stream(path: Path, kind: str, batches: Iterator[pa.RecordBatch]) -> int:
        """Write ``batches`` to ``path`` through a temporary name (a reader never sees half a file); 0 rows: no file."""
        tmp = path.with_name(path.name + ".tmp")
        rows = 0
        writer: pq.ParquetWriter | None = None
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(tmp, SCHEMAS[kind], compression="zstd")
                writer.write_batch(batch)
                rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if rows:
            os.replace(tmp, path)
        return rows

    def _write_events(
        self, root: Path, run: str, manifest: dict[str, Any], since: float | None
    ) -> tuple[str | None, int, int, list[str]]:
        last = int(manifest.get("watermark") or 0)
        cutoff = self.clock() - self.settle_s
        state = {"last": last}

        def pages() -> Iterator[pa.RecordBatch]:
            while True:
                with self.store.transaction(write=False) as tx:
                    page = list(tx.iter_events_after(state["last"], since or 0.0, batch_size=PAGE))[:PAGE]
                settled = []
                for event_id, row in page:
                    if row.received_at >= cutoff:  # too young: it and everything after wait for the next run
                        break
                    settled.append((event_id, row))
                if settled:
                    state["last"] = settled[-1][0]
                    yield event_batch(settled)
                if len(settled) < PAGE:
                    return

        rel = f"events/part-{run}.parquet"
        rows = self._stream(root / rel, "events", pages())
        return (rel if rows else None), rows, state["last"], []

    def _write_profiles(
        self, root: Path, run: str, manifest: dict[str, Any], since: float | None
    ) -> tuple[str | None, int, float | None, list[str]]:
        def pages() -> Iterator[pa.RecordBatch]:
            after: str | None = None
            while True:
                with self.store.transaction(write=False) as tx:
                    page = tx.profiles_after(after, PAGE)
                if not page:
                    return
                after = page[-1].profile_id
                keep = page if since is None else [p for p in page if p.updated_at >= since]
                yield profile_batch(keep)

        rel = f"profiles/{'snapshot' if since is None else 'updated'}-{run}.parquet"
        rows = self._stream(root / rel, "profiles", pages())
        replaced: list[str] = []
        if since is None:  # a full snapshot replaces the earlier ones (even when the store is now empty)
            replaced = [f for f in manifest.get("files", []) if f.startswith("profiles/snapshot-")]
        return (rel if rows else None), rows, self.clock(), replaced

    def _write_decisions(
        self, root: Path, run: str, manifest: dict[str, Any], since: float | None
    ) -> tuple[str | None, int, float, list[str]]:
        start = float(manifest.get("watermark") or 0.0)
        if since is not None:
            start = max(start, since)
        until = self.clock() - self.settle_s  # decisions are logged a moment after they are made

        def pages() -> Iterator[pa.RecordBatch]:
            with self.store.transaction(write=False) as tx:
                batch = []
                for row in tx.iter_decisions(since=start, until=until, batch_size=PAGE):
                    batch.append(row)
                    if len(batch) >= PAGE:
                        yield decision_batch(batch)
                        batch = []
                yield decision_batch(batch)

        rel = f"decisions/part-{run}.parquet"
        rows = self._stream(root / rel, "decisions", pages())
        return (rel if rows else None), rows, max(start, until), []

    # -- listing, a person's export and erasure -------------------------------------------------------------------
    def manifests(self, tx: Tx) -> list[dict[str, Any]]:
        return [dict(d.body) for d in tx.list_documents(DOC_KIND) if d.body]

    def _files(self, tx: Tx) -> Iterator[tuple[str, Path]]:
        for m in self.manifests(tx):
            for rel in m.get("files", []):
                path = Path(m["out"]) / rel
                if path.exists():
                    yield m["kind"], path

    def user_rows(self, tx: Tx, profile_id: str) -> list[dict[str, Any]]:
        """Every exported row of this profile, with the file it is in."""
        out: list[dict[str, Any]] = []
        for kind, path in self._files(tx):
            table = pq.read_table(path, filters=[("profile_id", "=", profile_id)])
            for row in table.to_pylist():
                out.append({"kind": kind, "file": str(path), **row})
        return out

    def forget_user(self, tx: Tx, profile_id: str) -> int:
        """Rewrite each export file holding this profile's rows without them; the number of rows removed."""
        removed = 0
        for kind, path in self._files(tx):
            ids = pq.read_table(path, columns=["profile_id"]).column("profile_id")
            hits = int(pc.sum(pc.equal(ids, profile_id)).as_py() or 0)
            if not hits:
                continue
            table = pq.read_table(path)
            kept = table.filter(pc.not_equal(table.column("profile_id"), profile_id))
            tmp = path.with_name(path.name + ".tmp")
            pq.write_table(kept.cast(SCHEMAS[kind]), tmp, compression="zstd")
            os.replace(tmp, path)
            removed += hits
        return removed

    def status(self, out: str | Path, kind: str) -> dict[str, Any]:
        root = Path(out).expanduser().resolve()
        manifest = self._manifest(root, kind)
        if not manifest:
            raise NotFound(
                [{"field": "out", "message": "no export recorded"}], f"out: no {kind} export recorded for {str(root)!r}"
            )
        return manifest
