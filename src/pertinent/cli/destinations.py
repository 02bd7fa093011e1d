"""CLI commands for destinations: ``pertinent destinations list | dead | replay | deliver``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from pertinent.errors import DomainError

if TYPE_CHECKING:
    from pertinent.services import Services

T = TypeVar("T")

destinations_app = typer.Typer(
    help="Webhooks fed with events, traits and segment changes: outbox, dead letters, replay.", no_args_is_help=True
)


def _with_services(fn: Callable[[Services], T]) -> T:
    from pertinent.privacy.keys import ensure_keys
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    try:
        return fn(services)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    finally:
        services.close()


@destinations_app.command("list")
def list_command() -> None:
    """The configured webhooks with their pending and dead deliveries."""
    out = _with_services(lambda s: s.destinations.statuses())
    if not out.destinations:
        typer.echo("no destinations configured (PERTINENT_DESTINATIONS__WEBHOOKS or [[destinations.webhooks]])")
    for d in out.destinations:
        typer.echo(f"{d.name}\t{d.url}\tpending {d.pending}\tdead {d.dead}")


@destinations_app.command("dead")
def dead_command(
    name: Annotated[str, typer.Argument(help="The webhook's name.")],
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    after: Annotated[int, typer.Option(help="Ids after this one (paging).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deliveries with their payloads as JSON.")] = False,
) -> None:
    """List a webhook's dead letters (deliveries given up on), with their last error."""
    page = _with_services(lambda s: s.destinations.deliveries(name, "dead", after, limit))
    if as_json:
        typer.echo(json.dumps(page.model_dump(), indent=2))
        return
    for d in page.deliveries:
        what = d.payload.get("event") or d.payload.get("type")
        typer.echo(f"{d.id}\t{d.kind}\t{what}\tattempts {d.attempts}\t{d.last_error}")
    typer.echo(
        f"{len(page.deliveries)} dead letter(s)"
        + (f"; next page: --after {page.next_after}" if page.next_after else "")
    )


@destinations_app.command("replay")
def replay_command(
    name: Annotated[str, typer.Argument(help="The webhook's name.")],
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="A dead delivery to replay (repeat); none: all.")
    ] = None,
    deliver: Annotated[bool, typer.Option(help="Also deliver them now, in this process.")] = True,
) -> None:
    """Make dead letters pending again (and by default deliver them now)."""
    from pertinent.privacy.audit import Actor

    def run(s: Services) -> str:
        done = s.destinations.replay(name, ids or None, Actor.cli())
        line = f"requeued {done.requeued}"
        if deliver and done.requeued:
            r = s.destinations.deliver_due()
            line += f"; delivered {r.delivered}, retrying {r.retried}, dead {r.dead}"
        return line

    typer.echo(_with_services(run))


@destinations_app.command("deliver")
def deliver_command() -> None:
    """Deliver every due delivery now (the server does this in the background)."""
    r = _with_services(lambda s: s.destinations.deliver_due())
    typer.echo(f"delivered {r.delivered}, retrying {r.retried}, dead {r.dead}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(destinations_app, name="destinations")
