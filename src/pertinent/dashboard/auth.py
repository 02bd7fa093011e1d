"""Dashboard sessions: the admin key is typed once into a form; the browser then holds a signed cookie
naming a session kept in the database (:mod:`.sessions`), which logging out deletes. Failed logins are
limited per client address and overall (:mod:`.login_limiter`).

The cookie holds the session id, signed (itsdangerous) with a key derived from the admin key, so rotating
the admin key ends every session; it is HttpOnly, SameSite=Strict, limited to ``/dashboard``, Secure when
the request came over TLS (to this server or to a trusted proxy), and expires after ``SESSION_MAX_AGE_S``,
as the stored session does. The admin key itself never appears in a URL, a cookie or the database.

>>> signer = session_signer("admin-key")
>>> token = issue(signer, "s1")
>>> session_id(signer, token), session_id(session_signer("other-key"), token), session_id(signer, "forged")
('s1', None, None)
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "pertinent_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_MAX_AGE_S = 12 * 3600


def session_signer(admin_key: str) -> URLSafeTimedSerializer:
    secret = hmac.new(admin_key.encode(), b"pertinent dashboard session", hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(secret, salt="pertinent-dashboard")


def issue(signer: URLSafeTimedSerializer, sid: str) -> str:
    """The cookie value for session ``sid``."""
    return signer.dumps({"role": "admin", "sid": sid})


def session_id(signer: URLSafeTimedSerializer, token: str | None, max_age: int = SESSION_MAX_AGE_S) -> str | None:
    """The session id a cookie names, when its signature holds and it is younger than ``max_age`` (whether
    the session is still open is for :class:`~.sessions.Sessions` to say)."""
    if not token or len(token) > 1000:
        return None
    try:
        data = signer.loads(token, max_age=max_age)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or data.get("role") != "admin" or not isinstance(data.get("sid"), str):
        return None
    return str(data["sid"])


def key_matches(given: str, admin_key: str | None) -> bool:
    """Whether a typed key is the admin key, compared in constant time (digests of both, so that not even the
    key's length shows in the time taken); an empty key never matches.

    >>> key_matches("k", "k"), key_matches("", ""), key_matches("k", None), key_matches("k", "kk")
    (True, False, False, False)
    """
    if not given or not admin_key:
        return False
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(admin_key.encode()).digest())


def safe_next(path: str | None) -> str:
    """Where to go after login: only a dashboard path of this server (no open redirect).

    >>> safe_next("/dashboard/kpis?window=7d"), safe_next("https://evil.test/"), safe_next("//evil.test")
    ('/dashboard/kpis?window=7d', '/dashboard', '/dashboard')
    """
    if path and path.startswith("/dashboard") and not path.startswith("//") and "\\" not in path:
        return path
    return "/dashboard"
