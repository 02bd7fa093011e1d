"""Dashboard login limits: wrong keys per client address (exponential backoff) and overall answer 429 with
Retry-After, but a correct key always logs in (nobody on the admin's address can lock the admin out); a
success resets the address; other addresses are unaffected; behind a trusted proxy the forwarded address
counts; logins are audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from pertinent.api.app import create_app
from pertinent.dashboard.auth import COOKIE
from pertinent.dashboard.login_limiter import LoginLimiter
from pertinent.services import Services
from tests.support.common import ADMIN_KEY, SAME_ORIGIN, make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock_factory():
    def install(services: Services) -> Clock:
        clock = Clock()
        services.dashboard.login_limiter.clock = clock
        return clock

    return install


@pytest.fixture
def clock(sqlite_services, clock_factory) -> Clock:
    return clock_factory(sqlite_services)


@contextmanager
def browser(services, address: str) -> Iterator[TestClient]:
    with TestClient(create_app(services.settings, services=services), client=(address, 40000)) as c:
        yield c


def login(c: TestClient, key: str, **headers: str):
    return c.post(
        "/dashboard/login", data={"admin_key": key}, headers={**SAME_ORIGIN, **headers}, follow_redirects=False
    )


def test_wrong_keys_over_the_limit_answer_429_with_retry_after_and_backoff(sqlite_services, clock):
    with browser(sqlite_services, "10.0.0.1") as c:
        assert [login(c, "wrong").status_code for _ in range(5)] == [401] * 5
        limited = login(c, "wrong")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) == 2
        assert "too many failed logins" in limited.text and COOKIE not in limited.cookies
        assert limited.headers["cache-control"] == "no-store"
        clock.now += 2.0
        assert login(c, "wrong").status_code == 401  # the 6th failure counted doubles the wait
        assert int(login(c, "wrong").headers["retry-after"]) == 4
        clock.now += 4.0
        assert login(c, "wrong").status_code == 401
        assert int(login(c, "wrong").headers["retry-after"]) == 8


def test_an_attacker_on_the_admins_address_cannot_lock_the_admin_out(sqlite_services, clock):
    """The attack on a lockout: someone behind the same address (NAT, VPN, proxy) types wrong keys without end.
    Each of them is answered 429, but the admin's correct key, from that address, logs in at once: the key is
    checked before the limits are asked."""
    sqlite_services.dashboard.login_limiter.global_limit = 5  # the attacker trips the global limit as well
    with browser(sqlite_services, "10.0.0.1") as attacker, browser(sqlite_services, "10.0.0.1") as admin:
        answers = [login(attacker, f"guess-{i}").status_code for i in range(60)]
        assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
        ok = login(admin, ADMIN_KEY)
        assert ok.status_code == 303 and COOKIE in ok.cookies
        assert admin.get("/dashboard").status_code == 200
        assert login(attacker, "guess-61").status_code == 429  # the global limit still holds for wrong keys
    with browser(sqlite_services, "10.9.9.9") as elsewhere:  # the global limit: every address, wrong keys only
        assert login(elsewhere, "wrong").status_code == 429
        assert login(elsewhere, ADMIN_KEY).status_code == 303


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
        assert login(attacker, "wrong").status_code == 429
        assert login(admin, "wrong").status_code == 401
        assert login(admin, ADMIN_KEY).status_code == 303


def test_failures_are_forgotten_after_an_hour_without_one(sqlite_services, clock):
    with browser(sqlite_services, "10.0.0.5") as c:
        for _ in range(5):
            login(c, "wrong")
        clock.now += 3601.0
        assert [login(c, "wrong").status_code for _ in range(4)] == [401] * 4


def test_many_addresses_failing_close_the_form_to_wrong_keys_from_everyone_for_a_while(sqlite_services, clock):
    sqlite_services.dashboard.login_limiter.global_limit = 6
    for i in range(6):
        with browser(sqlite_services, f"10.1.0.{i}") as c:
            assert login(c, "wrong").status_code == 401
    clock.now += 10.0
    with browser(sqlite_services, "10.2.0.1") as c:
        r = login(c, "wrong")
        assert r.status_code == 429 and int(r.headers["retry-after"]) == 50
        clock.now += 50.0
        assert login(c, "wrong").status_code == 401


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(tmp_path, clock_factory):
    """Behind a trusted proxy every client arrives from the proxy's address: the limits apply to the address
    it forwards. From an untrusted peer X-Forwarded-For is ignored (else an attacker would pick any address)."""
    svc = Services.build(make_settings(tmp_path, trusted_proxies=["10.0.0.0/8"]))
    clock_factory(svc)
    try:
        with browser(svc, "10.0.0.10") as proxy:
            for _ in range(5):
                assert login(proxy, "wrong", **{"x-forwarded-for": "203.0.113.7"}).status_code == 401
            assert login(proxy, "wrong", **{"x-forwarded-for": "203.0.113.7"}).status_code == 429
            assert login(proxy, "wrong", **{"x-forwarded-for": "203.0.113.8"}).status_code == 401  # another client
        with browser(svc, "192.0.2.1") as direct:
            for _ in range(5):
                login(direct, "wrong", **{"x-forwarded-for": f"198.51.100.{_}"})  # a new address each time: ignored
            assert login(direct, "wrong", **{"x-forwarded-for": "198.51.100.99"}).status_code == 429
        with svc.store.transaction(write=False) as tx:
            clients = {a.detail["client"] for a in tx.audit_entries(limit=20)}
        assert clients == {"203.0.113.7", "203.0.113.8", "192.0.2.1"}
    finally:
        svc.close()


def test_logins_are_audited(sqlite_services, clock):
    with browser(sqlite_services, "10.0.0.6") as c:
        login(c, "wrong")
        login(c, ADMIN_KEY)
        login(c, "")  # an empty form is no guess: neither counted nor audited
        for _ in range(10):  # past the limit: wrong keys answered 429 are not audited one by one
            login(c, "wrong")
    with sqlite_services.store.transaction(write=False) as tx:
        entries = [(a.actor, a.action, a.detail) for a in tx.audit_entries(limit=10)]
    assert entries[-2:] == [
        ("dashboard", "dashboard_login", {"client": "10.0.0.6"}),
        ("dashboard", "dashboard_login_failed", {"client": "10.0.0.6"}),
    ]
    assert len(entries) == 2 + 5 and all(a == "dashboard_login_failed" for _, a, _ in entries[:5])
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
