"""Propensity, churn and timing on a small synthetic shop: reports, fitted models, thin data, bad input."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from pertinent.predict.backtest import Panel
from pertinent.predict.btyd import fit_bgnbd
from pertinent.predict.config import BacktestConfig, EventSpec, FeatureConfig, LightGBMParams
from pertinent.predict.features import build_features
from pertinent.predict.propensity import backtest_classifier, train_classifier
from pertinent.predict.timing import Credibility, backtest_timing, train_timing
from tests.predict.synthetic import DAY, synthetic_events

SMALL = LightGBMParams(n_estimators=60, min_child_samples=20)
CONFIG = BacktestConfig(horizon_days=14, step_days=14, min_history_days=30, n_folds=2, lightgbm=SMALL)
FEATURES = FeatureConfig(windows_days=(7, 30, 90))


@pytest.fixture(scope="module")
def panel() -> Panel:
    return Panel(synthetic_events(), EventSpec(purchase_events=("order",)), FEATURES)


def test_purchase_report_and_model(panel):
    trained = train_classifier(panel, "purchase", CONFIG)
    r = trained.report
    assert r.message == "" and len(r.folds) == 2 and r.model is not None and r.baseline is not None
    assert r.model.auc is not None and r.model.auc > 0.65 and r.baseline.auc is not None and r.baseline.auc > 0.65
    assert r.auc_lift == pytest.approx(r.model.auc - r.baseline.auc)
    assert all(f.n_train > 0 and f.model is not None and f.model.threshold is not None for f in r.folds)
    assert len(r.model.calibration) == 10 and sum(b.n for b in r.model.calibration) == sum(f.n_test for f in r.folds)
    assert r.selection is not None and r.selection.summary.startswith("The model mostly uses")
    assert r.selection.kept and sum(s.share for s in r.selection.kept) >= 0.95 - 1e-9
    json.dumps(r.to_dict())  # JSON-ready

    model = trained.model
    assert model is not None and model.version.startswith("purchase-14d-") and model.summary()["metrics"]["auc"]
    now = build_features(panel.log, panel.log.end + 1, config=FEATURES)
    scores = model.predict(now)
    assert scores.shape == (len(now),) and ((scores >= 0) & (scores <= 1)).all()
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict(now), scores)
    assert restored.version == model.version and model.flag(now).dtype == bool
    json.dumps(model.summary())
    with pytest.raises(ValueError, match="'purchase_recency_days'"):
        model.predict(now.drop(columns=["purchase_recency_days"]))
    with pytest.raises(ValueError, match="'orders_total'"):
        model.predict(now.assign(orders_total="many"))
    assert model.predict(now.iloc[:0]).shape == (0,)


def test_churn_report(panel):
    r = backtest_classifier(panel, "churn", CONFIG.model_copy(update={"horizon_days": 21}))
    assert r.model is not None and r.model.auc is not None and r.model.auc > 0.6
    assert r.target == "churn" and r.horizon_days == 21


def test_timing_report_and_model(panel):
    trained = train_timing(
        panel, BacktestConfig(horizon_days=30, step_days=14, min_history_days=30, n_folds=2, lightgbm=SMALL)
    )
    r = trained.report
    assert r.message == "" and r.best in (
        "naive_due",
        "naive_interval",
        "shrunk_due",
        "shrunk_interval",
        "bgnbd",
        "lightgbm",
    )
    assert r.baseline in ("naive_due", "naive_interval") and r.improvement is not None
    by = {s.method: s for s in r.methods}
    assert by[r.best].mae <= by[r.baseline].mae and by["lightgbm"].coverage is not None
    assert all(0 <= (f.censored_share or 0) <= 1 for f in r.folds)
    json.dumps(r.to_dict())
    model = trained.model
    assert model is not None and model.method == r.best and "next-purchase-30d" in model.version
    now = build_features(panel.log, panel.log.end + 1, config=FEATURES)
    out = pickle.loads(pickle.dumps(model)).predict(now)
    buyers = now["orders_total"].to_numpy() > 0
    assert out.loc[buyers, "p50"].between(0, 30).all() and out.loc[~buyers].isna().all().all()
    with pytest.raises(ValueError, match="'interval_mean_days'"):
        model.predict(now.drop(columns=["interval_mean_days"]))


def events(rows):
    return pd.DataFrame(rows, columns=["user", "timestamp", "event", "revenue"])


THIN = [
    ("no events", events([]), "no events", "no purchase events"),
    ("no purchases", events([("a", d * DAY, "view", 0.0) for d in range(100)]), "no purchase events", "no purchase"),
    ("short span", events([("a", 0.0, "order", 1.0), ("b", 10 * DAY, "order", 1.0)]), "too short", "span 10.0 days"),
    (
        "few users",
        events([(u, d * DAY, "order", 1.0) for u in ("a", "b", "c") for d in range(0, 120, 5)]),
        "fewer than min_users",
        "min_users=30",
    ),
    (
        "one class",
        events([(f"u{i}", d * DAY, "order", 1.0) for i in range(40) for d in range(120)]),
        "one class has fewer",
        None,  # everyone buys daily: timing has data (and every method is exact)
    ),
]
ORDER = EventSpec(purchase_events=("order",))


@pytest.mark.parametrize(("name", "frame", "needle", "timing_needle"), THIN, ids=[t[0] for t in THIN])
def test_thin_data_gives_messages(name, frame, needle, timing_needle):
    r = backtest_classifier(frame, "purchase", CONFIG, spec=ORDER)
    assert needle in r.message and r.model is None and r.auc_lift is None
    json.dumps(r.to_dict())
    trained = train_classifier(frame, "purchase", CONFIG, spec=ORDER)
    assert trained.model is None and needle in trained.message
    t = backtest_timing(frame, CONFIG, spec=ORDER)
    json.dumps(t.to_dict())
    if timing_needle is None:
        assert t.best is not None and t.methods[0].mae == 0.0 and t.improvement is None
    else:
        assert t.best is None and timing_needle in t.message
        assert train_timing(frame, CONFIG, spec=ORDER).model is None


def test_bad_target_and_columns():
    with pytest.raises(ValueError, match="target"):
        backtest_classifier(events([]), "revenue", CONFIG)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'event'"):
        backtest_classifier(pd.DataFrame({"user": ["a"], "timestamp": [0.0]}), "purchase", CONFIG)
    with pytest.raises(ValueError, match="'timestamp'"):
        backtest_timing(pd.DataFrame({"user": ["a"], "timestamp": ["monday"], "event": ["order"]}), CONFIG)


def test_bgnbd_recovers_a_simulated_population():
    rng = np.random.default_rng(5)
    n, T = 4000, 300.0
    lam = rng.gamma(2.0, 1 / 40.0, n)  # r = 2, alpha = 40
    p = rng.beta(1.0, 4.0, n)  # a = 1, b = 4
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    fit = fit_bgnbd(x, t_x, np.full(n, T))
    assert fit.converged and fit.r == pytest.approx(2.0, rel=0.3) and fit.alpha == pytest.approx(40.0, rel=0.35)
    assert fit.a / (fit.a + fit.b) == pytest.approx(0.2, abs=0.07)
    alive = fit.p_alive(x, t_x, np.full(n, T))
    assert ((alive > 0) & (alive <= 1)).all() and alive[x == 0].min() == 1.0
    q = fit.quantile_days(x, t_x, np.full(n, T), 0.5)
    no_order = fit.p_no_order(x, t_x, np.full(n, T), 30.0)
    finite = np.isfinite(q) & (q > 30)
    assert (no_order[finite] > 0.5).all()  # a median beyond 30 days means no order in 30 days is likelier


def test_credibility_shrinks_short_histories_more():
    n = np.array([1.0, 10.0, 3.0, 5.0])
    total = np.array([100.0, 100.0, 90.0, 200.0])
    std = np.array([0.0, 2.0, 5.0, 20.0])
    cred = Credibility.fit(n, total, std)
    shrunk = cred.interval(n, total)
    raw = total / n
    assert cred.mu == pytest.approx(490 / 19)
    assert np.all(np.abs(shrunk - cred.mu) <= np.abs(raw - cred.mu) + 1e-9)
    assert abs(shrunk[1] - raw[1]) < abs(shrunk[0] - raw[0])  # ten intervals keep more of their own mean than one
