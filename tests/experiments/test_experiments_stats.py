"""Statistics checked against independent references (statsmodels, scipy) and thin-data behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from pertinent.experiments.analysis import AnalysisConfig, MetricSpec, analyze
from pertinent.experiments.bayesian import bayesian_compare
from pertinent.experiments.corrections import benjamini_hochberg, holm
from pertinent.experiments.effects import effect
from pertinent.experiments.frequentist import (
    chi_square_test,
    relative_lift,
    two_proportion_ztest,
    welch_ttest,
)
from pertinent.experiments.sequential import sequential_test
from pertinent.experiments.srm import srm_check
from pertinent.experiments.stats import ProportionStats, RegressionAdjustedStats, SampleMeanStats

counts = st.integers(min_value=0, max_value=10_000)


@given(counts, counts, counts, counts)
def test_proportion_stats_add(n1, n2, a, b):
    s1, s2 = ProportionStats(n1, min(a, n1)), ProportionStats(n2, min(b, n2))
    total = s1 + s2
    assert total.n == n1 + n2 and total.successes == s1.successes + s2.successes


@given(st.lists(st.floats(-1e3, 1e3), max_size=30), st.lists(st.floats(-1e3, 1e3), max_size=30))
def test_sample_mean_stats_add_matches_concatenation(xs, ys):
    merged = SampleMeanStats.from_values(xs) + SampleMeanStats.from_values(ys)
    direct = SampleMeanStats.from_values(xs + ys)
    assert merged.n == direct.n
    assert merged.mean == pytest.approx(direct.mean, abs=1e-6)
    assert merged.variance == pytest.approx(np.var(xs + ys, ddof=1) if len(xs + ys) > 1 else 0.0, rel=1e-6, abs=1e-5)


@pytest.mark.parametrize(
    ("factory", "needle"),
    [
        (lambda: ProportionStats(-1, 0), "non-negative"),
        (lambda: ProportionStats(5, 6), "successes"),
        (lambda: ProportionStats(5.5, 1), "integer"),  # type: ignore[arg-type]
        (lambda: SampleMeanStats(2, float("nan"), 1.0), "sum"),
        (lambda: SampleMeanStats.from_values([1.0, float("inf")]), "finite"),
        (lambda: ProportionStats.from_values([0, 2]), "0/1"),
        (lambda: RegressionAdjustedStats.from_values([1.0, 2.0], [1.0]), "post has 2"),
    ],
)
def test_bad_stats_input_names_the_problem(factory, needle):
    with pytest.raises(ValueError, match=needle):
        factory()


@pytest.mark.parametrize(("n1", "x1", "n2", "x2"), [(1000, 100, 1100, 140), (50, 3, 60, 9), (20000, 4000, 20000, 4100)])
def test_ztest_matches_statsmodels(n1, x1, n2, x2):
    r = two_proportion_ztest(ProportionStats(n1, x1), ProportionStats(n2, x2))
    z, p = proportions_ztest([x2, x1], [n2, n1])
    assert r.statistic == pytest.approx(z, rel=1e-9)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    chi = chi_square_test([ProportionStats(n1, x1), ProportionStats(n2, x2)])
    assert chi.p_value == pytest.approx(p, rel=1e-6)  # 2x2 chi-square without correction equals z^2


def test_chi_square_three_arms_matches_scipy():
    arms = [ProportionStats(500, 50), ProportionStats(520, 70), ProportionStats(480, 40)]
    table = [[a.successes, a.n - a.successes] for a in arms]
    ref = sps.chi2_contingency(table, correction=False)
    got = chi_square_test(arms)
    assert got.p_value == pytest.approx(ref[1]) and got.dof == 2


def test_welch_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 300), rng.normal(10.5, 4, 200)
    r = welch_ttest(SampleMeanStats.from_values(a), SampleMeanStats.from_values(b))
    ref = sps.ttest_ind(b, a, equal_var=False)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.difference_ci[0] < b.mean() - a.mean() < r.difference_ci[1]


def test_cuped_reduces_variance_and_stays_unbiased():
    rng = np.random.default_rng(7)
    n = 4000
    pre = rng.normal(100, 20, 2 * n)
    post = pre * 0.9 + rng.normal(0, 5, 2 * n)
    post[n:] += 1.0  # true effect +1
    c = RegressionAdjustedStats.from_values(post[:n], pre[:n])
    t = RegressionAdjustedStats.from_values(post[n:], pre[n:])
    plain = welch_ttest(c.post, t.post)
    adjusted = welch_ttest(c, t)
    e = effect(c, t)
    assert adjusted.test == "cuped_t"
    assert e.variance_reduction > 0.8  # correlation ~0.96 removes most variance
    width_plain = plain.difference_ci[1] - plain.difference_ci[0]
    width_adj = adjusted.difference_ci[1] - adjusted.difference_ci[0]
    assert width_adj < 0.5 * width_plain
    assert adjusted.difference_ci[0] < 1.0 < adjusted.difference_ci[1]


def test_lift_ci_coverage_by_simulation():
    # Delta-method interval should cover the true lift ~95% of the time.
    rng = np.random.default_rng(11)
    reps, n, pc, pt = 400, 3000, 0.10, 0.12
    covered = 0
    for xc, xt in zip(rng.binomial(n, pc, reps), rng.binomial(n, pt, reps), strict=True):
        ci = relative_lift(ProportionStats(n, int(xc)), ProportionStats(n, int(xt))).ci
        covered += ci[0] <= pt / pc - 1 <= ci[1]
    rate = covered / reps
    sd = (0.95 * 0.05 / reps) ** 0.5
    assert abs(rate - 0.95) < 4 * sd


def test_bayesian_is_symmetric_and_consistent():
    c, t = ProportionStats(4000, 400), ProportionStats(4000, 460)
    r = bayesian_compare(c, t)
    flipped = bayesian_compare(c, t, higher_is_better=False)
    assert r.chance_to_win > 0.95
    assert r.chance_to_win + flipped.chance_to_win == pytest.approx(1.0)
    assert flipped.expected_loss > r.expected_loss
    assert r.ci_low < relative_lift(c, t).relative_lift < r.ci_high


def test_sequential_interval_is_wider_than_fixed_but_agrees_in_sign():
    c, t = ProportionStats(30000, 3000), ProportionStats(30000, 3300)
    fixed = two_proportion_ztest(c, t)
    seq = sequential_test(c, t)
    assert seq.ci_low < fixed.difference_ci[0] and seq.ci_high > fixed.difference_ci[1]
    assert seq.p_value >= fixed.p_value
    assert (seq.p_value <= 0.05) == (seq.ci_low > 0 or seq.ci_high < 0)


@pytest.mark.parametrize(
    ("control", "treatment", "needle"),
    [
        (ProportionStats(0, 0), ProportionStats(10, 2), "control has no units"),
        (ProportionStats(10, 2), ProportionStats(0, 0), "treatment has no units"),
        (ProportionStats(10, 0), ProportionStats(10, 0), "no variation"),
        (SampleMeanStats(1, 1.0, 1.0), SampleMeanStats(5, 5.0, 5.0), "at least 2 units"),
        (SampleMeanStats(3, 3.0, 3.0), SampleMeanStats(3, 6.0, 12.0), "zero variance"),
    ],
)
def test_thin_data_gives_messages_not_exceptions(control, treatment, needle):
    from pertinent.experiments.frequentist import compare

    results = [
        compare(control, treatment),
        relative_lift(control, treatment),
        bayesian_compare(control, treatment),
        sequential_test(control, treatment),
    ]
    assert any(needle in r.message for r in results)
    assert all(getattr(r, "p_value", getattr(r, "chance_to_win", None)) is None for r in (results[0], results[2]))


def test_zero_control_mean_lift_undefined():
    r = relative_lift(SampleMeanStats(3, 0.0, 2.0), SampleMeanStats(3, 3.0, 5.0))
    assert r.relative_lift is None and "control mean is 0" in r.message


@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), max_size=12))
def test_corrections_match_statsmodels(pvals):
    valid = [p for p in pvals if p is not None]
    got_holm = [p for p in holm(pvals) if p is not None]
    got_bh = [p for p in benjamini_hochberg(pvals) if p is not None]
    if valid:
        assert np.allclose(got_holm, multipletests(valid, method="holm")[1])
        assert np.allclose(got_bh, multipletests(valid, method="fdr_bh")[1])
    assert [p is None for p in holm(pvals)] == [p is None for p in pvals]


def test_corrections_reject_bad_p():
    with pytest.raises(ValueError, match=r"p_values\[1\]"):
        holm([0.1, 1.5])


def test_srm_matches_scipy_and_flags():
    ok = srm_check([5000, 5050], [0.5, 0.5])
    assert ok.p_value == pytest.approx(sps.chisquare([5000, 5050]).pvalue)
    assert not ok.flagged
    bad = srm_check([5000, 5400])
    assert bad.flagged and bad.p_value < 0.001 and "mismatch" in bad.message
    weighted = srm_check([2000, 8000], [0.2, 0.8])
    assert weighted.p_value == pytest.approx(1.0) and not weighted.flagged
    assert srm_check([10]).message == "needs at least 2 variants"
    assert srm_check([0, 0]).message == "no units"
    with pytest.raises(ValueError, match="weights has 3"):
        srm_check([1, 2], [0.2, 0.3, 0.5])


def test_analyze_guardrail_and_single_variant():
    data = {
        "a": {
            "conv": ProportionStats(5000, 500),
            "latency": SampleMeanStats.from_values(np.full(400, 1.0) + np.arange(400) % 3),
        },
        "b": {
            "conv": ProportionStats(5000, 520),
            "latency": SampleMeanStats.from_values(np.full(400, 1.5) + np.arange(400) % 3),
        },
    }
    specs = [
        MetricSpec(name="conv", kind="conversion"),
        MetricSpec(name="latency", kind="continuous", guardrail=True, higher_is_better=False),
    ]
    report = analyze(data, "a", specs, AnalysisConfig(correction="bh"))
    lat = report.metrics[1].comparisons["b"]
    assert lat.guardrail_status == "fail"  # latency went up significantly
    assert report.metrics[0].comparisons["b"].guardrail_status is None
    # improving guardrail passes
    swapped = analyze({"a": data["b"], "b": data["a"]}, "a", specs)
    assert swapped.metrics[1].comparisons["b"].guardrail_status == "pass"
    lonely = analyze({"a": data["a"]}, "a", specs)
    assert lonely.message == "only one variant; nothing to compare" and lonely.metrics[0].comparisons == {}
    with pytest.raises(ValueError, match="control variant 'z'"):
        analyze(data, "z", specs)
