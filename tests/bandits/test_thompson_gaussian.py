"""Gaussian Thompson sampling whatever the unit of the reward (issue 17, item 19): the prior is scaled from
the data, so unplayed arms keep a chance and the policy does not lock onto a worse arm."""

from __future__ import annotations

import numpy as np

from pertinent.bandits.policies import ThompsonConfig, ThompsonSampling


def _policy(seed: int = 3, arms: int = 3) -> ThompsonSampling:
    return ThompsonSampling(ThompsonConfig(arms=[f"a{i}" for i in range(arms)], reward="gaussian", seed=seed))


def test_unplayed_arms_keep_a_chance_after_large_rewards():
    p = _policy()
    p.update("a0", 100.0)
    p.update("a1", 80.0)
    probs = p.probabilities()
    assert probs[2] > 0.1  # a fixed N(0, 1) prior gave it 0


def test_probabilities_do_not_depend_on_the_reward_unit():
    small, large = _policy(seed=5), _policy(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(30):
        arm = int(rng.integers(0, 3))
        reward = float(rng.normal(2.0 + arm * 0.3, 1.0))
        small.update(f"a{arm}", reward)
        large.update(f"a{arm}", reward * 1000.0)
    assert np.allclose(small.probabilities(), large.probabilities())


def test_does_not_lock_onto_a_worse_arm():
    """Means 100 / 110 / 90 with sd 20: the best arm is the most pulled in the last 100 of 300 rounds of
    nearly every run (a fixed prior lost it in most runs: benchmarks in the issue's note)."""
    means = (100.0, 110.0, 90.0)
    locked = 0
    for seed in range(25):
        p = ThompsonSampling(ThompsonConfig(arms=["a", "b", "c"], reward="gaussian", seed=seed, draws=200))
        rng = np.random.default_rng(seed + 10_000)
        late = np.zeros(3)
        for t in range(300):
            i = p.choose().index
            p.update(i, float(rng.normal(means[i], 20.0)))
            if t >= 200:
                late[i] += 1
        locked += int(np.argmax(late)) != 1
    assert locked <= 1
