"""Reading profiles: find a user's profile by raw id and present its features."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pertinent.privacy.consent import effective
from pertinent.privacy.pseudonym import Pseudonymizer
from pertinent.profiles.features import ProfileConfig, summarize
from pertinent.profiles.identity import IdentityResolver
from pertinent.profiles.models import InferredTrait, Profile, ProfileConsent, ProfileFeatures, SegmentMembership
from pertinent.profiles.predicted import NAMESPACE, view_of
from pertinent.settings import Settings
from pertinent.storage.base import ProfileRow, Store
from pertinent.storage.protocols import IdentityRepo, MembershipRepo

SegmentNames = Mapping[str, tuple[str, str]]  # membership id -> (definition id, readable name)


class ProfileSegments(Protocol):
    """What profiles and privacy need of the segment service (set by ``Services.build``)."""

    def names(self, fresh: bool = False) -> dict[str, tuple[str, str]]: ...
    def of_profile(self, tx: MembershipRepo, profile_id: str, names: SegmentNames) -> Sequence[Mapping[str, Any]]: ...
    def export_rows(self, tx: MembershipRepo, profile_id: str, names: SegmentNames) -> Mapping[str, Any]: ...
    def profiles_changed(self, rows: Sequence[ProfileRow]) -> None: ...


class ProfileService:
    def __init__(self, store: Store, settings: Settings, pseudo: Pseudonymizer, config: ProfileConfig) -> None:
        self.store = store
        self.settings = settings
        self.pseudo = pseudo
        self.config = config
        self.segments: ProfileSegments | None = None  # a profile's current segments, in its view

    def find(self, tx: IdentityRepo, user_id: str, kinds: Sequence[str] | None = None) -> str | None:
        """The profile id for a raw user id (or, failing that, an anonymous id); ``kinds`` limits the lookup
        (``("anonymous",)``: only as an anonymous id)."""
        kinds = tuple(kinds or ("user", "anonymous"))
        resolver = IdentityResolver(tx, self.pseudo, time.time())
        resolver.preload([(kind, user_id) for kind in kinds])
        profile_id = resolver.lookup(user_id, kinds)
        resolver.flush()  # persists lazy re-keying after a key rotation
        return profile_id

    def view(
        self,
        row: ProfileRow,
        user_id: str,
        now: float | None = None,
        segments: Sequence[Mapping[str, Any]] | None = None,
    ) -> Profile:
        """A stored profile as readers see it (features only with personalisation consent)."""
        now = time.time() if now is None else now
        consent = effective(row.consent, self.settings.default_consent)
        features = (
            summarize(row.state, now, self.config) if consent["personalization"] else summarize({}, now, self.config)
        )
        inferred = row.state.get("inferred") if consent["personalization"] else None
        return Profile(
            user_id=user_id,
            profile_id=row.profile_id,
            # predicted.* is profiling: shown only with personalisation consent (a pass removes it soon after)
            traits=row.traits
            if consent["personalization"]
            else {k: v for k, v in row.traits.items() if k != NAMESPACE},
            inferred={k: InferredTrait.model_validate(v) for k, v in (inferred or {}).items() if isinstance(v, dict)},
            features=ProfileFeatures.model_validate(features),
            segments=[SegmentMembership.model_validate(s) for s in segments or []],
            consent=ProfileConsent.model_validate(
                {"effective": consent, "decisions": row.consent, "default": self.settings.default_consent}
            ),
            created_at=row.created_at,
            updated_at=row.updated_at,
            predicted=view_of(row.traits) if consent["personalization"] else {},
        )

    def get(self, user_id: str) -> Profile | None:
        """The profile, or None when the user is unknown."""
        names = self.segments.names() if self.segments is not None else {}
        with self.store.transaction(write=self.pseudo.n_keys > 1) as tx:
            profile_id = self.find(tx, user_id)
            if profile_id is None:
                return None
            row = tx.get_profiles([profile_id]).get(profile_id)
            segments = self.segments.of_profile(tx, profile_id, names) if self.segments is not None and row else []
        return None if row is None else self.view(row, user_id, segments=segments)
