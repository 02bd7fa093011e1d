"""Groups (accounts, Segment's ``group`` call): their traits, their members, and each member's copy of them.

A group call links the person to the account ``groupId`` and sets the account's traits. The traits live on the
group (``groups``: about the account, kept in clear except the personal keys of ``group_pii_traits``); the link is
personal data (``group_members``: exported with the person, removed by their erasure, which leaves the account).

So that segment rules and slot targeting read a person's accounts without another query on the serving path,
every member's profile state carries a copy: ``state["groups"] = {group_id: traits}``, refreshed for every member in
the transaction that changes a group's traits (``GroupCondition`` in ``rules.conditions.groups`` reads it).

>>> calls = [GroupCall("acme", "p1", {"plan": "pro"}, 1.0, True), GroupCall("acme", "p2", {"seats": 5}, 2.0, False)]
>>> sorted(merged_traits({}, calls).items())
[('plan', 'pro'), ('seats', 5)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, Field

from pertinent.errors import NotFound
from pertinent.storage.base import GroupMemberRow, GroupRow, ProfileRow, Store
from pertinent.storage.protocols import GroupRepo, ProfileRepo

STATE_KEY = "groups"  # where a member's profile state keeps its groups' traits
MEMBERS_SHOWN = 100  # members listed by GET /v1/groups/{id} (the count is exact)


@dataclass(frozen=True, slots=True)
class GroupCall:
    """One stored group call: the account, the member's profile, the traits it sets, when, and whether the member
    consented to personalisation (only then is the membership kept)."""

    group_id: str
    profile_id: str
    traits: dict[str, Any]
    timestamp: float
    member: bool


def merged_traits(current: dict[str, Any], calls: Sequence[GroupCall]) -> dict[str, Any]:
    """The group's traits after the calls, applied oldest first (the later value of a trait wins)."""
    out = dict(current)
    for call in sorted(calls, key=lambda c: c.timestamp):
        out.update(call.traits)
    return out


class GroupsTx(GroupRepo, ProfileRepo, Protocol):
    """What recording group calls touches: groups, memberships and the members' profiles."""


def record_group_calls(
    tx: GroupsTx,
    calls: Sequence[GroupCall],
    profiles: dict[str, ProfileRow],
    now: float,
    personalized: Callable[[ProfileRow], bool] = lambda row: True,
) -> dict[str, ProfileRow]:
    """Write the calls' groups and memberships and refresh every affected member's copy of the traits.

    ``profiles`` are the profiles this transaction holds locked (the callers' own); other members are locked here.
    A member who withdrew personalisation consent (``personalized`` is False) gets no copy. Returns every profile
    changed (to be written by the caller)."""
    if not calls:
        return {}
    by_group: dict[str, list[GroupCall]] = {}
    for call in calls:
        by_group.setdefault(call.group_id, []).append(call)
    stored = tx.get_groups(by_group)
    rows: list[GroupRow] = []
    changed_traits: set[str] = set()
    for gid, group_calls in by_group.items():
        old = stored.get(gid)
        traits = merged_traits(old.traits if old else {}, group_calls)
        if old is None or traits != old.traits:
            changed_traits.add(gid)
        rows.append(GroupRow(gid, traits, old.created_at if old else now, now))
    tx.put_groups(rows)
    traits_of = {r.group_id: r.traits for r in rows}
    joins = [GroupMemberRow(c.group_id, c.profile_id, min(c.timestamp, now)) for c in calls if c.member]
    tx.add_group_members(joins)
    affected: dict[str, set[str]] = {}  # profile -> groups whose copy must be refreshed
    for join in joins:
        affected.setdefault(join.profile_id, set()).add(join.group_id)
    for gid in changed_traits:
        for member in tx.group_members(gid):
            affected.setdefault(member.profile_id, set()).add(gid)
    others = tx.get_profiles([p for p in affected if p not in profiles], for_update=True)
    changed: dict[str, ProfileRow] = {}
    for profile_id, gids in affected.items():
        row = profiles.get(profile_id) or others.get(profile_id)
        if row is None or not personalized(row):
            continue
        copies = dict(row.state.get(STATE_KEY) or {})
        copies.update({gid: traits_of[gid] for gid in gids})
        row.state[STATE_KEY] = copies
        row.updated_at = now
        changed[profile_id] = row
    return changed


class GroupMember(BaseModel):
    """A member of a group: a profile (pseudonymous id) and when a group call first linked it."""

    profile_id: str
    joined_at: float


class Group(BaseModel):
    """A group (account): its traits, how many members it has and the first of them."""

    group_id: str
    traits: dict[str, Any] = Field(default_factory=dict)
    member_count: int
    members: list[GroupMember] = Field(default_factory=list, description=f"the first {MEMBERS_SHOWN} members")
    created_at: float
    updated_at: float


class UnknownGroup(NotFound):
    """No group with this id (404).

    >>> e = UnknownGroup("acme"); (e.status, e.message)
    (404, "group_id: no group 'acme'")
    """

    def __init__(self, group_id: str) -> None:
        super().__init__([{"field": "group_id", "message": "unknown group"}], f"group_id: no group '{group_id[:80]}'")


class GroupService:
    """Reads groups (the ingest service writes them)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, group_id: str) -> Group:
        with self.store.transaction(write=False) as tx:
            row = tx.get_groups([group_id]).get(group_id)
            if row is None:
                raise UnknownGroup(group_id)
            members = tx.group_members(group_id, limit=MEMBERS_SHOWN)
            count = tx.count_group_members(group_id)
        return Group(
            group_id=row.group_id,
            traits=row.traits,
            member_count=count,
            members=[GroupMember(profile_id=m.profile_id, joined_at=m.joined_at) for m in members],
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
