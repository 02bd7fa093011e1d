"""Shared fixtures: settings, a store per backend (SQLite file, PostgreSQL), the API client."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from pertinent.services import Services
from pertinent.settings import Settings
from pertinent.storage.sql import SqlStore
from pertinent.storage.tables import metadata
from tests.support.common import ADMIN, ADMIN_KEY, DATASETS, WRITE_KEY, LiveServer, api_client, make_settings  # noqa: F401

# No timings in tests: Hypothesis's per-example deadline fails a correct test whenever the machine is busy
# (a 0.04 ms hash took 330 ms once under load). Performance belongs in benchmarks/.
hypothesis.settings.register_profile("pertinent", deadline=None)
hypothesis.settings.load_profile("pertinent")


def _postgres_base_url() -> str:
    reason = os.environ.get("PERTINENT_TEST_POSTGRES_SKIP")
    url = os.environ.get("PERTINENT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(f"PostgreSQL unavailable: {reason or 'PERTINENT_TEST_POSTGRES_URL not set (run make test)'}")
    return url


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A database of its own for this xdist worker, on the server make test started."""
    base = _postgres_base_url()
    name = "pertinent_" + re.sub(r"\W", "_", worker_id) + f"_{os.getpid()}"  # unique per run and worker
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_base_url() -> str:
    reason = os.environ.get("PERTINENT_TEST_REDIS_SKIP")
    url = os.environ.get("PERTINENT_TEST_REDIS_URL")
    if not url:
        pytest.skip(f"Redis unavailable: {reason or 'PERTINENT_TEST_REDIS_URL not set (run make test)'}")
    return url


@pytest.fixture
def redis_url(redis_base_url: str, worker_id: str) -> Iterator[str]:
    """A Redis database of its own for this xdist worker (0-15 by worker number), emptied before each test."""
    import redis

    number = int(re.sub(r"\D", "", worker_id) or 0) % 15 + 1
    url = redis_base_url.rsplit("/", 1)[0] + f"/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def _truncate(store: SqlStore) -> None:
    with store.engine.begin() as conn:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated, empty store on each backend."""
    if request.param == "sqlite":
        s = SqlStore(f"sqlite:///{tmp_path / 'test.db'}")
        s.migrate()
    else:
        s = SqlStore(request.getfixturevalue("postgres_url"))
        s.migrate()
        _truncate(s)
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def services(settings: Settings, store: SqlStore) -> Iterator[Services]:
    svc = Services.build(settings, store)
    yield svc
    # Every background thread (segments, the decision log writer, predictions, destinations) ends and writes what
    # it queued now, before the next test truncates the tables: a writer left running wrote a test's decisions
    # into the next one's database on PostgreSQL. Closing the store twice (here and in its fixture) is harmless.
    svc.close()


@pytest.fixture
def sqlite_services(settings: Settings) -> Iterator[Services]:
    svc = Services.build(settings)
    yield svc
    svc.close()


@pytest.fixture
def client(sqlite_services: Services) -> Iterator[TestClient]:
    """API client on the embedded default (SQLite), authenticated with the write key."""
    yield from api_client(sqlite_services)


@pytest.fixture
def any_client(services: Services) -> Iterator[TestClient]:
    """API client on each backend."""
    yield from api_client(services)


@pytest.fixture
def live_server(sqlite_services: Services) -> Iterator[LiveServer]:
    server = LiveServer(sqlite_services)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright through its executable path (no browser download);
    the test is skipped with the reason when Playwright or Chromium is missing or Chromium cannot start."""
    from tests.support.browser import chromium_path

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make install-dev)")
    path = chromium_path()
    pw = sync_api.sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=path, headless=True)
    except Exception as exc:  # noqa: BLE001 - any launch failure is a reason to skip, reported as such
        pw.stop()
        pytest.skip(f"Chromium at {path} cannot start: {str(exc).splitlines()[0]}")
    yield chromium
    chromium.close()
    pw.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs on PostgreSQL (``store``'s postgres parameter or ``postgres_url``) as ``postgres``,
    so ``make test-fast`` can leave them out."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        on_postgres = "postgres_url" in fixtures or (
            callspec is not None and "postgres" in [str(v) for v in callspec.params.values()]
        )
        if on_postgres:
            item.add_marker(pytest.mark.postgres)
        if "redis_url" in fixtures or "redis_base_url" in fixtures:
            item.add_marker(pytest.mark.redis)
