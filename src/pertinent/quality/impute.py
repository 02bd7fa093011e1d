"""Imputation: a demographic trait a profile does not state, inferred from the behaviour of the profiles that state
it (k nearest neighbours over event counts, interest shares and RFM). An inferred value carries its confidence (the
neighbours' vote share for it) and never overwrites a stated trait: it lives apart, as ``inferred.<trait>``.

>>> stated = {f"s{i}": ({"count:Viewed Shoes": 9.0}, "f") for i in range(20)}
>>> stated.update({f"t{i}": ({"count:Viewed Tools": 9.0}, "m") for i in range(20)})
>>> fit = infer_trait(stated, {"new": {"count:Viewed Tools": 7.0}}, k=5)
>>> fit.inferred["new"], fit.labelled
(('m', 1.0), 40)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import MaxAbsScaler

MIN_LABELLED = 10  # fewer profiles stating the trait: nothing is inferred
MIN_CONFIDENCE = 0.5  # a value less than half the neighbours agree on is not kept


@dataclass(frozen=True)
class TraitFit:
    """What was inferred for one trait: ``inferred`` maps a profile to (value, confidence); ``accuracy`` is the
    cross-validated accuracy on the profiles that state it, next to ``baseline`` (always the commonest value)."""

    trait: str
    labelled: int
    inferred: dict[str, tuple[str, float]] = field(default_factory=dict)
    accuracy: float | None = None
    baseline: float | None = None
    message: str = ""


def _matrix(vec: DictVectorizer, rows: list[dict[str, float]]) -> np.ndarray:
    out: np.ndarray = np.log1p(np.maximum(vec.transform(rows).toarray(), 0.0))
    return out


def infer_trait(
    stated: dict[str, tuple[dict[str, float], str]],
    missing: dict[str, dict[str, float]],
    k: int = 15,
    trait: str = "",
) -> TraitFit:
    """Fit on ``stated`` (profile -> (behaviour, value)) and infer for ``missing`` (profile -> behaviour)."""
    if len(stated) < MIN_LABELLED:
        return TraitFit(trait, len(stated), message=f"fewer than {MIN_LABELLED} profiles state {trait or 'it'}")
    ids = sorted(stated)
    labels = np.array([stated[i][1] for i in ids])
    vec = DictVectorizer()
    vec.fit([stated[i][0] for i in ids])
    scaler = MaxAbsScaler()
    x = scaler.fit_transform(_matrix(vec, [stated[i][0] for i in ids]))
    n = min(k, len(ids) - 1)
    model = KNeighborsClassifier(n_neighbors=max(n, 1), weights="distance")
    values, counts = np.unique(labels, return_counts=True)
    baseline = float(counts.max() / counts.sum())
    accuracy = None
    folds = min(5, int(counts.min()))
    if len(values) > 1 and folds >= 2:
        accuracy = float(np.mean(cross_val_score(model, x, labels, cv=folds)))
    model.fit(x, labels)
    out: dict[str, tuple[str, float]] = {}
    todo = sorted(missing)
    if todo:
        proba = model.predict_proba(scaler.transform(_matrix(vec, [missing[i] for i in todo])))
        best = proba.argmax(axis=1)
        for i, pid in enumerate(todo):
            confidence = float(proba[i, best[i]])
            if confidence >= MIN_CONFIDENCE:
                out[pid] = (str(model.classes_[best[i]]), round(confidence, 3))
    return TraitFit(trait, len(ids), out, accuracy, baseline)
