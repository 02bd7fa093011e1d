"""``pertinent spark als|kmeans|rfm``: the Spark batch jobs over a warehouse export (docs/spark.md).

The export folder is checked before Spark starts, so a wrong ``--export`` fails in a second, naming the option.
``--master`` defaults to ``local[*]``; under ``spark-submit`` the submitted master wins.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from pertinent.errors import DomainError

T = TypeVar("T")

spark_app = typer.Typer(help="Spark batch jobs over a Parquet export (`pertinent export ... --format parquet`).")

EXPORT = typer.Option(..., "--export", help="Export folder written by `pertinent export ... --format parquet`.")
MASTER = typer.Option("local[*]", "--master", help="Spark master: local[*], local[2], spark://host:7077, yarn...")
PARTITIONS = typer.Option(None, "--partitions", help="spark.sql.shuffle.partitions (default: Spark's).")
AS_JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def _run(job: str, master: str, partitions: int | None, check: Callable[[], None], body: Callable[[Any], T]) -> T:
    from pertinent.spark.session import SparkUnavailable, spark_session

    try:
        check()
        spark = spark_session(master, f"pertinent-{job}", partitions)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    except SparkUnavailable as err:
        typer.echo(f"error: Spark unavailable: {err}", err=True)
        raise typer.Exit(3) from None
    try:
        return body(spark)
    except (DomainError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    finally:
        spark.stop()


def _echo(result: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(dataclasses.asdict(result), default=str) if as_json else text)


@spark_app.command("als")
def als(
    export: Path = EXPORT,
    name: str = typer.Option(
        "spark_als", "--name", help="Model name in the registry (serve it with PERTINENT_RECOMMEND__MODEL=<name>)."
    ),
    rank: int = typer.Option(64, "--rank", min=1, help="Number of latent factors."),
    max_iter: int = typer.Option(20, "--max-iter", min=1, help="ALS iterations."),
    reg_param: float = typer.Option(0.01, "--reg-param", min=0.0, help="Regularisation (scaled per user, ALS-WR)."),
    alpha: float = typer.Option(2.0, "--alpha", min=0.0, help="Confidence = 1 + alpha * weight."),
    evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate", help="Temporal-split NDCG@10 etc. as metrics."),
    master: str = MASTER,
    partitions: int | None = PARTITIONS,
    as_json: bool = AS_JSON,
) -> None:
    """Implicit ALS on Spark, saved as a new version of NAME in the model registry (<data_dir>/models)."""
    from pertinent.recommend.registry import ModelRegistry
    from pertinent.settings import load_settings
    from pertinent.spark.als import run_als
    from pertinent.spark.model import SparkALSConfig
    from pertinent.spark.session import export_files

    settings = load_settings()
    try:
        config = SparkALSConfig(rank=rank, max_iter=max_iter, reg_param=reg_param, alpha=alpha)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None

    def check() -> None:
        export_files(export, "events")
        ModelRegistry.for_data_dir(settings.data_dir)._dir(name)

    result = _run(
        "als",
        master,
        partitions,
        check,
        lambda spark: run_als(spark, export, settings.data_dir, name=name, config=config, evaluate=evaluate),
    )
    ndcg = (result.metrics.get("temporal") or {}).get("metrics", {}).get("ndcg")
    extra = f", temporal NDCG@10 {ndcg:.4f}" if ndcg is not None else (f" ({result.message})" if result.message else "")
    _echo(
        result,
        as_json,
        f"{result.name} {result.version}: {result.n_users} users x {result.n_items} items, "
        f"{result.n_interactions} interactions{extra}",
    )


@spark_app.command("rfm")
def rfm(
    export: Path = EXPORT,
    out: Path = typer.Option(..., "--out", help="Folder to write the features to (Parquet, replaced)."),
    master: str = MASTER,
    partitions: int | None = PARTITIONS,
    as_json: bool = AS_JSON,
) -> None:
    """RFM and profile features of every profile in the events export, in Spark SQL, as Parquet."""
    from pertinent.spark.rfm import run_rfm
    from pertinent.spark.session import export_files

    def check() -> None:
        export_files(export, "events")

    result = _run("rfm", master, partitions, check, lambda spark: run_rfm(spark, export, out))
    _echo(result, as_json, f"{result.profiles} profiles ({result.buyers} buyers) -> {result.out}")


@spark_app.command("kmeans")
def kmeans(
    export: Path = EXPORT,
    k: int = typer.Option(..., "--k", help="Number of clusters (>= 2)."),
    out: Path = typer.Option(Path("spark-kmeans"), "--out", help="Folder for assignments/ and summary.json."),
    seed: int = typer.Option(42, "--seed"),
    master: str = MASTER,
    partitions: int | None = PARTITIONS,
    as_json: bool = AS_JSON,
) -> None:
    """k-means segment discovery over RFM and activity features: a cluster per profile and a summary."""
    from pertinent.spark.kmeans import run_kmeans
    from pertinent.spark.session import SparkInputError, export_files

    def check() -> None:
        if k < 2:
            raise SparkInputError("k", f"must be at least 2, got {k}")
        export_files(export, "events")

    result = _run("kmeans", master, partitions, check, lambda spark: run_kmeans(spark, export, out, k, seed=seed))
    sizes = ", ".join(f"{c.cluster}: {c.size}" for c in result.clusters)
    sil = f", silhouette {result.silhouette:.3f}" if result.silhouette is not None else ""
    _echo(result, as_json, f"{result.profiles} profiles in {result.k} clusters ({sizes}){sil} -> {result.out}")


def register(app: typer.Typer) -> None:
    app.add_typer(spark_app, name="spark")


def main(argv: list[str] | None = None) -> None:
    """The ``spark-submit`` entry point (``spark-submit [options] .../pertinent/cli/spark.py als --export DIR``): runs
    ``pertinent spark <args>`` in the submitted session (docs/spark.md)."""
    import sys

    from pertinent.cli import app

    app(["spark", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    main()
