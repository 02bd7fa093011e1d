"""Dashboard login limits: failed logins per client address (exponential backoff) and overall answer 429 with
Retry-After; a success resets the address; other addresses are unaffected; logins are audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from pertinent.api.app import create_app
from pertinent.dashboard.auth import COOKIE
from pertinent.dashboard.login_limiter import LoginLimiter
from tests.support.common import ADMIN_KEY


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(sqlite_services) -> Clock:
    clock = Clock()
    sqlite_services.dashboard.login_limiter.clock = clock
    return clock


@contextmanager
def browser(services, address: str) -> Iterator[TestClient]:
    with TestClient(create_app(services.settings, services=services), client=(address, 40000)) as c:
        yield c


def login(c: TestClient, key: str):
    return c.post("/dashboard/login", data={"admin_key": key}, follow_redirects=False)


def test_limit_reached_answers_429_with_retry_after_even_for_the_right_key(sqlite_services, clock):
    with browser(sqlite_services, "10.0.0.1") as c:
        assert [login(c, "wrong").status_code for _ in range(5)] == [401] * 5
        limited = login(c, ADMIN_KEY)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) == 2
        assert "too many failed logins" in limited.text and COOKIE not in limited.cookies
        assert limited.headers["cache-control"] == "no-store"
        clock.now += 2.0
        assert login(c, "wrong").status_code == 401  # the 6th failure doubles the wait
        assert int(login(c, "wrong").headers["retry-after"]) == 4
        clock.now += 4.0
        assert login(c, "wrong").status_code == 401
        assert int(login(c, ADMIN_KEY).headers["retry-after"]) == 8


def test_success_resets_the_count(sqlite_services, clock):
    with browser(sqlite_services, "10.0.0.2") as c:
        assert [login(c, "wrong").status_code for _ in range(4)] == [401] * 4
        assert login(c, ADMIN_KEY).status_code == 303
        assert [login(c, "wrong").status_code for _ in range(4)] == [401] * 4  # four more, not one
        assert login(c, ADMIN_KEY).status_code == 303
        assert c.get("/dashboard").status_code == 200


def test_other_addresses_are_unaffected(sqlite_services, clock):
    with browser(sqlite_services, "10.0.0.3") as attacker, browser(sqlite_services, "10.0.0.4") as admin:
        for _ in range(5):
            login(attacker, "wrong")
        assert login(attacker, ADMIN_KEY).status_code == 429
        assert login(admin, "wrong").status_code == 401
        assert login(admin, ADMIN_KEY).status_code == 303


def test_failures_are_forgotten_after_an_hour_without_one(sqlite_services, clock):
    with browser(sqlite_services, "10.0.0.5") as c:
        for _ in range(5):
            login(c, "wrong")
        clock.now += 3601.0
        assert [login(c, "wrong").status_code for _ in range(4)] == [401] * 4


def test_many_addresses_failing_close_the_form_to_everyone_for_a_while(sqlite_services, clock):
    sqlite_services.dashboard.login_limiter.global_limit = 6
    for i in range(6):
        with browser(sqlite_services, f"10.1.0.{i}") as c:
            assert login(c, "wrong").status_code == 401
    clock.now += 10.0
    with browser(sqlite_services, "10.2.0.1") as c:
        r = login(c, ADMIN_KEY)
        assert r.status_code == 429 and int(r.headers["retry-after"]) == 50
        clock.now += 50.0
        assert login(c, ADMIN_KEY).status_code == 303


def test_logins_are_audited(sqlite_services, clock):
    with browser(sqlite_services, "10.0.0.6") as c:
        login(c, "wrong")
        login(c, ADMIN_KEY)
        login(c, "")  # an empty form is no guess: neither counted nor audited
    with sqlite_services.store.transaction(write=False) as tx:
        entries = [(a.actor, a.action, a.detail) for a in tx.audit_entries(limit=10)]
    assert entries == [
        ("dashboard", "dashboard_login", {"client": "10.0.0.6"}),
        ("dashboard", "dashboard_login_failed", {"client": "10.0.0.6"}),
    ]
    assert ADMIN_KEY not in repr(entries)


def test_limiter_memory_is_bounded():
    limiter = LoginLimiter(max_clients=3, global_limit=1000)
    for i in range(10):
        limiter.failed(f"c{i}")
    assert list(limiter._clients) == ["c7", "c8", "c9"]
    assert LoginLimiter(free=1, base_s=1.0, max_s=900.0, clock=lambda: 0.0).failed("x") == 1.0
    big = LoginLimiter(free=1, clock=lambda: 0.0)
    big._clients["x"] = (10_000, 0.0, 0.0)
    assert big.failed("x") == 900.0
