"""Keyed pseudonymisation of user identifiers and PII traits.

An identifier is stored only as ``HMAC-SHA256(key, kind + ":" + value)``: stable for lookups,
useless without the key. Several keys may be configured during a rotation: the first one is
current; older ones are still recognised and identities found under them are re-keyed lazily
(see docs/privacy.md).

>>> p = Pseudonymizer(["secret-1"])
>>> k = p.key("user", "alice")
>>> k.startswith("u_") and len(k) == 34 and k == p.key("user", "alice")
True
>>> p.key("user", "alice") != p.key("anonymous", "alice")
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

_PREFIX = {"user": "u_", "anonymous": "a_", "pii": "h_"}
_PSEUDONYM = re.compile(r"h_[0-9a-f]{32}")


class Pseudonymizer:
    def __init__(self, keys: Sequence[str], cache_size: int = 200_000) -> None:
        if not keys:
            raise ValueError("at least one pseudonymisation key is required")
        self._keys = [k.encode() for k in keys]
        self._cache: dict[tuple[int, str, str], str] = {}
        self._cache_size = cache_size

    @property
    def n_keys(self) -> int:
        return len(self._keys)

    def key(self, kind: str, value: str, key_index: int = 0) -> str:
        """The pseudonym of ``value`` under the current key (or an older one by index)."""
        ck = (key_index, kind, value)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        digest = hmac.new(self._keys[key_index], f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        result = _PREFIX[kind] + digest[:32]
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[ck] = result
        return result

    def previous_keys(self, kind: str, value: str) -> list[str]:
        """Pseudonyms of ``value`` under the older (rotated-out) keys."""
        return [self.key(kind, value, i) for i in range(1, len(self._keys))]

    def pii(self, value: object) -> str:
        """Pseudonym for a PII trait value (normalised: stripped, lower-cased). A pseudonym is kept as it is, so a
        message stored with its PII pseudonymised (a failed event) keeps the same pseudonyms when replayed.

        >>> p = Pseudonymizer(["k"]); h = p.pii(" Ann@X.org"); p.pii(h) == h == p.pii("ann@x.org")
        True
        """
        if isinstance(value, str) and _PSEUDONYM.fullmatch(value):
            return value
        return self.key("pii", str(value).strip().lower())
