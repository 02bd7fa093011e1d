"""A small synthetic shop for the predict tests: heterogeneous buyers who lapse, with views before buys."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = 86_400.0


def synthetic_events(n_users: int = 300, days: int = 150, seed: int = 0) -> pd.DataFrame:
    """Each user buys at their own rate (gamma-distributed) until a random lapse day and views at 3x that rate;
    a third of them lapse within the window, so recency, frequency and trend all carry signal."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, float, str, float, str]] = []
    for u in range(n_users):
        rate = rng.gamma(1.0, 0.08)  # buys a day
        start = rng.uniform(0, days * 0.5)
        lapse = start + rng.exponential(days * 0.8)
        t = start
        while True:
            t += rng.exponential(1.0 / max(rate * 4, 1e-3))
            if t >= min(lapse, days):
                break
            buy = rng.random() < 0.25
            rows.append(
                (
                    f"u{u}",
                    t * DAY,
                    "order" if buy else "view",
                    float(rng.gamma(2.0, 20.0)) if buy else 0.0,
                    f"i{rng.integers(50)}",
                )
            )
        rows.append((f"u{u}", start * DAY, "view", 0.0, f"i{rng.integers(50)}"))
    return pd.DataFrame(rows, columns=["user", "timestamp", "event", "revenue", "item"])
