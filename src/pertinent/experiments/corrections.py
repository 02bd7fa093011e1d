"""Multiple-comparison corrections across metrics. ``None`` entries (thin data) are kept and not counted.

>>> holm([0.01, 0.04, 0.03])
[0.03, 0.06, 0.06]
>>> benjamini_hochberg([0.01, 0.04, 0.03])
[0.03, 0.04, 0.04]
"""

from __future__ import annotations

from collections.abc import Sequence


def _valid(p_values: Sequence[float | None]) -> list[tuple[int, float]]:
    out = []
    for i, p in enumerate(p_values):
        if p is None:
            continue
        if not 0 <= p <= 1:
            raise ValueError(f"p_values[{i}] must be between 0 and 1, got {p}")
        out.append((i, float(p)))
    return out


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (controls the family-wise error rate)."""
    pairs = sorted(_valid(p_values), key=lambda t: t[1])
    m = len(pairs)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (i, p) in enumerate(pairs):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = round(running, 15)
    return adjusted


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg step-up adjusted p-values (controls the false discovery rate)."""
    pairs = sorted(_valid(p_values), key=lambda t: t[1])
    m = len(pairs)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        i, p = pairs[rank]
        running = min(running, min(1.0, p * m / (rank + 1)))
        adjusted[i] = round(running, 15)
    return adjusted
