"""Dashboard sessions and request hygiene: server-side sessions that a logout ends (also for a copied cookie and
for every server process sharing the database), CSRF (form origin) checks, security headers on every
dashboard response, and the Secure cookie flag over TLS, also behind a trusted proxy."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pertinent.api.app import create_app
from pertinent.dashboard.auth import COOKIE, issue, session_signer
from pertinent.dashboard.sessions import KIND
from pertinent.services import Services
from pertinent.storage.sql import SqlStore
from tests.support.common import ADMIN_KEY, SAME_ORIGIN, dashboard_login, make_settings

PAGES = ["/dashboard", "/dashboard/segments", "/dashboard/recommendations", "/dashboard/experiments", "/dashboard/kpis"]


@contextmanager
def browser(
    services: Services, address: str = "127.0.0.1", base_url: str = "http://testserver"
) -> Iterator[TestClient]:
    app = create_app(services.settings, services=services)
    with TestClient(app, client=(address, 40000), base_url=base_url, raise_server_exceptions=False) as c:
        yield c


def stored_sessions(services: Services) -> dict[str, dict]:
    with services.store.transaction(write=False) as tx:
        return {d.doc_id: d.body or {} for d in tx.list_documents(KIND)}


def logout(c: TestClient, **headers: str):
    return c.post("/dashboard/logout", headers={**SAME_ORIGIN, **headers}, follow_redirects=False)


# ------------------------------------------------------------------------------------------------- sessions
def test_a_copied_cookie_stops_working_at_logout(services):
    """The defect: the signed cookie alone was the session, so a copy kept working for 12 h after logout."""
    with browser(services) as admin, browser(services) as thief:
        assert dashboard_login(admin).status_code == 303
        thief.cookies.set(COOKIE, admin.cookies[COOKIE], path="/dashboard")
        assert thief.get("/dashboard").status_code == 200
        assert logout(admin).status_code == 303
        assert thief.get("/dashboard").status_code == 401
        assert thief.get("/dashboard/kpis", headers={"accept": "text/html"}, follow_redirects=False).status_code == 303
        assert stored_sessions(services) == {}


def test_sessions_are_shared_by_every_process_on_the_database(services, tmp_path):
    """Two servers (their own services and store) on one database: a login on one works on the other, and a
    logout on the other ends it on the first."""
    other_store = SqlStore(services.store.url)
    other = Services.build(make_settings(tmp_path / "other"), other_store)
    try:
        with browser(services) as first, browser(other) as second:
            assert dashboard_login(first).status_code == 303
            second.cookies.set(COOKIE, first.cookies[COOKIE], path="/dashboard")
            assert second.get("/dashboard/experiments").status_code == 200
            assert logout(second).status_code == 303
            assert first.get("/dashboard").status_code == 401
    finally:
        other.segments.close()
        other_store.close()


def test_the_database_holds_a_digest_of_the_session_id_with_its_expiry(sqlite_services):
    with browser(sqlite_services) as c:
        assert dashboard_login(c).status_code == 303
        sid = session_signer(ADMIN_KEY).loads(c.cookies[COOKIE])["sid"]
        stored = stored_sessions(sqlite_services)
    assert list(stored) == [hashlib.sha256(sid.encode()).hexdigest()]
    body = next(iter(stored.values()))
    assert body["expires_at"] - body["created_at"] == 12 * 3600 and body["client"] == "127.0.0.1"
    with sqlite_services.store.transaction(write=False) as tx:  # not in the document history either
        history = [r.body for d in stored for r in tx.document_history(KIND, d)]
    assert sid not in repr(stored) + repr(history) and ADMIN_KEY not in repr(history)


def test_expired_sessions_are_refused_and_removed(sqlite_services):
    sessions = sqlite_services.dashboard.sessions
    now = [1_000_000.0]
    sessions.clock = lambda: now[0]
    with browser(sqlite_services) as c, browser(sqlite_services) as forgotten:
        assert dashboard_login(forgotten).status_code == 303  # a browser that never logs out
        assert dashboard_login(c).status_code == 303
        assert len(stored_sessions(sqlite_services)) == 2
        now[0] += 12 * 3600 + 1
        assert c.get("/dashboard").status_code == 401
        assert len(stored_sessions(sqlite_services)) == 1  # met on a request: removed
        assert dashboard_login(c).status_code == 303  # a login sweeps the other expired ones
        assert len(stored_sessions(sqlite_services)) == 1 and c.get("/dashboard").status_code == 200


def test_a_signed_cookie_for_a_session_never_opened_is_refused(sqlite_services):
    with browser(sqlite_services) as c:
        c.cookies.set(COOKIE, issue(session_signer(ADMIN_KEY), "made-up-session"), path="/dashboard")
        assert c.get("/dashboard").status_code == 401


def test_logout_is_audited_and_a_second_logout_is_harmless(sqlite_services):
    with browser(sqlite_services) as c:
        dashboard_login(c)
        cookie = c.cookies[COOKIE]
        assert logout(c).status_code == 303
        c.cookies.set(COOKIE, cookie, path="/dashboard")
        assert logout(c).status_code == 303
    with sqlite_services.store.transaction(write=False) as tx:
        actions = [a.action for a in tx.audit_entries(limit=10)]
    assert actions == ["dashboard_logout", "dashboard_login"]


# --------------------------------------------------------------------------------------------------- CSRF
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "https://evil.test"},
        {"origin": "null"},
        {"origin": "http://testserver.evil.test"},
        {"origin": "http://testserver:8080"},
        {"referer": "https://evil.test/dashboard/login"},
    ],
)
def test_forms_posted_from_elsewhere_are_refused_naming_the_origin(sqlite_services, headers):
    with browser(sqlite_services) as c:
        r = c.post("/dashboard/login", data={"admin_key": ADMIN_KEY}, headers=headers, follow_redirects=False)
        assert r.status_code == 403 and r.json()["errors"][0]["field"] == "origin", r.text
        assert COOKIE not in r.cookies
        assert dashboard_login(c).status_code == 303
        for path in ("/dashboard/logout", "/dashboard/segments/report"):
            r = c.post(path, headers=headers, follow_redirects=False)
            assert r.status_code == 403 and r.json()["errors"][0]["field"] == "origin", (path, r.text)
        assert c.get("/dashboard").status_code == 200  # the refused logout ended nothing
        assert len(stored_sessions(sqlite_services)) == 1


def test_forms_from_this_servers_pages_pass_by_origin_or_referer(sqlite_services):
    with browser(sqlite_services) as c:
        r = c.post(
            "/dashboard/login",
            data={"admin_key": ADMIN_KEY},
            headers={"referer": "http://testserver/dashboard/login?next=/dashboard"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert logout(c, origin="http://TESTSERVER").status_code == 303  # host names are case-insensitive


def test_behind_a_trusted_proxy_the_forwarded_host_is_the_one_compared(tmp_path):
    svc = Services.build(make_settings(tmp_path, trusted_proxies=["10.0.0.0/8"]))
    form = {"admin_key": ADMIN_KEY}
    relayed = {"origin": "https://dash.example.com", "x-forwarded-host": "dash.example.com"}
    try:
        with browser(svc, "10.0.0.10", base_url="http://backend:8000") as via_proxy:
            r = via_proxy.post("/dashboard/login", data=form, headers=relayed, follow_redirects=False)
            assert r.status_code == 303
        with browser(svc, "192.0.2.1", base_url="http://backend:8000") as direct:
            r = direct.post("/dashboard/login", data=form, headers=relayed, follow_redirects=False)
            assert r.status_code == 403 and r.json()["errors"][0]["field"] == "origin"
    finally:
        svc.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    origin=st.none() | st.text(max_size=60) | st.from_regex(r"https?://[a-z.]{1,20}(:[0-9]{1,5})?", fullmatch=True),
    referer=st.none() | st.text(max_size=60),
)
def test_no_origin_header_gets_a_form_through_unless_it_names_this_server(client, origin, referer):
    headers = {k: v for k, v in (("origin", origin), ("referer", referer)) if v is not None}
    headers = {k: v for k, v in headers.items() if v.isascii() and v.isprintable()}  # what HTTP can carry
    r = client.post("/dashboard/login", data={"admin_key": "wrong"}, headers=headers, follow_redirects=False)
    claimed = headers.get("origin", headers.get("referer"))
    from_here = claimed is not None and re.fullmatch(r"(?i)https?://testserver(:(80|443))?(/.*)?", claimed.strip())
    assert r.status_code in ((401, 429) if from_here else (403,)), (headers, r.status_code, r.text[:200])


# ----------------------------------------------------------------------------------------------- headers
def _assert_security_headers(r, what: str) -> None:
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'none'" in csp and "default-src 'none'" in csp, what
    assert r.headers.get("x-frame-options") == "DENY", what
    assert r.headers.get("x-content-type-options") == "nosniff", what
    assert r.headers.get("referrer-policy") == "same-origin", what


def test_every_dashboard_response_carries_the_security_headers(sqlite_services):
    with browser(sqlite_services) as c:
        answers = {
            "login form": c.get("/dashboard/login"),
            "redirect to login": c.get("/dashboard", headers={"accept": "text/html"}, follow_redirects=False),
            "401": c.get("/dashboard/kpis"),
            "403": c.post("/dashboard/login", data={"admin_key": "x"}),
            "wrong key": dashboard_login(c, "wrong"),
            "css": c.get("/dashboard/static/dashboard.css"),
            "unknown file": c.get("/dashboard/static/x.js"),
            "unknown page": c.get("/dashboard/nothing-here"),
            "wrong method": c.get("/dashboard/logout"),
            "login": dashboard_login(c),
        }
        answers.update({path: c.get(path) for path in PAGES})
        answers["bad window"] = c.get("/dashboard?window=2h")
        answers["logout"] = logout(c)
    for what, r in answers.items():
        _assert_security_headers(r, what)
    assert answers["bad window"].status_code == 400 and answers["wrong method"].status_code == 405
    assert "content-security-policy" not in c.get("/healthz").headers  # the API is not the dashboard's


def test_pages_have_nothing_the_policy_would_block(sqlite_services):
    """No script, no inline event handler, no <style> element, nothing loaded from elsewhere: the policy
    refuses all of these, so a page needing one would break (the browser test watches for violations)."""
    with browser(sqlite_services) as c:
        pages = [c.get("/dashboard/login").text]
        dashboard_login(c)
        pages += [c.get(path).text for path in PAGES]
    for html in pages:
        assert not re.search(r"<script|<style|\son[a-z]+=|javascript:", html, re.I)
        assert not re.search(r'(src|href|action)="(https?:)?//', html)


# ------------------------------------------------------------------------------------------------ Secure
def _cookie_of(r) -> str:
    return next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE))


def test_the_cookie_is_secure_over_tls(sqlite_services):
    with browser(sqlite_services, base_url="https://testserver") as tls:
        r = tls.post(
            "/dashboard/login",
            data={"admin_key": ADMIN_KEY},
            headers={"origin": "https://testserver"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and "Secure" in _cookie_of(r)
    with browser(sqlite_services) as plain:
        assert "Secure" not in _cookie_of(dashboard_login(plain))


def test_behind_a_trusted_tls_proxy_the_cookie_is_secure_and_only_then(tmp_path):
    svc = Services.build(make_settings(tmp_path, trusted_proxies=["10.0.0.0/8", "::1"]))
    tls = {**SAME_ORIGIN, "x-forwarded-proto": "https"}
    try:
        with browser(svc, "10.1.2.3") as proxy:
            r = proxy.post("/dashboard/login", data={"admin_key": ADMIN_KEY}, headers=tls, follow_redirects=False)
            assert r.status_code == 303 and "Secure" in _cookie_of(r)
        with browser(svc, "192.0.2.1") as untrusted:  # anyone can write the header: it proves nothing
            r = untrusted.post("/dashboard/login", data={"admin_key": ADMIN_KEY}, headers=tls, follow_redirects=False)
            assert r.status_code == 303 and "Secure" not in _cookie_of(r)
    finally:
        svc.close()
    default = Services.build(make_settings(tmp_path / "default"))  # trusts no proxy, not even 127.0.0.1
    try:
        with browser(default, "127.0.0.1") as local:
            r = local.post("/dashboard/login", data={"admin_key": ADMIN_KEY}, headers=tls, follow_redirects=False)
            assert r.status_code == 303 and "Secure" not in _cookie_of(r)
    finally:
        default.close()
