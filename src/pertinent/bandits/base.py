"""The bandit policy interface: choose(context) -> Decision(arm, propensity); update(arm, reward, context).

Every policy computes selection probabilities, then mixes in a floor so each arm keeps at least
``min_share`` probability: ``p = min_share + (1 - k * min_share) * p_policy``. The arm is drawn from
that final distribution, so the logged propensity is exact (also for deterministic policies like UCB1).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Context = Sequence[float] | np.ndarray | None


class PolicyConfig(BaseModel):
    """Settings common to all policies. ``arms`` are names; ``min_share`` is the floor per arm.

    >>> PolicyConfig(arms=["a", "b"], min_share=0.05).min_share
    0.05
    """

    model_config = ConfigDict(extra="forbid")

    arms: list[str] = Field(min_length=1)
    min_share: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int | None = None

    @model_validator(mode="after")
    def _check(self) -> PolicyConfig:
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms must be unique, got {self.arms}")
        if self.min_share * len(self.arms) > 1 + 1e-12:
            raise ValueError(
                f"min_share={self.min_share} is impossible with {len(self.arms)} arms "
                "(needs min_share * number of arms <= 1)"
            )
        return self


@dataclass(frozen=True)
class Decision:
    """A choice with the probability it had of being made, and the full distribution over arms.

    >>> Decision(arm="a", index=0, propensity=0.9, probabilities=(0.9, 0.1)).propensity
    0.9
    """

    arm: str
    index: int
    propensity: float
    probabilities: tuple[float, ...]


def apply_floor(probabilities: np.ndarray, min_share: float) -> np.ndarray:
    """Mix a distribution with the uniform floor so every entry is at least ``min_share``.

    >>> apply_floor(np.array([1.0, 0.0]), 0.1).tolist()
    [0.9, 0.1]
    """
    p = np.asarray(probabilities, dtype=float)
    p = p / p.sum()
    k = p.size
    out: np.ndarray = min_share + (1 - k * min_share) * p
    return out


def argmax_distribution(scores: np.ndarray) -> np.ndarray:
    """One-hot on the best score, ties split evenly (keeps propensities honest on ties)."""
    best = scores == np.max(scores)
    out: np.ndarray = best / best.sum()
    return out


class Policy(ABC):
    """Base class for bandit policies. Subclasses implement ``policy_probabilities``, ``update`` and state."""

    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig
    name: ClassVar[str] = "policy"

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)

    @property
    def arms(self) -> list[str]:
        """Arm names."""
        return self.config.arms

    @property
    def k(self) -> int:
        """Number of arms."""
        return len(self.config.arms)

    def arm_index(self, arm: str | int) -> int:
        """Index of an arm given by name or index; ValueError for unknown arms."""
        if isinstance(arm, int | np.integer) and not isinstance(arm, bool):
            if not 0 <= arm < self.k:
                raise ValueError(f"arm index {arm} out of range for {self.k} arms")
            return int(arm)
        if arm not in self.config.arms:
            raise ValueError(f"unknown arm {arm!r}; arms are {self.config.arms}")
        return self.config.arms.index(arm)

    @staticmethod
    def check_reward(reward: float) -> float:
        """Rewards must be finite numbers."""
        r = float(reward)
        if not np.isfinite(r):
            raise ValueError(f"reward must be a finite number, got {reward!r}")
        return r

    @abstractmethod
    def policy_probabilities(self, context: Context = None) -> np.ndarray:
        """Selection probabilities before the floor."""

    def probabilities(self, context: Context = None) -> np.ndarray:
        """Selection probabilities after the ``min_share`` floor (sums to 1)."""
        return apply_floor(self.policy_probabilities(context), self.config.min_share)

    def choose(self, context: Context = None) -> Decision:
        """Draw an arm; the returned propensity is its probability under the floored distribution."""
        p = self.probabilities(context)
        i = int(self.rng.choice(self.k, p=p))
        return Decision(self.arms[i], i, float(p[i]), tuple(float(x) for x in p))

    @abstractmethod
    def update(self, arm: str | int, reward: float, context: Context = None) -> None:
        """Learn from the observed reward of ``arm``."""

    @abstractmethod
    def learned_state(self) -> dict[str, Any]:
        """Learned parameters as JSON-ready data."""

    @abstractmethod
    def load_learned_state(self, state: dict[str, Any]) -> None:
        """Restore parameters produced by :meth:`learned_state`."""

    def state(self) -> dict[str, Any]:
        """Config, learned parameters and RNG state, JSON-serialisable."""
        return {
            "policy": self.name,
            "config": self.config.model_dump(mode="json"),
            "learned": self.learned_state(),
            "rng": self.rng.bit_generator.state,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Policy:
        """Rebuild a policy from :meth:`state` output (round-trips through JSON)."""
        if state.get("policy") != cls.name:
            raise ValueError(f"state is for policy {state.get('policy')!r}, not {cls.name!r}")
        policy = cls(cls.config_class.model_validate(state["config"]))
        policy.load_learned_state(state["learned"])
        if "rng" in state:
            policy.rng.bit_generator.state = state["rng"]
        return policy


class CountingPolicy(Policy):
    """Shared bookkeeping for non-contextual policies: pulls, reward sums and sums of squares per arm."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.counts = np.zeros(self.k)
        self.sums = np.zeros(self.k)
        self.sum_squares = np.zeros(self.k)

    def update(self, arm: str | int, reward: float, context: Context = None) -> None:
        """Add one observation."""
        i = self.arm_index(arm)
        r = self.check_reward(reward)
        self.counts[i] += 1
        self.sums[i] += r
        self.sum_squares[i] += r * r

    def means(self) -> np.ndarray:
        """Mean reward per arm (0 for unplayed arms)."""
        return np.divide(self.sums, self.counts, out=np.zeros(self.k), where=self.counts > 0)

    def learned_state(self) -> dict[str, Any]:
        """Counts and sums per arm."""
        return {
            "counts": self.counts.tolist(),
            "sums": self.sums.tolist(),
            "sum_squares": self.sum_squares.tolist(),
        }

    def load_learned_state(self, state: dict[str, Any]) -> None:
        """Restore counts and sums; lengths must match the arms."""
        for key in ("counts", "sums", "sum_squares"):
            values = np.asarray(state[key], dtype=float)
            if values.shape != (self.k,):
                raise ValueError(f"state {key!r} has {values.size} entries, expected {self.k}")
            setattr(self, key, values)
