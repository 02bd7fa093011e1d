"""The server-side flow a page render uses (pertinent.client): personalised answers from a live server, the
page's defaults when the server is down, slow or refuses, and the headless-CMS example site built on it."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi.testclient import TestClient

from pertinent.client import PertinentClient, Visitor
from tests.support.common import ADMIN, IDENTITY_SECRET, WRITE_KEY, LiveServer, make_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "headless_cms"
BLOCK = {"type": "headline", "content": {"title": "Hello again"}, "template": "<h1>{{ title }}</h1>"}
SLOT = {
    "variants": {"plain": "hero", "mobile": "hero-mobile"},
    "rules": [
        {
            "when": {"type": "context", "field": "device_type", "op": "eq", "value": "mobile"},
            "then": {"kind": "variant", "variant": "mobile"},
        }
    ],
    "default": {"kind": "variant", "variant": "plain"},
}
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def live(tmp_path) -> Iterator[LiveServer]:
    from pertinent.services import Services

    svc = Services.build(make_settings(tmp_path, identity_secret=IDENTITY_SECRET))
    server = LiveServer(svc)
    with httpx.Client(base_url=server.url, headers=ADMIN) as admin:  # configured through the API, as a team would
        assert admin.put("/v1/blocks/hero", json=BLOCK).status_code == 200
        assert admin.put("/v1/blocks/hero-mobile", json={**BLOCK, "content": {"title": "On the go"}}).status_code == 200
        assert admin.put("/v1/slots/home.hero", json=SLOT).status_code == 200
    for i in range(3):  # something popular to recommend
        msg = {"type": "track", "userId": f"buyer-{i}", "event": "Product Viewed"}
        assert svc.ingest.ingest([{**msg, "properties": {"product_id": "boots-trail"}}]).stored == 1
    yield server
    server.stop()
    svc.close()


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def slow_server() -> Iterator[str]:
    """Accepts connections and answers after 3 s: slower than any page can wait."""
    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            release.wait(3)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()
    server.server_close()


def test_server_up_gives_the_personalised_answer(live):
    with PertinentClient(live.url, WRITE_KEY, timeout_s=5, identity_secret=IDENTITY_SECRET) as client:
        hero = client.decide("home.hero", anonymous_id="a-1", default_html="<h1>Default</h1>")
        assert hero.personalised and hero.error is None
        assert hero.html == "<h1>Hello again</h1>" and hero.variant == "plain" and len(hero.decision_id) == 32
        mobile = client.decide("home.hero", anonymous_id="a-1", visitor=Visitor(user_agent=IPHONE))
        assert mobile.html == "<h1>On the go</h1>"  # the visitor's user agent was forwarded for targeting
        signed_in = client.decide("home.hero", user_id="buyer-0", default_html="<h1>Default</h1>")
        assert signed_in.personalised  # proven with the identity secret (else the write key would refuse it)
        recs = client.recommendations("a-1", k=3, default=["tent-2p"])
        assert recs.personalised and recs.source == "popularity" and recs.item_ids == ["boots-trail"]


def test_server_down_gives_the_defaults(tmp_path):
    with PertinentClient(f"http://127.0.0.1:{_free_port()}", WRITE_KEY, timeout_s=0.5) as client:
        hero = client.decide("home.hero", anonymous_id="a-1", default_html="<h1>Default</h1>")
        assert not hero.personalised and hero.html == "<h1>Default</h1>" and hero.error.startswith("ConnectError")
        recs = client.recommendations("a-1", default=["tent-2p", {"item_id": "lamp-usb", "title": "Lamp"}])
        assert recs.items == [{"item_id": "tent-2p"}, {"item_id": "lamp-usb", "title": "Lamp"}]
        assert recs.error.startswith("resting")  # after a failure the client stops asking for cooldown_s


def test_slow_server_gives_the_defaults_at_the_timeout(slow_server):
    with PertinentClient(slow_server, WRITE_KEY, timeout_s=0.2, cooldown_s=0) as client:
        started = time.monotonic()
        hero = client.decide("home.hero", anonymous_id="a-1", default_html="<h1>Default</h1>")
        waited = time.monotonic() - started
        assert hero.html == "<h1>Default</h1>" and hero.error.startswith("ReadTimeout")
        assert waited < 2.5  # the page did not wait for the 3 s answer (a bound, not a measurement)
        recs = client.recommendations("a-1", default=["tent-2p"])
        assert recs.item_ids == ["tent-2p"] and recs.error.startswith("ReadTimeout")  # cooldown 0: asked again


def test_refusals_give_the_defaults(live):
    with PertinentClient(live.url, "wrong-key", timeout_s=5) as client:
        hero = client.decide("home.hero", anonymous_id="a-1", default_html="<h1>Default</h1>")
        assert hero.html == "<h1>Default</h1>" and hero.error in ("HTTP 401", "HTTP 403")
    with PertinentClient(live.url, WRITE_KEY, timeout_s=5) as client:
        unknown = client.decide("no.such.slot", anonymous_id="a-1", default_html="<p>x</p>")
        assert unknown.html == "<p>x</p>" and unknown.error == "HTTP 404"
        assert client.decide("home.hero", anonymous_id="a-1").personalised  # a 4xx does not start a cooldown


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("headless_cms_site", EXAMPLE / "site.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_headless_cms_example_personalises_and_falls_back(live):
    site = _example()
    content = site.load_content()
    with PertinentClient(live.url, WRITE_KEY, timeout_s=5) as client:
        page = TestClient(site.create_site(client, content, live.url, WRITE_KEY)).get("/")
    assert page.status_code == 200
    assert '<section id="hero"' in page.text and "<h1>Hello again</h1>" in page.text
    assert "data-item-id='boots-trail'" in page.text and "Trail boots" in page.text  # title from the CMS
    assert f'src="{live.url}/pertinent.js" data-write-key="{WRITE_KEY}"' in page.text
    assert page.cookies.get("pt_aid")  # the snippet adopts the id the page was decided for
    with PertinentClient(f"http://127.0.0.1:{_free_port()}", WRITE_KEY, timeout_s=0.5) as down:
        page = TestClient(site.create_site(down, content, live.url, WRITE_KEY)).get("/")
    assert page.status_code == 200 and "<h1>Gear for every trail</h1>" in page.text  # the CMS's defaults
    assert all(f"data-item-id='{i}'" in page.text for i in content["home"]["featured"])


def test_the_visitor_address_is_located_for_targeting(live):
    geo_slot = {
        "variants": {"plain": "hero", "local": "hero-mobile"},
        "rules": [
            {
                "when": {"type": "context", "field": "city", "op": "eq", "value": "Gamlingay"},
                "then": {"kind": "variant", "variant": "local"},
            }
        ],
        "default": {"kind": "variant", "variant": "plain"},
    }
    with httpx.Client(base_url=live.url, headers=ADMIN) as admin:
        assert admin.put("/v1/slots/geo.hero", json=geo_slot).status_code == 200
    # uvicorn believes X-Forwarded-For from 127.0.0.1 (its default forwarded_allow_ips, as a trusted proxy)
    with PertinentClient(live.url, WRITE_KEY, timeout_s=5) as client:
        near = client.decide("geo.hero", anonymous_id="a-geo", visitor=Visitor(ip="81.2.69.142"))
        far = client.decide("geo.hero", anonymous_id="a-geo", visitor=Visitor(ip="89.160.20.112"))
        told = client.decide("geo.hero", anonymous_id="a-geo", visitor=Visitor(ip="81.2.69.142", country="SE"))
    assert near.variant == "local" and far.variant == "plain"
    assert told.variant == "plain"  # a country given by the caller wins over the address
