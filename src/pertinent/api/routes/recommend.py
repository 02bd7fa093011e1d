"""Catalogue and recommendations.

* ``POST /v1/items``, ``GET /v1/items/{item_id}``, ``DELETE /v1/items/{item_id}``: admin key (Bearer).
* ``GET /v1/recommendations`` and ``GET /v1/items/{item_id}/similar``: the write key (HTTP Basic, as sites
  send it) or the admin key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

import pertinent.api.convertors  # noqa: F401  (registers {item_id:id})
from pertinent.api import request_bodies
from pertinent.api.body import read_json
from pertinent.api.deps import AdminAuth, ServicesDep, SiteAuth, require_site_or_admin, user_hash_of
from pertinent.api.errors import ApiError, ErrorResponse
from pertinent.api.ids import NOT_BLANK
from pertinent.api.openapi import SITE_KEY
from pertinent.api.query import comma_list, query_docs, validate_query
from pertinent.api.responses import DEGRADED, JSON, served
from pertinent.privacy.audit import ADMIN_KEY
from pertinent.recommend.config import BusinessRules
from pertinent.recommend.items import Item, ItemProblem, UnknownItem
from pertinent.recommend.lists import Recommendations, SimilarItems

MAX_ITEMS_BODY = 5 * 1024 * 1024
MAX_ITEMS_PER_REQUEST = 10_000
MAX_K = 100


ItemId = Annotated[
    str, Path(min_length=1, max_length=200, description="the item id as in events' product_id"), NOT_BLANK
]

router = APIRouter(prefix="/v1", tags=["recommendations"])


def _factors(value: str | None, name: str) -> dict[str, float]:
    """``id:factor,id:factor`` -> {id: factor} (the last ``:`` separates, so ids may contain colons)."""
    out: dict[str, float] = {}
    for part in comma_list(value, name):
        key, sep, number = part.rpartition(":")
        try:
            factor = float(number)
        except ValueError:
            factor = float("nan")
        if not sep or not key.strip() or not (0 < factor < float("inf")):
            raise ApiError(
                400,
                "invalid_request",
                f"{name}: '{part[:100]}' must be name:factor with a factor > 0",
                [{"field": name, "message": "must be name:factor with a finite factor > 0"}],
            )
        out[key.strip()] = factor
    return out


def _rules(
    pin: str | None,
    boost: str | None,
    boost_categories: str | None,
    bury: str | None,
    bury_categories: str | None,
    diversity: float | None,
) -> BusinessRules:
    try:
        return BusinessRules(
            pin=comma_list(pin, "pin"),
            boost=_factors(boost, "boost"),
            boost_categories=_factors(boost_categories, "boost_categories"),
            bury=comma_list(bury, "bury"),
            bury_categories=comma_list(bury_categories, "bury_categories"),
            diversity=diversity or 0.0,
        )
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "rules", "message": e["msg"].removeprefix("Value error, ")}
            for e in exc.errors()
        ]
        raise ApiError(400, "invalid_request", f"{errors[0]['field']}: {errors[0]['message']}", errors) from None


class RuleParams:
    """Per-request business rules, on top of the configured ones (``RecommendConfig.rules``).

    >>> r = RuleParams(pin="a,b", boost="c:2", boost_categories=None, bury=None, bury_categories="sale",
    ...                diversity=0.3).rules
    >>> r.pin, r.boost, r.bury_categories, r.diversity
    (['a', 'b'], {'c': 2.0}, ['sale'], 0.3)
    """

    def __init__(
        self,
        pin: str | None = Query(None, description="comma-separated item ids shown first, in this order"),
        boost: str | None = Query(None, description="comma-separated item:factor (factor > 1 lifts, < 1 lowers)"),
        boost_categories: str | None = Query(None, description="comma-separated category:factor"),
        bury: str | None = Query(None, description="comma-separated item ids moved below all others"),
        bury_categories: str | None = Query(None, description="comma-separated categories moved below all others"),
        diversity: float | None = Query(
            None, ge=0, le=1, description="MMR re-ranking: 0 = relevance only, 1 = novelty only"
        ),
    ) -> None:
        self.rules = _rules(pin, boost, boost_categories, bury, bury_categories, diversity)


Rules = Annotated[RuleParams, Depends()]


class ItemsUpserted(BaseModel):
    """The answer of ``POST /v1/items``: 200 when any item was stored (or none was sent), else 400 with the first
    problem as ``code`` and ``message``."""

    success: bool = Field(description="true when no item was rejected")
    received: int
    stored: int
    rejected: int
    errors: list[ItemProblem] = Field(description="one entry per problem of each rejected item")
    code: str | None = Field(None, description="only on 400: invalid_request")
    message: str | None = Field(None, description="only on 400: the first problem")


class ItemDeleted(BaseModel):
    success: bool
    item_id: str


class RecommendQuery(BaseModel):
    """The query of ``GET /v1/recommendations``, validated as one model (FastAPI validates ``Query`` parameters one
    by one, which cost more than the recommendation: see docs/benchmarks.md).

    >>> RecommendQuery.model_validate({"user_id": "u1", "k": "4", "other": "ignored"}).k
    4
    """

    model_config = ConfigDict(extra="ignore")

    user_id: Annotated[str, NOT_BLANK] = Field(
        min_length=1, max_length=256, description="userId (or anonymousId) as sent in events"
    )
    user_hash: str | None = Field(
        None,
        max_length=128,
        description="with a userId and the write key: hex HMAC-SHA256(identity secret, user_id) from your server (or "
        "the X-User-Hash header); without it user_id is looked up as an anonymous id only",
    )
    k: int = Field(10, ge=1, le=MAX_K, description="how many items (1-100)")
    include_categories: str | None = Field(None, description="comma-separated: only items in these categories")
    exclude_categories: str | None = Field(None, description="comma-separated: no items in these categories")
    exclude: str | None = Field(None, description="comma-separated item ids never to recommend")
    pin: str | None = Field(None, description="comma-separated item ids shown first, in this order")
    boost: str | None = Field(None, description="comma-separated item:factor (factor > 1 lifts, < 1 lowers)")
    boost_categories: str | None = Field(None, description="comma-separated category:factor")
    bury: str | None = Field(None, description="comma-separated item ids moved below all others")
    bury_categories: str | None = Field(None, description="comma-separated categories moved below all others")
    diversity: float | None = Field(
        None, ge=0, le=1, description="MMR re-ranking: 0 = relevance only, 1 = novelty only"
    )


async def recommendations_endpoint(request: Request) -> Response:
    """``GET /v1/recommendations`` as a plain Starlette endpoint: ``create_app`` puts it in the app's fast lane
    (``PertinentApp``: FastAPI's middleware, route matching and dependency solving cost more than a cached list),
    also behind the documented FastAPI route below. Auth first (401/403), then the query (400 naming the field)."""
    services = request.app.state.services
    role = await require_site_or_admin(request, services)
    q = validate_query(RecommendQuery, request)
    verified = services.identity.verified(q.user_id, user_hash_of(request, q.user_hash), role == "admin")
    inc = comma_list(q.include_categories, "include_categories")
    exc_cats = comma_list(q.exclude_categories, "exclude_categories")
    skip = comma_list(q.exclude, "exclude")
    rules = None
    if any(v is not None for v in (q.pin, q.boost, q.boost_categories, q.bury, q.bury_categories, q.diversity)):
        rules = _rules(q.pin, q.boost, q.boost_categories, q.bury, q.bury_categories, q.diversity)
    service = services.recommend
    if service.runs_inline():  # SQLite reads of microseconds, nothing to load: no thread-pool hop
        body = service.recommend(q.user_id, q.k, inc, exc_cats, skip, rules, verified=verified)
    else:
        body = await run_in_threadpool(
            lambda: service.recommend(q.user_id, q.k, inc, exc_cats, skip, rules, verified=verified)
        )
    return served(body)  # as built (the response model below documents it); X-Pertinent-Degraded when flagged


@router.get(
    "/recommendations",
    response_class=JSON,
    response_model=Recommendations,
    openapi_extra={"parameters": query_docs(RecommendQuery), **SITE_KEY},
)
async def recommendations(request: Request) -> Response:
    """Top-k items for a user from the served model; popular items for new users or before training.

    Each item has a short ``reason`` and the business ``rule`` that moved it (``pin``, ``boost``, ``demote``,
    ``bury`` or null). Needs the write key (HTTP Basic) or the admin key (Bearer); with the write key a user id is
    used only with its ``user_hash`` (docs/api.md, identity verification), else it is looked up as an anonymous
    id."""
    return await recommendations_endpoint(request)


# Registered before GET /items/{item_id}: the id convertor matches slashes, so ".../similar" must win first.
@router.get("/items/{item_id:id}/similar", dependencies=[SiteAuth], response_model=SimilarItems)
async def similar(
    services: ServicesDep,
    rules: Rules,
    response: Response,
    item_id: ItemId,
    k: int = Query(10, ge=1, le=MAX_K, description="how many items (1-100)"),
) -> SimilarItems:
    """Items similar to one item ("viewed this, also viewed"), with the same business rules; while the database
    is unreachable, popular items (``degraded``, header ``X-Pertinent-Degraded: storage``)."""
    found = await run_in_threadpool(services.recommend.similar, item_id, k, rules.rules)
    if found.degraded:
        response.headers[DEGRADED] = found.degraded
    return found


@router.post(
    "/items",
    dependencies=[AdminAuth],
    response_model=ItemsUpserted,
    responses={
        400: {
            "model": ItemsUpserted | ErrorResponse,
            "description": 'Every item refused (with each one\'s problems), or a body that is not `{"items": [...]}`',
        }
    },
    openapi_extra=request_bodies.ITEMS,
)
async def upsert_items(request: Request, services: ServicesDep) -> JSON:
    """Create or replace catalogue items: ``{"items": [...]}``; invalid rows are reported, valid rows kept."""
    body = await read_json(request, MAX_ITEMS_BODY, salvage=True)  # one odd item fails alone
    raws = body.get("items") if isinstance(body, dict) else None
    if not isinstance(raws, list):
        raise ApiError(
            400,
            "invalid_request",
            "items: must be a list of item objects",
            [{"field": "items", "message": "must be a list of item objects"}],
        )
    if len(raws) > MAX_ITEMS_PER_REQUEST:
        raise ApiError(
            400,
            "invalid_request",
            f"items: at most {MAX_ITEMS_PER_REQUEST} per request",
            [{"field": "items", "message": f"at most {MAX_ITEMS_PER_REQUEST} per request"}],
        )
    result = await run_in_threadpool(services.recommend.upsert_items, raws, ADMIN_KEY)
    out = result.to_json()  # sent as is (the status depends on it): ItemsUpserted documents it
    status = 200 if result.stored or not result.errors else 400
    if status == 400:
        first = result.errors[0]
        out.update(code="invalid_request", message=f"{first['field']}: {first['message']}")
    return JSON(out, status)


@router.get("/items/{item_id:id}", dependencies=[AdminAuth], response_model=Item)
async def get_item(services: ServicesDep, item_id: ItemId) -> Item:
    """One catalogue item."""
    item = await run_in_threadpool(services.recommend.get_item, item_id)
    if item is None:
        raise UnknownItem(item_id)
    return item


@router.delete("/items/{item_id:id}", dependencies=[AdminAuth], response_model=ItemDeleted)
async def delete_item(services: ServicesDep, item_id: ItemId) -> ItemDeleted:
    """Remove an item from the catalogue (it stays in trained models until the next training)."""
    if not await run_in_threadpool(services.recommend.delete_item, item_id, ADMIN_KEY):
        raise UnknownItem(item_id)
    return ItemDeleted(success=True, item_id=item_id)
