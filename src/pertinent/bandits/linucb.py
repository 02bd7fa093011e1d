"""LinUCB with disjoint linear models per arm (Li et al., 2010).

>>> p = LinUCB(LinUCBConfig(arms=["a", "b"], n_features=2, min_share=0.05, seed=0))
>>> p.update("a", 1.0, [1.0, 0.0])
>>> round(float(sum(p.probabilities([1.0, 0.0]))), 6)
1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from pertinent.bandits.base import Context, Policy, PolicyConfig, argmax_distribution


class LinUCBConfig(PolicyConfig):
    """``n_features``: context length; ``alpha``: exploration width; ``ridge``: prior precision.

    >>> LinUCBConfig(arms=["a"], n_features=3).alpha
    1.0
    """

    n_features: int = Field(ge=1, le=10_000)
    alpha: float = Field(default=1.0, ge=0.0)
    ridge: float = Field(default=1.0, gt=0.0)


class LinUCB(Policy):
    """Disjoint LinUCB: score = theta_a . x + alpha * sqrt(x' A_a^-1 x); deterministic argmax, floored."""

    config_class = LinUCBConfig
    name = "linucb"
    config: LinUCBConfig

    def __init__(self, config: LinUCBConfig) -> None:
        super().__init__(config)
        d = config.n_features
        self.A = np.stack([np.eye(d) * config.ridge for _ in range(self.k)])
        self.b = np.zeros((self.k, d))

    def _x(self, context: Context) -> np.ndarray:
        if context is None:
            raise ValueError(f"context is required for LinUCB: a list of {self.config.n_features} numbers")
        x = np.asarray(context, dtype=float).ravel()
        if x.shape != (self.config.n_features,):
            raise ValueError(f"context must have {self.config.n_features} features, got {x.size}")
        if not np.isfinite(x).all():
            raise ValueError("context must contain finite numbers only")
        return x

    def scores(self, context: Context) -> np.ndarray:
        """Upper confidence bound of each arm for this context."""
        x = self._x(context)
        a_inv_x = np.linalg.solve(self.A, np.broadcast_to(x, (self.k, x.size))[..., None])[..., 0]
        theta = np.linalg.solve(self.A, self.b[..., None])[..., 0]
        width = np.sqrt(np.maximum(np.einsum("kd,d->k", a_inv_x, x), 0.0))
        bounds: np.ndarray = theta @ x + self.config.alpha * width
        return bounds

    def policy_probabilities(self, context: Context = None) -> np.ndarray:
        """One-hot on the highest score (ties split)."""
        return argmax_distribution(self.scores(context))

    def update(self, arm: str | int, reward: float, context: Context = None) -> None:
        """Rank-one update of the chosen arm's model."""
        i = self.arm_index(arm)
        x = self._x(context)
        r = self.check_reward(reward)
        self.A[i] += np.outer(x, x)
        self.b[i] += r * x

    def learned_state(self) -> dict[str, Any]:
        """Per-arm design matrices and response vectors."""
        return {"A": self.A.tolist(), "b": self.b.tolist()}

    def load_learned_state(self, state: dict[str, Any]) -> None:
        """Restore A and b; shapes must match the config."""
        a = np.asarray(state["A"], dtype=float)
        b = np.asarray(state["b"], dtype=float)
        d = self.config.n_features
        if a.shape != (self.k, d, d) or b.shape != (self.k, d):
            raise ValueError(f"state shapes {a.shape}/{b.shape} do not match {self.k} arms x {d} features")
        self.A, self.b = a, b
