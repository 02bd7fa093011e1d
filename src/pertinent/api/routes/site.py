"""What pages load: the tracking snippet, the public catalogue, and the demo shop.

* ``GET /pertinent.js``: the snippet (``pertinent/browser/static/pertinent.js``, no build step).
* ``GET /v1/catalog`` and ``GET /v1/catalog/categories``: available items as a site shows them, with the
  write key (HTTP Basic) or the admin key (Bearer).
* ``GET /demo/...``: the demo shop, only when ``PERTINENT_DEMO_SITE`` is on (``pertinent demo`` does it);
  its pages are built on the snippet and the public API alone. ``POST /demo/sign-in`` stands in for a shop's own
  login: it signs whatever user id it is given (``user_hash``, identity verification), so the demo shop must never
  run beside real data.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

import pertinent.api.convertors  # noqa: F401  (registers {item_id:id})
from pertinent import __version__
from pertinent.api.body import read_model
from pertinent.api.deps import ServicesDep, SiteAuth
from pertinent.api.errors import ApiError
from pertinent.api.ids import NOT_BLANK
from pertinent.api.query import comma_list
from pertinent.browser import STATIC_DIR, TEMPLATES_DIR
from pertinent.browser.catalogue import MAX_LIMIT, CatalogueCategories, CatalogueLookup, CataloguePage
from pertinent.privacy.identity_proof import user_hash

router = APIRouter(tags=["site"])
SNIPPET_CACHE = "public, max-age=300"
DEMO_STATIC = frozenset({"shop.css", "shop.js"})


@router.get(
    "/pertinent.js",
    response_class=FileResponse,
    response_model=None,
    responses={200: {"description": "the snippet", "content": {"text/javascript": {"schema": {"type": "string"}}}}},
)
async def snippet() -> FileResponse:
    """The tracking snippet: `<script src="/pertinent.js" data-write-key="..." async></script>`."""
    return FileResponse(
        STATIC_DIR / "pertinent.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": SNIPPET_CACHE},
    )


@router.get("/v1/catalog", dependencies=[SiteAuth], response_model=CatalogueLookup | CataloguePage)
async def catalogue(
    services: ServicesDep,
    ids: str | None = Query(None, max_length=20_000, description=f"comma-separated item ids (at most {MAX_LIMIT})"),
    category: str | None = Query(None, min_length=1, max_length=200, description="only items in this category"),
    limit: int = Query(24, ge=1, le=MAX_LIMIT, description=f"page size (1-{MAX_LIMIT})"),
    after: str | None = Query(None, min_length=1, max_length=200, description="the `next` cursor of the last page"),
) -> CatalogueLookup | CataloguePage:
    """Available catalogue items with their public fields: by id, or a page (optionally of one category)."""
    wanted = comma_list(ids, "ids")
    if len(wanted) > MAX_LIMIT:
        raise ApiError(
            400,
            "invalid_request",
            f"ids: at most {MAX_LIMIT} per request",
            [{"field": "ids", "message": f"at most {MAX_LIMIT} per request"}],
        )
    return await run_in_threadpool(services.catalogue.items, wanted or None, category, limit, after)


@router.get("/v1/catalog/categories", dependencies=[SiteAuth], response_model=CatalogueCategories)
async def catalogue_categories(services: ServicesDep) -> CatalogueCategories:
    """Categories of the available items, with item counts."""
    return await run_in_threadpool(services.catalogue.categories)


# ------------------------------------------------------------------------------------------------ demo shop
@cache
def _templates() -> Jinja2Templates:
    return Jinja2Templates(directory=TEMPLATES_DIR)


def require_demo(services: ServicesDep) -> None:
    if not services.settings.demo_site:
        raise ApiError(
            404,
            "not_found",
            "demo: the demo shop is off (PERTINENT_DEMO_SITE=true, or `pertinent demo`)",
            [{"field": "path", "message": "demo shop disabled"}],
        )


demo = APIRouter(prefix="/demo", tags=["demo"], include_in_schema=False, dependencies=[Depends(require_demo)])
Name = Annotated[str, Path(min_length=1, max_length=200), NOT_BLANK]


def _page(request: Request, services: ServicesDep, template: str, **context: Any) -> HTMLResponse:
    return _templates().TemplateResponse(
        request,
        f"demo/{template}",
        {"write_key": services.settings.write_key, "version": __version__, **context},
    )


@demo.get("/", response_class=HTMLResponse, response_model=None)
async def demo_home(request: Request, services: ServicesDep) -> HTMLResponse:
    return _page(request, services, "home.html", page="home")


@demo.get("/products/{item_id:id}", response_class=HTMLResponse, response_model=None)
async def demo_product(request: Request, services: ServicesDep, item_id: Name) -> HTMLResponse:
    return _page(request, services, "product.html", page="product", item_id=item_id)


@demo.get("/category/{name:id}", response_class=HTMLResponse, response_model=None)
async def demo_category(request: Request, services: ServicesDep, name: Name) -> HTMLResponse:
    return _page(request, services, "category.html", page="category", category=name)


@demo.get("/cart", response_class=HTMLResponse, response_model=None)
async def demo_cart(request: Request, services: ServicesDep) -> HTMLResponse:
    return _page(request, services, "cart.html", page="cart")


class DemoSignIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=100)


class DemoSignedIn(BaseModel):
    """What a shop's server hands its page after login: the user id and its proof (``user_hash``)."""

    user_id: str
    user_hash: str | None


@demo.post("/sign-in", response_model=DemoSignedIn)
async def demo_sign_in(request: Request, services: ServicesDep) -> DemoSignedIn:
    """The demo's stand-in for a login: any user id, signed with the identity secret as a shop's server would."""
    body = await read_model(request, DemoSignIn, 4096)
    secret = services.settings.identity_secret
    return DemoSignedIn(user_id=body.user_id, user_hash=user_hash(secret, body.user_id) if secret else None)


@demo.get("/static/{name}", response_class=FileResponse, response_model=None)
async def demo_static(name: Annotated[str, Path(max_length=100)]) -> FileResponse:
    if name not in DEMO_STATIC:
        raise ApiError(
            404, "not_found", f"name: no demo file '{name[:100]}'", [{"field": "name", "message": "unknown file"}]
        )
    return FileResponse(STATIC_DIR / "demo" / name, headers={"Cache-Control": "no-cache"})


router.include_router(demo)
