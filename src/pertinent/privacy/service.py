"""Data-subject rights: consent changes, export (access) and erasure, each audited.

Erasure deletes and suppresses: the pseudonymised identifiers of the erased person (identity keys, profile id)
go on the suppression list, so that their later events are dropped (``events.service``), decisions and consent
statements create nothing for them, and the profile id is never used again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from pertinent.errors import InvalidInput, NotFound
from pertinent.privacy.audit import PERSONAL_ACTIONS, SYSTEM, Actor, record
from pertinent.privacy.consent import check_statement_time, effective, normalize_purpose, supersedes
from pertinent.privacy.identity_proof import IdentityNotProven, IdentityVerifier
from pertinent.privacy.models import Erasure, ExportedProfile, UserExport
from pertinent.privacy.pseudonym import Pseudonymizer
from pertinent.profiles.identity import IdentityResolver
from pertinent.profiles.service import ProfileService
from pertinent.settings import Settings
from pertinent.storage.base import AuditRow, ConsentRow, Store, SuppressionRow, Tx
from pertinent.storage.protocols import SuppressionRepo


class UnknownUser(NotFound):
    """No profile for this user id (404).

    >>> e = UnknownUser("ann"); (e.status, e.message, e.errors)
    (404, "user_id: no data for 'ann'", [{'field': 'user_id', 'message': 'unknown user'}])
    """

    def __init__(self, user_id: str) -> None:
        super().__init__([{"field": "user_id", "message": "unknown user"}], f"user_id: no data for '{user_id}'")
        self.user_id = user_id


class DerivedStore(Protocol):
    """Data derived from events and kept outside the database (e.g. saved models): erasure and export cover it."""

    def user_rows(self, user_id: str) -> list[dict[str, Any]]: ...
    def forget_user(self, user_id: str) -> int: ...


class TxDerivedStore(Protocol):
    """Derived data whose index lives in the database (e.g. warehouse exports): answered inside the export's or
    the erasure's transaction, which it reads its index through."""

    def user_rows(self, tx: Tx, profile_id: str) -> list[dict[str, Any]]: ...
    def forget_user(self, tx: Tx, profile_id: str) -> int: ...


