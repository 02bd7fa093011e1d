"""Schema-driven fuzzing of the whole API (schemathesis): every operation of /openapi.json gets requests generated
from its documented parameters and body (valid ones, then invalid ones), on each backend, with the write key and
with the admin key. No answer may be a 5xx, and every answer must be documented: its status, content type and body
schema.

``PERTINENT_FUZZ_EXAMPLES`` sets the examples per operation and mode (default 4: about 25 s per backend and key
on two busy cores); raise it to search longer. Failures of all operations are reported together, each with a
curl command that repeats it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import HypothesisException, Unsatisfiable

from pertinent.api.app import create_app
from pertinent.services import Services
from tests.support.common import ADMIN_KEY, WRITE_KEY, make_settings

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (make install-dev)")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.python import asgi  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("PERTINENT_FUZZ_EXAMPLES", "4"))
TIMEOUT_S = 30  # one request: longer is a failure (work that the input can make unbounded), not a hung suite
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found, with its curl
    suppress_health_check=list(HealthCheck),
)


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def auth_headers(key: str, operation: Any) -> dict[str, str]:
    """The write key as HTTP Basic everywhere; the admin key as a Bearer token where the operation documents the
    admin key, else as HTTP Basic (the write-key routes take the admin key in its place)."""
    if key == "write":
        return {"Authorization": _basic(WRITE_KEY)}
    security = operation.definition.raw.get("security") or []
    if any("adminKey" in option for option in security) or not security:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}
    return {"Authorization": _basic(ADMIN_KEY)}


@pytest.fixture
def fuzzed_app(services: Services) -> Iterator[Any]:
    app = create_app(services.settings, services=services)
    yield app
    asgi.shutdown_lifespans()  # the lifespan schemathesis started for this app (it keeps them for the process)


@pytest.fixture
def hot_fuzzed_app(store: Any, redis_url: str, tmp_path: Any) -> Iterator[Any]:
    """The app of a cluster node: the Redis hot store in front of the database (serving reads, invalidation)."""
    svc = Services.build(make_settings(tmp_path, redis_url=redis_url), store)
    app = create_app(svc.settings, services=svc)
    yield app
    asgi.shutdown_lifespans()
    svc.close()


def fuzz(operation: Any, mode: Any, client: Any, headers: dict[str, str]) -> str | None:
    """Run one operation in one generation mode; what failed (with a curl command to repeat it), or None."""

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        try:
            case.call_and_validate(session=client, headers=headers, checks=CHECKS, timeout=TIMEOUT_S)
        except (AssertionError, BaseExceptionGroup):
            raise  # failed checks: schemathesis's report has the curl command
        except Exception as exc:  # the app raised (a 500 behind a real server): say which request
            curl = case.as_curl_command(headers={"Authorization": headers["Authorization"][:6] + "..."})
            raise AssertionError(f"the app raised {type(exc).__name__}: {exc}\n{curl}") from exc

    try:
        run()
    except Unsatisfiable:
        assert mode is schemathesis.GenerationMode.NEGATIVE  # an operation without any input has nothing to break
    except HypothesisException:
        raise  # a mistake of this test, not of the API
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - failed checks, or an exception the app raised
        lines = str(exc).strip().splitlines() or [repr(exc)]
        return f"{operation.label} ({mode.value}): {type(exc).__name__}\n" + "\n".join(lines[:60])
    return None


@pytest.mark.parametrize("key", ["write", "admin"])
def test_fuzz_every_operation(fuzzed_app: Any, key: str) -> None:
    fuzz_all(fuzzed_app, key)


def test_fuzz_every_operation_with_the_hot_store(hot_fuzzed_app: Any) -> None:
    """The same with Redis in front of each backend (the admin key reaches every operation)."""
    fuzz_all(hot_fuzzed_app, "admin")


def fuzz_all(fuzzed_app: Any, key: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # the whole API, not an empty document
    with asgi.get_client(fuzzed_app) as client:
        for operation in operations:
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
                failure = fuzz(operation, mode, client, auth_headers(key, operation))
                if failure is not None:
                    failures.append(failure)
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
