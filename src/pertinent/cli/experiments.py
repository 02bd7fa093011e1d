"""CLI commands for experiments (registered on the main `pertinent` app)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from pertinent.experiments.analysis import ExperimentReport

experiments_app = typer.Typer(help="Analyse experiments (A/B/n statistics).", no_args_is_help=True)


def _parse_covariates(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        metric, sep, column = item.partition("=")
        if not sep or not metric or not column:
            raise typer.BadParameter(f"expected METRIC=PRE_COLUMN, got {item!r}", param_hint="--covariate")
        out[metric] = column
    return out


def _parse_weights(value: str | None, variants: list[str]) -> list[float] | None:
    """``--weights`` as VARIANT=WEIGHT pairs (``gate_30=0.9,gate_40=0.1``) or plain numbers in the order the
    variants are first seen; the planned split the sample-ratio check compares with (equal when absent)."""
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    named = [item.partition("=") for item in items]
    try:
        if all(sep for _, sep, _ in named):
            weights = {name.strip(): float(w) for name, _, w in named}
            unknown = sorted(set(weights) - set(variants))
            missing = [v for v in variants if v not in weights]
            if unknown or missing:
                raise typer.BadParameter(
                    f"variants are {variants}; unknown {unknown}, missing {missing}", param_hint="--weights"
                )
            out = [weights[v] for v in variants]
        else:
            out = [float(item) for item in items]
    except ValueError as exc:
        raise typer.BadParameter(
            f"expected VARIANT=WEIGHT pairs or numbers, got {value!r}", param_hint="--weights"
        ) from exc
    if len(out) != len(variants):
        raise typer.BadParameter(f"{len(out)} weights for {len(variants)} variants {variants}", param_hint="--weights")
    if any(not w > 0 or w != w or w == float("inf") for w in out):
        raise typer.BadParameter(f"weights must be positive finite numbers, got {out}", param_hint="--weights")
    return out


def _fmt(value: float | None, pct: bool = False, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:+.2%}" if pct else f"{value:.{digits}g}"


@experiments_app.command("analyze")
def analyze_command(
    file: Annotated[Path, typer.Option("--file", help="Exported experiment: CSV or Parquet, one row per unit.")],
    unit_col: Annotated[str, typer.Option("--unit-col", help="Column with the unit (user) id.")],
    variant_col: Annotated[str, typer.Option("--variant-col", help="Column with the variant name.")],
    metric_col: Annotated[
        list[str],
        typer.Option("--metric-col", help="Metric column (repeatable). TRUE/FALSE = conversion, numeric = continuous."),
    ],
    control: Annotated[str | None, typer.Option("--control", help="Control variant (default: first seen).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    correction: Annotated[
        str, typer.Option("--correction", help="holm, bh or none (across all comparisons).")
    ] = "holm",
    guardrail: Annotated[
        list[str] | None, typer.Option("--guardrail", help="Metric that must not get significantly worse.")
    ] = None,
    lower_is_better: Annotated[
        list[str] | None, typer.Option("--lower-is-better", help="Metric where a decrease is an improvement.")
    ] = None,
    covariate: Annotated[
        list[str] | None,
        typer.Option("--covariate", help="CUPED pre-period column as METRIC=COLUMN (repeatable)."),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="Planned traffic split for the sample-ratio check, as VARIANT=WEIGHT pairs "
            "(gate_30=0.9,gate_40=0.1) or numbers in first-seen order (default: equal).",
        ),
    ] = None,
) -> None:
    """Analyse an exported experiment: tests, lift CIs, Bayesian, sequential, SRM, corrections, guardrails."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from pertinent.experiments.analysis import AnalysisConfig, analyze
    from pertinent.experiments.data import frame_stats, load_table

    if correction not in ("holm", "bh", "none"):
        raise typer.BadParameter("must be holm, bh or none", param_hint="--correction")
    if not 0 < alpha < 1:
        raise typer.BadParameter("must be between 0 and 1", param_hint="--alpha")
    err = Console(stderr=True)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as progress:
            progress.add_task(f"Reading {file}", total=None)
            df = load_table(file)
            specs, data = frame_stats(
                df,
                unit_col,
                variant_col,
                metric_col,
                _parse_covariates(covariate or []),
                guardrail or [],
                lower_is_better or [],
            )
            ctrl = control if control is not None else next(iter(data))
            if ctrl not in data:
                raise ValueError(f"--control: variant {ctrl!r} not found; variants are {list(data)}")
            config = AnalysisConfig.model_validate({"alpha": alpha, "correction": correction})
            report = analyze(data, ctrl, specs, config, _parse_weights(weights, list(data)))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc

    result = report.to_dict()
    result["file"] = str(file)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_tables(report, Console())


def _print_tables(report: ExperimentReport, console: Console) -> None:
    from rich.table import Table

    units = ", ".join(f"{v}: {n:,}" for v, n in report.units.items())
    console.print(f"[bold]Control[/bold] {report.control} (*)   [bold]Units[/bold] {units}")
    srm = report.srm
    if srm.flagged:
        console.print(f"[bold red]SRM[/bold red] {srm.message}")
    elif srm.p_value is not None:
        console.print(f"SRM check p = {srm.p_value:.3g} (ok)")
    if report.message:
        console.print(f"[yellow]{report.message}[/yellow]")
    for m in report.metrics:
        kind = f"{m.kind}, guardrail" if m.guardrail else m.kind
        table = Table(title=f"{m.name} ({kind})", title_justify="left")
        for col in ("variant", "units", "mean", "lift [CI]", "p", "p adj", "P(win)", "seq p"):
            table.add_column(col, justify="left" if col == "variant" else "right")
        ctrl = m.variants[report.control]
        table.add_row(f"{report.control}*", f"{ctrl.units:,}", _fmt(ctrl.mean), "", "", "", "", "")
        notes = []
        for name, c in m.comparisons.items():
            ci = c.lift.ci
            lift = _fmt(c.lift.relative_lift, pct=True)
            if ci:
                lift += f" [{_fmt(ci[0], pct=True)}, {_fmt(ci[1], pct=True)}]"
            v = m.variants[name]
            table.add_row(
                name,
                f"{v.units:,}",
                _fmt(v.mean),
                lift,
                _fmt(c.test.p_value, digits=3),
                _fmt(c.p_value_adjusted, digits=3),
                _fmt(c.bayesian.chance_to_win, digits=3),
                _fmt(c.sequential.p_value, digits=3),
            )
            verdict = "[green]significant[/green]" if c.significant else "not significant"
            if c.guardrail_status == "fail":
                verdict += ", [bold red]guardrail FAILED[/bold red]"
            elif c.guardrail_status:
                verdict += f", guardrail {c.guardrail_status}"
            note = "; ".join(x for x in (c.test.message, c.lift.message) if x)
            notes.append(f"  {name}: {verdict}" + (f" ({note})" if note else ""))
        console.print(table)
        for line in notes:
            console.print(line)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(experiments_app, name="experiments")
