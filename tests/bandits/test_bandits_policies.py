"""Contract suite every bandit policy inherits, plus policy-specific checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pertinent.bandits.base import Policy, PolicyConfig, apply_floor
from pertinent.bandits.linucb import LinUCB, LinUCBConfig
from pertinent.bandits.policies import (
    UCB1,
    EpsilonGreedy,
    EpsilonGreedyConfig,
    ThompsonConfig,
    ThompsonSampling,
    UCB1Config,
)
from pertinent.bandits.registry import make_policy, policy_from_state

ARMS = ["a", "b", "c"]
MEANS = np.array([0.2, 0.5, 0.8])  # arm "c" is best


class PolicyContract:
    """Inherit and implement ``make`` and ``context`` to get the whole contract."""

    n_features = 0

    def make(self, min_share: float = 0.0, seed: int = 0) -> Policy:
        raise NotImplementedError

    def context(self, rng: np.random.Generator) -> np.ndarray | None:
        return None

    def reward(self, rng: np.random.Generator, arm: int, context) -> float:
        return float(rng.random() < MEANS[arm])

    def test_propensities_are_valid(self):
        policy = self.make(min_share=0.05)
        rng = np.random.default_rng(0 + 1000)  # independent of the policy seed
        for _ in range(60):
            x = self.context(rng)
            d = policy.choose(x)
            p = np.array(d.probabilities)
            assert p.sum() == pytest.approx(1.0)
            assert (p >= 0).all()
            assert d.propensity == pytest.approx(p[d.index]) and 0 < d.propensity <= 1
            assert d.arm == ARMS[d.index]
            policy.update(d.arm, self.reward(rng, d.index, x), x)

    def test_learns_best_arm(self):
        policy = self.make(seed=1)
        rng = np.random.default_rng(1 + 1000)  # independent of the policy seed
        picks = []
        for _ in range(1500):
            x = self.context(rng)
            d = policy.choose(x)
            picks.append(d.index)
            policy.update(d.index, self.reward(rng, d.index, x), x)
        late = np.array(picks[-300:])
        assert np.mean(late == self.best_arm()) > 0.7

    def best_arm(self) -> int:
        return 2

    def test_respects_min_share(self):
        policy = self.make(min_share=0.1, seed=2)
        rng = np.random.default_rng(2 + 1000)  # independent of the policy seed
        for _ in range(300):
            x = self.context(rng)
            d = policy.choose(x)
            assert min(d.probabilities) >= 0.1 - 1e-12
            policy.update(d.index, self.reward(rng, d.index, x), x)

    def test_state_round_trips_json(self):
        policy = self.make(seed=3)
        rng = np.random.default_rng(3 + 1000)  # independent of the policy seed
        for _ in range(50):
            x = self.context(rng)
            d = policy.choose(x)
            policy.update(d.index, self.reward(rng, d.index, x), x)
        state = json.loads(json.dumps(policy.state()))
        clone = policy_from_state(state)
        assert type(clone) is type(policy)
        assert clone.config == policy.config
        x = self.context(rng)
        assert clone.choose(x) == policy.choose(x)  # same learned state and RNG state -> same decision

    def test_rejects_bad_input(self):
        policy = self.make()
        x = self.context(np.random.default_rng(0))
        with pytest.raises(ValueError, match="unknown arm"):
            policy.update("zzz", 1.0, x)
        with pytest.raises(ValueError, match="finite|0 or 1"):
            policy.update("a", float("nan"), x)
        with pytest.raises(ValueError, match="out of range"):
            policy.update(7, 1.0, x)

    def test_config_round_trips(self):
        policy = self.make(min_share=0.05)
        cls = type(policy.config)
        assert cls.model_validate_json(policy.config.model_dump_json()) == policy.config


class TestEpsilonGreedy(PolicyContract):
    def make(self, min_share=0.0, seed=0):
        return EpsilonGreedy(EpsilonGreedyConfig(arms=ARMS, min_share=min_share, seed=seed, epsilon=0.1))


class TestUCB1(PolicyContract):
    def make(self, min_share=0.0, seed=0):
        return UCB1(UCB1Config(arms=ARMS, min_share=min_share, seed=seed))

    def test_propensity_comes_from_floor(self):
        policy = self.make(min_share=0.1)
        for arm, reward in zip(ARMS, (0.1, 0.9, 0.4), strict=True):
            policy.update(arm, reward)
        d = policy.choose()
        assert d.propensity == pytest.approx(1 - 2 * 0.1)
        assert sorted(d.probabilities) == pytest.approx([0.1, 0.1, 0.8])


class TestThompsonBeta(PolicyContract):
    def make(self, min_share=0.0, seed=0):
        return ThompsonSampling(ThompsonConfig(arms=ARMS, min_share=min_share, seed=seed, draws=500))

    def test_binary_rewards_only(self):
        with pytest.raises(ValueError, match="0 or 1"):
            self.make().update("a", 0.5)


class TestThompsonGaussian(PolicyContract):
    def make(self, min_share=0.0, seed=0):
        cfg = ThompsonConfig(arms=ARMS, min_share=min_share, seed=seed, reward="gaussian", draws=500)
        return ThompsonSampling(cfg)

    def reward(self, rng, arm, context):
        return float(rng.normal(MEANS[arm] * 10, 3.0))


class TestLinUCB(PolicyContract):
    n_features = 3

    # arm i is best when feature i is the largest: reward = x[i] + noise
    def make(self, min_share=0.0, seed=0):
        return LinUCB(LinUCBConfig(arms=ARMS, n_features=3, min_share=min_share, seed=seed, alpha=0.5))

    def context(self, rng):
        return rng.random(3)

    def reward(self, rng, arm, context):
        return float(context[arm] + rng.normal(0, 0.1))

    def best_arm(self):
        return -1  # depends on context; checked in test_learns_best_arm override

    def test_learns_best_arm(self):
        policy = self.make(seed=1)
        rng = np.random.default_rng(1 + 1000)  # independent of the policy seed
        correct = []
        for _ in range(1500):
            x = self.context(rng)
            d = policy.choose(x)
            correct.append(d.index == int(np.argmax(x)))
            policy.update(d.index, self.reward(rng, d.index, x), x)
        assert np.mean(correct[-300:]) > 0.8

    def test_context_validation(self):
        policy = self.make()
        with pytest.raises(ValueError, match="context is required"):
            policy.choose(None)
        with pytest.raises(ValueError, match="3 features"):
            policy.choose([1.0, 2.0])


def test_min_share_impossible():
    with pytest.raises(ValidationError, match="impossible"):
        PolicyConfig(arms=["a", "b", "c"], min_share=0.5)


def test_registry():
    assert isinstance(make_policy("thompson", {"arms": ["x", "y"]}), ThompsonSampling)
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("nope", {"arms": ["x"]})
    with pytest.raises(ValueError, match="unknown policy"):
        policy_from_state({"policy": "nope"})
    with pytest.raises(ValidationError):
        make_policy("ucb1", {"arms": []})


@settings(max_examples=50)
@given(st.lists(st.floats(0, 10), min_size=1, max_size=8).filter(lambda xs: sum(xs) > 0), st.floats(0, 1))
def test_apply_floor_properties(raw, share):
    k = len(raw)
    share = share / k  # keep it feasible
    p = apply_floor(np.array(raw), share)
    assert p.sum() == pytest.approx(1.0)
    assert (p >= share - 1e-12).all()
