"""The admin dashboard: ``/dashboard`` pages (HTML, server-side SVG charts), behind a login form.

``GET /dashboard/login`` shows a form taking the admin key; ``POST /dashboard/login`` checks it and sets a
signed, HttpOnly, SameSite=Strict session cookie (see :mod:`pertinent.dashboard.auth`); ``POST
/dashboard/logout`` clears it. Without a valid session a page answers a redirect to the login form (HTML
clients) or a 401 JSON error naming ``session``. Pages read everything through ``services.dashboard``
(:class:`pertinent.dashboard.service.DashboardService`). Every route answers HTML, a file or a redirect
(``response_model=None``); none is in the OpenAPI schema.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from pertinent import __version__
from pertinent.api.deps import DashboardDep, DashboardSession
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
from pertinent.dashboard.pages.common import Window, when

NO_STORE = {"Cache-Control": "no-store"}
STATIC_FILES = frozenset({"dashboard.css"})


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


public = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)  # login, logout, CSS
pages = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False, dependencies=[DashboardSession])


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
    """Check the admin key (constant time). Failed logins are limited per client address and overall
    (``LoginLimiter``: 429 with Retry-After, the key is not even compared); failures and successes are audited."""
    target = safe_next(next)
    client = request.client.host if request.client else "unknown"
    limiter = dashboard.login_limiter
    wait = limiter.retry_after(client)
    if wait > 0:
        seconds = retry_after_header(wait)
        return _page(
            request,
            "login.html",
            429,
            next=target,
            page="login",
            error=f"admin_key: too many failed logins; try again in {seconds} s",
            headers={"Retry-After": seconds},
        )
    if not admin_key:
        return _page(request, "login.html", 400, next=target, page="login", error="admin_key: enter the admin key")
    if not key_matches(admin_key, dashboard.settings.admin_key):
        wait = limiter.failed(client)
        await run_in_threadpool(dashboard.audit_login, "dashboard_login_failed", client, wait)
        return _page(request, "login.html", 401, next=target, page="login", error="admin_key: invalid admin key")
    limiter.succeeded(client)
    await run_in_threadpool(dashboard.audit_login, "dashboard_login", client)
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    response.set_cookie(
        COOKIE,
        issue(session_signer(admin_key)),
        max_age=SESSION_MAX_AGE_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@public.post("/logout", response_class=RedirectResponse, response_model=None)
async def logout() -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303, headers=NO_STORE)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
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


@pages.post("/segments/report", response_class=RedirectResponse, response_model=None)
async def segments_report(dashboard: DashboardDep) -> Response:
    """Run the ML segment report on (a sample of) the stored profiles, then show the segments page."""
    await run_in_threadpool(dashboard.run_ml_report)
    return RedirectResponse("/dashboard/segments#ml-report", status_code=303, headers=NO_STORE)


router = APIRouter()
router.include_router(public)
router.include_router(pages)
