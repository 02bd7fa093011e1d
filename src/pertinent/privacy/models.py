"""What the data-subject rights return: :class:`UserExport` (access) and :class:`Erasure` (also their JSON).

Stored rows appear as plain dicts of their fields (events, identities, consent log, decisions, audit entries);
each store of derived data (saved models, queued decisions...) adds one list under its own name.

>>> Erasure(user_id="u1", profile_id="u_1", erased_at=1.5, deleted={"events": 2}).model_dump()["deleted"]
{'events': 2}
>>> UserExport(user_id="u1", profile_id="u_1", exported_at=1.5, profile=None, identities=[], events=[],
...            consent_history=[], decisions=[], decision_outcomes=[], audit=[], models=[]).model_extra
{'models': []}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pertinent.profiles.models import Profile

__all__ = ["Erasure", "ExportedProfile", "UserExport"]

Rows = list[dict[str, Any]]


class ExportedProfile(Profile):
    """The profile as readers see it, plus the raw feature state it is computed from."""

    state: dict[str, Any]


class UserExport(BaseModel):
    """Everything stored about a user. Extra keys: one list per store of derived data (``models``...)."""

    model_config = ConfigDict(extra="allow")

    user_id: str
    profile_id: str
    exported_at: float
    profile: ExportedProfile | None
    identities: Rows
    events: Rows
    consent_history: Rows
    decisions: Rows
    decision_outcomes: Rows
    segments: dict[str, Any] | None = None  # {"current": [...], "history": [...]}, with a segment service
    groups: Rows = []  # the accounts the person belongs to: group id, when they joined, the group's traits
    audit: Rows
    # outbox rows about the person: deliveries to destinations not yet made, and dead letters (destinations/)
    destination_deliveries: Rows = Field(default_factory=list)


class Erasure(BaseModel):
    """What an erasure deleted (rows per table or store, by name) and how many identifiers (pseudonyms) it added
    to the suppression list: later events for them are dropped."""

    user_id: str
    profile_id: str
    erased_at: float
    deleted: dict[str, int]
    suppressed: int = 0
