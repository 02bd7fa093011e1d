"""CUPED in served experiment results: each unit's pre-period value of a continuous metric (its events in the
``cuped_pre_period_days`` before its first exposure) adjusts the comparison; thin data falls back with a message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from pertinent.decide import analysis
from pertinent.decide.analysis import DAY, PreEvent, PrePeriod
from pertinent.decide.experiments import ExperimentDefinition, OutcomeMetric
from pertinent.services import Services
from pertinent.storage.base import DecisionRow, OutcomeRow


def experiment_results(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The analysis as the API answers it (the keys that apply)."""
    return analysis.experiment_results(*args, **kwargs).model_dump(exclude_unset=True)


REVENUE = OutcomeMetric(name="revenue", kind="continuous", events=["Order Completed"])
CLICKED = OutcomeMetric(name="clicked", kind="conversion", events=["Slot Clicked"])
T0 = 1_700_000_000.0


def simulate(
    seed: int, n: int = 400, effect: float = 1.0, days: float = 14, pre_offset: tuple[float, float] = (1.0, 10 * DAY)
) -> tuple[ExperimentDefinition, list, dict, list]:
    """Units whose post-period revenue shares a per-unit level with their pre-period revenue; ``b`` adds
    ``effect``. Pre-period events happen ``pre_offset`` seconds before the unit's first exposure."""
    rng = np.random.default_rng(seed)
    exp = ExperimentDefinition(key="e", variants=["a", "b"], metrics=[REVENUE, CLICKED], cuped_pre_period_days=days)
    decisions, outcomes, pre = [], {}, []
    for i in range(n):
        variant = "ab"[int(rng.integers(2))]
        at = T0 + float(rng.uniform(0, DAY))
        level = float(rng.gamma(2.0, 10.0))
        decisions.append(DecisionRow(f"d{i}", f"p{i}", "s", variant, "experiment", at, "e", 0.5))
        decisions.append(DecisionRow(f"d{i}-later", f"p{i}", "s", variant, "experiment", at + 60, "e", 0.5))
        pre.append(
            PreEvent(f"p{i}", "Order Completed", at - float(rng.uniform(*pre_offset)), level + float(rng.normal(0, 3)))
        )
        post = level + (effect if variant == "b" else 0.0) + float(rng.normal(0, 3))
        outcomes[f"d{i}"] = [OutcomeRow(f"d{i}", f"p{i}", "Order Completed", f"m{i}", at + 10, post)]
    return exp, decisions, outcomes, pre


def width(ci: list[float] | tuple[float, float]) -> float:
    return float(ci[1] - ci[0])


def test_cuped_narrows_the_interval_and_keeps_the_estimate_unbiased():
    effect, estimates, raw_estimates, covered = 1.0, [], [], 0
    for seed in range(30):
        exp, decisions, outcomes, pre = simulate(seed, effect=effect)
        res = experiment_results(exp, decisions, outcomes, pre_period=PrePeriod(pre))
        revenue = next(m for m in res["metrics"] if m["name"] == "revenue")
        comp, cuped = revenue["comparisons"]["b"], revenue["cuped"]
        raw = cuped["unadjusted"]["b"]
        assert cuped["applied"] and cuped["units_with_pre_period"] == res["units_total"] and cuped["message"] == ""
        assert comp["test"]["test"] == "cuped_t" and 0 < comp["variance_reduction"] < 1
        assert width(comp["test"]["difference_ci"]) < width(raw["difference_ci"])
        assert comp["lift"]["ci_high"] - comp["lift"]["ci_low"] < width(raw["lift_ci"])
        # the interval shrinks by the reported variance reduction (same t quantile up to the degrees of freedom)
        ratio = width(comp["test"]["difference_ci"]) / width(raw["difference_ci"])
        assert ratio == pytest.approx(np.sqrt(1 - comp["variance_reduction"]), rel=0.05)
        low, high = comp["test"]["difference_ci"]
        covered += low <= effect <= high
        estimates.append(comp["test"]["difference"])
        raw_estimates.append(raw["difference"])
        clicked = next(m for m in res["metrics"] if m["name"] == "clicked")
        assert "cuped" not in clicked  # conversions are not adjusted
    estimates_arr, raw_arr = np.array(estimates), np.array(raw_estimates)
    # unbiased: the mean estimate is within 3 standard errors of the true effect ...
    assert abs(estimates_arr.mean() - effect) < 3 * estimates_arr.std(ddof=1) / np.sqrt(len(estimates_arr))
    # ... and both estimators target the same effect, CUPED's with less spread across simulations
    assert estimates_arr.std() < raw_arr.std()
    assert covered >= 0.8 * len(estimates)


