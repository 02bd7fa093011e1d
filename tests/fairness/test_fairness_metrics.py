"""Fairness statistics: Wilson and Newcombe intervals against references, parity verdicts, thin data, exposure."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from pertinent.fairness.groups import INVALID, pool, profile_groups
from pertinent.fairness.metrics import newcombe, parity, shares, total_variation, wilson
from pertinent.storage.base import ProfileRow


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (45, 300), (1, 1)])
def test_wilson_matches_statsmodels(k, n):
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson(k, n) == pytest.approx((lo, hi), abs=1e-9)


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (56/70 vs 48/80): 0.0524 to 0.3339
    lo, hi = newcombe(56, 70, 48, 80)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.floats(0, 1), st.floats(0, 1))
def test_newcombe_contains_the_observed_difference(n1, n2, f1, f2):
    k1, k2 = round(f1 * n1), round(f2 * n2)
    lo, hi = newcombe(k1, n1, k2, n2)
    assert lo - 1e-12 <= k1 / n1 - k2 / n2 <= hi + 1e-12
    assert -1 - 1e-12 <= lo and hi <= 1 + 1e-12


def test_parity_verdicts():
    same = parity("conversion", "device", {"a": (50, 500), "b": (52, 500)})
    assert same.verdict == "no material disparity" and same.low < 0 < same.high
    real = parity("conversion", "device", {"a": (50, 500), "b": (120, 500)})
    assert real.verdict == "disparity" and (real.best, real.worst) == ("b", "a") and real.low > 0
    assert real.ratio == pytest.approx(50 / 120) and "real disparity" in real.summary
    unsure = parity("conversion", "device", {"a": (3, 30), "b": (8, 30)})
    assert unsure.verdict == "possible disparity" and unsure.low <= 0


def test_parity_thin_data_is_a_message_and_small_groups_are_listed_not_compared():
    r = parity("conversion", "country", {"FR": (10, 100), "DE": (1, 5)}, min_group_size=30)
    assert r.verdict == "too little data" and r.difference is None
    assert "fewer than two groups with at least 30" in r.message
    assert [(g.group, g.compared) for g in r.groups] == [("FR", True), ("DE", False)]
    assert parity("x", "y", {}).message.endswith("(no group)")
    with pytest.raises(ValueError, match="group 'a'"):
        parity("x", "y", {"a": (5, 3)})


def test_exposure_helpers():
    assert shares({}) == []
    assert shares({"a": 1, "b": 1, "c": 2}, top=2) == [("c", 0.5), ("a", 0.25)]
    assert total_variation({"a": 1, "b": 1}, {"a": 1}) == pytest.approx(0.5)
    assert total_variation({}, {"a": 1}) is None


def test_groups_of_a_profile_and_wrong_types():
    row = ProfileRow(
        "p",
        traits={"gender": "f", "age": 41, "vip": True, "address": {"country": "FR"}, "bad": {"x": 1}},
        state={"context": {"device_type": "desktop", "country": "FR"}},
    )
    g = profile_groups(row, ["gender", "age", "vip", "address.country", "bad", "missing"], {}, set())
    assert g == {
        "device": "desktop",
        "country": "FR",
        "trait:gender": "f",
        "trait:age": "41",
        "trait:vip": "true",
        "trait:address.country": "FR",
        "trait:bad": INVALID,
        "trait:missing": "unknown",
    }
    sizes = {"g0": 20, "g1": 15, "g2": 10, "g3": 5}
    members = {f"{g}-{i}": {"d": g} for g, n in sizes.items() for i in range(n)} | {"x": {"d": "rare"}}
    pooled = pool(members, 3)
    assert {v["d"] for v in pooled.values()} == {"g0", "g1", "other"}
    assert np.sum([v["d"] == "other" for v in pooled.values()]) == 16
