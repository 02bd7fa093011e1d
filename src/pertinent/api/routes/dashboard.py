"""The admin dashboard: ``/dashboard`` pages (HTML, server-side SVG charts), behind a login form.

``GET /dashboard/login`` shows a form taking the admin key; ``POST /dashboard/login`` checks it, opens a
session in the database and sets a signed, HttpOnly, SameSite=Strict cookie naming it, Secure over TLS (see
:mod:`pertinent.dashboard.auth`); ``POST /dashboard/logout`` deletes the session, so a copied cookie stops
working too. Without an open session a page answers a redirect to the login form (HTML clients) or a 401
JSON error naming ``session``. Every POST must come from this server's own pages (Origin, else Referer: 403
naming ``origin``), and every response under ``/dashboard`` carries ``SECURITY_HEADERS`` (:class:`SecurityHeaders`,
installed by :func:`install`): a Content-Security-Policy allowing no script at all (the pages have none; the
charts are SVG drawn on the server) and no framing. Pages read everything through ``services.dashboard``
(:class:`pertinent.dashboard.service.DashboardService`). Every route answers HTML, a file or a redirect
(``response_model=None``); none is in the OpenAPI schema.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pertinent import __version__
from pertinent.api.deps import (
    DashboardDep,
    DashboardSession,
    SameOrigin,
    ServicesDep,
    came_over_tls,
    client_address,
    dashboard_session_id,
)
from pertinent.api.errors import ApiError
from pertinent.dashboard import STATIC_DIR, TEMPLATES_DIR, charts
from pertinent.dashboard.auth import (
    COOKIE,
    COOKIE_PATH,
    SESSION_MAX_AGE_S,
    issue,
    key_matches,
    safe_next,
    session_signer,
)
from pertinent.dashboard.login_limiter import retry_after_header
from pertinent.dashboard.pages import audit as audit_page
from pertinent.dashboard.pages import quality as quality_page
from pertinent.dashboard.pages.common import Window, when

NO_STORE = {"Cache-Control": "no-store"}
STATIC_FILES = frozenset({"dashboard.css"})
# No script may run (the pages have none), styles only from the stylesheet and style attributes (chart
# geometry: widths and positions; browsers that know style-src-elem refuse <style> elements), forms post only
# here, and no site may frame a page (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; style-src-elem 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: every response under ``/dashboard`` (pages, redirects, errors, 404s) gets
    ``SECURITY_HEADERS``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/dashboard" or path.startswith("/dashboard/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Add the dashboard's security headers to ``app``."""
    app.add_middleware(SecurityHeaders)


@cache
def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.filters.update(number=charts.fmt_number, percent=charts.fmt_percent, when=when, seconds=_seconds)
    return templates


def _seconds(value: float | None) -> str:
    """A duration for people.

    >>> _seconds(75.0), _seconds(None)
    ('1m 15s', '–')
    """
    if value is None:
        return "–"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


# login, logout, CSS; every POST checks its origin first
public = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False, dependencies=[SameOrigin])
pages = APIRouter(
    prefix="/dashboard", tags=["dashboard"], include_in_schema=False, dependencies=[SameOrigin, DashboardSession]
)


def _window(default: str) -> Any:
    return Query(default, description="the time window shown: 1h, 24h, 7d or 30d")


NextPath = Annotated[str, Query(max_length=500)]


def _page(
    request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    return _templates().TemplateResponse(
        request,
        f"dashboard/{template}",
        {"version": __version__, **context},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


# ---------------------------------------------------------------------------------------------------- login
@public.get("/login", response_class=HTMLResponse, response_model=None)
async def login_form(request: Request, next: NextPath = "/dashboard") -> HTMLResponse:  # noqa: A002
    return _page(request, "login.html", next=safe_next(next), error=None, page="login")


@public.post("/login", response_class=HTMLResponse, response_model=None)
async def login(
    request: Request,
    dashboard: DashboardDep,
    admin_key: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=500)] = "/dashboard",
) -> Response:  # noqa: A002
    """Check the admin key (constant time), always first: a correct key logs in whatever the limits say, so
    that nobody sharing the admin's address can lock the admin out. A wrong key is answered 429 with
    Retry-After while its address (or everyone) is over the failed-login limits (``LoginLimiter``; see
    :mod:`pertinent.dashboard.login_limiter` for why), else 401 and counted; logins and failures counted are
    audited."""
    target = safe_next(next)
    client = client_address(request, dashboard.proxies)
    limiter = dashboard.login_limiter
    if not admin_key:
        return _page(request, "login.html", 400, next=target, page="login", error="admin_key: enter the admin key")
    if key_matches(admin_key, dashboard.settings.admin_key):
        limiter.succeeded(client)
        sid = await run_in_threadpool(dashboard.log_in, client)
        response = RedirectResponse(target, status_code=303, headers=NO_STORE)
        response.set_cookie(
            COOKIE,
            issue(session_signer(admin_key), sid),
            max_age=SESSION_MAX_AGE_S,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=came_over_tls(request, dashboard.proxies),
        )
        return response
    wait = limiter.retry_after(client)
    if wait > 0:
        seconds = retry_after_header(wait)
        return _page(
            request,
            "login.html",
            429,
            next=target,
            page="login",
            error=f"admin_key: invalid admin key, and too many failed logins; try again in {seconds} s",
            headers={"Retry-After": seconds},
        )
    wait = limiter.failed(client)
    await run_in_threadpool(dashboard.audit_login, "dashboard_login_failed", client, wait)
    return _page(request, "login.html", 401, next=target, page="login", error="admin_key: invalid admin key")


