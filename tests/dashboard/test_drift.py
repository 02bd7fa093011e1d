"""Contract suite every drift detector inherits, plus detector-specific checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pertinent.drift import DETECTORS, PSI, DriftDetector, KLDivergence, KSTest, make_detector, prepare

values_st = st.lists(
    st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True, width=32),
        st.integers(-(10**6), 10**6),
        st.sampled_from(["a", "b", "c"]),
        st.booleans(),
    ),
    max_size=80,
)


class DriftContract:
    """Inherit and implement ``make`` to get the whole contract."""

    handles_labels = True

    def make(self, **config) -> DriftDetector:
        raise NotImplementedError

    def test_identical_numbers_give_about_zero_and_no_alert(self):
        x = np.random.default_rng(0).normal(10, 2, 3000)
        r = self.make().compare(x, x)
        assert r.statistic == pytest.approx(0.0, abs=1e-9) and not r.alert and r.message == ""
        assert (r.n_reference, r.n_current, r.kind) == (3000, 3000, "numeric")

    def test_same_distribution_other_sample_does_not_alert(self):
        rng = np.random.default_rng(1)
        r = self.make().compare(rng.normal(0, 1, 5000), rng.normal(0, 1, 5000))
        assert not r.alert and r.statistic is not None

    def test_shifted_numbers_alert(self):
        rng = np.random.default_rng(2)
        r = self.make().compare(rng.normal(0, 1, 2000), rng.normal(1.0, 1, 2000))
        assert r.alert and r.statistic is not None and r.statistic > 0

    def test_shifted_labels(self):
        ref = ["mobile"] * 700 + ["desktop"] * 300
        cur = ["mobile"] * 300 + ["desktop"] * 600 + ["tablet"] * 100
        r = self.make().compare(ref, cur)
        same = self.make().compare(ref, list(reversed(ref)))
        if self.handles_labels:
            assert r.alert and r.kind == "categorical"
            assert same.statistic == pytest.approx(0.0, abs=1e-9) and not same.alert
        else:
            assert r.statistic is None and not r.alert and "numbers only" in r.message

    def test_thin_data_gives_a_message_not_an_exception(self):
        for ref, cur in (([], []), ([1.0] * 5, [2.0] * 100), ([1.0] * 100, [None] * 100)):
            r = self.make().compare(ref, cur)
            assert r.statistic is None and not r.alert and "needs at least 30" in r.message

    def test_missing_values_are_dropped(self):
        x = list(np.random.default_rng(3).normal(0, 1, 200))
        r = self.make().compare(x + [None, float("nan")] * 10, x)
        assert r.n_reference == 200 and r.statistic == pytest.approx(0.0, abs=1e-9)

    def test_constant_reference(self):
        r = self.make().compare([5.0] * 100, [5.0] * 100)
        assert r.statistic == pytest.approx(0.0, abs=1e-9) and not r.alert
        moved = self.make().compare([5.0] * 100, [9.0] * 100)
        assert moved.alert

    def test_config_round_trips_and_rejects_bad_values(self):
        d = self.make()
        assert type(d.config).model_validate_json(d.config.model_dump_json()) == d.config
        with pytest.raises(ValidationError):
            self.make(min_samples=0)
        with pytest.raises(ValidationError):
            self.make(unknown=1)


class TestPSI(DriftContract):
    def make(self, **config):
        return PSI(**config)

    def test_classic_threshold_and_hand_computed_value(self):
        assert PSI().config.threshold == 0.2
        ref = ["a"] * 50 + ["b"] * 50
        cur = ["a"] * 25 + ["b"] * 75
        expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
        assert PSI().compare(ref, cur).statistic == pytest.approx(expected, rel=1e-3)


class TestKL(DriftContract):
    def make(self, **config):
        return KLDivergence(**config)

    def test_hand_computed_value_is_kl_current_to_reference(self):
        ref = ["a"] * 50 + ["b"] * 50
        cur = ["a"] * 25 + ["b"] * 75
        expected = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
        assert KLDivergence().compare(ref, cur).statistic == pytest.approx(expected, rel=1e-3)


class TestKS(DriftContract):
    handles_labels = False

    def make(self, **config):
        return KSTest(**config)

    def test_p_value_and_effect_floor(self):
        rng = np.random.default_rng(4)
        tiny = KSTest().compare(rng.normal(0, 1, 200_000), rng.normal(0.03, 1, 200_000))
        assert tiny.p_value is not None and tiny.p_value < 0.01 and not tiny.alert  # significant, but D < 0.1


def test_registry_and_prepare():
    assert set(DETECTORS) == {"psi", "kl", "ks"}
    assert make_detector("kl", threshold=0.5).config.threshold == 0.5
    with pytest.raises(ValueError, match="detector: must be one of"):
        make_detector("chi")
    assert prepare([True, 1], [False]) == ("categorical", ["true", "1.0"], ["false"])


# Properties for every registered detector (module level: hypothesis wants one executor per test).
@pytest.mark.parametrize("name", sorted(DETECTORS))
@settings(max_examples=120, deadline=None)
@given(ref=values_st, cur=values_st)
def test_property_never_raises_and_statistic_is_finite(name, ref, cur):
    r = make_detector(name, min_samples=3).compare(ref, cur)
    assert r.statistic is None or (math.isfinite(r.statistic) and r.statistic >= 0)
    assert r.alert is False or r.statistic is not None
    assert r.message or r.statistic is not None


@pytest.mark.parametrize("name", sorted(DETECTORS))
@settings(max_examples=80, deadline=None)
@given(x=st.lists(st.floats(-1e6, 1e6), min_size=30, max_size=200))
def test_property_identical_samples_never_alert(name, x):
    r = make_detector(name).compare(x, list(x))
    assert not r.alert and r.statistic == pytest.approx(0.0, abs=1e-9)
