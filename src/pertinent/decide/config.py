"""Serving settings of decisions (``Settings.decide``): attribution, caches, the background writer.

Plain pydantic (no heavy imports), so ``Settings`` can hold it. From the environment:
``PERTINENT_DECIDE__ATTRIBUTION_WINDOW_S=86400``, ``PERTINENT_DECIDE__CONVERSION_EVENTS='{"Order Completed":
"revenue"}'``; or a ``[decide]`` table in the TOML file.

>>> cfg = DecideConfig(conversion_events={"Signed Up": None})
>>> DecideConfig.model_validate_json(cfg.model_dump_json()) == cfg
True
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pertinent.decide.templates import Limits


def _default_conversion_events() -> dict[str, str | None]:
    return {"Order Completed": "revenue"}


class DecideConfig(BaseModel):
    """How decisions are served and measured.

    * ``conversion_events``: track events attributed to the user's recent decisions (last touch per slot
      within ``attribution_window_s``), mapped to the property holding their value (``None``: no value).
    * Track events carrying ``properties.decision_id`` (clicks, views) become outcomes of that decision,
      except the exposure event itself (``exposure_event``).
    * ``click_events``: the outcome kinds counted by the default "clicked" metric and as default bandit reward.
    * ``cache_check_s``: how often a server process checks whether slots, blocks or experiments changed
      (a cheap version query); changes made through this process are seen at once.
    * ``writer_interval_s``: decisions and exposure events are written in batches by a background thread
      (each batch rewrites the index pages it touches, so fewer, larger batches cost less per decision:
      docs/benchmarks.md; a click reaching another server process first is retried for ``outcome_retry_s``).
    * ``exposure_every_s``: "Experiment Viewed" is sent once per user, experiment and variant in this time
      (every decision is stored and analysed regardless).
    * ``template_max_ms``, ``template_max_output``: what rendering one block template may cost (milliseconds,
      characters printed); past it the block's fallback is shown (``templates.py``). Saving a block renders its
      template against sample data within the same limits.

    >>> DecideConfig().conversion_events
    {'Order Completed': 'revenue'}
    """

    model_config = ConfigDict(extra="forbid")

    attribution_window_s: float = Field(default=24 * 3600.0, gt=0)
    conversion_events: dict[str, str | None] = Field(default_factory=_default_conversion_events)
    click_events: list[str] = Field(default_factory=lambda: ["Slot Clicked", "Recommendation Clicked"])
    exposure_event: str = "Experiment Viewed"
    # the exposure event is sent once per user, experiment and variant within this time (a session)
    exposure_every_s: float = Field(default=1800.0, ge=0)
    cache_check_s: float = Field(default=1.0, ge=0)
    writer_interval_s: float = Field(default=0.5, gt=0)
    writer_max_batch: int = Field(default=2000, ge=1)
    max_pending: int = Field(default=200_000, ge=1)  # queued decisions kept while storage fails, then dropped
    # an outcome whose decision is not stored yet (written by another server process) is retried this long
    outcome_retry_s: float = Field(default=10.0, ge=0)
    bandit_refresh_s: float = Field(default=5.0, ge=0)
    max_bandit_history: int = Field(default=200_000, ge=1)
    item_cache_s: float = Field(default=30.0, ge=0)
    template_max_ms: float = Field(default=50.0, gt=0, le=10_000)
    template_max_output: int = Field(default=200_000, ge=1000, le=10_000_000)

    def template_limits(self) -> Limits:
        """The render limits of block templates (read on every render: they may change at run time).

        >>> DecideConfig(template_max_ms=20).template_limits().max_ms
        20.0
        """
        return _limits(self.template_max_ms, self.template_max_output)


@functools.lru_cache(maxsize=16)
def _limits(max_ms: float, max_output: int) -> Limits:
    from pertinent.decide.templates import Limits

    return Limits(max_ms=max_ms, max_output=max_output)
