"""``pertinent export events|profiles|decisions --format parquet --out DIR [--since TIME]``: warehouse exports."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer

from pertinent.errors import DomainError


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        kind: str = typer.Argument(..., help="events, profiles or decisions."),
        out: Path = typer.Option(..., "--out", help="Folder to write into (created); later runs continue there."),
        fmt: str = typer.Option("parquet", "--format", help="parquet (the only format for now)."),
        since: str | None = typer.Option(
            None, help="ISO 8601 time or epoch seconds: only rows received/made/updated since then."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Write the stored rows as Parquet (one row per event / profile / decision), incremental per folder."""
        from pertinent.privacy.keys import ensure_keys
        from pertinent.services import Services
        from pertinent.settings import load_settings

        services = Services.build(ensure_keys(load_settings()))
        try:
            result = services.warehouse.export(kind, out, fmt=fmt, since=since)
        except DomainError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        finally:
            services.close()
        if as_json:
            typer.echo(json.dumps(dataclasses.asdict(result)))
            return
        where = ", ".join(result.files) if result.files else "no new rows, no file written"
        typer.echo(f"{result.kind}: {result.rows} rows -> {result.out} ({where})")
