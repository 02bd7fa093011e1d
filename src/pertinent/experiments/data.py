"""Turn an exported experiment table (one row per unit) into per-variant statistics.

>>> import pandas as pd
>>> df = pd.DataFrame({"u": [1, 2, 3, 4], "v": ["a", "a", "b", "b"], "buy": [True, False, True, True]})
>>> specs, data = frame_stats(df, "u", "v", ["buy"])
>>> specs[0].kind, data["b"]["buy"]
('conversion', ProportionStats(n=2, successes=2))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from pertinent.experiments.analysis import MetricSpec
from pertinent.experiments.stats import MetricStats, ProportionStats, RegressionAdjustedStats, SampleMeanStats

if TYPE_CHECKING:
    import pandas as pd

TRUE_WORDS = {"true", "t", "yes", "y"}
FALSE_WORDS = {"false", "f", "no", "n"}


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension); clear errors for missing or unreadable files."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"--file: {p} does not exist or is not a file")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(p)
    except Exception as exc:  # pandas raises many types; report them uniformly
        raise ValueError(f"--file: could not read {p}: {exc}") from exc
    raise ValueError(f"--file: unsupported extension {suffix!r}; use .csv or .parquet")


def _as_bool(series: pd.Series) -> pd.Series | None:
    """A boolean view of the column if it holds booleans or TRUE/FALSE-like words, else None."""
    if series.dtype == bool:
        return series
    if series.dtype == object or str(series.dtype) in ("string", "str", "boolean"):
        non_null = series.dropna()
        words = set(non_null.astype(str).str.strip().str.lower().unique())
        if words and words <= TRUE_WORDS | FALSE_WORDS:
            return series.map(lambda x: None if x is None or x != x else str(x).strip().lower() in TRUE_WORDS)
    return None


def metric_kind(series: pd.Series) -> Literal["conversion", "continuous"]:
    """'conversion' for boolean-like columns, 'continuous' for numeric ones; ValueError otherwise."""
    import pandas as pd

    if _as_bool(series) is not None:
        return "conversion"
    if pd.api.types.is_numeric_dtype(series):
        return "continuous"
    sample = list(series.dropna().astype(str).unique()[:3])
    raise ValueError(
        f"metric column {series.name!r} is neither boolean (TRUE/FALSE) nor numeric; sample values {sample}"
    )


def frame_stats(
    df: pd.DataFrame,
    unit_col: str,
    variant_col: str,
    metric_cols: Sequence[str],
    covariates: Mapping[str, str] | None = None,
    guardrails: Sequence[str] = (),
    lower_is_better: Sequence[str] = (),
) -> tuple[list[MetricSpec], dict[str, dict[str, MetricStats]]]:
    """Validate the table and compute statistics per variant and metric.

    ``covariates`` maps a continuous metric to its pre-period column (CUPED). Rows with a missing
    variant are dropped; missing metric values are dropped per metric.
    """
    covariates = dict(covariates or {})
    if not metric_cols:
        raise ValueError("--metric-col: give at least one metric column")
    needed = [unit_col, variant_col, *metric_cols, *covariates.values()]
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not found; available columns: {list(df.columns)}")
    for m in covariates:
        if m not in metric_cols:
            raise ValueError(f"--covariate: {m!r} is not one of the metric columns {list(metric_cols)}")
    for name in (*guardrails, *lower_is_better):
        if name not in metric_cols:
            raise ValueError(f"{name!r} is not one of the metric columns {list(metric_cols)}")
    df = df[df[variant_col].notna()]
    if df.empty:
        raise ValueError(f"no rows with a value in the variant column {variant_col!r}")
    dupes = int(df[unit_col].duplicated().sum())
    if dupes:
        raise ValueError(f"column {unit_col!r} has {dupes} duplicate unit ids; expected one row per unit")
    variants = [str(v) for v in df[variant_col].astype(str).unique()]
    groups = df[variant_col].astype(str)
    specs: list[MetricSpec] = []
    data: dict[str, dict[str, MetricStats]] = {v: {} for v in variants}
    for col in metric_cols:
        kind = metric_kind(df[col])
        cov = covariates.get(col)
        if kind == "conversion" and cov:
            raise ValueError(f"--covariate: CUPED applies to continuous metrics; {col!r} is a conversion")
        spec = MetricSpec(
            name=col,
            kind=kind,
            covariate=cov,
            guardrail=col in guardrails,
            higher_is_better=col not in lower_is_better,
        )
        specs.append(spec)
        as_bool = _as_bool(df[col])
        values = as_bool if kind == "conversion" and as_bool is not None else df[col]
        for v in variants:
            mask = (groups == v).to_numpy()
            if kind == "conversion":
                arr = values[mask].dropna().astype(bool).to_numpy()
                data[v][col] = ProportionStats(int(arr.size), int(arr.sum()))
            elif cov:
                pair = df.loc[mask, [col, cov]].dropna()
                if not pd_numeric(pair[cov]):
                    raise ValueError(f"--covariate: column {cov!r} must be numeric")
                data[v][col] = RegressionAdjustedStats.from_values(pair[col].to_numpy(float), pair[cov].to_numpy(float))
            else:
                arr = df.loc[mask, col].dropna().to_numpy(float)
                arr = arr[np.isfinite(arr)]
                data[v][col] = SampleMeanStats.from_values(arr)
    return specs, data


def pd_numeric(series: pd.Series) -> bool:
    """True for numeric columns."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series))
