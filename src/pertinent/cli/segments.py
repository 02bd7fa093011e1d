"""CLI commands for machine-learned segments and RFM (registered on the main ``pertinent`` app).

Heavy libraries (pandas, scikit-learn) are imported inside the command functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from pertinent.segments.results import SegmentView
    from pertinent.segments.service import SegmentService

ID_COLUMNS = ("profile_id", "user_id", "userId", "customer_id", "CustomerID", "anonymous_id", "id")
ALGORITHMS = ("kmeans", "minibatch", "gmm", "agglomerative", "dbscan", "hdbscan")
K_RULES = ("silhouette", "elbow", "davies_bouldin", "calinski_harabasz", "vote", "bic")


def parse_k_range(text: str) -> tuple[int, int]:
    """Parse "2-12" (or a single "5") into (low, high) with 2 <= low <= high.

    >>> parse_k_range("2-12"), parse_k_range(" 4 ")
    ((2, 12), (4, 4))
    """
    match = re.fullmatch(r"\s*(\d{1,4})\s*(?:-\s*(\d{1,4})\s*)?", text or "")
    if not match:
        raise ValueError(f"--k-range must look like 2-12, got {text!r}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if not 2 <= low <= high:
        raise ValueError(f"--k-range needs 2 <= low <= high, got {text!r}")
    return low, high


def parse_features(text: str | None) -> list[str] | None:
    """Parse "a,b, c" into ["a", "b", "c"]; None or blank means every numeric column.

    >>> parse_features("recency_days, frequency,monetary")
    ['recency_days', 'frequency', 'monetary']
    >>> parse_features(None) is None
    True
    """
    if text is None or not text.strip():
        return None
    names = [part.strip() for part in text.split(",")]
    if any(not name for name in names):
        raise ValueError(f"--features has an empty name in {text!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"--features lists a column twice: {text!r}")
    return names


def stored_features() -> pd.DataFrame:
    """Features of the stored profiles (settings from the environment, as every command)."""
    from pertinent.privacy.keys import ensure_keys
    from pertinent.profiles.frame import features_frame
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    try:
        with services.store.transaction(write=False) as tx:
            frame: pd.DataFrame = features_frame(
                tx.iter_profiles(), services.settings.default_consent, services.ingest.profile_config
            )
    finally:
        services.close()
    if frame.empty:
        raise ValueError("no stored profiles with personalisation consent (import or send events first)")
    return frame


def load_features(from_file: Path | None, id_column: str | None = None) -> pd.DataFrame:
    """Per-profile features: index = profile id, columns = features.

    Reads a CSV or parquet file, or without one the stored profiles (see pertinent.profiles.frame).
    """
    import pandas as pd

    if from_file is None:
        return stored_features()
    path = Path(from_file)
    if not path.exists():
        raise ValueError(f"--from-file {path} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif path.suffix.lower() in (".csv", ".txt"):
        frame = pd.read_csv(path)
    else:
        raise ValueError(f"--from-file must be .csv or .parquet, got {path.name}")
    if id_column:
        if id_column not in frame.columns:
            raise ValueError(f"--id-column {id_column!r} is not a column of {path.name}")
        return frame.set_index(id_column)
    if frame.index.name is not None and frame.index.name in ID_COLUMNS:
        return frame
    for name in ID_COLUMNS:
        if name in frame.columns:
            return frame.set_index(name)
    return frame


def _dumps(payload: Any) -> str:
    import orjson

    return orjson.dumps(
        payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=_json_default
    ).decode()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    segments = typer.Typer(
        help="Segments: stored definitions (list, create, delete), machine-learned segments "
        "and RFM on files or stored profiles.",
        no_args_is_help=True,
    )
    app.add_typer(segments, name="segments")

    @segments.command("discover")
    def discover_command(
        algorithm: str = typer.Option("kmeans", help=f"One of {', '.join(ALGORITHMS)}."),
        k_range: str = typer.Option("2-12", "--k-range", help="Values of k to try, e.g. 2-12."),
        k: int | None = typer.Option(None, "--k", help="Fixed k (skips the search)."),
        k_rule: str = typer.Option("silhouette", help=f"Rule that picks k: {', '.join(K_RULES)}."),
        features: str | None = typer.Option(None, help="Comma-separated feature columns (default: all numeric)."),
        from_file: Path | None = typer.Option(
            None, "--from-file", help="CSV or parquet of per-profile features (default: stored profiles)."
        ),
        id_column: str | None = typer.Option(None, help="Column holding the profile id (default: guessed)."),
        scaling: str = typer.Option("standard", help="standard or minmax."),
        seed: int = typer.Option(0, help="Random seed."),
        save_model: Path | None = typer.Option(None, help="Directory to save the fitted model to."),
        previous_model: Path | None = typer.Option(
            None, help="Model of the previous run: reuse its segment ids and report stability."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Discover segments in per-profile features and describe them."""
        from pydantic import ValidationError

        from pertinent.segments.ml import SegmentModel, discover
        from pertinent.segments.pipeline import ClusteringConfig, FeatureConfig, SegmentationConfig

        try:
            if algorithm not in ALGORITHMS:
                raise ValueError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
            if k_rule not in K_RULES:
                raise ValueError(f"--k-rule must be one of {', '.join(K_RULES)}, got {k_rule!r}")
            if scaling not in ("standard", "minmax"):
                raise ValueError(f"--scaling must be standard or minmax, got {scaling!r}")
            config = SegmentationConfig(  # the options are checked above (and again by validation)
                features=FeatureConfig.model_validate({"features": parse_features(features), "scaling": scaling}),
                clustering=ClusteringConfig.model_validate(
                    {"algorithm": algorithm, "k_range": parse_k_range(k_range), "k": k, "k_rule": k_rule, "seed": seed}
                ),
            )
            frame = load_features(from_file, id_column)
            previous = SegmentModel.load(previous_model) if previous_model else None
            result = _run_with_progress(
                lambda progress: discover(frame, config, previous=previous, progress=progress), quiet=as_json
            )
        except (ValueError, ValidationError, FileNotFoundError) as exc:
            _fail(str(exc))
            return
        if save_model and result.model is not None:
            result.model.save(save_model)
        report = result.report.to_dict()
        if as_json:
            typer.echo(_dumps(report))
        else:
            _print_report(report)
        if not result.ok:
            raise typer.Exit(code=1)

    @segments.command("rfm")
    def rfm_command(
        from_file: Path | None = typer.Option(
            None, "--from-file", help="CSV or parquet of R, F, M (default: stored buyers)."
        ),
        id_column: str | None = typer.Option(None, help="Column holding the profile id (default: guessed)."),
        recency: str = typer.Option("recency_days", help="Recency column (days since last purchase)."),
        frequency: str = typer.Option("frequency", help="Frequency column (number of orders)."),
        monetary: str = typer.Option("monetary", help="Monetary column (total spend)."),
        ties: str = typer.Option("first", help="first (equal-size quintiles) or min (equal values, equal score)."),
        out: Path | None = typer.Option(None, help="Write per-profile scores to this CSV or parquet."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Score recency, frequency and monetary quintiles (1-5) and name the classic RFM segments."""
        from pydantic import ValidationError

        from pertinent.segments.rfm import RFMConfig, rfm_scores

        try:
            config = RFMConfig.model_validate(
                {"recency": recency, "frequency": frequency, "monetary": monetary, "ties": ties}
            )
            frame = load_features(from_file, id_column)
            if from_file is None:  # stored profiles: RFM describes customers, i.e. identified buyers
                frame = frame[(frame[frequency] > 0) & (frame["identified"] == 1)]
            result = rfm_scores(frame, config)
        except (ValueError, ValidationError) as exc:
            _fail(str(exc))
            return
        if out is not None and result.ok:
            if out.suffix.lower() in (".parquet", ".pq"):
                result.scores.to_parquet(out)
            else:
                result.scores.to_csv(out)
        if as_json:
            typer.echo(_dumps(result.to_dict()))
        else:
            _print_rfm(result)
        if not result.ok:
            raise typer.Exit(code=1)

    @segments.command("retail-features")
    def retail_features_command(
        source: Path = typer.Argument(..., help="Online Retail invoice lines (parquet or CSV)."),
        out: Path = typer.Option(..., help="Where to write the per-customer features (.parquet or .csv)."),
    ) -> None:
        """Clean Online Retail invoice lines and write per-customer features (recency, frequency, ...)."""
        from pertinent.segments.retail import online_retail_features

        try:
            frame, stats = online_retail_features(source)
        except (ValueError, FileNotFoundError) as exc:
            _fail(str(exc))
            return
        if out.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(out)
        else:
            frame.to_csv(out)
        typer.echo(f"{len(frame):,} customers written to {out}; cleaning: {stats}")

    @segments.command("assign")
    def assign_command(
        model: Path = typer.Option(..., help="Directory of a model saved by `segments discover --save-model`."),
        profile: str = typer.Option(..., help="Profile features as JSON, e.g. '{\"frequency\": 3}'."),
    ) -> None:
        """Assign one profile to its nearest segment with a saved model."""
        from pertinent.segments.ml import SegmentModel

        try:
            values = json.loads(profile)
            if not isinstance(values, dict):
                raise ValueError("--profile must be a JSON object of feature: number")
            fitted = SegmentModel.load(model)
            segment = fitted.assign(values)
        except (ValueError, FileNotFoundError) as exc:
            _fail(str(exc))
            return
        typer.echo(_dumps({"segment": segment, "name": fitted.name_of(segment)}))

    @segments.command("list")
    def list_command(as_json: bool = typer.Option(False, "--json", help="Print the definitions as JSON.")) -> None:
        """Stored segment definitions (rule, RFM and ML) with their current sizes."""
        with _segment_service() as service:
            found = service.list().segments
        if as_json:
            typer.echo(_dumps([d.model_dump(mode="json", exclude_unset=True) for d in found]))
        else:
            _print_definitions(found)

    @segments.command("create")
    def create_command(
        file: Path = typer.Option(
            ...,
            "--file",
            help="JSON definition ('-' reads standard input): "
            '{"id", "name", "rule": {...}}, {"template": "frequent_buyers", "params": {...}}, '
            '{"id", "name", "kind": "rfm"} or {"id", "name", "kind": "ml", "config": {...}}.',
        ),
        replace: bool = typer.Option(False, help="Replace an existing definition with this id."),
        as_json: bool = typer.Option(False, "--json", help="Print the stored definition as JSON."),
    ) -> None:
        """Store a segment definition (fitting RFM/ML ones) and evaluate it over the stored profiles."""
        import sys

        from pertinent.privacy.audit import Actor
        from pertinent.segments.errors import SegmentError, UnknownSegment

        text = sys.stdin.read() if str(file) == "-" else (file.read_text() if file.exists() else None)
        if text is None:
            _fail(f"--file {file} does not exist")
            return
        with _segment_service() as service:
            try:
                if replace:
                    data = json.loads(text) if text.strip().startswith("{") else None
                    segment_id = data.get("id") if isinstance(data, dict) else None
                    if not isinstance(segment_id, str):
                        raise ValueError("--replace needs the definition's id in the file")
                    out = service.replace(segment_id, text, backfill="sync", actor=Actor.cli())
                else:
                    out = service.create(text, backfill="sync", actor=Actor.cli())
            except SegmentError as e:
                for err in e.errors:
                    typer.secho(f"  {err['field']}: {err['message']}", fg=typer.colors.RED, err=True)
                _fail(str(e))
                return
            except UnknownSegment as e:
                _fail(f"no segment to replace: {e.segment_id}")
                return
            except ValueError as e:
                _fail(str(e))
                return
        if as_json:
            typer.echo(_dumps(out.model_dump(mode="json", exclude_unset=True)))
        else:
            typer.echo(f"segment {out.id} ({out.kind}) saved as version {out.version}: {out.size:,} members")

    @segments.command("delete")
    def delete_command(segment_id: str = typer.Argument(..., help="The definition's id.")) -> None:
        """Delete a segment definition with its members, history and sizes."""
        from pertinent.privacy.audit import Actor
        from pertinent.segments.errors import UnknownSegment

        with _segment_service() as service:
            try:
                out = service.delete(segment_id, Actor.cli())
            except UnknownSegment:
                _fail(f"no segment {segment_id!r}")
                return
        typer.echo(f"segment {segment_id} deleted ({out.members_removed:,} memberships removed)")

    @segments.command("reconcile")
    def reconcile_command() -> None:
        """Evaluate every active segment over every stored profile and fix memberships (after an outage)."""
        with _segment_service() as service:
            totals = service.reconcile()
        typer.echo(
            f"{totals['profiles']:,} profiles evaluated: {totals['entered']:,} entries, {totals['exited']:,} exits"
        )


@contextmanager
def _segment_service() -> Iterator[SegmentService]:
    from pertinent.privacy.keys import ensure_keys
    from pertinent.services import Services
    from pertinent.settings import load_settings

    services = Services.build(ensure_keys(load_settings()))
    try:
        yield services.segments
    finally:
        services.close()


def _print_definitions(found: list[SegmentView]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not found:
        console.print("no segments yet: `pertinent segments create --file def.json` or POST /v1/segments")
        return
    table = Table(title=f"{len(found)} segment definitions")
    for column in ("id", "kind", "name", "members", "time-based", "version"):
        table.add_column(column, justify="right" if column in ("members", "version") else "left")
    for d in found:
        table.add_row(d.id, d.kind, d.name, f"{d.size:,}", "yes" if d.time_based else "no", str(d.version))
        for sub in d.segments or []:
            table.add_row(f"  {sub.id}", "", sub.name, f"{sub.size:,}", "", "")
    console.print(table)


def _run_with_progress(work: Any, quiet: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet:
        return work(None)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("segments", total=1.0)

        def progress(step: str, fraction: float) -> None:
            bar.update(task, description=step, completed=fraction)

        return work(progress)


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not report["ok"]:
        console.print(f"[red]{report['message']}[/red]")
        for note in report["notes"]:
            console.print(f"- {note}")
        return
    console.print(f"[bold]{report['message']}[/bold]  (features: {', '.join(report['features'])})")
    scores = Table(title="Quality per k")
    for column in ("k", "clusters", "inertia", "silhouette", "davies-bouldin", "calinski-harabasz", "noise"):
        scores.add_column(column, justify="right")
    for row in report["k_scores"]:
        scores.add_row(
            str(row["k"]),
            str(row["n_clusters"]),
            f"{row['inertia']:,.0f}",
            _num(row["silhouette"]),
            _num(row["davies_bouldin"]),
            _num(row["calinski_harabasz"], 0),
            f"{row['noise_share']:.1%}",
        )
    console.print(scores)
    console.print(report["selection"])
    table = Table(title=f"{report['k']} segments")
    for column in ("id", "name", "size", "share", "description"):
        table.add_column(column, justify="right" if column in ("id", "size", "share") else "left")
    for seg in report["segments"]:
        table.add_row(str(seg["id"]), seg["name"], f"{seg['size']:,}", f"{seg['share']:.1%}", seg["description"])
    console.print(table)
    if report["stability_ari"] is not None:
        console.print(f"stability vs previous model: adjusted Rand index {report['stability_ari']:.3f}")
    for note in report["notes"]:
        console.print(f"- {note}")


def _print_rfm(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not result.ok:
        console.print(f"[red]{result.message}[/red]")
        return
    table = Table(title=result.message)
    for column in (
        "segment",
        "customers",
        "share",
        "median recency",
        "median frequency",
        "median monetary",
        "revenue share",
    ):
        table.add_column(column, justify="left" if column == "segment" else "right")
    for _, row in result.summary.iterrows():
        table.add_row(
            row["label"],
            f"{row['customers']:,}",
            f"{row['share']:.1%}",
            f"{row['median_recency_days']:.0f}",
            f"{row['median_frequency']:.1f}",
            f"{row['median_monetary']:,.0f}",
            f"{row['revenue_share']:.1%}",
        )
    console.print(table)
    for note in result.notes:
        console.print(f"- {note}")


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
