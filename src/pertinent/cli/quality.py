"""CLI commands for data quality: ``pertinent quality report|outliers|impute|dedup|plan|failed``
(docs/data-quality.md). Every command works on the configured store, in process (no server needed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from pertinent.services import Services

quality_app = typer.Typer(help="Data quality: duplicates, outliers, imputation, tracking plans, failed events.")
plan_app = typer.Typer(help="Tracking plans: a JSON Schema per event name, with mode allow, flag or block.")
failed_app = typer.Typer(help="Events the tracking plan blocked: inspect and replay.")
dedup_app = typer.Typer(help="Duplicate profiles: scan, review, accept (merge) or reject.")
quality_app.add_typer(plan_app, name="plan")
quality_app.add_typer(failed_app, name="failed")
quality_app.add_typer(dedup_app, name="dedup")

JsonFlag = typer.Option(False, "--json", help="Print JSON.")


@contextmanager
def _services() -> Iterator[Services]:
    from pertinent.privacy.keys import ensure_keys
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    try:
        yield services
    finally:
        services.close()


def _run(call: Callable[[Services], Any]) -> Any:
    """Run a service call; a domain error is printed naming its field (exit 2), never a traceback."""
    from pertinent.errors import DomainError

    with _services() as services:
        try:
            return call(services)
        except DomainError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from None


def _dump(value: Any) -> str:
    from pydantic import BaseModel, TypeAdapter

    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2, by_alias=True)
    return TypeAdapter(Any).dump_json(value, indent=2, by_alias=True).decode()


def print_report(report: Any) -> None:
    """The quality report in words."""
    echo = typer.echo
    echo(f"tracking plans: {', '.join(report.tracking_plans) or 'none'}; failed events waiting: {report.failed_events}")
    echo(f"\nduplicate candidates ({len(report.duplicate_candidates)} pending)")
    for c in report.duplicate_candidates[:20]:
        why = ", ".join(f"{k} {v:.0f}" for k, v in c.reasons.items())
        echo(f"  #{c.id}  {c.profile_a} ~ {c.profile_b}  score {c.score:.1f}  ({why})")
    echo(f"\nflagged outliers and bots ({report.outliers_total})")
    for f in report.outliers[:20]:
        echo(f"  {f.profile_id}  score {f.score:.3f}  {'; '.join(f.reasons)}")
    echo(f"\ntracking-plan violations ({sum(v.n for v in report.violations)})")
    for v in report.violations[:30]:
        echo(f"  {v.event:<30} {v.field:<35} {v.kind:<9} {v.n}")
    echo(f"\nnormalisation ({sum(v.n for v in report.normalisation)} values)")
    for v in report.normalisation[:30]:
        echo(f"  {v.event:<30} {v.field:<35} {v.kind:<11} {v.n}")


@quality_app.command("report")
def report(as_json: bool = JsonFlag) -> None:
    """Duplicate candidates, flagged outliers, tracking-plan violations and normalisation counts."""
    out = _run(lambda s: s.quality.report())
    typer.echo(_dump(out)) if as_json else print_report(out)


@quality_app.command("outliers")
def outliers(as_json: bool = JsonFlag) -> None:
    """Scan profiles for outliers and bots (hard caps, IsolationForest); they leave KPIs and training sets."""
    from pertinent.privacy.audit import Actor

    out = _run(lambda s: s.quality.scan_outliers(Actor.cli()))
    if as_json:
        typer.echo(_dump(out))
        return
    typer.echo(f"profiles {out.profiles}, flagged {out.flagged}" + (f" ({out.message})" if out.message else ""))
    for f in out.flags[:20]:
        typer.echo(f"  {f.profile_id}  {'; '.join(f.reasons)}")


@quality_app.command("impute")
def impute(as_json: bool = JsonFlag) -> None:
    """Infer missing demographic traits (inferred.*, with a confidence) by KNN over behaviour."""
    from pertinent.privacy.audit import Actor

    out = _run(lambda s: s.quality.impute(Actor.cli()))
    if as_json:
        typer.echo(_dump(out))
        return
    typer.echo(f"profiles {out.profiles}")
    for t in out.traits:
        acc = "n/a" if t.accuracy is None else f"{t.accuracy:.3f}"
        base = "n/a" if t.baseline is None else f"{t.baseline:.3f}"
        note = f"  ({t.message})" if t.message else ""
        typer.echo(f"  {t.trait}: stated {t.labelled}, inferred {t.inferred}, accuracy {acc} vs {base}{note}")


@dedup_app.command("scan")
def dedup_scan(as_json: bool = JsonFlag) -> None:
    """Find duplicate candidates (those above the auto-merge threshold are merged, audited)."""
    from pertinent.privacy.audit import Actor

    out = _run(lambda s: s.quality.find_duplicates(Actor.cli()))
    typer.echo(_dump(out) if as_json else f"profiles {out.profiles}, pairs {out.found}, new {out.new}, "
               f"merged {out.merged}")  # fmt: skip


@dedup_app.command("list")
def dedup_list(
    status: str = typer.Option("pending", help="pending, merged, rejected, stale or all."), as_json: bool = JsonFlag
) -> None:
    """The review list."""
    out = _run(lambda s: s.quality.candidates(None if status == "all" else status))
    if as_json:
        typer.echo(_dump(out))
        return
    for c in out:
        typer.echo(f"#{c.id}  {c.profile_a} ~ {c.profile_b}  score {c.score:.1f}  {c.status}  {c.reasons}")


@dedup_app.command("accept")
def dedup_accept(candidate_id: int = typer.Argument(..., help="The candidate's id (dedup list).")) -> None:
    """Merge the two profiles of a candidate (audited as identity.merge)."""
    from pertinent.privacy.audit import Actor

    out = _run(lambda s: s.quality.decide(candidate_id, "accept", Actor.cli()))
    typer.echo(f"#{out.id} {out.status}")


@dedup_app.command("reject")
def dedup_reject(candidate_id: int = typer.Argument(..., help="The candidate's id (dedup list).")) -> None:
    """Mark a candidate as two different people (audited)."""
    from pertinent.privacy.audit import Actor

    out = _run(lambda s: s.quality.decide(candidate_id, "reject", Actor.cli()))
    typer.echo(f"#{out.id} {out.status}")


@plan_app.command("set")
def plan_set(
    event: str = typer.Argument(..., help="The event name."),
    schema: Path = typer.Argument(..., help="A JSON file: the JSON Schema of the event's properties."),
    mode: str = typer.Option("flag", help="allow, flag or block."),
) -> None:
    """Create or replace an event's tracking plan."""
    from pydantic import ValidationError

    from pertinent.privacy.audit import Actor
    from pertinent.quality.models import TrackingPlanIn

    try:
        body = json.loads(schema.read_text())
        plan = TrackingPlanIn.model_validate({"event": event, "schema": body, "mode": mode})
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            typer.echo(f"error: {'.'.join(map(str, first['loc']))}: {first['msg']}", err=True)
        else:
            typer.echo(f"error: schema: {exc}", err=True)
        raise typer.Exit(2) from None
    out = _run(lambda s: s.quality.put_plan(plan, Actor.cli()))
    typer.echo(f"{out.event}: {out.mode}")


