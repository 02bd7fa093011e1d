"""The lock-free half of ingestion: one validated message made ready to store (before the write transaction).

For each message, outside any lock: PII traits normalised and pseudonymised, the context cleaned (location from
the IP, then the IP anonymised, identity proofs removed), properties, traits and context encoded as JSON, the
consent statement parsed, an alias's previousId turned into its identity key, and the identity proofs checked
(:meth:`Preparer.check_proof`). ``service.py`` stores what this module prepares.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pertinent.events.normalise import anonymize_ip, to_json
from pertinent.events.schema import Alias, Group
from pertinent.geo.locate import open_locator, with_location
from pertinent.privacy.audit import WRITE_KEY, Actor
from pertinent.privacy.consent import purposes_from_context
from pertinent.privacy.identity_proof import IdentityVerifier
from pertinent.privacy.pseudonym import Pseudonymizer
from pertinent.settings import Settings

USER_HASH = "userHash"  # context field: the proof of the message's userId (hex HMAC-SHA256, docs/api.md)
PREVIOUS_HASH = "previousIdHash"  # context field of an alias: the proof of its previousId
_PROOFS = (USER_HASH, PREVIOUS_HASH)


@dataclass(slots=True)
class Prepared:
    """One message ready for the write transaction, and (set there) what became of it."""

    msg: Any
    message_id: str
    timestamp: float
    context: dict[str, Any]
    traits: dict[str, Any] | None
    name: str | None  # track: event; page/screen: name
    properties: dict[str, Any]
    received_at: float
    encoded: tuple[str | None, str | None, str | None]  # properties, traits, context as JSON
    consent: dict[str, bool] | None  # purposes stated in context.consent
    integrations: dict[str, Any] | None = None  # as sent (destinations honour {"All": false})
    group_id: str | None = None  # a group call's account
    previous_id: str | None = None  # an alias's previousId, as its identity key
    parsed_context: dict[str, Any] | None = None
    profile_id: str = ""
    outcome: str = ""  # stored | duplicate | no_consent | suppressed | forbidden
    actor: Actor = WRITE_KEY  # who sent it (an identity merge it causes is audited under this actor)
    index: int = 0  # in the request
    verified: bool = True  # the userId is proven (or verification is off, or the admin key sent it)
    verified_previous: bool = True  # an alias's previousId is proven
    # may change what other people's profiles read (a group's traits): a proven userId, the admin key, or
    # verification off; an anonymous or unproven call only links its own profile to the group
    shared: bool = True


class Preparer:
    """Normalisation, pseudonymisation and identity proofs of single messages (no storage, no lock)."""

    def __init__(self, settings: Settings, pseudo: Pseudonymizer, identifier: Callable[[str, Any], Any]) -> None:
        """``identifier(key, value)``: the identifier normalisation of the quality settings (emails lower-cased,
        phones in E.164), so that equal people get equal pseudonyms."""
        self.settings = settings
        self.pseudo = pseudo
        self.identifier = identifier
        self._pii = {k.lower() for k in settings.pii_traits}
        self._group_pii = {k.lower() for k in settings.group_pii_traits}
        self.identity = IdentityVerifier(settings.identity_secret, settings.identity_verification)
        self.refuse_unproven = settings.unproven_user_events == "refuse"  # a userId alone must be proven
        self.geo = open_locator(settings.geo)  # context.location from the full IP, before it is anonymised

    def scrub_traits(self, traits: dict[str, Any], personal: set[str] | None = None) -> dict[str, Any]:
        """Normalise PII traits (emails, phones) and replace them by keyed pseudonyms (unless configured to keep them
        in clear). ``personal``: the keys that are personal (default ``pii_traits``; a group's traits use
        ``group_pii_traits``)."""
        if not traits:
            return traits
        norm = self.identifier
        keys = self._pii if personal is None else personal
        if self.settings.store_pii_in_clear:
            return {k: (norm(k, v) if k.lower() in keys else v) for k, v in traits.items()}
        pii = self.pseudo.pii
        return {k: (pii(norm(k, v)) if k.lower() in keys and v not in (None, "") else v) for k, v in traits.items()}

    def clean_context(self, context: dict[str, Any]) -> dict[str, Any]:
        """A Segment context as stored: ``location`` from the IP (geo/), the IP anonymised, PII pseudonymised."""
        if not context:
            return context
        ctx = with_location(dict(context), self.geo)
        for proof in _PROOFS:  # identity proofs are checked, never stored
            ctx.pop(proof, None)
        if self.settings.anonymize_ip and isinstance(ctx.get("ip"), str):
            ctx["ip"] = anonymize_ip(ctx["ip"])
        if isinstance(ctx.get("traits"), dict):
            ctx["traits"] = self.scrub_traits(ctx["traits"])
        return ctx

    def prepare(self, msg: Any, received_at: float, ts: float) -> Prepared:
        """Everything about ``msg`` that needs no lock, done before the write transaction."""
        fields = msg.__dict__  # plain dict access: getattr on a missing pydantic field is slow
        traits = fields.get("traits")
        if msg.type == "identify" and not traits and isinstance(msg.context.get("traits"), dict):
            traits = msg.context["traits"]  # RudderStack's libraries send identify's traits in context.traits only
        is_group = isinstance(msg, Group)
        traits = self.scrub_traits(traits, self._group_pii if is_group else None) if traits else None
        context = self.clean_context(msg.context)
        properties = fields.get("properties") or {}
        previous = self.pseudo.key("user", msg.previousId) if isinstance(msg, Alias) else None
        return Prepared(
            msg=msg,
            message_id=msg.messageId or f"pt-{uuid.uuid4().hex}",
            timestamp=ts,
            context=context,
            traits=traits,
            name=fields.get("event") or fields.get("name"),
            properties=properties,
            received_at=received_at,
            encoded=(to_json(properties or None), to_json(traits), to_json(context or None)),
            consent=purposes_from_context(context) if context else None,
            integrations=msg.integrations or None,
            group_id=msg.groupId if is_group else None,
            previous_id=previous,
        )

    def check_proof(self, p: Prepared, trusted: bool) -> bool:
        """Set whether the message's userId (and an alias's previousId) are proven; False: refuse the message (an
        alias must prove its userId: it links ids, and linking to an unproven user would hand over their data;
        with ``unproven_user_events=refuse``, so must a message naming only a userId: it would write to them)."""
        m = p.msg
        raw = m.context if isinstance(m.context, dict) else {}
        if m.userId:
            p.verified = self.identity.verified(m.userId, raw.get(USER_HASH), trusted)
        p.shared = p.verified if m.userId else self.identity.verified(None, None, trusted)
        if isinstance(m, Alias):
            p.verified_previous = self.identity.verified(m.previousId, raw.get(PREVIOUS_HASH), trusted)
            return p.verified
        return p.verified or not self.refuse_unproven or bool(m.anonymousId)
