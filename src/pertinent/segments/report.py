"""Segment reports: plain-words descriptions, generated names, stable ids and stability across retrains."""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

NOISE_ID = -1
SIGNIFICANT_Z = 0.3  # |segment mean - population mean| in population SDs (transformed space)


@dataclass(frozen=True)
class FeatureWords:
    """How one kind of feature is put into words (matched on the column name)."""

    pattern: str
    more: str | None = None  # "{r}" ratio, "{p}" percent, "{one}" singular noun
    less: str | None = None
    absolute: str | None = None  # "{seg}" / "{pop}" values, used instead of ratios (e.g. days)
    high_adj: str | None = None
    low_adj: str | None = None
    high_noun: str | None = None
    low_noun: str | None = None
    zero_adj: str | None = None  # used instead of low_adj when the segment median is 0


WORDS: tuple[FeatureWords, ...] = (
    FeatureWords(
        r"recen|days_since|last_seen|inactive",
        absolute="last seen {seg} days ago vs {pop} for the median {one}",
        high_adj="lapsed",
        low_adj="recently active",
    ),
    FeatureWords(
        r"tenure|first_seen|customer_for|account_age",
        absolute="a {one} for {seg} days vs {pop} for the median {one}",
        high_adj="long-standing",
        low_adj="newer",
        zero_adj="one-time",
    ),
    FeatureWords(
        r"basket|order_value|aov|per_order|per_invoice",
        more="baskets worth {r}x the median {one}'s",
        less="baskets worth {p}% less than the median {one}'s",
        high_adj="big-basket",
        low_adj="small-basket",
    ),
    FeatureWords(
        r"monetary|revenue|spend|sales|amount|value|ltv",
        more="spends {r}x as much as the median {one}",
        less="spends {p}% less than the median {one}",
        high_adj="high-value",
        low_adj="low-value",
        high_noun="big spenders",
        low_noun="low spenders",
    ),
    FeatureWords(
        r"units|quantity|qty|volume",
        more="buys {r}x as many units as the median {one}",
        less="buys {p}% fewer units than the median {one}",
        high_adj="bulk-buying",
        low_adj="light-buying",
    ),
    FeatureWords(
        r"distinct|products|items|variety|breadth|categories",
        more="buys {r}x as many different products as the median {one}",
        less="buys {p}% fewer different products than the median {one}",
        high_adj="wide-range",
        low_adj="narrow-range",
    ),
    FeatureWords(
        r"freq|orders|invoices|purchases|visits|sessions|count",
        more="buys {r}x as often as the median {one}",
        less="buys {p}% less often than the median {one}",
        high_adj="frequent",
        low_adj="occasional",
    ),
)


def words_for(feature: str) -> FeatureWords | None:
    """The first matching word set for a column name, or None for an unknown kind of feature.

    >>> words_for("recency_days").high_adj
    'lapsed'
    >>> words_for("zodiac") is None
    True
    """
    name = feature.lower()
    return next((w for w in WORDS if re.search(w.pattern, name)), None)


@dataclass(frozen=True)
class FeatureContrast:
    """One feature of one segment compared with the whole population."""

    feature: str
    segment_median: float
    population_median: float
    z: float
    phrase: str


@dataclass(frozen=True)
class SegmentSummary:
    """One segment in a report: stable id, generated name, size, plain-words description."""

    id: int
    name: str
    size: int
    share: float
    description: str
    contrasts: tuple[FeatureContrast, ...]
    medians: dict[str, float]
    overlap_with_previous: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SegmentationReport:
    """What a discovery run found. ``ok`` is False (with ``message``) on thin or unusable data.

    >>> SegmentationReport.empty("need at least 3 profiles, got 1").to_dict()["k"]
    0
    """

    ok: bool
    message: str
    algorithm: str
    k: int
    n_profiles: int
    features: tuple[str, ...]
    segments: tuple[SegmentSummary, ...]
    k_scores: tuple[dict[str, Any], ...]
    selection: str
    stability_ari: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def empty(cls, message: str, algorithm: str = "", notes: tuple[str, ...] = ()) -> SegmentationReport:
        return cls(False, message, algorithm, 0, 0, (), (), (), "", None, notes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".")


