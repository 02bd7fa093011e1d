"""The ``pertinent`` command line. Each area registers its own commands from ``<area>/cli.py``."""

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

# Command groups live beside their services; importing them must stay cheap (heavy imports go inside
# the command functions).
AREAS = (
    "pertinent.events.cli",
    "pertinent.server_cli",
    "pertinent.demo",
    "pertinent.privacy.cli",
    "pertinent.recommend.cli",
    "pertinent.segments.cli",
    "pertinent.experiments.cli",
    "pertinent.decide.cli",
)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


for _area in AREAS:
    importlib.import_module(_area).register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
