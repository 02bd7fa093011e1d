"""The peer for benchmarks: a bare Starlette app that parses a Segment batch and answers.

It does the minimum any collector must do (read the body, parse the JSON, check it is a batch),
and nothing else: no validation, storage or profiles.
"""

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

OK = orjson.dumps({"success": True})


async def batch(request: Request) -> Response:
    body = orjson.loads(await request.body())
    if not isinstance(body.get("batch"), list):
        return Response(b'{"success":false}', 400, media_type="application/json")
    return Response(OK, media_type="application/json")


async def constant(request: Request) -> Response:
    return Response(OK, media_type="application/json")


app = Starlette(routes=[Route("/v1/batch", batch, methods=["POST"]), Route("/constant", constant)])