def describe_feature(
    feature: str, seg_median: float, pop_median: float, seg_mean: float, pop_mean: float, z: float, noun: str
) -> str:
    """One phrase comparing a segment with the population on one feature.

    >>> describe_feature("frequency", 23, 10, 25.0, 12.0, 1.2, "customers")
    'buys 2.3x as often as the median customer (frequency 23 vs 10)'
    >>> describe_feature("recency_days", 40, 12, 45.0, 20.0, 0.8, "customers")
    'last seen 40 days ago vs 12 for the median customer (recency_days)'
    """
    one = noun[:-1] if noun.endswith("s") else noun
    words = words_for(feature)
    tag = f"({feature} {_fmt(seg_median)} vs {_fmt(pop_median)})"
    if words and words.absolute:
        return words.absolute.format(seg=_fmt(seg_median), pop=_fmt(pop_median), one=one) + f" ({feature})"
    ratio = seg_median / pop_median if pop_median > 0 and seg_median >= 0 else None
    if ratio is None or 0.9 <= ratio <= 1.11:
        # medians cannot show the difference: compare means instead
        direction = "higher" if z > 0 else "lower"
        return f"{feature} averages {_fmt(seg_mean)} vs {_fmt(pop_mean)} overall ({direction})"
    if words and words.more and words.less:
        template = words.more if ratio > 1 else words.less
        text = template.format(r=_fmt(ratio), p=_fmt(round(100 * (1 - ratio))), one=one)
        return f"{text} {tag}"
    if ratio > 1:
        return f"{feature} is {_fmt(ratio)}x the median {one}'s ({_fmt(seg_median)} vs {_fmt(pop_median)})"
    return (
        f"{feature} is {_fmt(round(100 * (1 - ratio)))}% below the median {one}'s "
        f"({_fmt(seg_median)} vs {_fmt(pop_median)})"
    )


def segment_name(contrasts: list[FeatureContrast], noun: str) -> str:
    """A short name from the most distinctive features, e.g. "Frequent big spenders".

    >>> c = [FeatureContrast("frequency", 20, 5, 1.5, ""), FeatureContrast("monetary", 900, 300, 1.2, "")]
    >>> segment_name(c, "customers")
    'Frequent big spenders'
    >>> segment_name([], "customers")
    'Typical customers'
    """
    adjectives: list[str] = []
    head = None
    for c in contrasts:
        if abs(c.z) < SIGNIFICANT_Z:
            continue
        words = words_for(c.feature)
        high = c.z > 0
        if words and head is None and (words.high_noun if high else words.low_noun):
            head = words.high_noun if high else words.low_noun
            continue
        adjective = (words.high_adj if high else words.low_adj) if words else None
        if words and not high and words.zero_adj and c.segment_median == 0:
            adjective = words.zero_adj
        adjective = adjective or f"{'high' if high else 'low'}-{c.feature.replace('_', ' ')}"
        if adjective not in adjectives and len(adjectives) < 2:
            adjectives.append(adjective)
    if not adjectives and head is None:
        return f"Typical {noun}"
    name = " ".join([*adjectives, head or noun])
    return name[0].upper() + name[1:]


def summarise_segments(
    raw: pd.DataFrame,
    Z: np.ndarray,
    ids: np.ndarray,
    noun: str = "customers",
    max_contrasts: int = 3,
) -> list[SegmentSummary]:
    """Per-segment size, share, medians, contrasts and a generated name (ids from ``ids``)."""
    n = len(ids)
    features = list(raw.columns)
    values = raw.to_numpy(dtype=float)
    pop_median = np.nanmedian(values, axis=0)
    pop_mean = np.nanmean(values, axis=0)
    z_mean = Z.mean(axis=0)
    z_sd = Z.std(axis=0)
    z_sd[z_sd == 0] = 1.0
    summaries: list[SegmentSummary] = []
    for seg in sorted(np.unique(ids), key=lambda s: (s == NOISE_ID, s)):
        members = ids == seg
        size = int(members.sum())
        seg_values = values[members]
        with warnings.catch_warnings():  # an all-missing column in a segment gives NaN, reported as n/a
            warnings.simplefilter("ignore", RuntimeWarning)
            seg_median = np.nanmedian(seg_values, axis=0)
            seg_mean = np.nanmean(seg_values, axis=0)
        z = (Z[members].mean(axis=0) - z_mean) / z_sd
        order = np.argsort(-np.abs(z))
        contrasts = [
            FeatureContrast(
                feature=features[j],
                segment_median=float(seg_median[j]),
                population_median=float(pop_median[j]),
                z=float(z[j]),
                phrase=describe_feature(
                    features[j], seg_median[j], pop_median[j], seg_mean[j], pop_mean[j], z[j], noun
                ),
            )
            for j in order
        ]
        top = [c for c in contrasts if abs(c.z) >= SIGNIFICANT_Z][:max_contrasts]
        if seg == NOISE_ID:
            name = "Unclustered (noise)"
            description = "Profiles the density algorithm left outside every cluster; " + (
                "; ".join(c.phrase for c in top) if top else "no distinctive feature"
            )
        else:
            name = segment_name(top, noun)
            description = (
                "; ".join(c.phrase for c in top)
                if top
                else f"close to the median {noun[:-1] if noun.endswith('s') else noun} on every feature "
                f"({', '.join(features)})"
            )
        summaries.append(
            SegmentSummary(
                id=int(seg),
                name=name,
                size=size,
                share=size / n if n else 0.0,
                description=description,
                contrasts=tuple(top),
                medians={f: float(m) for f, m in zip(features, seg_median, strict=True)},
            )
        )
    return unique_names(summaries)


