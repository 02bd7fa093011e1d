"""What a model keeps of the last one-row request each serving thread answered, so that the reasons asked next for
the same row (``Recommender.because``) reuse its work instead of scoring again.

It holds one user's history (items and times) and what was derived from it, so erasure must reach it:
:meth:`LastRequest.clear` drops every thread's copy at once (the per-thread values belong to the
``threading.local`` it replaces, which frees them), and ``ServedState.forget`` calls it through
``Recommender.forget_recent`` for every model in memory.

>>> kept = LastRequest()
>>> kept.put(key=1, scores=[0.5])
>>> kept.get("key"), kept.get("missing")
(1, None)
>>> kept.clear(); kept.get("key") is None
True
"""

from __future__ import annotations

import threading
from typing import Any


class LastRequest:
    """Named values of the last request answered by the calling thread (None when it kept none)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, name: str) -> Any:
        return getattr(self._local, name, None)

    def put(self, **values: Any) -> None:
        local = self._local
        for name, value in values.items():
            setattr(local, name, value)

    def clear(self) -> None:
        """Forget every thread's values (erasure): a fresh ``threading.local`` takes the old one's place."""
        self._local = threading.local()