@plan_app.command("list")
def plan_list(as_json: bool = JsonFlag) -> None:
    """Every event's plan."""
    out = _run(lambda s: s.quality.plans())
    typer.echo(_dump(out) if as_json else "\n".join(f"{p.event}: {p.mode}" for p in out) or "no tracking plan")


@plan_app.command("delete")
def plan_delete(event: str = typer.Argument(..., help="The event name.")) -> None:
    """Remove an event's plan."""
    from pertinent.privacy.audit import Actor

    _run(lambda s: s.quality.delete_plan(event, Actor.cli()))
    typer.echo(f"{event}: removed")


@failed_app.command("list")
def failed_list(
    limit: int = typer.Option(100, min=1, max=10000),
    include_replayed: bool = typer.Option(False, help="Also those already replayed."),
    as_json: bool = JsonFlag,
) -> None:
    """Events the tracking plan blocked, newest first."""
    out = _run(lambda s: s.quality.failed(limit, include_replayed))
    if as_json:
        typer.echo(_dump(out))
        return
    for f in out:
        why = "; ".join(f"{e['field']}: {e['message']}" for e in f.errors)
        typer.echo(f"#{f.id}  {f.event}  {why}")


@failed_app.command("replay")
def failed_replay(ids: list[int] = typer.Option([], "--id", help="Only these ids (repeatable).")) -> None:
    """Send failed events through ingestion again (after fixing the plan or the sender)."""
    from pertinent.privacy.audit import Actor

    out = _run(lambda s: s.quality.replay(ids or None, Actor.cli()))
    typer.echo(f"replayed {out.replayed}, accepted {out.accepted}, still failing {out.still_failing}")


def import_report(job: Any, as_json: bool = False) -> None:
    """Print the data-quality report of an import job (null rates, ranges, duplicates, unparseable values,
    invalid messages, normalisation, tracking-plan violations), reading the file and writing nothing."""
    from pertinent.events.importing import ImportFileError
    from pertinent.privacy.keys import ensure_keys
    from pertinent.quality.importcheck import check_import
    from pertinent.quality.ingest import IngestQuality
    from pertinent.settings import load_settings
    from pertinent.storage.factory import open_store

    settings = ensure_keys(load_settings())
    store = open_store(settings)
    try:
        out = check_import(job, IngestQuality(store, settings.quality))
    except (ImportFileError, ValueError, KeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    if as_json:
        typer.echo(out.model_dump_json(indent=2))
        return
    echo = typer.echo
    echo(f"rows {out.rows}, whole rows repeated {out.duplicate_rows}; messages {out.messages}, "
         f"repeated message ids {out.duplicate_message_ids}")  # fmt: skip
    echo("columns (null rate, range, unparseable numbers)")
    for c in out.columns:
        span = f"{c.min:g} .. {c.max:g}" if c.numeric and c.min is not None and c.max is not None else "text"
        bad = f", {c.unparseable} unparseable e.g. {c.examples[:3]}" if c.unparseable else ""
        echo(f"  {c.name:<25} nulls {c.null_rate:6.1%}  {span}{bad}")
    for title, counts in (
        ("rows the import would skip", out.skipped_rows),
        ("messages ingestion would refuse, by field", out.invalid_messages),
        ("normalisation", out.normalisation),
        ("tracking-plan violations", out.violations),
    ):
        if counts:
            echo(title)
            for key, n in sorted(counts.items(), key=lambda kv: -kv[1]):
                echo(f"  {n:>8}  {key}")


def register(app: typer.Typer) -> None:
    """Add ``pertinent quality ...`` to the main app."""
    app.add_typer(quality_app, name="quality")
