"""CLI commands for predictive traits: ``pertinent predict train`` / ``score`` / ``models`` (on the stored data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from pertinent.errors import DomainError

if TYPE_CHECKING:
    from pertinent.predictions.models import TraitReport
    from pertinent.predictions.service import PredictionService

T = TypeVar("T")

predict_app = typer.Typer(
    help="Predictive traits: purchase propensity, churn risk, days to the next purchase.", no_args_is_help=True
)


def _with_predictions(fn: Callable[[PredictionService], T]) -> T:
    from pertinent.privacy.keys import ensure_keys
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    try:
        assert services.predictions is not None
        result = fn(services.predictions)
        services.segments.wait_idle(60.0)  # rules on predicted.* re-evaluated before the store closes
        return result
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    finally:
        services.close()


def _f(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _print_trait(t: TraitReport) -> None:
    head = f"{t.trait} ({t.target})" if t.target else t.trait
    typer.echo(f"\n{head}: {'model ' + str(t.model_version) if t.trained else 'NOT TRAINED'}")
    if t.model and "auc" in t.model:
        typer.echo(f"  {'metric':10s} {'LightGBM':>9s} {'baseline':>9s}   (baseline: {t.baseline_name})")
        for key in ("auc", "pr_auc", "f1", "precision", "recall", "brier", "ece"):
            typer.echo(f"  {key:10s} {_f(t.model.get(key)):>9s} {_f(t.baseline.get(key)):>9s}")
        typer.echo(f"  AUC lift {_f(t.lift)}; threshold {_f(t.threshold)} ({t.threshold_rule})")
        if t.calibration:
            typer.echo("  calibration (predicted -> observed, by decile):")
            for b in t.calibration:
                typer.echo(
                    f"    {b['lower']:.3f}-{b['upper']:.3f}  n={b['n']:<6d} {b['mean_predicted']:.3f} -> "
                    f"{b['observed_rate']:.3f}"
                )
        if t.feature_selection:
            typer.echo(f"  features: {t.feature_selection}")
    elif t.model:
        typer.echo(
            f"  MAE {_f(t.model.get('mae'), 2)} days ({t.model.get('method')}) vs {_f(t.baseline.get('mae'), 2)} "
            f"({t.baseline_name}, {t.baseline.get('method')}): {100 * (t.lift or 0):.1f}% lower; p10-p90 "
            f"coverage {_f(t.model.get('coverage_p10_p90'), 2)}"
        )
    if t.message:
        typer.echo(f"  note: {t.message}")


@predict_app.command("train")
def train_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    no_score: Annotated[bool, typer.Option("--no-score", help="Fit and register only; do not write traits.")] = False,
) -> None:
    """Fit the predictive models on the stored events, print their metrics next to the baselines', register them
    and write predicted.* into the profiles (exit 1 when nothing could be trained: the message says why)."""
    report = _with_predictions(lambda p: p.train(score=not no_score))
    if as_json:
        typer.echo(json.dumps(report.model_dump(), indent=2, default=str))
    else:
        typer.echo(f"{report.n_events} events, {report.n_profiles} profiles with behaviour events")
        for t in report.traits:
            _print_trait(t)
        if report.any_trained:
            typer.echo(f"\npredicted.* written for {report.scored_profiles} profiles")
        if report.message:
            typer.echo(f"\n{report.message}", err=not report.any_trained)
    if not report.any_trained:
        raise typer.Exit(1)


@predict_app.command("score")
def score_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Rescore every profile with the registered models (no refit)."""
    report = _with_predictions(lambda p: p.score())
    typer.echo(
        json.dumps(report.model_dump(), indent=2)
        if as_json
        else f"written {report.written}, cleared {report.cleared}. {report.message}".strip()
    )
    if report.message:
        raise typer.Exit(1)


@predict_app.command("models")
def models_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The registered models: latest version of each trait and its backtest metrics."""
    entries = _with_predictions(lambda p: p.models())
    if as_json:
        typer.echo(json.dumps([e.model_dump() for e in entries], indent=2, default=str))
        return
    if not entries:
        typer.echo("no registered model: run `pertinent predict train`")
    for e in entries:
        m = e.metrics.get("model", {})
        typer.echo(
            f"{e.trait}: {e.model_version} ({e.registry_version}, trained through {e.trained_through}, "
            f"{e.n_profiles} profiles) {', '.join(f'{k} {_f(v)}' for k, v in m.items() if v is not None)}"
        )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(predict_app, name="predict")