class PrivacyService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        pseudo: Pseudonymizer,
        profiles: ProfileService,
        derived: dict[str, DerivedStore] | None = None,
        tx_derived: dict[str, TxDerivedStore] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.pseudo = pseudo
        self.profiles = profiles
        self.derived = derived or {}
        self.tx_derived = tx_derived or {}
        # told the profile id after each erasure commits (Services publishes it to the other nodes)
        self.on_erased: list[Callable[[str], None]] = []
        self.identity = IdentityVerifier(settings.identity_secret, settings.identity_verification)

    def set_consent(
        self,
        purposes: dict[str, bool],
        user_id: str | None = None,
        anonymous_id: str | None = None,
        source: str = "api",
        at: float | None = None,
        actor: str = "api",
        *,
        user_hash: str | None = None,
        trusted: bool = True,
    ) -> dict[str, bool]:
        """Record consent statements for a user (creating the profile if needed); return the consent in force.

        The latest statement per purpose wins, by its time ``at`` (epoch seconds; now when None): one dated before
        the recorded one changes nothing. ``at`` must lie between 2000-01-01 and a day after now (else
        :class:`InvalidInput` naming ``timestamp``) and counts as now when it is later. Untrusted callers (the write
        key) naming a ``user_id`` must prove it with ``user_hash`` (else :class:`IdentityNotProven`). Nothing is
        stored about a suppressed (erased) person, nor, in opt-in mode (``default_consent=denied``), about a
        visitor never seen before who grants nothing."""
        now = time.time()
        at = now if at is None else at
        problem = check_statement_time(at, now)
        if problem is not None:
            raise InvalidInput.field("timestamp", problem)
        at = min(at, now)
        if user_id and not self.identity.verified(user_id, user_hash, trusted):
            raise IdentityNotProven("userHash", "userId")
        default = self.settings.default_consent
        ids = [("user", user_id)] if user_id else []
        ids += [("anonymous", anonymous_id)] if anonymous_id else []
        with self.store.transaction() as tx:
            if self._suppressed(tx, ids):
                return effective({}, default)  # an erased person: nothing is created again
            resolver = IdentityResolver(tx, self.pseudo, now)
            resolver.preload(ids)
            existed = bool(resolver.known)
            profile_id = resolver.resolve(user_id, anonymous_id)
            profile = tx.lock_profiles([profile_id], now)[profile_id]
            before = effective(profile.consent, default)
            rows = []
            for name, granted in purposes.items():
                purpose = normalize_purpose(name)
                if not supersedes(at, profile.consent.get(purpose), now):
                    continue  # an older statement than the recorded one: the later one stays in force
                profile.consent[purpose] = {"granted": granted, "at": at, "source": source}
                rows.append(ConsentRow(profile_id, purpose, granted, source, at))
            after = effective(profile.consent, default)
            if default == "denied" and not existed and not any(after.values()):
                tx.delete_profile(profile_id)  # opt-in, never consented: no profile, no identity
                return after
            resolver.flush()
            if before["personalization"] and not after["personalization"]:
                profile.state = {}
            profile.updated_at = now
            tx.append_consent(rows)
            tx.put_profiles([profile])
            tx.append_audit(AuditRow(now, actor, "consent", profile_id, {"purposes": purposes, "source": source}))
        if self.profiles.segments is not None:  # withdrawn personalisation consent leaves every segment
            self.profiles.segments.profiles_changed([profile])
        return after

    def _suppressed(self, tx: SuppressionRepo, ids: list[tuple[str, str]]) -> bool:
        keys = {self.pseudo.key(kind, raw) for kind, raw in ids}
        keys.update(k for kind, raw in ids for k in self.pseudo.previous_keys(kind, raw))
        return bool(tx.suppressed(keys))

    def export(self, user_id: str, actor: Actor = SYSTEM) -> UserExport:
        """Everything stored about a user (audited)."""
        now = time.time()
        segments = self.profiles.segments  # memberships and their history are personal data too
        names = segments.names() if segments is not None else {}
        with self.store.transaction() as tx:
            profile_id = self.profiles.find(tx, user_id)
            if profile_id is None:
                raise UnknownUser(user_id)
            row = tx.get_profiles([profile_id]).get(profile_id)
            profile = None
            if row is not None:
                view = self.profiles.view(row, user_id, now)
                # every stored trait, predicted.* included even where the view hides it (no personalisation consent)
                profile = ExportedProfile(**{**dict(view), "traits": row.traits}, state=row.state)
            events = [asdict(e) for e in tx.events_of(profile_id)]
            decisions = [asdict(d) for d in tx.recent_decisions(profile_id, 0.0)]
            outcomes = tx.outcomes_of([d["decision_id"] for d in decisions])
            sections: dict[str, Any] = {}
            if segments is not None:
                sections["segments"] = segments.export_rows(tx, profile_id, names)
            links = tx.groups_of(profile_id)  # memberships are the person's; the groups' traits say which accounts
            accounts = tx.get_groups([m.group_id for m in links])
            sections["groups"] = [
                {"group_id": m.group_id, "joined_at": m.joined_at, "traits": accounts[m.group_id].traits}
                for m in links
                if m.group_id in accounts
            ]
            for name, derived in self.derived.items():
                sections[name] = derived.user_rows(profile_id)
            for name, tx_store in self.tx_derived.items():
                sections[name] = tx_store.user_rows(tx, profile_id)
            identities = tx.identities_of(profile_id)
            keys = [i.key for i in identities] + [self.pseudo.key("user", user_id)]
            sections["quality"] = {  # data quality: blocked events, outlier flag, duplicate candidates
                "failed_events": [asdict(r) for r in tx.failed_events_of(keys)],
                "quality_flags": [asdict(r) for r in tx.quality_flags([profile_id])],
                "dedup_candidates": [asdict(r) for r in tx.dedup_candidates_of(profile_id)],
            }
            record(tx, actor, "export", profile_id, detail={"events": len(events)}, at=now)
            return UserExport(
                user_id=user_id,
                profile_id=profile_id,
                exported_at=now,
                profile=profile,
                identities=[asdict(i) for i in identities],
                events=events,
                consent_history=[asdict(c) for c in tx.consent_of(profile_id)],
                decisions=decisions,
                decision_outcomes=[asdict(o) for o in outcomes if o.profile_id == profile_id],
                audit=[asdict(a) for a in tx.audit_entries(subject=profile_id, limit=1000)],
                destination_deliveries=[asdict(d) for d in tx.deliveries_of(profile_id)],
                **sections,
            )

    def erase(self, user_id: str, actor: Actor = SYSTEM) -> Erasure:
        """Delete everything about a user; keep only an erasure record (consent log and audit)."""
        now = time.time()
        with self.store.transaction() as tx:
            profile_id = self.profiles.find(tx, user_id)
            if profile_id is not None:  # concurrent erasures of the person queue on the profile's row, and the
                tx.get_profiles([profile_id], for_update=True)  # later ones find nobody once the first committed
                profile_id = self.profiles.find(tx, user_id)
            if profile_id is None:
                raise UnknownUser(user_id)
            # Suppress first, in the same transaction: every identifier of the person (pseudonyms only), the id
            # asked for and the profile id, so that no later event, decision or statement brings them back.
            listed = {(i.key, i.kind) for i in tx.identities_of(profile_id)}
            listed |= {(self.pseudo.key("user", user_id), "user"), (profile_id, "profile")}
            suppressed = tx.suppress([SuppressionRow(key, kind, now) for key, kind in sorted(listed)])
            counts = tx.erase_profile(profile_id)
            counts.update(tx.erase_quality(profile_id, [key for key, _ in listed]))  # failed events, flags, pairs
            for name, derived in self.derived.items():  # inside the transaction: audited together
                counts[name] = derived.forget_user(profile_id)
            for name, tx_store in self.tx_derived.items():
                counts[name] = tx_store.forget_user(tx, profile_id)
            counts["audit_log"] = tx.delete_audit_entries(profile_id, PERSONAL_ACTIONS)
            tx.append_consent([ConsentRow(profile_id, "erasure", False, "erasure", now)])
            record(  # after: nothing left
                tx, actor, "erase", profile_id, before={"rows": counts}, detail={"suppressed": suppressed}, at=now
            )
        self.store.purge_deleted()  # no older copy of the erased rows left in the SQLite WAL
        for hook in self.on_erased:
            hook(profile_id)
        return Erasure(user_id=user_id, profile_id=profile_id, erased_at=now, deleted=counts, suppressed=suppressed)
