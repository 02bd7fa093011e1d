"""CLI commands for recommend (registered on the main `pertinent` app)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
