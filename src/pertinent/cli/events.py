"""CLI commands for events: ``pertinent import`` (files) and ``pertinent generate`` (synthetic shop)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer


def ingest_batches(
    batches: Iterable[list[dict[str, Any]]],
    total: int | None,
    label: str,
    count_rows: bool = False,
    job: Any = None,
    rejections: Counter[str] | None = None,
) -> dict[str, int]:
    """Feed message batches to the ingest service in process, with a progress bar; return totals. ``rejections``,
    when given, counts the messages ingestion refused by field and reason (``timestamp: ...``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pertinent.privacy.audit import Actor
    from pertinent.privacy.keys import ensure_keys
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    actor = Actor.cli()  # identity merges in the history are audited as the command line's
    totals = {"messages": 0, "stored": 0, "duplicates": 0, "skipped_no_consent": 0, "suppressed": 0, "rejected": 0}
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns) as progress:
            task = progress.add_task(label, total=total)
            for batch in batches:
                result = services.ingest.ingest(batch, prefix="batch", actor=actor)
                totals["messages"] += len(batch)
                totals["stored"] += result.stored
                totals["duplicates"] += result.duplicates
                totals["skipped_no_consent"] += result.skipped_no_consent
                totals["suppressed"] += result.suppressed
                totals["rejected"] += result.rejected
                if rejections is not None:
                    for error in result.errors:  # "batch[12].timestamp" -> "timestamp": the field, not the place
                        where = str(error.get("field", "")).partition("].")[2] or str(error.get("field", ""))
                        rejections[f"{where}: {error.get('message', '')}"] += 1
                done = job.report.rows_read if (count_rows and job is not None) else totals["messages"]
                progress.update(task, completed=done)
    finally:
        services.close()
    return totals


