"""Identity stitching: map pseudonymised user and anonymous ids to one profile.

Rules (Segment semantics):
- an event with only ``anonymousId`` lands on that visitor's anonymous profile;
- the first event that carries both ``userId`` and ``anonymousId`` (usually ``identify``) moves the
  anonymous history onto the known profile, once: later events find the link and merge nothing;
- an anonymous id already linked to another *known* user is not merged again (shared devices);
- ``alias(previousId -> userId)`` merges the profile of the previous id (user or anonymous) into the
  user's profile.

Identity verification (``privacy.identity_proof``) is the ingest service's: a message whose user id is not proven
resolves as anonymous (an unproven call could otherwise attach its own cookie to someone else's profile and read
it back), and an ``alias`` that would merge two known people (:meth:`IdentityResolver.merges_known`) is refused
unless the previous id is proven too.

The resolver only decides; the ingest service applies the merges in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pertinent.privacy.pseudonym import Pseudonymizer
from pertinent.storage.base import IdentityRow
from pertinent.storage.protocols import IdentityRepo


class IdentityResolver:
    def __init__(self, tx: IdentityRepo, pseudo: Pseudonymizer, now: float) -> None:
        self.tx = tx
        self.pseudo = pseudo
        self.now = now
        self.known: dict[str, IdentityRow] = {}
        self.new_rows: dict[str, IdentityRow] = {}
        self.merges: list[tuple[str, str]] = []  # (from_profile, into_profile), in order
        self._redirect: dict[str, str] = {}

    # -- lookups --------------------------------------------------------------
    def preload(self, ids: Iterable[tuple[str, str]]) -> None:
        """Fetch identities for (kind, raw id) pairs in one query; re-key ones found under old keys."""
        pairs = set(ids)
        keys = {self.pseudo.key(kind, raw): (kind, raw) for kind, raw in pairs}
        self.known.update(self.tx.get_identities(keys))
        if self.pseudo.n_keys > 1:
            missing = [(k, kr) for k, kr in keys.items() if k not in self.known]
            old_to_new = {}
            for new_key, (kind, raw) in missing:
                for old in self.pseudo.previous_keys(kind, raw):
                    old_to_new[old] = new_key
            if old_to_new:
                for old_key, row in self.tx.get_identities(old_to_new).items():
                    new_key = old_to_new[old_key]
                    if new_key in self.known:
                        continue
                    self.tx.rename_identity(old_key, new_key)
                    self.known[new_key] = IdentityRow(new_key, row.kind, row.profile_id, row.created_at)

    def _row(self, key: str) -> IdentityRow | None:
        return self.new_rows.get(key) or self.known.get(key)

    def final(self, profile_id: str) -> str:
        while profile_id in self._redirect:
            profile_id = self._redirect[profile_id]
        return profile_id

    def _profile_of(self, key: str) -> str | None:
        row = self._row(key)
        return self.final(row.profile_id) if row else None

    def _link(self, key: str, kind: str, profile_id: str) -> None:
        row = self._row(key)
        created = row.created_at if row else self.now
        self.new_rows[key] = IdentityRow(key, kind, profile_id, created)

    def _merge(self, source: str, target: str) -> None:
        if source == target:
            return
        self.merges.append((source, target))
        self._redirect[source] = target
        for key, row in list(self.known.items()) + list(self.new_rows.items()):
            if self.final(row.profile_id) == target and row.profile_id != target:
                self.new_rows[key] = IdentityRow(key, row.kind, target, row.created_at)

    @staticmethod
    def _is_known_profile(profile_id: str) -> bool:
        return profile_id.startswith("u_")

    # -- decisions ------------------------------------------------------------
    def resolve(self, user_id: str | None, anonymous_id: str | None) -> str:
        """The profile an event belongs to, stitching anonymous history into a known user once."""
        if user_id:
            ukey = self.pseudo.key("user", user_id)
            profile = self._profile_of(ukey)
            if profile is None:
                profile = ukey
                self._link(ukey, "user", profile)
            if anonymous_id:
                akey = self.pseudo.key("anonymous", anonymous_id)
                anon_profile = self._profile_of(akey)
                if anon_profile is None:
                    self._link(akey, "anonymous", profile)
                elif anon_profile != profile and not self._is_known_profile(anon_profile):
                    self._merge(anon_profile, profile)
                    self._link(akey, "anonymous", profile)
            return profile
        assert anonymous_id, "validated messages carry userId or anonymousId"
        akey = self.pseudo.key("anonymous", anonymous_id)
        profile = self._profile_of(akey)
        if profile is None:
            profile = akey
            self._link(akey, "anonymous", profile)
        return profile

    def merges_known(self, previous_id: str, user_id: str) -> bool:
        """Whether ``alias(previous_id, user_id)`` would merge another known person's profile into the user's."""
        target = self._profile_of(self.pseudo.key("user", user_id))
        for kind in ("user", "anonymous"):
            source = self._profile_of(self.pseudo.key(kind, previous_id))
            if source is not None and source != target and self._is_known_profile(source):
                return True
        return False

    def alias(self, previous_id: str, user_id: str) -> str:
        target = self.resolve(user_id, None)
        for kind in ("user", "anonymous"):
            key = self.pseudo.key(kind, previous_id)
            source = self._profile_of(key)
            if source is not None and source != target:
                self._merge(source, target)
            if source is not None or kind == "anonymous":
                self._link(key, kind, target)
        return target

    def lookup(self, raw_id: str, kinds: Sequence[str] = ("user", "anonymous")) -> str | None:
        """The profile for a raw id given by an API caller: a user id first, else an anonymous id."""
        for kind in kinds:
            profile = self._profile_of(self.pseudo.key(kind, raw_id))
            if profile:
                return profile
        return None

    def flush(self, skip_profiles: Iterable[str] = ()) -> None:
        """Write the new and changed identity rows (new ones of ``skip_profiles`` are left out: a visitor who
        leaves nothing else behind leaves no identity either)."""
        skip = set(skip_profiles)
        rows = [
            IdentityRow(r.key, r.kind, final, r.created_at)
            for r in self.new_rows.values()
            if (final := self.final(r.profile_id)) not in skip or r.key in self.known
        ]
        self.tx.put_identities(rows)
        self.known.update({r.key: r for r in rows})
        self.new_rows.clear()
