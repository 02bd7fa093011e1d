"""Off-policy evaluation on simulated logs where the target policy's true value is known."""

from __future__ import annotations

import numpy as np
import pytest

from pertinent.bandits.ope import LoggedData, bootstrap_ci, doubly_robust, ips, snips

K, D = 3, 2
W = np.array([[1.0, -0.5], [-0.5, 1.0], [0.3, 0.3]])


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def simulate(n, seed):
    """Contexts, logging policy (softmax, known propensities), Bernoulli rewards with known means."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D))
    mu = 1 / (1 + np.exp(-(x @ W.T)))  # true mean reward per (row, arm)
    logging = _softmax(-0.8 * (x @ W.T))  # deliberately prefers worse arms
    actions = (rng.random(n)[:, None] > np.cumsum(logging, axis=1)).sum(axis=1)
    rewards = (rng.random(n) < mu[np.arange(n), actions]).astype(float)
    target = 0.1 / K + 0.9 * np.eye(K)[np.argmax(x @ W.T, axis=1)]  # mostly greedy on the truth
    logs = LoggedData(actions, rewards, logging[np.arange(n), actions], x)
    truth = float((target * mu).sum(axis=1).mean())  # value of the target on these contexts
    return logs, target, truth


@pytest.mark.parametrize("estimator", [ips, snips, doubly_robust])
def test_estimates_are_close_to_truth(estimator):
    logs, target, truth = simulate(20000, 0)
    r = estimator(logs, target)
    assert r.ci_low < truth < r.ci_high
    assert abs(r.value - truth) < 4 * r.std_error
    logged_value = logs.rewards.mean()
    assert r.value > logged_value  # the target policy is better than the logging policy


def test_interval_coverage_over_replications():
    reps, covered = 120, {"ips": 0, "snips": 0, "doubly_robust": 0}
    for seed in range(reps):
        logs, target, truth = simulate(1500, 100 + seed)
        for est in (ips, snips, doubly_robust):
            r = est(logs, target)
            covered[r.estimator] += r.ci_low <= truth <= r.ci_high
    bound = 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps)
    for name, c in covered.items():
        assert c / reps >= bound, name


def test_doubly_robust_has_lower_variance_than_ips():
    logs, target, _ = simulate(20000, 5)
    assert doubly_robust(logs, target).std_error < ips(logs, target).std_error


def test_doubly_robust_without_contexts_and_with_given_model():
    logs, target, truth = simulate(5000, 6)
    plain = LoggedData(logs.actions, logs.rewards, logs.propensities)
    r = doubly_robust(plain, target)
    assert r.value is not None and r.ci_low < r.ci_high
    perfect = 1 / (1 + np.exp(-(np.asarray(logs.contexts) @ W.T)))
    exact = doubly_robust(logs, target, reward_predictions=perfect)
    assert abs(exact.value - truth) < 3 * exact.std_error


def test_bootstrap_interval_brackets_estimate():
    logs, target, _ = simulate(2000, 7)
    low, high = bootstrap_ci(ips, logs, target, n_boot=100)
    assert low < ips(logs, target).value < high


def test_thin_and_bad_input():
    empty = LoggedData([], [], [])
    assert ips(empty, np.zeros((0, 2))).message == "no logged decisions"
    one = LoggedData([0], [1.0], [0.5])
    assert "at least 2" in ips(one, np.array([[1.0, 0.0]])).message
    never = LoggedData([1, 1], [1.0, 0.0], [0.5, 0.5])
    assert "never takes" in snips(never, np.array([[1.0, 0.0]] * 2)).message
    with pytest.raises(ValueError, match="propensities"):
        LoggedData([0], [1.0], [0.0])
    with pytest.raises(ValueError, match="equal length"):
        LoggedData([0, 1], [1.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        ips(LoggedData([0], [1.0], [0.5]), np.array([[0.5, 0.1]]))
    with pytest.raises(ValueError, match="out of range"):
        ips(LoggedData([3], [1.0], [0.5]), np.array([[0.5, 0.5]]))


def _equal_arms(n: int, k: int, p: float, seed: int) -> LoggedData:
    """Uniform logging over ``k`` arms that all pay Bernoulli(p): every policy's true value is ``p``."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, k, n)
    return LoggedData(actions, (rng.random(n) < p).astype(float), np.full(n, 1 / k))


def test_greedy_chosen_on_the_same_logs_is_optimistic_and_cross_fitting_is_not():
    """Five equal arms (true value 0.2 whatever is played): picking the best-looking arm on the logs and scoring
    it on the same logs reports the luckiest arm; the cross-fitted greedy target shows no bias beyond noise."""
    from pertinent.bandits.ope import arm_values, cross_fit_greedy

    k, p, reps = 5, 0.2, 400
    naive, fitted = [], []
    for seed in range(reps):
        logs = _equal_arms(500, k, p, 1000 + seed)
        best = np.eye(k)[np.full(logs.n, int(np.nanargmax(arm_values(logs, k))))]
        naive.append(ips(logs, best).value - p)
        fitted.append(ips(logs, cross_fit_greedy(logs, k, seed=seed).target).value - p)
    se = np.std(fitted, ddof=1) / np.sqrt(reps)
    assert np.mean(naive) > 0.02 and np.mean(naive) > 5 * np.std(naive, ddof=1) / np.sqrt(reps)
    assert abs(np.mean(fitted)) < 3 * se


def test_cross_fit_greedy_picks_a_clearly_better_arm_in_every_fold():
    from pertinent.bandits.ope import cross_fit_greedy

    rng = np.random.default_rng(3)
    actions = rng.integers(0, 3, 3000)
    rewards = (rng.random(3000) < np.array([0.1, 0.5, 0.2])[actions]).astype(float)
    cf = cross_fit_greedy(LoggedData(actions, rewards, np.full(3000, 1 / 3)), 3)
    assert cf.arms == [1, 1] and (cf.target[:, 1] == 1).all()
    assert abs(snips(LoggedData(actions, rewards, np.full(3000, 1 / 3)), cf.target).value - 0.5) < 0.05
    with pytest.raises(ValueError, match="2 folds"):
        cross_fit_greedy(LoggedData(actions, rewards, np.full(3000, 1 / 3)), 3, folds=1)
