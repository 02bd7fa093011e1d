"""Reading memberships: a segment's members, its entries and exits, its sizes over time, and a profile's
segments (for the profile view and the data export)."""

from __future__ import annotations

from collections.abc import Mapping

from pertinent.segments.context import SegmentContext
from pertinent.segments.definitions import owner_of
from pertinent.segments.documents import DefinitionDocuments
from pertinent.segments.results import (
    ProfileExport,
    ProfileSegment,
    SegmentChange,
    SegmentHistory,
    SegmentMember,
    SegmentMembers,
    SegmentSizes,
    SizePoint,
)
from pertinent.storage.protocols import MembershipRepo


class MembershipQueries:
    def __init__(self, ctx: SegmentContext, documents: DefinitionDocuments) -> None:
        self.ctx = ctx
        self.documents = documents

    def members(self, segment_id: str, cursor: str | None = None, limit: int = 100) -> SegmentMembers:
        """Current members (profile ids, entry times), ``limit`` at a time; ``next_cursor`` continues."""
        self.documents.check_membership_id(segment_id)
        with self.ctx.store.transaction(write=False) as tx:
            rows = tx.segment_members(segment_id, after=cursor, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return SegmentMembers(
            segment_id=segment_id,
            members=[SegmentMember(profile_id=p, entered_at=at) for p, at in rows],
            next_cursor=rows[-1][0] if more else None,
        )

    def history(self, segment_id: str, since: float = 0.0, limit: int = 1000) -> SegmentHistory:
        """Entries and exits, oldest first, from ``since``."""
        self.documents.check_membership_id(segment_id)
        with self.ctx.store.transaction(write=False) as tx:
            changes = tx.membership_history(segment_id, since=since, limit=limit)
        return SegmentHistory(
            segment_id=segment_id,
            entries=sum(c.entered for c in changes),
            exits=sum(not c.entered for c in changes),
            changes=[
                SegmentChange(profile_id=c.profile_id, change="entered" if c.entered else "exited", at=c.at)
                for c in changes
            ],
        )

    def sizes(self, segment_id: str, since: float = 0.0) -> SegmentSizes:
        """Snapshotted sizes over time, plus the current size."""
        self.documents.check_membership_id(segment_id)
        with self.ctx.store.transaction(write=False) as tx:
            points = tx.segment_sizes(segment_id, since=since)
            current = tx.count_segment_members().get(segment_id, 0)
        return SegmentSizes(
            segment_id=segment_id,
            current=current,
            as_of=self.ctx.clock(),
            sizes=[SizePoint(at=at, size=n) for at, n in points],
        )

    def of_profile(
        self, tx: MembershipRepo, profile_id: str, names: Mapping[str, tuple[str, str]]
    ) -> list[ProfileSegment]:
        """A profile's current segments: id, name, definition and entry time (for the profile view). ``names``
        comes from ``SegmentService.names``, called before the transaction."""
        mine = tx.segments_of([profile_id]).get(profile_id, {})
        if not mine:
            return []
        return [
            ProfileSegment(
                id=sid, name=names.get(sid, (owner_of(sid), sid))[1], definition=owner_of(sid), entered_at=at
            )
            for sid, at in sorted(mine.items(), key=lambda kv: (kv[1], kv[0]))
        ]

    def export_rows(self, tx: MembershipRepo, profile_id: str, names: Mapping[str, tuple[str, str]]) -> ProfileExport:
        """Everything segmentation keeps about a profile, for the data export."""
        return ProfileExport(
            current=self.of_profile(tx, profile_id, names),
            history=[
                {"segment_id": c.segment_id, "change": "entered" if c.entered else "exited", "at": c.at}
                for c in tx.membership_history(profile_id=profile_id, limit=None)
            ],
        )
