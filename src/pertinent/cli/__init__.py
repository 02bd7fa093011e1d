"""The ``pertinent`` command line: the top layer, beside the API. Each area registers its commands from
``pertinent/cli/<area>.py``; command modules may import the composition root (``pertinent.services``),
nothing below them imports a command module."""

from __future__ import annotations

import importlib

import typer

from pertinent import __version__

app = typer.Typer(
    name="pertinent",
    help="Pertinent: self-hosted personalization engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# One module per area; importing them must stay cheap (heavy imports go inside
# the command functions).
AREAS = (
    "pertinent.cli.events",
    "pertinent.cli.serve",
    "pertinent.cli.demo",
    "pertinent.cli.privacy",
    "pertinent.cli.recommend",
    "pertinent.cli.segments",
    "pertinent.cli.experiments",
    "pertinent.cli.decide",
    "pertinent.cli.warehouse",
    "pertinent.cli.worker",
    "pertinent.cli.hot_store",
    "pertinent.cli.models",
    "pertinent.cli.destinations",
    "pertinent.cli.quality",
    "pertinent.cli.predict",
    "pertinent.cli.fairness",
    "pertinent.cli.spark",
)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


for _area in AREAS:
    importlib.import_module(_area).register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
