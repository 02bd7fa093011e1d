"""Property-based: no query string, form or time makes a dashboard page answer a 500 or the service raise."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.common import SAME_ORIGIN, dashboard_login

NOW = 1_700_000_000.0  # in the past: ingestion refuses times over 24 h ahead
PAGES = [
    "/dashboard",
    "/dashboard/segments",
    "/dashboard/recommendations",
    "/dashboard/experiments",
    "/dashboard/kpis",
    "/dashboard/login",
    "/dashboard/static/dashboard.css",
]
WINDOWS = ["1h", "24h", "7d", "30d"]
web = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.sampled_from(["window", "next", "now", "page"]) | st.text(max_size=8)
values = st.sampled_from([*WINDOWS, "", "7D", " 7d", "1e9", "/dashboard//x", "%00"]) | st.text(max_size=40)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def some_events(client) -> None:
    batch = [{"type": "page", "userId": f"u{i % 4}", "name": "p", "timestamp": iso(NOW - 50 * i)} for i in range(40)]
    batch += [
        {
            "type": "track",
            "userId": "u1",
            "event": "Experiment Viewed",
            "timestamp": iso(NOW - 10),
            "properties": {"experiment_id": ["odd"], "variation_id": {"a": 1}, "price": "x"},
        }
    ]
    assert client.post("/v1/batch", json={"batch": batch}).status_code == 200


@web
@given(path=st.sampled_from(PAGES), params=st.lists(st.tuples(names, values), max_size=4))
def test_no_query_string_makes_a_page_fail(client, path, params):
    if not client.cookies:
        some_events(client)
        assert dashboard_login(client).status_code == 303
    r = client.get(f"{path}?{urlencode(params)}", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code < 500, (path, params, r.text[:300])
    windows = [v for k, v in params if k == "window"]
    nul = any("\x00" in k + v for k, v in params)  # a NUL anywhere in a query is a 400 naming it
    if path not in ("/dashboard/login", "/dashboard/static/dashboard.css") and windows:
        assert r.status_code == (200 if windows[-1] in WINDOWS and not nul else 400), (path, params)
    if nul:
        assert r.status_code == 400, (path, params)


@web
@given(key=st.text(max_size=50), target=st.text(max_size=60), extra=st.dictionaries(names, values, max_size=2))
def test_no_login_form_makes_the_login_fail(client, key, target, extra):
    client.app.state.services.dashboard.login_limiter.global_limit = 10**9  # no 429s from the global limit
    data = {**extra, "admin_key": key, "next": target}
    r = client.post("/dashboard/login", data=data, headers=SAME_ORIGIN, follow_redirects=False)
    assert r.status_code in (303, 400, 401, 422, 429), (key, target, r.status_code)
    if r.status_code == 303:
        assert r.headers["location"].startswith("/dashboard")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(window=st.sampled_from(WINDOWS), now=st.floats(min_value=0.0, max_value=4e9))
def test_the_kpi_page_takes_any_time(sqlite_services, window, now):
    dash = sqlite_services.dashboard
    if not dash._event_values:
        res = sqlite_services.ingest.ingest(
            [{"type": "page", "userId": f"u{i % 3}", "name": "p", "timestamp": iso(NOW - 900 * i)} for i in range(60)],
            received_at=NOW,
        )
        assert res.stored == 60
    page = dash.kpis(window, now=now)
    assert page.rows[0].group == "all profiles"
    assert page.rows[0].result.profiles <= 3 and (page.message == "") == (page.rows[0].result.profiles > 0)
