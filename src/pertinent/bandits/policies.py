"""Non-contextual policies: epsilon-greedy, UCB1 and Thompson sampling (Beta and Gaussian).

>>> policy = UCB1(UCB1Config(arms=["a", "b"], min_share=0.1, seed=0))
>>> d = policy.choose()
>>> d.propensity in (0.9, 0.5)
True
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from pertinent.bandits.base import Context, CountingPolicy, PolicyConfig, argmax_distribution


class EpsilonGreedyConfig(PolicyConfig):
    """Explore uniformly with probability ``epsilon``.

    >>> EpsilonGreedyConfig(arms=["a", "b"]).epsilon
    0.1
    """

    epsilon: float = Field(default=0.1, ge=0.0, le=1.0)


class EpsilonGreedy(CountingPolicy):
    """Best observed mean with probability 1 - epsilon, uniform otherwise (unplayed arms count as best).

    >>> p = EpsilonGreedy(EpsilonGreedyConfig(arms=["a", "b"], epsilon=0.2))
    >>> p.update("a", 1.0); p.update("b", 0.0)
    >>> p.probabilities().round(2).tolist()
    [0.9, 0.1]
    """

    config_class = EpsilonGreedyConfig
    name = "epsilon_greedy"
    config: EpsilonGreedyConfig

    def policy_probabilities(self, context: Context = None) -> np.ndarray:
        """epsilon / k everywhere plus 1 - epsilon on the greedy arm(s)."""
        scores = np.where(self.counts > 0, self.means(), np.inf)
        eps = self.config.epsilon
        return eps / self.k + (1 - eps) * argmax_distribution(scores)


class UCB1Config(PolicyConfig):
    """UCB1 with exploration constant ``c`` (1.0 = the classic sqrt(2 ln t / n) bonus).

    >>> UCB1Config(arms=["a"]).c
    1.0
    """

    c: float = Field(default=1.0, ge=0.0)


class UCB1(CountingPolicy):
    """Upper confidence bound; deterministic, so its propensity comes from the floor alone.

    >>> p = UCB1(UCB1Config(arms=["a", "b"]))
    >>> p.probabilities().tolist()   # nothing played yet: split between unplayed arms
    [0.5, 0.5]
    """

    config_class = UCB1Config
    name = "ucb1"
    config: UCB1Config

    def policy_probabilities(self, context: Context = None) -> np.ndarray:
        """One-hot on the highest upper bound; unplayed arms first."""
        if (self.counts == 0).any():
            return argmax_distribution((self.counts == 0).astype(float))
        t = self.counts.sum()
        bonus = self.config.c * np.sqrt(2 * np.log(t) / self.counts)
        return argmax_distribution(self.means() + bonus)


class ThompsonConfig(PolicyConfig):
    """Thompson sampling. ``reward``: 'binary' (Beta-Bernoulli) or 'gaussian' (Normal, unknown variance).

    Gaussian rewards get a prior scaled from the data, whatever their unit: each arm's mean starts at the pooled
    mean of all rewards seen so far with the pooled variance (one observation's worth of prior information),
    and ``prior_variance`` is used only until two rewards have been seen.

    Selection probabilities are estimated with ``draws`` posterior samples; the arm is then drawn from
    those probabilities, so the logged propensity is exactly the probability it was chosen with.

    >>> ThompsonConfig(arms=["a", "b"], reward="gaussian").draws
    1000
    """

    reward: Literal["binary", "gaussian"] = "binary"
    prior_alpha: float = Field(default=1.0, gt=0)
    prior_beta: float = Field(default=1.0, gt=0)
    prior_variance: float = Field(default=1.0, gt=0)
    draws: int = Field(default=1000, ge=1, le=100_000)


class ThompsonSampling(CountingPolicy):
    """Posterior sampling with Beta (binary rewards) or Gaussian (continuous rewards) posteriors.

    >>> p = ThompsonSampling(ThompsonConfig(arms=["a", "b"], seed=1))
    >>> for _ in range(50):
    ...     p.update("a", 1.0); p.update("b", 0.0)
    >>> bool(p.probabilities()[0] > 0.99)
    True
    """

    config_class = ThompsonConfig
    name = "thompson"
    config: ThompsonConfig

    def update(self, arm: str | int, reward: float, context: Context = None) -> None:
        """Binary mode requires rewards of 0 or 1."""
        if self.config.reward == "binary" and float(reward) not in (0.0, 1.0):
            raise ValueError(f"reward must be 0 or 1 for binary Thompson sampling, got {reward!r}")
        super().update(arm, reward, context)

    def posterior_samples(self, size: int) -> np.ndarray:
        """Samples of each arm's mean reward, shape (size, k)."""
        cfg = self.config
        if cfg.reward == "binary":
            a = cfg.prior_alpha + self.sums
            b = cfg.prior_beta + self.counts - self.sums
            return self.rng.beta(a, b, size=(size, self.k))
        n = self.counts
        total = float(n.sum())
        # The prior comes from the pooled rewards, so it has their location and scale (a fixed N(0, 1) prior
        # left unplayed arms no chance once rewards were in the hundreds).
        prior_mean = float(self.sums.sum()) / total if total else 0.0
        pooled_var = (float(self.sum_squares.sum()) - total * prior_mean**2) / (total - 1) if total > 1 else 0.0
        scale = max(pooled_var, 1e-12) if total > 1 else cfg.prior_variance
        means = self.means()
        # Each arm's noise variance: its own sample variance shrunk towards the pooled one (one pseudo-observation)
        own = np.where(n > 1, (self.sum_squares - n * means**2) / np.maximum(n - 1, 1), 0.0)
        noise_var = np.maximum((np.maximum(n - 1, 0) * np.maximum(own, 0.0) + scale) / np.maximum(n, 1), 1e-12)
        # Normal-Normal update of the arm's mean: prior N(prior_mean, scale), n rewards with variance noise_var
        precision = 1.0 / scale + n / noise_var
        post_var = 1.0 / precision
        post_mean = post_var * (prior_mean / scale + n * means / noise_var)
        samples: np.ndarray = self.rng.normal(post_mean, np.sqrt(post_var), size=(size, self.k))
        return samples

    def policy_probabilities(self, context: Context = None) -> np.ndarray:
        """Share of posterior draws in which each arm is best."""
        draws = self.posterior_samples(self.config.draws)
        wins = np.bincount(draws.argmax(axis=1), minlength=self.k).astype(float)
        shares: np.ndarray = wins / wins.sum()
        return shares

    def learned_state(self) -> dict[str, Any]:
        """Counts and sums per arm."""
        return super().learned_state()
