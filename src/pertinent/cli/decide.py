"""CLI commands for decisions: ``pertinent decide results`` and ``pertinent decide ope`` (on the stored data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from pertinent.errors import DomainError

if TYPE_CHECKING:
    from pertinent.services import Services

T = TypeVar("T")

decide_app = typer.Typer(help="Slots, experiments and bandits on the stored decisions.", no_args_is_help=True)


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


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2%}" if pct else f"{value:.4g}"


@decide_app.command("results")
def results_command(
    experiment: Annotated[str, typer.Option("--experiment", help="Experiment key.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full analysis as JSON.")] = False,
) -> None:
    """Analyse an experiment from its stored decisions and outcomes (as GET /v1/experiments/{key}/results)."""
    res = _with_services(lambda s: s.decide.results(experiment))
    if as_json:
        typer.echo(json.dumps(res.model_dump(exclude_unset=True), indent=2, default=str))
        return
    srm = res.srm
    typer.echo(
        f"experiment {res.experiment} ({res.status}): units {res.units}, exposures "
        f"{res.exposures}, SRM p={_fmt(srm.p_value)}{' FLAGGED' if srm.flagged else ''}"
    )
    for m in res.metrics:
        means = ", ".join(f"{v}={_fmt(s.mean)}" for v, s in m.variants.items())
        typer.echo(f"  {m.name} ({m.kind}): {means}")
        cuped = m.cuped
        if cuped is not None and cuped.applied:
            typer.echo(
                f"    CUPED: pre-period {cuped.pre_period_days:g} days, {cuped.units_with_pre_period} "
                f"units with pre-period data, theta {_fmt(cuped.theta)}"
            )
        for t, c in m.comparisons.items():
            lift = c.lift
            typer.echo(
                f"    {t} vs {c.control}: lift {_fmt(lift.relative_lift, True)} "
                f"[{_fmt(lift.ci_low, True)}, {_fmt(lift.ci_high, True)}], p={_fmt(c.p_value)}, "
                f"p adj={_fmt(c.p_value_adjusted)}, chance to win {_fmt(c.bayesian.chance_to_win)}, "
                f"sequential p={_fmt(c.sequential.p_value)}"
            )
            raw = (cuped.unadjusted or {}).get(t) if cuped is not None else None
            if raw and c.variance_reduction is not None:
                low, high = raw.lift_ci or (None, None)
                typer.echo(
                    f"      CUPED removed {c.variance_reduction:.0%} of the variance; "
                    f"unadjusted lift {_fmt(raw.relative_lift, True)} [{_fmt(low, True)}, "
                    f"{_fmt(high, True)}], p={_fmt(raw.p_value)}"
                )
    if res.message:
        typer.echo(f"note: {res.message}")


@decide_app.command("ope")
def ope_command(
    slot: Annotated[str, typer.Option("--slot", help="Slot id.")],
    target: Annotated[str, typer.Option("--target", help="uniform, greedy or arm:VARIANT.")] = "uniform",
    since: Annotated[float, typer.Option("--since", help="Only decisions at or after this epoch time.")] = 0.0,
    reward_event: Annotated[
        list[str] | None,
        typer.Option("--reward-event", help="Outcome kinds that count as reward (default: the click events)."),
    ] = None,
    value: Annotated[bool, typer.Option("--value", help="Reward = summed outcome values instead of 0/1.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Off-policy evaluation of a target policy on a slot's logged decisions: IPS, SNIPS, doubly robust."""
    res = _with_services(lambda s: s.decide.ope(slot, target, since, reward_event or None, value))
    if as_json:
        typer.echo(json.dumps(res.model_dump(exclude_unset=True), indent=2, default=str))
        return
    typer.echo(
        f"slot {res.slot}: {res.decisions} logged decisions, arms {res.arms}, target {target}"
        + (f" ({res.target_arm})" if res.target_arm is not None else "")
        + (f", cross-fitted: chosen {' / '.join(res.fold_arms)} per half" if res.fold_arms else "")
    )
    if res.logged_mean_reward is not None:
        typer.echo(f"  logged mean reward {_fmt(res.logged_mean_reward)}")
    for e in res.estimates:
        typer.echo(
            f"  {e.estimator:14s} {_fmt(e.value)}  [{_fmt(e.ci_low)}, {_fmt(e.ci_high)}]  "
            f"ESS {_fmt(e.effective_sample_size)}"
        )
    if res.message:
        typer.echo(f"note: {res.message}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(decide_app, name="decide")
