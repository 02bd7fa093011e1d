"""Merging one profile into another: what identity stitching (``alias``, ``identify``) and an accepted duplicate
candidate (``quality``) both do, in the caller's transaction."""

from __future__ import annotations

from typing import Protocol

from pertinent.privacy.consent import statement_at
from pertinent.profiles.features import ProfileConfig, merge_states
from pertinent.storage.base import ProfileRow
from pertinent.storage.protocols import (
    ConsentRepo,
    DecisionRepo,
    EventRepo,
    GroupRepo,
    IdentityRepo,
    MembershipRepo,
    OutboxRepo,
    ProfileRepo,
)


class MergeTx(
    IdentityRepo, EventRepo, ProfileRepo, ConsentRepo, DecisionRepo, MembershipRepo, OutboxRepo, GroupRepo, Protocol
):
    """What a merge touches: the source's events, identities, consent, decisions, queued deliveries, memberships
    of segments and of groups move."""


def merge_into(tx: MergeTx, src: ProfileRow, dst: ProfileRow, now: float, cfg: ProfileConfig) -> None:
    """Move everything of ``src`` onto ``dst`` and delete ``src`` (``dst`` is changed; the caller stores it)."""
    source = src.profile_id
    tx.repoint_events(source, dst.profile_id)
    tx.repoint_identities(source, dst.profile_id)
    tx.repoint_consent(source, dst.profile_id)
    tx.repoint_decisions(source, dst.profile_id)  # exposures stay with the person (sticky experiments)
    tx.repoint_deliveries(source, dst.profile_id)  # queued destination deliveries (export, erasure)
    tx.merge_segment_members(source, dst.profile_id, now)  # memberships and their history move too
    tx.repoint_group_members(source, dst.profile_id)  # and the accounts the person belongs to
    merge_states(dst.state, src.state, cfg)
    dst.traits = {**src.traits, **dst.traits}
    for purpose, record in src.consent.items():  # the later decision wins
        if purpose not in dst.consent or statement_at(record, now) > statement_at(dst.consent[purpose], now):
            dst.consent[purpose] = record
    dst.created_at = min(dst.created_at, src.created_at)
    dst.updated_at = now
    tx.delete_profile(source)