@public.post("/logout", response_class=RedirectResponse, response_model=None)
async def logout(request: Request, dashboard: DashboardDep) -> Response:
    """End the session in the database (a copy of the cookie stops working too) and clear the cookie."""
    sid = dashboard_session_id(request, dashboard.settings.admin_key)
    await run_in_threadpool(dashboard.log_out, sid, client_address(request, dashboard.proxies))
    response = RedirectResponse("/dashboard/login", status_code=303, headers=NO_STORE)
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=came_over_tls(request, dashboard.proxies)
    )
    return response


@public.get("/static/{name}", response_class=FileResponse, response_model=None)
async def static(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise ApiError(
            404, "not_found", f"name: no dashboard file '{name[:100]}'", [{"field": "name", "message": "unknown file"}]
        )
    return FileResponse(STATIC_DIR / name, headers={"Cache-Control": "public, max-age=300"})


# ---------------------------------------------------------------------------------------------------- pages
# page name (service method and template) -> (path, default window)
PAGES: dict[str, tuple[str, str]] = {
    "overview": ("", "24h"),
    "segments": ("/segments", "30d"),
    "recommendations": ("/recommendations", "7d"),
    "experiments": ("/experiments", "30d"),
    "kpis": ("/kpis", "7d"),
    "models": ("/models", "30d"),
    "fairness": ("/fairness", "30d"),
}


def _add_page(name: str, path: str, default: str) -> None:
    async def page(request: Request, dashboard: DashboardDep, window: Window = _window(default)) -> HTMLResponse:
        data = await run_in_threadpool(getattr(dashboard, name), window)
        return _page(request, f"{name}.html", page=name, window=window, data=data)

    pages.add_api_route(
        path, page, methods=["GET"], response_class=HTMLResponse, response_model=None, name=f"dashboard_{name}"
    )


for _name, (_path, _default) in PAGES.items():
    _add_page(_name, _path, _default)


@pages.get("/audit", response_class=HTMLResponse, response_model=None, name="dashboard_audit")
async def audit(
    request: Request,
    services: ServicesDep,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=300)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=18)] = None,
) -> HTMLResponse:
    """The audit log, newest first, filtered like ``GET /v1/audit``; a refused filter is shown on the page."""
    data = await run_in_threadpool(audit_page.build, services.audit, kind, subject, actor, cursor)
    return _page(request, "audit.html", 400 if data.error else 200, page="audit", data=data)


@pages.get("/quality", response_class=HTMLResponse, response_model=None, name="dashboard_quality")
async def quality(request: Request, services: ServicesDep) -> HTMLResponse:
    """Data quality: tracking-plan violations, failed events, outliers and bots, duplicates, normalisation."""
    data = await run_in_threadpool(quality_page.build, services.quality)
    return _page(request, "quality.html", page="quality", data=data)


@pages.get("/profiles", response_class=HTMLResponse, response_model=None, name="dashboard_profiles")
async def profile_page(
    request: Request,
    dashboard: DashboardDep,
    user_id: Annotated[str | None, Query(max_length=256)] = None,
) -> HTMLResponse:
    """One profile looked up by user id: traits, predicted traits with their model versions, segments."""
    profile = await run_in_threadpool(dashboard.profile, user_id)
    status = 404 if user_id and profile is None else 200
    return _page(request, "profile.html", status, page="profiles", user_id=user_id or "", profile=profile)


@pages.post("/segments/report", response_class=RedirectResponse, response_model=None)
async def segments_report(dashboard: DashboardDep) -> Response:
    """Run the ML segment report on (a sample of) the stored profiles, then show the segments page."""
    await run_in_threadpool(dashboard.run_ml_report)
    return RedirectResponse("/dashboard/segments#ml-report", status_code=303, headers=NO_STORE)


router = APIRouter()
router.include_router(public)
router.include_router(pages)
