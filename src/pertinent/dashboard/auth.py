"""Dashboard sessions: the admin key is typed once into a form; the browser then holds a signed cookie.
Failed logins are limited per client address and overall (:mod:`pertinent.dashboard.login_limiter`).

The cookie is signed (itsdangerous) with a key derived from the admin key, so rotating the admin key ends
every session; it is HttpOnly, SameSite=Strict, limited to ``/dashboard`` and expires after
``SESSION_MAX_AGE_S``. The admin key itself never appears in a URL or a cookie.

>>> signer = session_signer("admin-key")
>>> token = issue(signer)
>>> valid(signer, token), valid(session_signer("other-key"), token), valid(signer, "forged")
(True, False, False)
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


def issue(signer: URLSafeTimedSerializer) -> str:
    return signer.dumps({"role": "admin"})


def valid(signer: URLSafeTimedSerializer, token: str | None, max_age: int = SESSION_MAX_AGE_S) -> bool:
    if not token:
        return False
    try:
        data = signer.loads(token, max_age=max_age)
    except BadSignature:  # also SignatureExpired
        return False
    return isinstance(data, dict) and data.get("role") == "admin"


def key_matches(given: str, admin_key: str | None) -> bool:
    """Whether a typed key is the admin key (compared in constant time; an empty key never matches).

    >>> key_matches("k", "k"), key_matches("", ""), key_matches("k", None)
    (True, False, False)
    """
    return bool(given) and bool(admin_key) and hmac.compare_digest(given.encode(), (admin_key or "").encode())


def safe_next(path: str | None) -> str:
    """Where to go after login: only a dashboard path of this server (no open redirect).

    >>> safe_next("/dashboard/kpis?window=7d"), safe_next("https://evil.test/"), safe_next("//evil.test")
    ('/dashboard/kpis?window=7d', '/dashboard', '/dashboard')
    """
    if path and path.startswith("/dashboard") and not path.startswith("//") and "\\" not in path:
        return path
    return "/dashboard"
