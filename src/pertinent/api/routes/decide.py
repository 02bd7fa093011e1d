"""Decisions and their configuration.

* ``GET /v1/decide``: what a slot shows to a user — the write key (HTTP Basic, as the browser snippet sends
  it) or the admin key.
* Blocks, slots and experiments (``/v1/blocks``, ``/v1/slots``, ``/v1/experiments``: list, get, put, delete,
  history), ``/v1/experiments/{key}/start|stop|results``, ``/v1/slots/{id}/ope`` and ``/bandits``,
  ``/v1/block-types``: the admin key (Bearer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pertinent.api import request_bodies
from pertinent.api.body import read_json
from pertinent.api.deps import AdminAuth, ServicesDep, check_site_or_admin
from pertinent.api.errors import ApiError
from pertinent.api.ids import NOT_BLANK, NotBlank
from pertinent.api.openapi import SITE_KEY, error_responses
from pertinent.api.query import query_docs, validate_query
from pertinent.api.responses import JSON, served
from pertinent.decide.analysis import ExperimentResults
from pertinent.decide.bandits import BanditState
from pertinent.decide.blocks import BLOCK_SCHEMAS, DOC_ID
from pertinent.decide.comparison import VersionComparison
from pertinent.decide.documents import Deleted, Document, DocumentHistory
from pertinent.decide.results import OpeReport
from pertinent.decide.serve import Decision
from pertinent.decide.targeting import request_context, valid_timezone
from pertinent.privacy.audit import ADMIN_KEY, Actor

if TYPE_CHECKING:
    from pertinent.decide.service import DecideService

MAX_DOC_BODY = 1024 * 1024

router = APIRouter(prefix="/v1", tags=["decide"])
admin = APIRouter(prefix="/v1", tags=["decide admin"], dependencies=[AdminAuth])

DocId = Annotated[str, Path(min_length=1, max_length=200, pattern=DOC_ID, description="document id")]


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_request", f"{field}: {message}", [{"field": field, "message": message}])


def _header(headers: dict[str, str], *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    return None


class DecideQuery(BaseModel):
    """The query of ``GET /v1/decide``, validated as one model (FastAPI validates separate ``Query`` parameters
    one by one, which cost more than the rest of the request: see docs/benchmarks.md).

    >>> DecideQuery.model_validate({"slot": "home.hero", "user_id": "u1", "other": "ignored"}).user_id
    'u1'
    """

    model_config = ConfigDict(extra="ignore")

    slot: Annotated[str, NOT_BLANK] = Field(min_length=1, max_length=200, description="the slot id, e.g. home.hero")
    user_id: NotBlank = Field(None, min_length=1, max_length=256, description="userId as sent in events")
    anonymous_id: NotBlank = Field(None, min_length=1, max_length=256, description="anonymousId (device)")
    user_hash: str | None = Field(
        None,
        max_length=128,
        description="with user_id and the write key: hex HMAC-SHA256(identity secret, user_id) from your server (or "
        "the X-User-Hash header); without it a known user id is not used: the decision is made for anonymous_id, "
        "or for nobody in particular",
    )
    country: str | None = Field(
        None, min_length=1, max_length=64, description="country code (else the CF-IPCountry or X-Country header)"
    )
    region: str | None = Field(
        None, min_length=1, max_length=64, description="region code (else the X-Region or CF-Region header)"
    )
    timezone: str | None = Field(
        None, min_length=1, max_length=64, description="IANA time zone of the visitor, for local hour and weekday rules"
    )
    locale: str | None = Field(None, min_length=1, max_length=64, description="else from Accept-Language")
    url: str | None = Field(None, max_length=2000, description="page URL (UTM parameters)")
    referrer: str | None = Field(None, max_length=2000, description="page referrer")


async def decide_query(request: Request) -> DecideQuery:
    q = validate_query(DecideQuery, request)
    if q.user_id is None and q.anonymous_id is None:
        raise _bad("user_id", "give user_id or anonymous_id")
    if q.timezone is not None and not valid_timezone(q.timezone):
        raise _bad("timezone", f"unknown IANA time zone '{q.timezone[:64]}'")
    return q


async def decide_endpoint(request: Request) -> Response:
    """``GET /v1/decide`` as a plain Starlette endpoint: ``create_app`` puts it in the app's fast lane
    (``PertinentApp``: FastAPI's middleware, route matching and dependency solving cost as much as the decision),
    also behind the documented FastAPI route below. Auth first (401/403), then the query (400 naming the field)."""
    services = request.app.state.services
    # one dict of the headers (the first of repeated ones, as Starlette's Headers.get): nine lookups follow
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(request.scope["headers"])}
    role = check_site_or_admin(services, headers.get("authorization"))
    q = await decide_query(request)
    verified = services.identity.verified(q.user_id, q.user_hash or headers.get("x-user-hash"), role == "admin")
    ua = headers.get("user-agent")
    country = q.country or _header(headers, "cf-ipcountry", "x-country")
    region = q.region or _header(headers, "x-region", "cf-region-code", "cf-region")
    locale = q.locale
    if locale is None:
        accept = headers.get("accept-language") or ""
        locale = accept.split(",")[0].split(";")[0].strip()[:64] or None
    city = None
    if country is None and services.ingest.geo is not None and request.client is not None:
        where = services.ingest.geo.locate(request.client.host)  # no header: the client address (geo/locate.py)
        if where is not None:
            country, region, city = where.country, region or where.region, where.city
    context = request_context(ua, country, region, q.timezone, locale, q.referrer, q.url)
    if city:
        context["city"] = city
    raw: dict[str, Any] = {}
    if ua:
        raw["userAgent"] = ua[:1000]
    if q.timezone:
        raw["timezone"] = q.timezone
    if locale:
        raw["locale"] = locale
    if country:
        raw["location"] = {"country": country[:64], **({"region": region[:64]} if region else {})}
    serving = services.decide.serving
    if serving.runs_inline(q.slot):  # SQLite reads of a few us: no thread pool hop (docs/benchmarks.md)
        return served(
            serving.decide(q.slot, q.user_id, q.anonymous_id, context, raw_context=raw or None, verified=verified)
        )
    decision = await run_in_threadpool(
        serving.decide, q.slot, q.user_id, q.anonymous_id, context, raw_context=raw or None, verified=verified
    )
    return served(decision)  # X-Pertinent-Degraded: the slot's default while storage is away


@router.get(
    "/decide",
    response_class=JSON,
    response_model=Decision,  # for the documentation: the endpoint sends its JSON itself (fast lane)
    responses=error_responses(404),
    openapi_extra={"parameters": query_docs(DecideQuery), **SITE_KEY},
)
async def decide(request: Request) -> Response:
    """What ``slot`` shows to this user now: the block (type and content, and HTML when the block has a
    template), the variant, why (rule, experiment, bandit, recommender or default) and a decision id to send
    back with clicks (``properties.decision_id``). Needs the write key (HTTP Basic) or the admin key (Bearer);
    with the write key, ``user_id`` counts only with its ``user_hash`` (docs/api.md, identity verification)."""
    return await decide_endpoint(request)


# ------------------------------------------------------------------------------------------ configuration
class BlockTypes(BaseModel):
    """The JSON Schema of each block type's ``content``."""

    types: dict[str, dict[str, Any]]


class SlotBandits(BaseModel):
    """The live bandits of a slot."""

    slot: str
    bandits: list[BanditState]


@admin.get("/block-types", response_model=BlockTypes)
async def block_types() -> BlockTypes:
    """The JSON Schema of each block type's ``content``."""
    return BlockTypes(types=BLOCK_SCHEMAS)


def _crud(
    kind: str,
    plural: str,
    put: Callable[[DecideService], Callable[[Any, str, Actor], Document]],
    delete: Callable[[DecideService], Callable[[str, Actor], Deleted]],
    body: dict[str, Any],
    conflicts: tuple[str, ...] = (),
) -> None:
    """The routes of one kind of document; ``body`` documents what a PUT takes, ``conflicts`` the methods that may
    answer 409 (a change another document depends on)."""
    fields: dict[str, Any] = {plural: (list[Document], ...)}
    listing = create_model(f"{plural.title()}List", **fields)  # {"blocks": [...]}, {"slots": [...]}...

    async def list_docs(services: ServicesDep) -> Any:
        return {plural: await run_in_threadpool(services.decide.list_documents, kind)}

    async def get_doc(services: ServicesDep, doc_id: DocId) -> Document:
        return await run_in_threadpool(services.decide.get, kind, doc_id)

    async def put_doc(request: Request, services: ServicesDep, doc_id: DocId) -> Document:
        body = await read_json(request, MAX_DOC_BODY)
        return await run_in_threadpool(put(services.decide), body, doc_id, ADMIN_KEY)

    async def delete_doc(services: ServicesDep, doc_id: DocId) -> Deleted:
        return await run_in_threadpool(delete(services.decide), doc_id, ADMIN_KEY)

    async def history(services: ServicesDep, doc_id: DocId) -> DocumentHistory:
        versions = await run_in_threadpool(services.decide.history, kind, doc_id)
        return DocumentHistory(id=doc_id, versions=versions)

    one = f"/{plural}/{{doc_id}}"
    admin.add_api_route(f"/{plural}", list_docs, methods=["GET"], summary=f"List {plural}", response_model=listing)
    admin.add_api_route(one, get_doc, methods=["GET"], summary=f"One {kind}", response_model=Document)
    admin.add_api_route(
        one,
        put_doc,
        methods=["PUT"],
        summary=f"Create or replace a {kind} (validated; a new version)",
        response_model=Document,
        responses=error_responses(409) if "PUT" in conflicts else None,
        openapi_extra=body,
    )
    admin.add_api_route(
        one,
        delete_doc,
        methods=["DELETE"],
        summary=f"Delete a {kind}",
        response_model=Deleted,
        responses=error_responses(409) if "DELETE" in conflicts else None,
    )
    admin.add_api_route(
        f"{one}/history",
        history,
        methods=["GET"],
        summary=f"Every version of a {kind}",
        response_model=DocumentHistory,
    )


_crud("block", "blocks", lambda d: d.put_block, lambda d: d.delete_block, request_bodies.BLOCK, ("PUT", "DELETE"))
_crud("slot", "slots", lambda d: d.put_slot, lambda d: d.delete_slot, request_bodies.SLOT)
_crud(
    "experiment",
    "experiments",
    lambda d: d.put_experiment,
    lambda d: d.delete_experiment,
    request_bodies.EXPERIMENT,
    ("DELETE",),
)


@admin.post("/experiments/{doc_id}/start", response_model=Document)
async def start_experiment(services: ServicesDep, doc_id: DocId) -> Document:
    """Start assigning units (status running)."""
    return await run_in_threadpool(services.decide.start_experiment, doc_id, ADMIN_KEY)


@admin.post("/experiments/{doc_id}/stop", response_model=Document)
async def stop_experiment(services: ServicesDep, doc_id: DocId) -> Document:
    """Stop assigning units (status stopped); results stay available."""
    return await run_in_threadpool(services.decide.stop_experiment, doc_id, ADMIN_KEY)


@admin.get("/experiments/{doc_id}/results", response_model=ExperimentResults, response_model_exclude_unset=True)
async def experiment_results(services: ServicesDep, doc_id: DocId) -> ExperimentResults:
    """Units, SRM check and, per metric and treatment, the test, lift with CI, chance to win, the always-valid
    sequential p-value and corrected p-values — from the stored decisions and attributed outcomes."""
    return await run_in_threadpool(services.decide.results, doc_id)


@admin.get("/experiments/{doc_id}/versions", response_model=VersionComparison, responses=error_responses(409))
async def experiment_versions(services: ServicesDep, doc_id: DocId) -> VersionComparison:
    """A recommender experiment (a slot's ``recommender_experiment`` action): per model version, impressions
    (decisions), clicked impressions and CTR, conversions and conversion rate with 95% Wilson intervals, and the
    experiment's analysis. 409 when no slot runs the experiment as a recommender experiment."""
    return await run_in_threadpool(services.decide.versions, doc_id)


@admin.get("/slots/{doc_id}/ope", response_model=OpeReport, response_model_exclude_unset=True)
async def slot_ope(
    services: ServicesDep,
    doc_id: DocId,
    target: str = Query("uniform", max_length=200, description="uniform, greedy or arm:VARIANT"),
    since: float = Query(0.0, ge=0, description="only decisions at or after this epoch time"),
    value: bool = Query(False, description="reward = summed outcome values instead of 0/1"),
) -> OpeReport:
    """Off-policy evaluation of a target policy on the slot's logged decisions: IPS, SNIPS, doubly robust."""
    return await run_in_threadpool(services.decide.ope, doc_id, target, since, None, value)


@admin.get("/slots/{doc_id}/bandits", response_model=SlotBandits)
async def slot_bandits(services: ServicesDep, doc_id: DocId) -> SlotBandits:
    """The slot's bandits: what they learned and their current arm probabilities."""
    return SlotBandits(slot=doc_id, bandits=await run_in_threadpool(services.decide.bandit_states, doc_id))
