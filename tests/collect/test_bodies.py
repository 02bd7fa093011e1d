"""Request bodies (api/body.py): content encodings, decompression bombs, clients that go away mid-body (issue 17,
item 6)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib

import orjson
import pytest

from pertinent.api.app import create_app

TRACK = orjson.dumps({"userId": "u1", "event": "Product Viewed", "messageId": "m-1"})


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    "encoding,body",
    [
        ("gzip", gzip.compress(TRACK, mtime=0)),
        ("x-gzip", gzip.compress(TRACK, mtime=0)),
        ("GZIP", gzip.compress(TRACK, mtime=0)),
        ("deflate", zlib.compress(TRACK)),  # RFC 9110: a zlib stream
        ("deflate", raw_deflate(TRACK)),  # what some clients send instead
        ("identity", TRACK),
    ],
)
def test_compressed_bodies_are_decoded(client, encoding, body):
    r = client.post(
        "/v1/track", content=body, headers={"Content-Encoding": encoding, "Content-Type": "application/json"}
    )
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "deflate, gzip", "bogus"])
def test_an_encoding_we_cannot_undo_is_a_415_naming_the_header(client, encoding):
    r = client.post("/v1/track", content=TRACK, headers={"Content-Encoding": encoding})
    assert r.status_code == 415, r.text
    assert r.json()["errors"][0]["field"] == "content-encoding" and r.json()["code"] == "unsupported_encoding"
    assert r.headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    "encoding,pack", [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", raw_deflate)]
)
def test_a_small_body_that_inflates_past_the_limit_is_a_413(client, sqlite_services, encoding, pack):
    limit = sqlite_services.settings.limits.max_event_bytes
    bomb = pack(b'{"userId": "u1", "event": "E", "pad": "' + b" " * (limit * 50) + b'"}')
    assert len(bomb) < limit // 10
    r = client.post("/v1/track", content=bomb, headers={"Content-Encoding": encoding})
    assert r.status_code == 413 and "once decompressed" in r.json()["message"], r.text
    r = client.post("/v1/batch", content=pack(b" " * (10 * 1024 * 1024)), headers={"Content-Encoding": encoding})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "encoding,body",
    [("gzip", b"not gzip"), ("gzip", gzip.compress(TRACK, mtime=0)[:-12]), ("deflate", zlib.compress(TRACK)[:-6])],
)
def test_corrupt_or_cut_compressed_bodies_are_a_400(client, encoding, body):
    r = client.post("/v1/track", content=body, headers={"Content-Encoding": encoding})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body", r.text


def test_a_client_that_disconnects_mid_body_is_logged_as_such_not_as_an_error(sqlite_services, caplog):
    """The ASGI app is driven by hand: one chunk of a chunked body, then the client goes away."""
    app = create_app(sqlite_services.settings, services=sqlite_services)
    sent: list[dict] = []
    chunks = [
        {"type": "http.request", "body": b'{"batch": [{"type": "tra', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/batch",
        "raw_path": b"/v1/batch",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", b"Basic dGVzdC13cml0ZS1rZXk6"),  # test-write-key:
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    caplog.set_level(logging.DEBUG)

    async def main():
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    asyncio.run(main())
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("disconnected before sending the whole body" in r.getMessage() for r in caplog.records)
