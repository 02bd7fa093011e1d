"""Small helpers of the generator: fast weighted draws, the logistic link, timestamps and slugs."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from pertinent.synthetic.tables import SYLLABLES

__all__ = ["iso", "logit", "pick", "pseudo_word", "sigmoid", "slug", "softmax"]


def pseudo_word(rng: np.random.Generator, syllables: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES, size=syllables))


def slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


_DAY_CACHE: dict[int, str] = {}


def iso(t: float) -> str:
    """ISO-8601 UTC with milliseconds for epoch seconds ``t`` (cached per day: strftime is slow)."""
    ms = int(round(t * 1000))
    day, rest = divmod(ms, 86_400_000)
    prefix = _DAY_CACHE.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
        if len(_DAY_CACHE) < 100_000:
            _DAY_CACHE[day] = prefix
    sec, milli = divmod(rest, 1000)
    h, rem = divmod(sec, 3600)
    m, sec = divmod(rem, 60)
    return f"{prefix}{h:02d}:{m:02d}:{sec:02d}.{milli:03d}Z"


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    out: np.ndarray = e / e.sum()
    return out


def pick(cum: np.ndarray, rng: np.random.Generator) -> int:
    """Index drawn from a cumulative weight array (much faster than ``rng.choice(p=...)`` per call)."""
    return min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(cum) - 1)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    return math.log(p / (1 - p))
