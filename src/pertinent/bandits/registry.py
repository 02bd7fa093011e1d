"""Build policies from config data by name.

>>> policy = make_policy("ucb1", {"arms": ["a", "b"]})
>>> type(policy).__name__
'UCB1'
"""

from __future__ import annotations

from typing import Any

from pertinent.bandits.base import Policy
from pertinent.bandits.linucb import LinUCB
from pertinent.bandits.policies import UCB1, EpsilonGreedy, ThompsonSampling

POLICIES: dict[str, type[Policy]] = {cls.name: cls for cls in (EpsilonGreedy, UCB1, ThompsonSampling, LinUCB)}


def make_policy(name: str, config: dict[str, Any]) -> Policy:
    """A fresh policy of type ``name`` (epsilon_greedy, ucb1, thompson, linucb) from a config dict."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose from {sorted(POLICIES)}")
    cls = POLICIES[name]
    return cls(cls.config_class.model_validate(config))


def policy_from_state(state: dict[str, Any]) -> Policy:
    """Rebuild any policy from its :meth:`Policy.state` output."""
    name = state.get("policy")
    if name not in POLICIES:
        raise ValueError(f"state has unknown policy {name!r}; choose from {sorted(POLICIES)}")
    return POLICIES[name].from_state(state)
