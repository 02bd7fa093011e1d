"""The Spark session and the export folder the jobs read, with errors that name the option at fault.

>>> unavailable_reason() is None or isinstance(unavailable_reason(), str)
True
>>> SparkInputError("export", "folder not found").message
'export: folder not found'
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pertinent.errors import InvalidInput

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MASTER = "local[*]"


class SparkInputError(InvalidInput):
    """Bad input to a Spark job, naming the option (``export``, ``k``, ``out``...)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__([{"field": option, "message": message}], f"{option}: {message}")


class SparkUnavailable(RuntimeError):
    """pyspark or a Java runtime is missing (the message says which and how to install it)."""


def unavailable_reason() -> str | None:
    """Why Spark cannot start here (pyspark or Java missing), or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'pertinent[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and (Path(java_home) / "bin" / "java").exists()) and shutil.which("java") is None:
        return "no Java runtime: install one (Debian: apt-get install default-jre-headless) or set JAVA_HOME"
    return None


def spark_session(
    master: str = DEFAULT_MASTER, app_name: str = "pertinent", partitions: int | None = None
) -> SparkSession:
    """A SparkSession on ``master`` (``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``...), in UTC.

    Under ``spark-submit`` the master given there wins (``getOrCreate`` returns the submitted session).
    ``partitions`` sets ``spark.sql.shuffle.partitions`` (small for local mode: Spark's 200 suit a cluster).
    """
    reason = unavailable_reason()
    if reason:
        raise SparkUnavailable(reason)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def export_files(export: str | Path, kind: str, option: str = "export") -> list[str]:
    """The Parquet files of one kind (``events``, ``profiles``) in an export folder; errors name ``option``.

    For profiles, the newest full snapshot (``snapshot-*.parquet``; ``updated-*`` files are increments of it).
    A URI (``hdfs://...``) is passed to Spark as a glob, unchecked.
    """
    if "://" in str(export):  # a cluster file system (hdfs://, s3a://...): Spark reads and checks it
        return [f"{str(export).rstrip('/')}/{kind}/{'snapshot-*.parquet' if kind == 'profiles' else '*.parquet'}"]
    root = Path(export)
    if not root.is_dir():
        raise SparkInputError(option, f"export folder {str(root)!r} not found (write one with `pertinent export`)")
    folder = root / kind
    pattern = "snapshot-*.parquet" if kind == "profiles" else "*.parquet"
    files = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not files:
        raise SparkInputError(
            option, f"no {kind} in {str(root)!r}: run `pertinent export {kind} --format parquet --out {root}` first"
        )
    if kind == "profiles":
        files = files[-1:]
    return [str(f) for f in files]


def read_export(spark: SparkSession, export: str | Path, kind: str, option: str = "export") -> DataFrame:
    """One kind of an export folder as a DataFrame; an export with no rows is refused (naming ``option``)."""
    frame = spark.read.parquet(*export_files(export, kind, option))
    if frame.limit(1).count() == 0:
        raise SparkInputError(option, f"the {kind} export in {str(export)!r} has no rows")
    return frame
