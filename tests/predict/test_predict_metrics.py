"""Our numpy metrics against scikit-learn, and their thin-data behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from pertinent.predict.metrics import (
    average_precision,
    best_f1_threshold,
    brier,
    calibration_table,
    classification_metrics,
    f1_at,
    roc_auc,
)

labelled = st.integers(2, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0]) | st.floats(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(labelled)
def test_metrics_match_scikit_learn(data):
    y, s = np.array(data[0]), np.array(data[1])
    assert brier(y, s) == pytest.approx(brier_score_loss(y, s))
    if 0 < y.sum() < y.size:
        assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    if y.sum() > 0:
        assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
        threshold = float(np.median(s))
        pred = (s >= threshold).astype(int)
        p, r, f = f1_at(y, s, threshold)
        assert p == pytest.approx(precision_score(y, pred, zero_division=0))
        assert r == pytest.approx(recall_score(y, pred, zero_division=0))
        assert f == pytest.approx(f1_score(y, pred, zero_division=0))
        best = best_f1_threshold(y, s)
        brute = max(f1_score(y, (s >= t).astype(int), zero_division=0) for t in np.unique(s))
        assert f1_at(y, s, best)[2] == pytest.approx(brute)


def test_calibration_deciles():
    rng = np.random.default_rng(3)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    table = calibration_table(y, p)
    assert [b.n for b in table] == [100] * 10
    order = np.argsort(p, kind="mergesort")
    for k, b in enumerate(table):
        chunk = order[100 * k : 100 * (k + 1)]
        assert b.mean_predicted == pytest.approx(p[chunk].mean()) and b.observed_rate == pytest.approx(y[chunk].mean())
        assert b.lower <= b.upper
    assert abs(table[-1].observed_rate - table[-1].mean_predicted) < 0.1  # calibrated by construction
    assert len(calibration_table([1, 0, 1], [0.2, 0.4, 0.9])) == 3 and calibration_table([], []) == []


def test_one_class_and_empty_give_messages_not_errors():
    m = classification_metrics([1, 1, 1], [0.2, 0.5, 0.9], threshold=0.5)
    assert m.auc is None and m.pr_auc == 1.0 and "one class" in m.message
    none = classification_metrics([0, 0], [0.2, 0.5], threshold=None)
    assert none.auc is None and none.pr_auc is None and none.f1 is None and "no positives" in none.message
    assert "no threshold" in none.message
    assert classification_metrics([], [], 0.5).message == "no rows"
    assert best_f1_threshold([0, 0], [0.1, 0.2]) is None


def test_bad_metric_input():
    with pytest.raises(ValueError, match="0 and 1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="has 2 values"):
        brier([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        average_precision([0, 1], [0.1, float("nan")])
