"""A minimal site in front of a headless CMS, personalised server-side by Pertinent.

The CMS (Contentful, Strapi, Sanity, ...: here ``content.json`` stands in for its delivery API) holds the pages
and their default content. On each page render the site asks Pertinent, with a short timeout, which hero to show
(``/v1/decide``) and which products to list (``/v1/recommendations``), and keeps the CMS's defaults when
Pertinent is slow or down. The page also loads the snippet, which records the page view and the clicks.

Run it beside a Pertinent server (docs/integrations.md, "A headless CMS site")::

    PERTINENT_URL=http://127.0.0.1:8000 PERTINENT_WRITE_KEY=... PERTINENT_IDENTITY_SECRET=... \\
        uvicorn --app-dir examples/headless_cms site:app --port 8080
"""

from __future__ import annotations

import html
import json
import os
import uuid
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from pertinent.client import PertinentClient, Visitor  # or a copy of src/pertinent/client.py in your site

CONTENT = Path(__file__).with_name("content.json")
VISITOR_COOKIE = "pt_aid"  # the snippet's anonymous-id cookie: the page and the snippet act for the same visitor


def load_content(path: Path = CONTENT) -> dict[str, Any]:
    """The CMS's content (a real site fetches it from the CMS's API, usually cached)."""
    return dict(json.loads(path.read_text()))


def create_site(client: PertinentClient, content: dict[str, Any], public_url: str, write_key: str) -> Starlette:
    """The site: ``client`` asks Pertinent; ``public_url`` is where browsers load the snippet from."""

    def home(request: Request) -> HTMLResponse:
        page = content["home"]
        visitor_id = request.cookies.get(VISITOR_COOKIE) or f"v-{uuid.uuid4().hex}"
        user_id = request.headers.get("x-demo-user")  # a signed-in user (your session), if any
        visitor = Visitor(
            user_agent=request.headers.get("user-agent"),
            accept_language=request.headers.get("accept-language"),
            ip=request.client.host if request.client else None,
            url=str(request.url),
            referrer=request.headers.get("referer"),
        )
        hero = client.decide(
            "home.hero", user_id=user_id, anonymous_id=visitor_id, visitor=visitor, default_html=page["hero"]
        )
        defaults = [{"item_id": i, **content["products"][i]} for i in page["featured"]]
        recs = client.recommendations(
            user_id or visitor_id, k=3, known=bool(user_id), visitor=visitor, default=defaults
        )
        items = "".join(
            f"<li data-item-id='{html.escape(str(i['item_id']))}'>"
            f"{html.escape(str(content['products'].get(i['item_id'], {}).get('title', i.get('title', i['item_id']))))}"
            "</li>"
            for i in recs.items
        )
        body = f"""<!doctype html>
<html><head><title>{html.escape(page["title"])}</title>
<script src="{public_url}/pertinent.js" data-write-key="{html.escape(write_key)}" async></script></head>
<body>
<section id="hero" data-decision-id="{html.escape(hero.decision_id or "")}"
  data-personalised="{str(hero.personalised).lower()}">{hero.html or ""}</section>
<h2>Picked for you</h2>
<ul id="picks" data-personalised="{str(recs.personalised).lower()}">{items}</ul>
</body></html>"""
        response = HTMLResponse(body)
        response.set_cookie(VISITOR_COOKIE, visitor_id, max_age=365 * 86400, samesite="lax")
        return response

    return Starlette(routes=[Route("/", home)])


def _from_env() -> Starlette:  # pragma: no cover - the runnable example
    url = os.environ.get("PERTINENT_URL", "http://127.0.0.1:8000")
    key = os.environ["PERTINENT_WRITE_KEY"]
    client = PertinentClient(url, key, timeout_s=0.25, identity_secret=os.environ.get("PERTINENT_IDENTITY_SECRET"))
    return create_site(client, load_content(), os.environ.get("PERTINENT_PUBLIC_URL", url), key)


app = _from_env() if os.environ.get("PERTINENT_WRITE_KEY") else None
