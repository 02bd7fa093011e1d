"""What analytics.js fetches on load: ``GET /v1/projects/{writeKey}/settings`` (docs/analytics-js.md).

``@segment/analytics-next`` loaded with ``cdnURL`` set to this server (and no inline ``cdnSettings``) asks here for
its source settings; the answer points its ``Segment.io`` destination at this server (the host and scheme the page
asked at, or those a trusted proxy forwards). Its events then arrive at the short collection paths (``/v1/t``,
``/v1/b``...: :mod:`pertinent.api.routes.collect`).
"""

from __future__ import annotations

import hmac
import re

from fastapi import APIRouter, Request, Response

from pertinent.api.deps import ServicesDep
from pertinent.api.errors import ApiError
from pertinent.api.openapi import error_responses
from pertinent.dashboard.forwarded import TrustedProxies
from pertinent.events.project_settings import ProjectSettings, project_settings

router = APIRouter(prefix="/v1", tags=["collect"])

# a Host header: a name or an IPv4 address, or a bracketed IPv6 address, and an optional port
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
SETTINGS_CACHE = "public, max-age=300"  # as a CDN would serve them; a new write key is seen within 5 minutes


def _known(key: str, write_key: str | None) -> bool:
    return bool(write_key) and hmac.compare_digest(key.encode(), (write_key or "").encode())


@router.get(
    "/projects/{write_key}/settings",
    name="analyticsjs_settings",
    response_model=ProjectSettings,
    responses=error_responses(404),
)
async def analyticsjs_settings(
    write_key: str, request: Request, response: Response, services: ServicesDep
) -> ProjectSettings:
    """analytics.js's source settings for the write key in the path: its `Segment.io` destination aimed at this
    server, no other destination, no remote plugin, remote metrics off. Public (the page already holds the write
    key); 404 for any other key, the admin key included (it must never sit in a page)."""
    if not _known(write_key, services.settings.write_key):
        raise ApiError(
            404,
            "not_found",
            "writeKey: no source has this write key",
            [{"field": "writeKey", "message": "no source has this write key"}],
        )
    proxies = TrustedProxies(services.settings.trusted_proxies)
    peer = request.client.host if request.client else None
    host = proxies.host(peer, request.headers.get("host"), request.headers.get("x-forwarded-host"))
    if not host or not _HOST.fullmatch(host):
        shown = repr((host or "")[:100])
        raise ApiError(
            400,
            "invalid_request",
            f"host: {shown} is not a host name and port",
            [{"field": "host", "message": "not a host name and port"}],
        )
    scheme = proxies.scheme(peer, request.url.scheme, request.headers.get("x-forwarded-proto"))
    response.headers["Cache-Control"] = SETTINGS_CACHE
    return project_settings(write_key, host, scheme)
