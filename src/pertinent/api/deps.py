"""FastAPI dependencies as ``Annotated`` aliases: the service container, the two keys, the dashboard session and
its form-origin (CSRF) check.

The key checks return who called: ``"admin"`` (the admin key: a server, trusted with every user id) or
``"write"`` (the public write key: a browser, which must prove a user id with its ``user_hash``; see
:func:`user_hash_of` and docs/api.md, identity verification).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from pertinent.api.errors import ApiError
from pertinent.dashboard.auth import COOKIE, safe_next, session_id, session_signer
from pertinent.dashboard.forwarded import TrustedProxies, same_origin
from pertinent.dashboard.service import DashboardService
from pertinent.services import Services


async def get_services(request: Request) -> Services:
    # async, like every dependency here: FastAPI runs plain ``def`` dependencies in the thread pool, a hop that
    # cost as much as a whole cheap request (docs/benchmarks.md, decision serving)
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    # surrogatepass: a salvaged body's writeKey may hold a lone surrogate (api/body.py): a 401, not a 500
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def basic_username(header: str | None) -> str | None:
    """The username of an HTTP Basic header (Segment puts the write key there)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded.split(":", 1)[0]


Role = Literal["admin", "write"]
USER_HASH_HEADER = "x-user-hash"


def write_key_of(request: Request, body_key: object = None) -> str | None:
    """The write key: the HTTP Basic username, else the body's ``writeKey`` (any JSON value: refused by name, with a
    401, unless it is a string)."""
    header = basic_username(request.headers.get("authorization"))
    if header:
        return header
    if body_key is None or isinstance(body_key, str):
        return body_key
    raise ApiError(
        401,
        "unauthorized",
        "writeKey: must be a string (or send the write key as the HTTP Basic username)",
        [{"field": "writeKey", "message": "must be a string"}],
        headers={"WWW-Authenticate": 'Basic realm="pertinent"'},
    )


def user_hash_of(request: Request, given: str | None = None) -> str | None:
    """The identity proof a browser call carries: ``given`` (the query's ``user_hash``, the body's ``userHash``),
    else the ``X-User-Hash`` header."""
    return given or request.headers.get(USER_HASH_HEADER)


def check_write_key(services: Services, key: str | None) -> Role:
    """Collection accepts the write key (or the admin key); returns which one came."""
    s = services.settings
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "authorization: missing write key (HTTP Basic username)",
            [{"field": "authorization", "message": "missing write key"}],
            headers={"WWW-Authenticate": 'Basic realm="pertinent"'},
        )
    if _same(key, s.admin_key):
        return "admin"
    if not _same(key, s.write_key):
        raise ApiError(
            401,
            "unauthorized",
            "authorization: invalid write key",
            [{"field": "authorization", "message": "invalid write key"}],
        )
    return "write"


def check_admin(services: Services, authorization: str | None) -> Role:
    """The admin key as a Bearer token (401 without one, 403 for another)."""
    header = authorization or ""
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            "authorization: admin key required as a Bearer token",
            [{"field": "authorization", "message": "missing bearer token"}],
            headers={"WWW-Authenticate": 'Bearer realm="pertinent"'},
        )
    if not _same(token, services.settings.admin_key):
        raise ApiError(
            403,
            "forbidden",
            "authorization: invalid admin key",
            [{"field": "authorization", "message": "invalid admin key"}],
        )
    return "admin"


def check_site_or_admin(services: Services, authorization: str | None) -> Role:
    """A Bearer header must carry the admin key; anything else must carry the write key (what sites send)."""
    if (authorization or "").lower().startswith("bearer "):
        return check_admin(services, authorization)
    return check_write_key(services, basic_username(authorization))


async def require_admin(request: Request, services: ServicesDep) -> None:
    check_admin(services, request.headers.get("authorization"))


async def require_write_key(request: Request, services: ServicesDep) -> Role:
    return check_write_key(services, write_key_of(request))


async def require_site_or_admin(request: Request, services: ServicesDep) -> Role:
    return check_site_or_admin(services, request.headers.get("authorization"))


def dashboard_session_id(request: Request, admin_key: str | None) -> str | None:
    """The session id the request's dashboard cookie names (signature and age checked, not the database)."""
    return session_id(session_signer(admin_key or ""), request.cookies.get(COOKIE))


async def require_dashboard_session(request: Request, services: ServicesDep) -> None:
    """An open dashboard session (a signed cookie naming a session the database still holds), else a redirect
    to the login form (HTML) or a 401 naming ``session``."""
    sid = dashboard_session_id(request, services.settings.admin_key)
    if sid is not None and await run_in_threadpool(services.dashboard.sessions.is_open, sid):
        return
    if "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise ApiError(
            303,
            "login_required",
            "session: log in to the dashboard",
            [{"field": "session", "message": "log in at /dashboard/login"}],
            headers={"Location": f"/dashboard/login?next={quote(safe_next(target), safe='')}"},
        )
    raise ApiError(
        401,
        "unauthorized",
        "session: log in at /dashboard/login",
        [{"field": "session", "message": "missing, expired or logged-out dashboard session"}],
    )


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def client_address(request: Request, proxies: TrustedProxies) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwards."""
    return proxies.client(_peer(request), request.headers.get("x-forwarded-for"))


def came_over_tls(request: Request, proxies: TrustedProxies) -> bool:
    """Whether the request came over TLS, to this server or (as it says) to a trusted proxy."""
    return proxies.scheme(_peer(request), request.url.scheme, request.headers.get("x-forwarded-proto")) == "https"


async def require_same_origin(request: Request, services: ServicesDep) -> None:
    """CSRF: a dashboard request that changes something (any method but GET, HEAD, OPTIONS) must come from a
    page of this server, by its Origin (else Referer) header against the host asked for; else 403 naming
    ``origin``."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    proxies = services.dashboard.proxies
    host = proxies.host(_peer(request), request.headers.get("host"), request.headers.get("x-forwarded-host"))
    ok, why = same_origin(request.headers.get("origin"), request.headers.get("referer"), host)
    if not ok:
        raise ApiError(403, "forbidden", f"origin: {why}", [{"field": "origin", "message": why}])


async def get_dashboard(services: ServicesDep) -> DashboardService:
    return services.dashboard


AdminAuth = Depends(require_admin)
WriteAuth = Depends(require_write_key)
WriteRole = Annotated[Role, Depends(require_write_key)]  # the write key (or the admin key), and which came
SiteAuth = Depends(require_site_or_admin)
DashboardSession = Depends(require_dashboard_session)
SameOrigin = Depends(require_same_origin)
DashboardDep = Annotated[DashboardService, Depends(get_dashboard)]
