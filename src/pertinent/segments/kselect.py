"""Choosing the number of segments: quality measures per k, side by side, and a rule that picks k.

Measures (scikit-learn): inertia (within-cluster sum of squares, for the elbow), mean silhouette
(on a sample for large inputs; higher is better), Davies-Bouldin (lower is better) and
Calinski-Harabasz (higher is better).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

RULE_WORDS = {
    "silhouette": "highest mean silhouette",
    "davies_bouldin": "lowest Davies-Bouldin index",
    "calinski_harabasz": "highest Calinski-Harabasz score",
    "elbow": "elbow of the inertia curve (largest distance below the chord from first to last k)",
    "bic": "lowest Bayesian information criterion (Gaussian mixture only)",
}


@dataclass(frozen=True)
class KScore:
    """Quality measures for one clustering (one k).

    >>> KScore(k=3, n_clusters=3, inertia=10.0, silhouette=0.5, davies_bouldin=0.7,
    ...        calinski_harabasz=120.0).to_dict()["k"]
    3
    """

    k: int
    n_clusters: int
    inertia: float
    silhouette: float | None
    davies_bouldin: float | None
    calinski_harabasz: float | None
    noise_share: float = 0.0
    bic: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KSelection:
    """The chosen k, the rule that chose it, what every rule would have chosen, and why in words."""

    k: int
    rule: str
    picks: dict[str, int | None]
    explanation: str
    scores: tuple[KScore, ...]


def score_labels(X: np.ndarray, labels: np.ndarray, k: int, *, silhouette_sample: int = 5_000, seed: int = 0) -> KScore:
    """Measures for one labelling of ``X`` (noise label -1 is left out of the measures).

    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> s = score_labels(X, np.array([0, 0, 1, 1]), 2)
    >>> s.silhouette > 0.9, s.n_clusters
    (True, 2)
    """
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    kept = labels >= 0
    noise_share = float(1.0 - kept.mean()) if len(labels) else 0.0
    Xk, lk = X[kept], labels[kept]
    clusters = np.unique(lk)
    inertia = 0.0
    for c in clusters:
        members = Xk[lk == c]
        inertia += float(((members - members.mean(axis=0)) ** 2).sum())
    silhouette = davies = calinski = None
    if 2 <= len(clusters) < len(Xk):
        size = min(silhouette_sample, len(Xk))
        silhouette = float(silhouette_score(Xk, lk, sample_size=size, random_state=seed))
        davies = float(davies_bouldin_score(Xk, lk))
        calinski = float(calinski_harabasz_score(Xk, lk))
    return KScore(
        k=k,
        n_clusters=int(len(clusters)),
        inertia=inertia,
        silhouette=silhouette,
        davies_bouldin=davies,
        calinski_harabasz=calinski,
        noise_share=noise_share,
    )


def elbow_k(scores: list[KScore] | tuple[KScore, ...]) -> int | None:
    """The k furthest below the straight line joining the first and last inertia (kneedle-style).

    >>> ks = [KScore(k, k, inertia, None, None, None) for k, inertia in [(2, 100), (3, 30), (4, 25), (5, 22)]]
    >>> elbow_k(ks)
    3
    """
    if len(scores) < 3:
        return None
    k = np.array([s.k for s in scores], dtype=float)
    y = np.array([s.inertia for s in scores], dtype=float)
    if np.ptp(y) == 0:
        return None
    xn = (k - k[0]) / (k[-1] - k[0])
    yn = (y - y.min()) / np.ptp(y)
    chord = yn[0] + (yn[-1] - yn[0]) * xn
    gap = chord - yn
    best = int(np.argmax(gap))
    return int(k[best]) if gap[best] > 0 else None


def rule_picks(scores: list[KScore] | tuple[KScore, ...]) -> dict[str, int | None]:
    """What each rule picks from the same table of scores (None when a rule cannot decide)."""

    def best(attr: str, sign: float) -> int | None:
        rows = [s for s in scores if getattr(s, attr) is not None]
        if not rows:
            return None
        return max(rows, key=lambda s: (sign * getattr(s, attr), -s.k)).k

    picks: dict[str, int | None] = {
        "silhouette": best("silhouette", 1.0),
        "davies_bouldin": best("davies_bouldin", -1.0),
        "calinski_harabasz": best("calinski_harabasz", 1.0),
        "elbow": elbow_k(scores),
    }
    bic = best("bic", -1.0)
    votes = Counter(v for v in picks.values() if v is not None)
    if votes:
        top = max(votes.values())
        tied = [k for k, n in votes.items() if n == top]
        picks["vote"] = picks["silhouette"] if picks["silhouette"] in tied else min(tied)
    else:
        picks["vote"] = None
    if bic is not None:
        picks["bic"] = bic
    return picks


def select_k(scores: list[KScore], rule: str) -> KSelection:
    """Pick k from ``scores`` with ``rule`` and explain the choice in words.

    >>> ks = [KScore(2, 2, 100.0, 0.40, 0.9, 50.0), KScore(3, 3, 30.0, 0.70, 0.5, 90.0),
    ...       KScore(4, 4, 25.0, 0.50, 0.8, 80.0)]
    >>> sel = select_k(ks, "silhouette")
    >>> sel.k, sel.explanation.split(";")[0]
    (3, 'k=3 chosen by the silhouette rule (highest mean silhouette: 0.700, next best k=4 at 0.500)')
    """
    picks = rule_picks(scores)
    chosen = picks.get(rule)
    fallback_note = ""
    if chosen is None:
        order = ["silhouette", "calinski_harabasz", "davies_bouldin", "elbow"]
        used = next((r for r in order if picks.get(r) is not None), None)
        found = picks[used] if used else None
        chosen = scores[0].k if found is None else found
        fallback_note = (
            f" (the {rule} rule could not decide on this data, so the {used} rule was used)"
            if used
            else f" (no rule could decide on this data, so the smallest k tried, {chosen}, was used)"
        )
        rule = used or "smallest"
    explanation = f"k={chosen} chosen by the {rule} rule{fallback_note}"
    detail = _rule_detail(rule, chosen, scores)
    if detail:
        explanation += f" ({detail})"
    others = []
    for other in ("silhouette", "davies_bouldin", "calinski_harabasz", "elbow"):
        if other == rule:
            continue
        pick = picks.get(other)
        if pick is None:
            others.append(f"{other.replace('_', '-')} could not decide")
        elif pick == chosen:
            others.append(f"{other.replace('_', '-')} agrees")
        else:
            others.append(f"{other.replace('_', '-')} would pick k={pick}")
    explanation += "; " + ", ".join(others) + "."
    return KSelection(k=int(chosen), rule=rule, picks=picks, explanation=explanation, scores=tuple(scores))


def _rule_detail(rule: str, chosen: int, scores: list[KScore]) -> str:
    attr = rule if rule in ("silhouette", "davies_bouldin", "calinski_harabasz", "bic") else None
    if attr is None:
        if rule == "elbow":
            return RULE_WORDS["elbow"]
        if rule == "vote":
            return "most rules agree on it; ties go to the silhouette pick"
        return ""
    rows = [s for s in scores if getattr(s, attr) is not None]
    value = next(getattr(s, attr) for s in rows if s.k == chosen)
    sign = -1.0 if rule in ("davies_bouldin", "bic") else 1.0
    rest = sorted((s for s in rows if s.k != chosen), key=lambda s: -sign * getattr(s, attr))
    text = f"{RULE_WORDS[rule]}: {value:,.3f}"
    if rest:
        text += f", next best k={rest[0].k} at {getattr(rest[0], attr):,.3f}"
    return text


def search_k(
    X: np.ndarray,
    k_values: list[int],
    fit_labels: Callable[[int], tuple[np.ndarray, float | None]],
    *,
    rule: str,
    silhouette_sample: int,
    seed: int,
    on_step: Callable[[int], None] | None = None,
) -> KSelection:
    """Fit once per k (``fit_labels(k) -> (labels, bic)``), score, then :func:`select_k`."""
    scores = []
    for k in k_values:
        labels, bic = fit_labels(k)
        score = score_labels(X, labels, k, silhouette_sample=silhouette_sample, seed=seed)
        if bic is not None:
            score = KScore(**{**score.to_dict(), "bic": bic})
        scores.append(score)
        if on_step:
            on_step(k)
    return select_k(scores, rule)
