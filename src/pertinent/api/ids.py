"""Ids taken from a path or a query string (user ids, anonymous ids, item ids, slots, groups, segments).

An id is opaque and kept verbatim, but an empty or whitespace-only one names nobody: the API refuses it with a
400 naming the parameter (``user_id: must not be empty or only whitespace``), as it refuses any other bad
parameter, instead of looking up, creating or erasing someone called ``" "``.

>>> from pydantic import BaseModel
>>> class Q(BaseModel):
...     user_id: NotBlank = None
>>> Q(user_id=" u1 ").user_id, Q().user_id
(' u1 ', None)
>>> Q(user_id=" \\t")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Q
user_id
  Value error, must not be empty or only whitespace ...
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

BLANK = "must not be empty or only whitespace"


def not_blank(value: str | None) -> str | None:
    """``value`` unchanged; a ``ValueError`` when it is a string of whitespace only (or empty)."""
    if value is not None and not value.strip():
        raise ValueError(BLANK)
    return value


NotBlank = Annotated[str | None, AfterValidator(not_blank)]
"""An optional id that, when given, holds something other than whitespace."""

NOT_BLANK = AfterValidator(not_blank)
"""The check alone, to put in an ``Annotated`` beside ``Path(...)`` or ``Query(...)``."""