def unique_names(summaries: list[SegmentSummary]) -> list[SegmentSummary]:
    """Suffix repeated names with " (2)", " (3)", ... in list order."""
    seen: dict[str, int] = {}
    out = []
    for s in summaries:
        count = seen.get(s.name, 0) + 1
        seen[s.name] = count
        out.append(s if count == 1 else replace(s, name=f"{s.name} ({count})"))
    return out


def match_ids(cost: np.ndarray, old_ids: np.ndarray, reserved: set[int] | None = None) -> np.ndarray:
    """Give each new cluster (row of ``cost``) an old id by Hungarian matching; unmatched get fresh ids.

    ``cost[i, j]`` is the cost of giving new cluster i the old id ``old_ids[j]``.

    >>> import numpy as np
    >>> match_ids(np.array([[5.0, 0.0], [0.0, 5.0], [3.0, 3.0]]), np.array([7, 9])).tolist()
    [9, 7, 10]
    """
    from scipy.optimize import linear_sum_assignment

    new_ids = np.full(cost.shape[0], -2, dtype=int)
    if cost.size:
        rows, cols = linear_sum_assignment(cost)
        new_ids[rows] = old_ids[cols]
    used = set(int(i) for i in old_ids) | (reserved or set())
    next_id = max(used | {-1}) + 1
    for i in np.flatnonzero(new_ids == -2):
        new_ids[i] = next_id
        next_id += 1
    return new_ids


def overlap_cost(
    old: pd.Series, new_labels: np.ndarray, new_index: pd.Index
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Negative member overlap between new clusters and old segments on the profiles both runs saw.

    Returns (cost, new cluster labels in row order, old ids in column order).
    """
    new = pd.Series(new_labels, index=new_index.astype(str))
    common = new.index.intersection(old.index)
    new_c, old_c = new.loc[common], old.loc[common]
    keep = (new_c.to_numpy() >= 0) & (old_c.to_numpy() >= 0)
    table = pd.crosstab(new_c[keep], old_c[keep])
    labels = np.array(sorted(int(v) for v in np.unique(new_labels) if v >= 0))
    table = table.reindex(index=labels, fill_value=0)
    return -table.to_numpy(dtype=float), labels, table.columns.to_numpy(dtype=int)


def centroid_cost(new_centroids: np.ndarray, old_centroids: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance between new and old centroids (same feature space)."""
    cost: np.ndarray = ((new_centroids[:, None, :] - old_centroids[None, :, :]) ** 2).sum(axis=2)
    return cost


def stability(old: pd.Series, new: pd.Series) -> tuple[float | None, int]:
    """Adjusted Rand index between two labellings on the profiles they share, and how many they share.

    >>> import pandas as pd
    >>> stability(pd.Series([0, 0, 1, 1], index=list("abcd")), pd.Series([5, 5, 2, 2], index=list("abcd")))
    (1.0, 4)
    """
    from sklearn.metrics import adjusted_rand_score

    old = old.set_axis(old.index.astype(str))
    new = new.set_axis(new.index.astype(str))
    common = old.index.intersection(new.index)
    if len(common) < 2:
        return None, int(len(common))
    return float(adjusted_rand_score(old.loc[common], new.loc[common])), int(len(common))


def jaccard_by_segment(old: pd.Series, new: pd.Series) -> dict[int, float]:
    """For each new segment id, the Jaccard overlap with the old segment of the same id."""
    old = old.set_axis(old.index.astype(str))
    new = new.set_axis(new.index.astype(str))
    common = old.index.intersection(new.index)
    o, n = old.loc[common], new.loc[common]
    out = {}
    for seg in np.unique(n):
        a = set(n.index[n == seg])
        b = set(o.index[o == seg])
        out[int(seg)] = len(a & b) / len(a | b) if a | b else 0.0
    return out