def store_catalogue(frame: Any) -> int:
    """Upsert a catalogue frame (item_id, title, categories, tags, price) into the items table (audited)."""
    import time

    from pertinent.privacy.audit import Actor
    from pertinent.privacy.keys import ensure_keys
    from pertinent.recommend.items import audit_upsert
    from pertinent.settings import load_settings
    from pertinent.storage.base import ItemRow
    from pertinent.storage.factory import open_store

    store = open_store(ensure_keys(load_settings()))
    now = time.time()
    rows = [
        ItemRow(
            item_id=str(r.item_id),
            title=str(r.title),
            categories=list(r.categories),
            tags=list(r.tags),
            attributes={"price": float(r.price)},
            updated_at=now,
        )
        for r in frame.itertuples()
    ]
    try:
        with store.transaction() as tx:
            audit_upsert(tx, Actor.cli(), rows)
            tx.upsert_items(rows)
    finally:
        store.close()
    return len(rows)


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_(
        file: Path = typer.Argument(..., help="CSV or Parquet file (or a dataset folder for movielens)."),
        preset: str | None = typer.Option(None, help="online-retail, movielens or taobao."),
        user_col: str | None = typer.Option(None, help="Column with the user id (generic mapping)."),
        item_col: str | None = typer.Option(None, help="Column with the item id."),
        event_col: str | None = typer.Option(None, help="Column with the event/behaviour name."),
        timestamp_col: str | None = typer.Option(None, help="Column with the event time."),
        rating_col: str | None = typer.Option(None, help="Column with an explicit rating."),
        price_col: str | None = typer.Option(None, help="Column with the unit price."),
        quantity_col: str | None = typer.Option(None, help="Column with the quantity."),
        category_col: str | None = typer.Option(None, help="Column with the item category."),
        event_map: list[str] = typer.Option([], help="RAW=Event Name, e.g. 'pv=Product Viewed' (repeatable)."),
        timestamp_format: str = typer.Option("auto", help="auto, iso, unix_s, unix_ms or a strftime pattern."),
        delimiter: str | None = typer.Option(
            None, help="CSV field separator (default: the one of , ; TAB | the header line holds most)."
        ),
        encoding: str = typer.Option("utf-8", help="CSV text encoding, e.g. latin-1 or cp1252 (generic mapping)."),
        limit: int | None = typer.Option(None, help="Read only the first N rows."),
        batch_size: int = typer.Option(500, help="Messages per ingest transaction."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the data-quality report only; write nothing."),
        report: bool = typer.Option(False, "--report", help="Print the data-quality report before importing."),
        as_json: bool = typer.Option(False, "--json", help="The data-quality report as JSON."),
    ) -> None:
        """Load a history file as events into the configured store (no server needed)."""
        from pertinent.events.importing import ColumnMapping, ImportFileError, import_file, parse_event_map

        try:
            if preset:
                job = import_file(file, preset=preset, batch_size=batch_size, limit=limit)
            else:
                if not user_col or not timestamp_col:
                    raise typer.BadParameter("give --preset, or at least --user-col and --timestamp-col")
                mapping = ColumnMapping(
                    user_col=user_col,
                    item_col=item_col,
                    event_col=event_col,
                    timestamp_col=timestamp_col,
                    rating_col=rating_col,
                    price_col=price_col,
                    quantity_col=quantity_col,
                    category_col=category_col,
                    event_map=parse_event_map(event_map),
                    timestamp_format=timestamp_format,
                    delimiter=delimiter,
                    encoding=encoding,
                )
                job = import_file(file, mapping=mapping, batch_size=batch_size, limit=limit)
            total = job.total_rows
        except (ImportFileError, ValueError, FileNotFoundError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if dry_run or report:
            from pertinent.cli.quality import import_report

            import_report(job, as_json)  # reads the file, writes nothing
            if dry_run:
                return
        rejections: Counter[str] = Counter()
        try:
            totals = ingest_batches(job, total, f"import {file.name}", count_rows=True, job=job, rejections=rejections)
        except ImportFileError as exc:  # the file is read as it is imported: a column or a byte found wrong
            before = " (the rows before it are imported; importing again skips them as duplicates)"
            typer.echo(f"error: {exc}{before if job.report.messages else ''}", err=True)
            raise typer.Exit(2) from None
        typer.echo(
            f"rows read {job.report.rows_read}, messages {totals['messages']}, stored {totals['stored']}, "
            f"duplicates {totals['duplicates']}, no consent {totals['skipped_no_consent']}, "
            f"erased (suppressed) {totals['suppressed']}, rejected {totals['rejected']}"
        )
        if job.report.rows_skipped:
            typer.echo(f"rows skipped: {job.report.summary()}")
        if rejections:  # valid rows whose message ingestion refused (a time out of range, a value too long...)
            typer.echo("rejected by ingestion:")
            for reason, n in rejections.most_common(10):
                typer.echo(f"  rejected {n}: {reason}")

    @app.command()
    def generate(
        users: int = typer.Option(1000, help="Number of synthetic users."),
        items: int = typer.Option(500, help="Catalogue size."),
        days: int = typer.Option(30, help="Days of history, ending now."),
        seed: int = typer.Option(42, help="Random seed (same seed, same data)."),
    ) -> None:
        """Generate a synthetic shop (users with latent tastes, catalogue, sessions) and ingest it."""
        from datetime import UTC, datetime, timedelta

        from pertinent.synthetic import SyntheticConfig, SyntheticGenerator

        start = (datetime.now(UTC) - timedelta(days=days)).replace(microsecond=0)
        gen = SyntheticGenerator(SyntheticConfig(n_users=users, n_items=items, days=days, seed=seed, start=start))
        totals = ingest_batches(gen.batches(500), None, f"synthetic shop ({users} users)")
        store_catalogue(gen.catalogue())
        typer.echo(
            f"messages {totals['messages']}, stored {totals['stored']}, duplicates {totals['duplicates']}, "
            f"no consent {totals['skipped_no_consent']}, rejected {totals['rejected']}"
        )
