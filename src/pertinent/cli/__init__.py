"""The ``pertinent`` command line: the top layer, beside the API. Each area registers its commands from
``pertinent/cli/<area>.py``; command modules may import the composition root (``pertinent.services``),
nothing below them imports a command module."""

from __future__ import annotations

import importlib
from typing import Any

import typer

from pertinent import __version__


class _Cli(typer.Typer):
    """The app, whose settings (read by each command) that do not validate end it with a clear message and exit 2
    rather than a traceback: ``PERTINENT_PREDICT__MIN_PROFILES=abc`` names ``predict.min_profiles``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError
        from pydantic_settings import SettingsError

        try:
            return super().__call__(*args, **kwargs)
        except (ValidationError, SettingsError) as exc:
            if isinstance(exc, ValidationError) and exc.title != "Settings":
                raise  # some other model's: a bug to show in full
            cause = f"\n{exc.__cause__}" if isinstance(exc, SettingsError) and exc.__cause__ else ""
            typer.echo(
                f"error: invalid settings (PERTINENT_* environment variables or the PERTINENT_CONFIG file): "
                f"{exc}{cause}",
                err=True,
            )
            raise SystemExit(2) from None


app = _Cli(
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
