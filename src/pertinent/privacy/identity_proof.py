"""Identity verification: proof that a browser call naming a user id comes from that user.

The write key is public (it is in every page), so a call that names a *known* user id must carry the proof
that Intercom's and Segment's identity verification use: ``user_hash = hex(HMAC-SHA256(identity_secret,
user_id))``, computed by the site's server for the user it has logged in and handed to the page. Anonymous ids
need no proof (holding the cookie is the proof); the admin key (server-side calls) is trusted.

>>> user_hash("s3cret", "alice")  # printf %s alice | openssl dgst -sha256 -hmac s3cret
'765542af1f1d587bc60c218dca532a258f56b9c21a427cc819de2a1ff6d3e146'
>>> v = IdentityVerifier("s3cret", required=True)
>>> v.verified("alice", user_hash("s3cret", "alice")), v.verified("alice", None), v.verified("bob", None, trusted=True)
(True, False, True)
>>> IdentityVerifier(None, required=False).verified("alice", None)
True
"""

from __future__ import annotations

import hashlib
import hmac

from pertinent.errors import DomainError

__all__ = ["IdentityNotProven", "IdentityVerifier", "user_hash"]


class IdentityNotProven(DomainError):
    """A state-changing call for a user id without its proof (403, naming the field that must carry it).

    >>> e = IdentityNotProven("userHash", "userId"); (e.status, e.code, e.errors[0]["field"])
    (403, 'forbidden', 'userHash')
    """

    status = 403
    code = "forbidden"

    def __init__(self, field: str, of: str) -> None:
        super().__init__(
            [
                {
                    "field": field,
                    "message": f"a valid user_hash of {of} (hex HMAC-SHA256 with the identity secret, docs/api.md) "
                    "is required with the write key",
                }
            ]
        )


def user_hash(secret: str, user_id: str) -> str:
    """The proof for ``user_id``: the hex HMAC-SHA256 of the user id (UTF-8) under the identity secret."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


class IdentityVerifier:
    """Checks ``user_hash`` proofs. ``required=False`` (no secret configured, or verification turned off for a
    migration) accepts every call, as before verification existed."""

    def __init__(self, secret: str | None, required: bool) -> None:
        self._secret = secret or None
        self.required = required

    def valid(self, user_id: str | None, proof: object) -> bool:
        """Whether ``proof`` is the user hash of ``user_id`` (hex, any case); False without a secret."""
        if not self._secret or not user_id or not isinstance(proof, str) or len(proof) != 64:
            return False
        return hmac.compare_digest(user_hash(self._secret, user_id), proof.lower())

    def verified(self, user_id: str | None, proof: object, trusted: bool = False) -> bool:
        """Whether a call may act as ``user_id``: trusted (admin key), verification off, or a valid proof."""
        return trusted or not self.required or self.valid(user_id, proof)
