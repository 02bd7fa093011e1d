"""``pertinent models list|promote|rollback|resume``: which model version every node serves (audited)."""

from __future__ import annotations

import json

import typer

models_app = typer.Typer(help="Model versions: list, promote, roll back, resume auto-promotion.", no_args_is_help=True)


def _run(action: str, *args: str, as_json: bool = False) -> None:
    from pertinent.errors import DomainError
    from pertinent.privacy.audit import Actor
    from pertinent.privacy.keys import ensure_keys
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    try:
        if action == "list":
            result = services.models.list()
        else:
            result = getattr(services.models, action)(*args, Actor.cli())
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(result.model_dump(), default=str))
    elif action == "list":
        for model in result.models:
            pin = " (pinned)" if model.pinned else ""
            typer.echo(f"{model.name}: serving {model.served}{pin}, newest {model.newest}")
            for v in model.versions:
                mark = "*" if v.served else " "
                metrics = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items())[:4])
                typer.echo(f"  {mark} {v.version:<6} {v.kind or '-':<12} {v.created_at or '-'}  {metrics}")
    else:
        typer.echo(f"{result.name}: serving {result.served} (was {result.before})")  # type: ignore[attr-defined]


@models_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every saved model, its versions with metrics, and the version served."""
    _run("list", as_json=as_json)


@models_app.command()
def promote(name: str, version: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Serve VERSION of model NAME on every node (pinned until `resume`)."""
    _run("promote", name, version, as_json=as_json)


@models_app.command()
def rollback(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Serve the version of NAME served before the current one (pinned)."""
    _run("rollback", name, as_json=as_json)


@models_app.command()
def resume(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Serve the newest version of NAME again, and each new one as it is trained."""
    _run("resume", name, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
