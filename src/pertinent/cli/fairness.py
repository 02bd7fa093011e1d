"""CLI command for the fairness audit: ``pertinent fairness audit`` (on the stored data)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pertinent.fairness.metrics import FairnessAudit

fairness_app = typer.Typer(help="Fairness of recommendations, decisions and predictive traits.", no_args_is_help=True)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _print(audit: FairnessAudit) -> None:
    typer.echo(f"groups by: {', '.join(audit.dimensions) or 'none'}")
    for section in audit.sections:
        typer.echo(f"\n== {section.name}")
        if section.message:
            typer.echo(f"  {section.message}")
        for p in section.parity:
            if p.message:
                typer.echo(f"  {p.metric} by {p.dimension}: {p.message}")
                continue
            rates = ", ".join(f"{g.group} {_pct(g.rate)} (n={g.n})" for g in p.groups if g.compared)
            typer.echo(f"  [{p.verdict}] {p.summary}\n      {rates}")
        for e in section.exposure:
            cats = ", ".join(f"{c} {_pct(s)}" for c, s in e.categories)
            dist = "-" if e.distance_from_rest is None else f"{e.distance_from_rest:.2f}"
            typer.echo(
                f"  exposure {e.dimension}={e.group}: {e.decisions} decisions, {e.items_shown} items; categories "
                f"{cats or '-'}; distance from the rest {dist}"
            )
    typer.echo(f"\nverdict: {audit.verdict}")
    if audit.message:
        typer.echo(f"note: {audit.message}")


@fairness_app.command("audit")
def audit_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the full audit as JSON.")] = False,
    sensitive: Annotated[
        list[str] | None,
        typer.Option("--sensitive", help="A trait path to audit as a sensitive attribute (repeatable)."),
    ] = None,
    window_days: Annotated[
        float | None, typer.Option("--window-days", min=0.001, help="Audit the decisions of the last N days.")
    ] = None,
    no_predictions: Annotated[bool, typer.Option("--no-predictions", help="Skip the predictive traits.")] = False,
) -> None:
    """Exposure, demographic parity and equal opportunity across groups, with intervals and a verdict."""
    from pydantic import ValidationError

    from pertinent.privacy.keys import ensure_keys
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    try:
        assert services.fairness is not None
        audit = services.fairness.audit(sensitive, window_days, include_predictions=not no_predictions)
    except ValidationError as err:
        first = err.errors()[0]
        typer.echo(f"error: --sensitive: {first['msg']}", err=True)
        raise typer.Exit(2) from None
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(asdict(audit), indent=2, default=str))
    else:
        _print(audit)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(fairness_app, name="fairness")
