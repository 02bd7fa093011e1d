"""RFM scoring (recency, frequency, monetary quintiles 1-5) and the classic named RFM segments.

Scores are quintiles of the rank: 5 = best (most recent, most frequent, highest spend). With the
default ``ties="first"`` equal values are ordered by profile id so the five groups have equal size
(the usual recipe ``pd.qcut(x.rank(method="first"), 5)``); ``ties="min"`` gives equal values the same
score at the cost of unequal groups.

Segments use the widely used R-F score map (the "RFM segments" regex table popularised by marketing
analytics notebooks): rows are R score, columns F score::

    R\\F  1               2                 3                 4               5
    5    new customers   potential loyal.  potential loyal.  champions       champions
    4    promising       potential loyal.  potential loyal.  loyal customers loyal customers
    3    about to sleep  about to sleep    need attention    loyal customers loyal customers
    2    hibernating     hibernating       at risk           at risk         can't lose them
    1    lost            hibernating       at risk           at risk         can't lose them

"lost" is the R=1, F=1 corner of "hibernating" (lowest on both; Putler's 11-segment naming).
The M score is reported but, as in that map, does not change the segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

SEGMENT_ORDER: tuple[str, ...] = (
    "champions",
    "loyal_customers",
    "potential_loyalists",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose_them",
    "hibernating",
    "lost",
)
SEGMENT_LABELS: dict[str, str] = {
    "champions": "Champions",
    "loyal_customers": "Loyal customers",
    "potential_loyalists": "Potential loyalists",
    "new_customers": "New customers",
    "promising": "Promising",
    "need_attention": "Need attention",
    "about_to_sleep": "About to sleep",
    "at_risk": "At risk",
    "cant_lose_them": "Can't lose them",
    "hibernating": "Hibernating",
    "lost": "Lost",
}
# (segment, R scores, F scores); checked in order, the first match wins.
SEGMENT_RULES: tuple[tuple[str, frozenset[int], frozenset[int]], ...] = (
    ("lost", frozenset({1}), frozenset({1})),
    ("hibernating", frozenset({1, 2}), frozenset({1, 2})),
    ("at_risk", frozenset({1, 2}), frozenset({3, 4})),
    ("cant_lose_them", frozenset({1, 2}), frozenset({5})),
    ("about_to_sleep", frozenset({3}), frozenset({1, 2})),
    ("need_attention", frozenset({3}), frozenset({3})),
    ("loyal_customers", frozenset({3, 4}), frozenset({4, 5})),
    ("promising", frozenset({4}), frozenset({1})),
    ("new_customers", frozenset({5}), frozenset({1})),
    ("potential_loyalists", frozenset({4, 5}), frozenset({2, 3})),
    ("champions", frozenset({5}), frozenset({4, 5})),
)


class RFMConfig(BaseModel):
    """Column names and tie handling for RFM scoring.

    >>> RFMConfig.model_validate_json(RFMConfig(ties="min").model_dump_json()).ties
    'min'
    """

    model_config = ConfigDict(extra="forbid")

    recency: str = "recency_days"
    frequency: str = "frequency"
    monetary: str = "monetary"
    bins: int = Field(5, ge=2, le=10)
    ties: Literal["first", "min"] = "first"


@dataclass(frozen=True)
class RFMResult:
    """Per-profile scores and segments plus a per-segment summary; ``ok`` False with a message on thin data."""

    ok: bool
    message: str
    scores: pd.DataFrame
    summary: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "message": self.message,
            "notes": list(self.notes),
            "n_profiles": int(len(self.scores)),
            "segments": self.summary.reset_index().to_dict(orient="records"),
        }


def rfm_segment(r: int, f: int) -> str:
    """Segment key for an (R, F) score pair.

    >>> rfm_segment(5, 5), rfm_segment(1, 5), rfm_segment(1, 1), rfm_segment(3, 3)
    ('champions', 'cant_lose_them', 'lost', 'need_attention')
    """
    for name, rs, fs in SEGMENT_RULES:
        if r in rs and f in fs:
            return name
    raise ValueError(f"R and F scores must be 1-5, got R={r}, F={f}")


def quantile_scores(values: pd.Series, bins: int = 5, ties: Literal["first", "min"] = "first") -> pd.Series:
    """Scores 1..bins from rank quantiles (higher value -> higher score).

    >>> import pandas as pd
    >>> quantile_scores(pd.Series([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])).tolist()
    [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    """
    if len(values) == 0:
        return pd.Series([], dtype=int, index=values.index)
    try:
        ordered = values.sort_index(kind="stable")
    except TypeError:  # mixed id types: keep the given order
        ordered = values
    ranks = ordered.rank(method=ties).to_numpy(dtype=float)
    edges = np.quantile(ranks, np.linspace(0.0, 1.0, bins + 1))
    score = np.searchsorted(edges[1:-1], ranks, side="left") + 1
    return pd.Series(score, index=ordered.index).reindex(values.index).astype(int)


def rfm_scores(frame: pd.DataFrame, config: RFMConfig | None = None) -> RFMResult:
    """Score every profile and name its RFM segment.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"recency_days": [1, 5, 30, 90, 200, 2, 400, 10, 60, 3],
    ...                    "frequency": [20, 8, 3, 1, 1, 15, 1, 5, 2, 12],
    ...                    "monetary": [900, 300, 80, 20, 15, 700, 10, 150, 40, 500]})
    >>> result = rfm_scores(df)
    >>> row = result.scores.loc[0]
    >>> int(row.r_score), int(row.f_score), row.segment
    (5, 5, 'champions')
    >>> int(result.summary["customers"].sum())
    10
    """
    config = config or RFMConfig()
    columns = {"recency": config.recency, "frequency": config.frequency, "monetary": config.monetary}
    missing = [f"{role} column {name!r}" for role, name in columns.items() if name not in frame.columns]
    if missing:
        raise ValueError(f"RFM input is missing {', '.join(missing)}; columns are {list(frame.columns)}")
    for role, name in columns.items():
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise ValueError(f"RFM {role} column {name!r} must be numeric, got dtype {frame[name].dtype}")
    data = frame[list(columns.values())].astype(float)
    notes = []
    bad = data.isna().any(axis=1) | data.isin([np.inf, -np.inf]).any(axis=1)
    if bad.any():
        notes.append(f"{int(bad.sum())} profiles with a missing or infinite R/F/M value were left out")
        data = data[~bad]
    negative = (data[config.recency] < 0) | (data[config.frequency] < 0)
    if negative.any():
        raise ValueError(
            f"recency and frequency must be >= 0; {int(negative.sum())} rows are negative "
            f"(first: {data.index[negative][0]!r})"
        )
    if len(data) < config.bins:
        empty = pd.DataFrame(columns=["r_score", "f_score", "m_score", "rfm", "segment"])
        return RFMResult(
            False,
            f"need at least {config.bins} profiles for quantile scores, got {len(data)}",
            empty,
            _summary(empty, data, config),
            tuple(notes),
        )
    scores = pd.DataFrame(index=data.index)
    scores["r_score"] = quantile_scores(-data[config.recency], config.bins, config.ties)
    scores["f_score"] = quantile_scores(data[config.frequency], config.bins, config.ties)
    scores["m_score"] = quantile_scores(data[config.monetary], config.bins, config.ties)
    scores["rfm"] = scores["r_score"].astype(str) + scores["f_score"].astype(str) + scores["m_score"].astype(str)
    if config.bins == 5:
        scores["segment"] = [rfm_segment(r, f) for r, f in zip(scores["r_score"], scores["f_score"], strict=True)]
    else:
        notes.append("named segments need 5 bins; only scores were computed")
        scores["segment"] = "unnamed"
    scores = pd.concat([data, scores], axis=1)
    return RFMResult(
        True, f"RFM scores for {len(scores):,} profiles", scores, _summary(scores, data, config), tuple(notes)
    )


def _summary(scores: pd.DataFrame, data: pd.DataFrame, config: RFMConfig) -> pd.DataFrame:
    columns = [
        "label",
        "customers",
        "share",
        "median_recency_days",
        "median_frequency",
        "median_monetary",
        "revenue_share",
    ]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    total = float(scores[config.monetary].clip(lower=0).sum()) or 1.0
    grouped = scores.groupby("segment")
    out = pd.DataFrame(
        {
            "customers": grouped.size(),
            "median_recency_days": grouped[config.recency].median(),
            "median_frequency": grouped[config.frequency].median(),
            "median_monetary": grouped[config.monetary].median(),
            "revenue_share": grouped[config.monetary].apply(lambda m: float(m.clip(lower=0).sum()) / total),
        }
    )
    out["share"] = out["customers"] / len(scores)
    out["label"] = [SEGMENT_LABELS.get(s, s) for s in out.index]
    order = [s for s in SEGMENT_ORDER if s in out.index] + [s for s in out.index if s not in SEGMENT_ORDER]
    out = out.loc[order, columns]
    out.index.name = "segment"
    return out