def test_only_events_inside_each_units_pre_period_count():
    # every pre-period event falls 20-30 days before exposure: outside a 14-day window, inside a 40-day one
    exp, decisions, outcomes, pre = simulate(1, pre_offset=(20 * DAY, 30 * DAY))
    res = experiment_results(exp, decisions, outcomes, pre_period=PrePeriod(pre))
    cuped = res["metrics"][0]["cuped"]
    assert not cuped["applied"] and cuped["units_with_pre_period"] == 0 and "no pre-period data" in cuped["message"]
    assert res["metrics"][0]["comparisons"]["b"]["test"]["test"] == "welch_t"
    assert "CUPED not applied to revenue" in res["message"]
    wide = exp.model_copy(update={"cuped_pre_period_days": 40})
    assert experiment_results(wide, decisions, outcomes, pre_period=PrePeriod(pre))["metrics"][0]["cuped"]["applied"]
    # events after the first exposure (post-period) never count as pre-period data
    after = [e._replace(timestamp=e.timestamp + 40 * DAY) for e in pre]
    res = experiment_results(wide, decisions, outcomes, pre_period=PrePeriod(after))
    assert res["metrics"][0]["cuped"]["units_with_pre_period"] == 0


def test_thin_or_missing_pre_period_data_falls_back_with_a_message():
    exp, decisions, outcomes, pre = simulate(2, n=40)
    unadjusted = experiment_results(exp, decisions, outcomes)  # nothing read: unadjusted, no top-level note
    assert unadjusted["metrics"][0]["cuped"]["applied"] is False
    assert "CUPED" not in unadjusted["message"]
    for pre_period, needle in [
        (PrePeriod([]), "no pre-period data"),
        (PrePeriod([e._replace(value=5.0) for e in pre]), "do not vary"),
        (PrePeriod([], "more than 2000000 events"), "more than 2000000 events"),
    ]:
        res = experiment_results(exp, decisions, outcomes, pre_period=pre_period)
        assert needle in res["metrics"][0]["cuped"]["message"] and needle in res["message"]
        assert res["metrics"][0]["comparisons"] == unadjusted["metrics"][0]["comparisons"]
    one = [d for d in decisions if d.profile_id == "p0"]
    res = experiment_results(exp, one, outcomes, pre_period=PrePeriod(pre))
    assert "at least 2 units per variant" in res["metrics"][0]["cuped"]["message"]
    res = experiment_results(exp, [], {}, pre_period=PrePeriod(pre))
    assert res["message"] == "no exposures yet"
    off = exp.model_copy(update={"cuped_pre_period_days": 0})
    res = experiment_results(off, decisions, outcomes, pre_period=PrePeriod(pre))
    assert res["metrics"][0]["cuped"] == {
        "applied": False,
        "pre_period_days": 0,
        "message": "CUPED is off (pre-period 0 days)",
    }
    with pytest.raises(ValueError):
        ExperimentDefinition(key="e", variants=["a", "b"], cuped_pre_period_days=-1)


# ---------------------------------------------------------------------------------------- end to end
@pytest.fixture
def svc(services: Services) -> Iterator[Services]:
    services.decide.put_block({"id": "hero-a", "type": "headline", "content": {"title": "A"}})
    services.decide.put_block({"id": "hero-b", "type": "headline", "content": {"title": "B"}})
    yield services
    services.decide.close()


