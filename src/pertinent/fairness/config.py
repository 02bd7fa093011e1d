"""How the fairness audit groups profiles and judges differences. Plain pydantic (``Settings.fairness``):
``PERTINENT_FAIRNESS__SENSITIVE_TRAITS=gender,age_band`` (or a JSON list) or ``[fairness]`` in the TOML file.

>>> FairnessConfig(sensitive_traits="gender, age_band").sensitive_traits
['gender', 'age_band']
>>> FairnessConfig(sensitive_traits='["gender", "address.country"]').sensitive_traits
['gender', 'address.country']
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode


class FairnessConfig(BaseModel):
    """``sensitive_traits``: traits (paths with dots, ``address.country``) the audit also groups by, besides
    segments, device and country. ``window_days``: decisions of the last so many days are audited.
    ``min_group_size``: smaller groups are reported but not compared. ``confidence``: of the intervals.
    ``tolerance``: a difference of rates below this is not material; ``min_ratio``: the four-fifths rule (a group's
    rate below this share of the best group's is a disparity). ``max_groups``: per dimension, the largest kept
    (the rest pooled as ``other``). ``max_segments``: the largest segments audited."""

    model_config = ConfigDict(extra="forbid")

    # NoDecode: the environment's text reaches _split as is (pydantic-settings would read it as JSON only)
    sensitive_traits: Annotated[list[str], NoDecode] = Field(default_factory=list)
    window_days: float = Field(default=30.0, gt=0)
    min_group_size: int = Field(default=30, ge=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    min_ratio: float = Field(default=0.8, gt=0.0, le=1.0)
    max_groups: int = Field(default=10, ge=2, le=100)
    max_segments: int = Field(default=10, ge=0, le=100)

    @field_validator("sensitive_traits", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                try:
                    return json.loads(value)
                except json.JSONDecodeError as e:
                    raise ValueError(f"not a JSON list: {e}") from e
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("sensitive_traits")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or len(name) > 200 or any(not part for part in name.split(".")):
                raise ValueError(f"not a trait path: {name!r}")
        return value
