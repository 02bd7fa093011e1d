"""What a recommender answers with and is asked in: :class:`Recommendation`, :class:`Context` and
:class:`NotFittedError`.

They sit below both the model interface (``base``) and the ranking (``filters``), which build them, so that
neither has to import the other to do so.

>>> Recommendation("mug", 0.5, 1)
Recommendation(item='mug', score=0.5, rank=1, reason='recommended for you', rule=None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class NotFittedError(RuntimeError):
    """The model was used before ``fit`` (or ``load``)."""


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with its rank (1-based), score, a short human reason and the business rule
    that moved it, if any (``pin``, ``boost``, ``demote``, ``bury``)."""

    item: str
    score: float
    rank: int
    reason: str = "recommended for you"
    rule: str | None = None


@dataclass
class Context:
    """Request context: a segment / context value for grouped popularity, the time for availability.

    ``times`` (a scipy CSR matrix shaped like the history rows) holds when each history item was last interacted
    with (epoch seconds; 0 or missing = unknown, oldest) and ``now`` the request's time: time-aware models weight
    the newest items most (``pertinent.recommend.recency``). Without them a model scores the history as it is.
    """

    group: str | None = None
    times: Any = None
    now: float | None = None