def order(user: str, revenue: float, at: float | None = None) -> dict[str, object]:
    msg: dict[str, object] = {
        "type": "track",
        "event": "Order Completed",
        "userId": user,
        "properties": {"revenue": round(revenue, 2)},
    }
    if at is not None:
        msg["timestamp"] = datetime.fromtimestamp(at, UTC).isoformat()
    return msg


def test_served_results_apply_cuped_from_stored_events_and_erasure_removes_the_unit(svc):
    svc.decide.put_experiment({"key": "hero-test", "variants": ["a", "b"], "metrics": [REVENUE.model_dump()]})
    svc.decide.start_experiment("hero-test")
    svc.decide.put_slot(
        {
            "id": "home.hero",
            "variants": {"a": "hero-a", "b": "hero-b"},
            "default": {"kind": "variant", "variant": "a"},
            "rules": [{"then": {"kind": "experiment", "experiment": "hero-test"}}],
        }
    )
    rng = np.random.default_rng(7)
    now = time.time()
    users = [f"u{i}" for i in range(240)]
    levels = {u: float(rng.gamma(2.0, 10.0)) for u in users}
    history = [order(u, levels[u] + rng.normal(0, 2), now - float(rng.uniform(1, 10)) * DAY) for u in users]
    history += [order(u, 1000.0, now - 20 * DAY) for u in users[:50]]  # before the 14-day window: ignored
    svc.ingest.ingest(history, prefix="batch")
    orders = []
    for u in users:
        d = svc.decide.decide("home.hero", user_id=u)
        orders.append(order(u, levels[u] + (2.0 if d["variant"] == "b" else 0.0) + rng.normal(0, 2)))
    svc.decide.flush()
    svc.ingest.ingest(orders, prefix="batch")
    res = svc.decide.results("hero-test").model_dump(exclude_unset=True)
    revenue = res["metrics"][0]
    comp, cuped = revenue["comparisons"]["b"], revenue["cuped"]
    assert res["units_total"] == len(users) and cuped["applied"] and cuped["units_with_pre_period"] == len(users)
    assert comp["test"]["test"] == "cuped_t" and comp["variance_reduction"] > 0
    assert width(comp["test"]["difference_ci"]) < width(cuped["unadjusted"]["b"]["difference_ci"])
    low, high = comp["test"]["difference_ci"]
    assert low < 2.0 < high and low > 0  # the true effect, detected
    assert 0.8 < cuped["theta"] < 1.2  # pre and post share the level one to one; the 1000s 20 days back are out

    gone = users[0]
    svc.privacy.erase(gone)
    after = svc.decide.results("hero-test").model_dump(exclude_unset=True)
    assert (
        after["units_total"] == len(users) - 1
        and after["metrics"][0]["cuped"]["units_with_pre_period"] == len(users) - 1
    )
    assert sum(after["units"].values()) == len(users) - 1


def test_served_results_without_history_fall_back(svc):
    svc.decide.put_experiment({"key": "hero-test", "variants": ["a", "b"]})  # default metrics: revenue included
    svc.decide.start_experiment("hero-test")
    svc.decide.put_slot(
        {
            "id": "home.hero",
            "variants": {"a": "hero-a", "b": "hero-b"},
            "default": {"kind": "variant", "variant": "a"},
            "rules": [{"then": {"kind": "experiment", "experiment": "hero-test"}}],
        }
    )
    for i in range(6):
        svc.decide.decide("home.hero", user_id=f"new{i}")
    res = svc.decide.results("hero-test").model_dump(exclude_unset=True)
    revenue = next(m for m in res["metrics"] if m["name"] == "revenue")
    assert revenue["cuped"]["applied"] is False and "CUPED not applied to revenue" in res["message"]
    assert "thin data" in res["message"]
