"""What every part of the segment service shares: storage, settings, configuration and the clock.

One object, so that setting the service's clock (tests move time forward) moves every part at once.

>>> from pertinent.profiles.features import ProfileConfig
>>> from pertinent.settings import Settings
>>> from pertinent.storage.sql import SqlStore
>>> ctx = SegmentContext(SqlStore("sqlite://"), Settings(), ProfileConfig(), SegmentsConfig(), clock=lambda: 5.0)
>>> ctx.now(), ctx.now(7.0)
(5.0, 7.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pertinent.profiles.features import ProfileConfig
from pertinent.segments.config import SegmentsConfig
from pertinent.settings import Settings
from pertinent.storage.base import Store


@dataclass
class SegmentContext:
    store: Store
    settings: Settings
    profile_config: ProfileConfig
    config: SegmentsConfig
    clock: Callable[[], float] = time.time

    def now(self, at: float | None = None) -> float:
        """``at``, or the clock's time when it is None."""
        return self.clock() if at is None else at
