"""Bandit regret simulation: cumulative regret of each policy vs a uniform split.

Usage: .venv/bin/python benchmarks/bandits.py [--horizon 20000] [--runs 10] [--plot]

Non-contextual policies run on a 5-arm Bernoulli problem; LinUCB runs on a contextual problem where
the best arm depends on the context (a non-contextual policy cannot do better than the best fixed arm).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pertinent.bandits.registry import make_policy

ARM_MEANS = np.array([0.04, 0.05, 0.06, 0.07, 0.09])
ARMS = [f"arm{i}" for i in range(len(ARM_MEANS))]
N_FEATURES = 5


POLICIES = {
    "uniform": lambda seed: make_policy("epsilon_greedy", {"arms": ARMS, "epsilon": 1.0, "seed": seed}),
    "epsilon_greedy(0.1)": lambda seed: make_policy("epsilon_greedy", {"arms": ARMS, "epsilon": 0.1, "seed": seed}),
    "ucb1": lambda seed: make_policy("ucb1", {"arms": ARMS, "seed": seed}),
    "thompson(beta)": lambda seed: make_policy("thompson", {"arms": ARMS, "seed": seed, "draws": 200}),
    "thompson(beta) floor 2%": lambda seed: make_policy(
        "thompson", {"arms": ARMS, "seed": seed, "draws": 200, "min_share": 0.02}
    ),
    "linucb": lambda seed: make_policy("linucb", {"arms": ARMS, "n_features": N_FEATURES, "alpha": 0.3, "seed": seed}),
}


def run(name: str, horizon: int, seed: int, contextual: bool) -> np.ndarray:
    """Per-step regret of one run."""
    env = np.random.default_rng(10_000 + seed)
    policy = POLICIES[name](seed)
    regret = np.empty(horizon)
    weights = env.normal(0, 1, (len(ARMS), N_FEATURES)) if contextual else None
    for t in range(horizon):
        if contextual:
            x = env.random(N_FEATURES)
            means = 1 / (1 + np.exp(-(weights @ x - 2.5)))
        else:
            x, means = None, ARM_MEANS
        use_ctx = x if name == "linucb" else None
        d = policy.choose(use_ctx)
        reward = float(env.random() < means[d.index])
        policy.update(d.index, reward, use_ctx)
        regret[t] = means.max() - means[d.index]
    return regret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--horizon", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--plot", action="store_true", help="save benchmarks/results/bandits_regret.png")
    args = parser.parse_args()
    checkpoints = [c for c in (100, 1000, 5000, 10000, 20000, 50000) if c <= args.horizon]
    curves: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    for scenario, contextual in (("bernoulli", False), ("contextual", True)):
        names = ["uniform", "epsilon_greedy(0.1)", "ucb1", "thompson(beta)", "thompson(beta) floor 2%"]
        if contextual:
            names = ["uniform", "thompson(beta)", "linucb"]
        print(
            f"\nScenario: {scenario} ({len(ARMS)} arms, horizon {args.horizon}, {args.runs} runs): "
            "mean cumulative regret"
        )
        print(f"{'policy':<26}" + "".join(f"{c:>10}" for c in checkpoints) + f"{'us/decision':>13}")
        for name in names:
            start = time.perf_counter()
            runs = np.stack([np.cumsum(run(name, args.horizon, s, contextual)) for s in range(args.runs)])
            elapsed = time.perf_counter() - start
            mean = runs.mean(axis=0)
            curves[f"{scenario}: {name}"] = mean
            timing[name] = elapsed / (args.runs * args.horizon) * 1e6
            row = "".join(f"{mean[c - 1]:>10.1f}" for c in checkpoints)
            print(f"{name:<26}{row}{timing[name]:>13.1f}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for key, curve in curves.items():
            ax = axes[0] if key.startswith("bernoulli") else axes[1]
            ax.plot(curve, label=key.split(": ")[1])
        for ax, title in zip(axes, ("Bernoulli arms", "Contextual"), strict=True):
            ax.set_title(title)
            ax.set_xlabel("decisions")
            ax.set_ylabel("cumulative regret")
            ax.legend()
        fig.tight_layout()
        fig.savefig(out / "bandits_regret.png", dpi=100)
        print(f"\nplot saved to {out / 'bandits_regret.png'}")


if __name__ == "__main__":
    main()
