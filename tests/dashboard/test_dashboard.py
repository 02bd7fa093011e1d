"""The /dashboard pages: login, every page empty and with data (events ingested through the API), numbers shown."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from html import escape

import pytest

from pertinent.dashboard.auth import COOKIE, issue, session_signer
from pertinent.dashboard.pages.recommendations import online_click_through
from pertinent.kpis import KpiEvents, compute_kpis
from pertinent.storage.base import DecisionRow, MembershipChange, OutcomeRow
from tests.support.common import ADMIN_KEY, SAME_ORIGIN, dashboard_login
from tests.support.models import save_popularity

PAGES = ["/dashboard", "/dashboard/segments", "/dashboard/recommendations", "/dashboard/experiments", "/dashboard/kpis"]
HTML = {"accept": "text/html"}
NOW = time.time()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def login(client, key=ADMIN_KEY, **extra):
    return dashboard_login(client, key, **extra)


def text_of(html: str, name: str) -> str:
    """The text inside the element carrying data-testid=name (tags stripped)."""
    m = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(name)}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, f"no element {name}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", m.group(2))).strip()


def cells(html: str, name: str, tag: str = "td") -> list[str]:
    """The texts of the cells (td, or th for a table's header) inside the element with data-testid=name."""
    m = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(name)}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, f"no element {name}"
    found = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", m.group(2), re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<span class=\"badge\">.*?</span>|<[^>]+>", "", c)).strip() for c in found]


def send(client, messages):
    r = client.post("/v1/batch", json={"batch": messages})
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------------------------------------------- login
@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_session(client, path):
    r = client.get(path)
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "session"
    r = client.get(path, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login?next=%2Fdashboard")


def test_login_form_wrong_key_and_logout(client):
    page = client.get("/dashboard/login?next=/dashboard/kpis")
    assert page.status_code == 200 and 'data-testid="login-form"' in page.text
    assert 'value="/dashboard/kpis"' in page.text
    wrong = login(client, "not-the-key")
    assert wrong.status_code == 401 and "admin_key: invalid admin key" in text_of(wrong.text, "login-error")
    assert COOKIE not in wrong.cookies and client.get("/dashboard").status_code == 401
    empty = login(client, "")
    assert empty.status_code == 400 and "admin_key" in text_of(empty.text, "login-error")
    ok = login(client, next="/dashboard/kpis")
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard/kpis"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert ADMIN_KEY not in cookie and ADMIN_KEY not in ok.headers["location"]
    assert client.get("/dashboard").status_code == 200
    out = client.post("/dashboard/logout", headers=SAME_ORIGIN, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    assert client.get("/dashboard").status_code == 401


def test_login_rejects_open_redirects_and_forged_cookies(client):
    assert login(client, next="https://evil.test/").headers["location"] == "/dashboard"
    sid = session_signer(ADMIN_KEY).loads(client.cookies[COOKIE])["sid"]  # an open session...
    client.cookies.clear()
    client.cookies.set(COOKIE, issue(session_signer("some-other-admin-key"), sid), path="/dashboard")  # ...re-signed
    assert client.get("/dashboard").status_code == 401
    client.cookies.set(COOKIE, "garbage", path="/dashboard")
    assert client.get("/dashboard").status_code == 401


def test_bad_window_is_a_400_naming_the_field(client):
    login(client)
    r = client.get("/dashboard?window=2h")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "window"


def test_static_css_is_served_and_pages_load_nothing_from_elsewhere(client):
    css = client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and "prefers-color-scheme" in css.text and "@media (max-width" in css.text
    assert client.get("/dashboard/static/../settings.py").status_code == 404
    login(client)
    for path in PAGES:
        html = client.get(path).text
        assert 'name="viewport"' in html
        assert not re.search(r'(src|href)="(https?:)?//', html), path


# ---------------------------------------------------------------------------------------------- empty pages
def test_every_page_renders_with_no_data(client):
    login(client)
    pages = {p: client.get(p) for p in PAGES}
    assert all(r.status_code == 200 for r in pages.values())
    overview = pages["/dashboard"].text
    assert text_of(overview, "stat-profiles") == "0" and text_of(overview, "stat-events-per-minute") == "–"
    assert 'data-testid="chart-events-per-minute" data-empty="true"' in overview
    assert 'data-testid="errors-none"' in overview
    assert 'data-testid="segments-empty"' in pages["/dashboard/segments"].text
    assert 'data-testid="models-empty"' in pages["/dashboard/recommendations"].text
    assert "No experiments yet" in text_of(pages["/dashboard/experiments"].text, "experiments-empty")
    kpis = pages["/dashboard/kpis"].text
    assert text_of(kpis, "kpi-sessions-0") == "0" and 'data-testid="drift-ok"' in kpis


# --------------------------------------------------------------------------------------------- with data
def visits(user, start, pages_at, extra=()):
    """Page events of one user at start + offsets (seconds), plus extra track events (name, offset, props)."""
    out = [{"type": "page", "userId": user, "name": "p", "timestamp": iso(start + dt)} for dt in pages_at]
    out += [
        {"type": "track", "userId": user, "event": name, "properties": props, "timestamp": iso(start + dt)}
        for name, dt, props in extra
    ]
    return out


def test_overview_and_kpis_show_the_ingested_numbers(client, sqlite_services):
    t0 = NOW - 3600  # inside the last 24h
    messages = (
        visits(
            "alice",
            t0,
            [0, 60, 180, 7200 + 0],
            [("Slot Viewed", 5, {}), ("Slot Clicked", 6, {}), ("Order Completed", 200, {"revenue": 30})],
        )
        + visits("bob", t0, [30], [("Slot Viewed", 31, {})])
        + visits("carol", t0, [10, 70])
    )
    messages[-1]["context"] = {"consent": {"categoryPreferences": {"personalization": False}}}
    body = send(client, messages)
    assert body["stored"] == len(messages)
    assert client.post("/v1/track", json={"userId": "x"}).status_code == 400  # no event name: an ingest error
    login(client)
    html = client.get("/dashboard?window=24h").text
    assert text_of(html, "stat-profiles") == "3" and text_of(html, "stat-active-users") == "3"
    assert text_of(html, "stat-events-window") == str(len(messages))
    assert text_of(html, "stat-events-per-minute") == f"{len(messages) / 1440:.3g}"
    assert text_of(html, "stat-ingest-errors") == "1" and 'data-testid="errors-table"' in html
    assert text_of(html, "consent-rate-personalization") == "66.7%"  # carol denied, default granted for the rest
    assert text_of(html, "consent-rate-analytics") == "100.0%"
    assert 'data-testid="chart-events-per-minute" data-empty="false"' in html and "<path" in html

    kpis = client.get("/dashboard/kpis?window=24h").text
    # hand-computed: alice 2 sessions (3 pages, then 1 two hours later), bob 1 (bounce), carol 1 (2 pages)
    assert text_of(kpis, "kpi-profiles-0") == "3" and text_of(kpis, "kpi-sessions-0") == "4"
    assert text_of(kpis, "kpi-bounce-0") == "50.0%"  # alice's late page and bob's single page
    assert text_of(kpis, "kpi-repeat-0") == "33.3%"  # alice
    assert text_of(kpis, "kpi-ctr-0") == "50.0%"  # 1 click / 2 impressions
    assert text_of(kpis, "kpi-conversion-0") == "33.3%"
    assert text_of(kpis, "kpi-dwell-0") == "1m 20s"  # gaps 60, 120 (alice) and 60 (carol): mean 80 s


def test_segments_page_shows_sizes_flows_and_the_ml_report(client, sqlite_services):
    now = time.time()
    # names as the segment service gives them (its definitions are its own business, not this test's)
    sqlite_services.dashboard.segment_names = lambda: {"vip": ("vip", "VIP buyers")}
    with sqlite_services.store.transaction() as tx:
        tx.apply_membership_changes(
            [MembershipChange("vip", f"p{i}", True, now - 3000 + i) for i in range(5)]
            + [MembershipChange("vip", "p0", False, now - 100)]
        )
        tx.record_segment_sizes({"vip": 3}, at=now - 3600)
        tx.record_segment_sizes({"vip": 4}, at=now - 60)
    login(client)
    html = client.get("/dashboard/segments?window=24h").text
    assert "VIP buyers" in html and text_of(html, "segment-size-vip") == "4"
    row = re.search(r'data-testid="segment-vip">(.*?)</tr>', html, re.S).group(1)
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)][-3:] == ["5", "1", "4"]
    assert 'data-testid="chart-segment-sizes" data-empty="false"' in html
    assert 'data-testid="chart-segment-entries" data-empty="false"' in html

    send(
        client,
        [
            m
            for u in range(40)
            for m in visits(
                f"u{u}",
                now - 86400 * (u % 7),
                [0, 60 * (u % 5 + 1)],
                [("Order Completed", 30, {"revenue": 10 + u * 5})] * (u % 3),
            )
        ],
    )
    after = client.post("/dashboard/segments/report", headers=SAME_ORIGIN, follow_redirects=True)
    assert after.status_code == 200
    k = int(text_of(after.text, "ml-k"))
    assert 2 <= k <= 6 and after.text.count('data-testid="ml-segment-') == k
    assert 'data-testid="chart-ml-shares"' in after.text


def test_recommendations_page_lists_versions_metrics_and_online_clicks(client, sqlite_services):
    save_popularity(sqlite_services, name="default", metrics={"ndcg@10": 0.125, "recall@10": 0.25})
    save_popularity(sqlite_services, name="default", metrics={"ndcg@10": 0.25, "recall@10": 0.5})
    t = NOW - 600
    send(
        client,
        [
            {
                "type": "track",
                "userId": f"u{i}",
                "event": "Recommendation Clicked",
                "timestamp": iso(t + i),
                "properties": {"item_id": "a", "model": "default", "version": "v2", "source": "model"},
            }
            for i in range(3)
        ]
        + [
            {
                "type": "track",
                "userId": "u9",
                "event": "Recommendation Viewed",
                "timestamp": iso(t),
                "properties": {"model": "default", "version": "v2"},
            }
        ]
        * 1,
    )
    login(client)
    html = client.get("/dashboard/recommendations?window=24h").text
    assert 'data-testid="model-default-v1"' in html and 'data-testid="model-default-v2"' in html
    assert re.search(r'data-testid="model-default-v2" class="served"', html)
    assert "0.25" in html and "0.125" in html and "ndcg@10" in html
    assert 'data-testid="chart-offline-metrics" data-empty="false"' in html
    assert text_of(html, "ctr-clicks-default") == "3"


def test_recommendations_page_shows_the_holdout_metrics_that_train_writes(client, sqlite_services):
    save_popularity(
        sqlite_services,
        name="default",
        metrics={
            "holdout": {"k": 10, "n_users": 2, "metrics": {"ndcg": 0.375, "hit_rate": 0.5}},
            "report": {"trials": []},
        },
    )
    login(client)
    html = client.get("/dashboard/recommendations").text
    header = cells(html, "models-table", "th")
    row = dict(zip(header, cells(html, "model-default-v1"), strict=True))
    assert row["ndcg@10"] == "0.375" and row["hit_rate@10"] == "0.5"
    assert 'data-testid="chart-offline-metrics" data-empty="false"' in html


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval, written out (the service uses scipy's)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return centre - half, centre + half


CLICK, VIEW = "Recommendation Clicked", "Recommendations Viewed"


def test_online_click_through_counts_impressions_clicked_at_least_once():
    rows = (
        [(VIEW, "default", "model", "v2", f"i{n}") for n in range(8)]
        + [(CLICK, "default", "model", "v2", "i0")] * 2  # one list clicked twice: one clicked impression
        + [
            (CLICK, "default", "model", "v2", "i3"),
            (CLICK, "default", "model", "v2", "shown-before-the-window"),  # a click, no impression here
            (CLICK, "default", "model", "v2", None),
        ]  # another sender: no impression id, one clicked impression
        + [(VIEW, None, "popularity", None, f"p{n}") for n in range(4)]
        + [(CLICK, "default", "model", "v1", "i9"), ("Slot Clicked", "default", "model", "v2", "i1")]
    )
    out = {(r.model, r.version): r for r in online_click_through(rows, [CLICK], [VIEW])}
    assert set(out) == {("default", "v2"), ("default", "v1"), ("popularity", "–")}
    v2 = out[("default", "v2")]
    assert (v2.impressions, v2.clicks, v2.clicked) == (8, 5, 3) and v2.ctr == 3 / 8
    assert (v2.ci_low, v2.ci_high) == pytest.approx(wilson(3, 8))
    popular = out[("popularity", "–")]
    assert (popular.impressions, popular.clicks, popular.ctr) == (4, 0, 0.0)
    assert popular.ci_low == pytest.approx(0.0, abs=1e-12) and popular.ci_high == pytest.approx(wilson(0, 4)[1])
    no_views = out[("default", "v1")]  # clicks without impressions: no rate, never a division by zero
    assert (no_views.impressions, no_views.clicks, no_views.ctr, no_views.ci_low) == (0, 1, None, None)


def test_recommendations_page_shows_click_through_from_impressions(client):
    t = NOW - 900
    views = [
        {
            "type": "track",
            "anonymousId": f"a{n}",
            "event": VIEW,
            "timestamp": iso(t + n),
            "properties": {
                "list": "home",
                "model": "default",
                "source": "model",
                "version": "v3",
                "item_ids": ["x", "y"],
                "impression_id": f"imp-{n}",
            },
        }
        for n in range(20)
    ]
    clicks = [
        {
            "type": "track",
            "anonymousId": f"a{n}",
            "event": CLICK,
            "timestamp": iso(t + 30 + n),
            "properties": {
                "item_id": "x",
                "rank": 1,
                "list": "home",
                "model": "default",
                "source": "model",
                "version": "v3",
                "impression_id": f"imp-{n}",
            },
        }
        for n in (0, 0, 4, 9, 11)
    ]
    send(client, views + clicks)
    login(client)
    html = client.get("/dashboard/recommendations?window=24h").text
    assert text_of(html, "ctr-impressions-default-v3") == "20" and text_of(html, "ctr-clicks-default") == "5"
    assert text_of(html, "ctr-clicked-default-v3") == "4"
    low, high = wilson(4, 20)
    assert text_of(html, "ctr-rate-default-v3") == f"20.0% [{100 * low:.1f}%, {100 * high:.1f}%]"


def test_experiments_page_results_srm_and_bandit_shares(client, sqlite_services):
    now = time.time()
    rows, outcomes = [], []
    # control: 400 units, 40 clicks; treatment: 250 units, 50 clicks (planned 50/50: a sample ratio mismatch)
    for variant, n, clicks in (("control", 400, 40), ("green", 250, 50)):
        for i in range(n):
            did = f"{variant}-{i}"
            rows.append(
                DecisionRow(
                    did,
                    f"{variant}-p{i}",
                    "home.hero",
                    variant,
                    "experiment",
                    now - 5000 + i,
                    experiment="hero-color",
                    propensity=0.5,
                )
            )
            if i < clicks:
                outcomes.append(OutcomeRow(did, f"{variant}-p{i}", "click", f"m-{did}", now - 4000 + i))
    for i in range(200):
        rows.append(
            DecisionRow(
                f"b{i}",
                f"bp{i}",
                "pdp.recs",
                "arm-a" if i % 4 else "arm-b",
                "bandit",
                now - 20000 + 100 * i,
                propensity=0.5,
            )
        )
    sqlite_services.dashboard.experiment_results = None  # the page's own analysis of the window's decisions
    with sqlite_services.store.transaction() as tx:
        tx.put_document(
            "experiment",
            "hero-color",
            {"key": "hero-color", "variants": ["control", "green"], "weights": [0.5, 0.5], "status": "running"},
            now=now,
        )
        tx.insert_decisions(rows)
        tx.insert_outcomes(outcomes)
    login(client)
    html = client.get("/dashboard/experiments?window=24h").text
    assert 'data-testid="experiment-hero-color"' in html and "sample ratio mismatch" in text_of(html, "srm-warning")
    variant = re.search(r'data-testid="variant-hero-color-green">(.*?)</tr>', html, re.S).group(1)
    assert "250" in variant and "20.0%" in variant
    assert float(text_of(html, "ctw-hero-color-click-green").rstrip("%")) > 99
    assert 'data-testid="chart-diff-hero-color-click" data-empty="false"' in html  # one chart per metric
    assert 'data-testid="bandit-pdp.recs"' in html and "arm-a" in html
    assert 'data-testid="chart-bandit-pdp.recs" data-empty="false"' in html


def test_kpis_per_variant_and_segment_and_drift_alert(client, sqlite_services):
    now = NOW
    week = 7 * 86400
    # reference week: mobile users; current week: desktop users with more pages
    ref = [m for u in range(40) for m in visits(f"r{u}", now - week - 86400 * 3 + u * 60, [0, 30])]
    for m in ref:
        m["context"] = {"device": {"type": "mobile"}}
    cur = [m for u in range(40) for m in visits(f"c{u}", now - 86400 * 2 + u * 60, [0, 30, 60, 90, 120])]
    for m in cur:
        m["context"] = {"device": {"type": "desktop"}}
    cur += [
        {
            "type": "track",
            "userId": f"c{u}",
            "event": "Experiment Viewed",
            "timestamp": iso(now - 86400 * 2 + u * 60),
            "properties": {"experiment_id": "layout", "variation_id": "wide" if u % 2 else "narrow"},
        }
        for u in range(40)
    ]
    send(client, ref)
    send(client, cur)
    with sqlite_services.store.transaction(write=False) as tx:
        pids = sorted({e.profile_id for e in tx.iter_events_between(now - 3 * 86400, now + 60)})
    sqlite_services.dashboard.segment_names = lambda: {"early": ("early", "Early birds")}
    with sqlite_services.store.transaction() as tx:
        tx.apply_membership_changes([MembershipChange("early", p, True, now) for p in pids[:10]])
    login(client)
    html = client.get("/dashboard/kpis?window=7d").text
    groups = dict(re.findall(r'data-testid="kpi-row-(\d+)" data-group="([^"]+)"', html))
    by_name = {v: k for k, v in groups.items()}
    assert {"all profiles", "segment: Early birds", "layout: wide", "layout: narrow"} <= set(by_name)
    assert text_of(html, f"kpi-profiles-{by_name['layout: wide']}") == "20"
    assert text_of(html, f"kpi-sessions-{by_name['all profiles']}") == "40"
    assert text_of(html, f"kpi-profiles-{by_name['segment: Early birds']}") == "10"
    assert text_of(html, f"kpi-bounce-{by_name['all profiles']}") == "0.0%"
    alerts = text_of(html, "drift-alerts")
    assert "context.device.type: psi" in alerts and "page views per profile" in alerts
    assert 'class="alert"' in html


def test_old_history_is_shown_up_to_the_newest_event(client):
    old = NOW - 400 * 86400
    send(client, visits("hist", old, [0, 60, 120]))
    login(client)
    html = client.get("/dashboard?window=1h").text
    assert "newest event" in text_of(html, "window-note") and text_of(html, "stat-events-window") == "3"
    assert text_of(html, "stat-active-users") == "1"


# ------------------------------------------------------------------------------------- service, both backends
def test_service_numbers_on_each_backend(services):
    """The same numbers from SQLite and PostgreSQL (aggregates run in SQL), cross-checked with compute_kpis."""
    now = 1_800_000_000.0
    res = services.ingest.ingest(
        [{"type": "page", "userId": f"u{i % 3}", "name": "p", "timestamp": iso(now - 600 + 40 * i)} for i in range(9)]
        + [
            {
                "type": "track",
                "userId": "u0",
                "event": "Order Completed",
                "timestamp": iso(now - 10),
                "context": {"consent": {"categoryPreferences": {"analytics": True, "personalization": False}}},
            }
        ],
        received_at=now,
    )
    assert res.stored == 10
    dash = services.dashboard
    page = dash.overview("1h", now=now)
    assert (page.events_in_window, page.active_profiles, page.profiles) == (10, 3, 3)
    rates = {c.purpose: (c.granted, c.denied, c.unset) for c in page.consent}
    assert rates["personalization"] == (0, 1, 2) and rates["analytics"] == (1, 0, 2)
    kpi = dash.kpis("1h", now=now).rows[0].result
    with services.store.transaction(write=False) as tx:
        events = list(tx.iter_events_between(now - 3600, now + 1))
    expected = compute_kpis(KpiEvents.from_records((e.profile_id, e.type, e.event, e.timestamp) for e in events))
    assert kpi == expected and kpi.sessions == 3 and kpi.dwell_s == pytest.approx(120.0)


def test_experiments_use_the_decide_services_analysis_when_given(client, sqlite_services):
    """With an analysis source (the decide service's results), its report is what the page shows."""
    from pertinent.experiments.analysis import MetricSpec, analyze
    from pertinent.experiments.stats import ProportionStats, SampleMeanStats

    data = {
        "a": {"buy": ProportionStats(2000, 200), "revenue": SampleMeanStats(2000, 25_000.0, 900_000.0)},
        "b": {"buy": ProportionStats(2000, 260), "revenue": SampleMeanStats(2000, 27_000.0, 950_000.0)},
    }
    specs = [MetricSpec(name="buy", kind="conversion"), MetricSpec(name="revenue", kind="continuous")]
    report = {**analyze(data, "a", specs).to_dict(), "status": "stopped"}
    with sqlite_services.store.transaction() as tx:
        tx.put_document("experiment", "checkout", {"key": "checkout"}, now=time.time())
    asked = []
    sqlite_services.dashboard.experiment_results = lambda key: asked.append(key) or report
    login(client)
    html = client.get("/dashboard/experiments").text
    assert asked == ["checkout"] and "stopped" in html
    header = cells(html, "variants-checkout", "th")
    row = dict(zip(header, cells(html, "variant-checkout-b"), strict=True))
    assert row["buy rate"] == "13.0%" and row["revenue per unit"] == "13.5"  # a mean, not a percentage
    assert float(text_of(html, "ctw-checkout-buy-b").rstrip("%")) > 99
    sqlite_services.dashboard.experiment_results = lambda key: (_ for _ in ()).throw(KeyError(key))
    fallback = client.get("/dashboard/experiments")
    assert fallback.status_code == 200 and "no decisions in the window yet" in fallback.text


def test_experiments_show_the_cuped_variance_reduction(client, sqlite_services):
    from pertinent.experiments.analysis import MetricSpec, analyze
    from pertinent.experiments.stats import RegressionAdjustedStats

    rng = __import__("numpy").random.default_rng(3)
    pre = {v: rng.gamma(2.0, 10.0, 500) for v in ("a", "b")}
    data = {
        v: {"revenue": RegressionAdjustedStats.from_values(x + rng.normal(0, 2, 500) + (v == "b"), x)}
        for v, x in pre.items()
    }
    report = analyze(data, "a", [MetricSpec(name="revenue", kind="continuous")]).to_dict()
    with sqlite_services.store.transaction() as tx:
        tx.put_document("experiment", "checkout", {"key": "checkout"}, now=time.time())
    sqlite_services.dashboard.experiment_results = lambda key: report
    login(client)
    html = client.get("/dashboard/experiments").text
    assert "CUPED variance reduction" in html
    reduction = report["metrics"][0]["comparisons"]["b"]["variance_reduction"]
    assert 0 < reduction < 1 and text_of(html, "cuped-checkout-revenue-b") == f"{100 * reduction:.1f}%"


def test_segment_names_come_from_the_segment_service_when_given(client, sqlite_services):
    now = time.time()
    with sqlite_services.store.transaction() as tx:
        tx.apply_membership_changes(
            [MembershipChange("clusters:0", "p1", True, now - 60), MembershipChange("clusters:1", "p2", True, now - 60)]
        )
    sqlite_services.dashboard.segment_names = lambda: {
        "clusters:0": ("clusters", "Bargain hunters"),
        "clusters:1": ("clusters", "Loyal big spenders"),
    }
    login(client)
    html = client.get("/dashboard/segments").text
    assert "Bargain hunters" in html and "Loyal big spenders" in html
    assert text_of(html, "segment-size-clusters:0") == "1"


def test_experiment_and_bandit_served_by_decide_appear_with_their_clicks(client, sqlite_services):
    """End to end: an experiment and a bandit slot served by /v1/decide, clicks sent as events, the pages."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for bid in ("hero-a", "hero-b"):
        assert (
            client.put(
                f"/v1/blocks/{bid}",
                headers=admin,
                json={"type": "headline", "content": {"title": bid}, "template": "<h1>{{ title }}</h1>"},
            ).status_code
            == 200
        )
    slot = {"variants": {"a": "hero-a", "b": "hero-b"}, "default": {"kind": "variant", "variant": "a"}}
    assert client.put("/v1/experiments/hero-test", headers=admin, json={"variants": ["a", "b"]}).status_code == 200
    assert (
        client.put(
            "/v1/slots/home.hero",
            headers=admin,
            json={**slot, "rules": [{"then": {"kind": "experiment", "experiment": "hero-test"}}]},
        ).status_code
        == 200
    )
    assert client.post("/v1/experiments/hero-test/start", headers=admin).status_code == 200
    assert (
        client.put(
            "/v1/slots/pdp.recs",
            headers=admin,
            json={
                **slot,
                "rules": [
                    {"then": {"kind": "bandit", "policy": "epsilon_greedy", "params": {"epsilon": 1.0, "seed": 1}}}
                ],
            },
        ).status_code
        == 200
    )
    clicked = {"a": 0, "b": 0}
    for i in range(40):
        d = client.get("/v1/decide", params={"slot": "home.hero", "user_id": f"u{i}"}).json()
        if i % 4 == 0:
            clicked[d["variant"]] += 1
            client.post(
                "/v1/track",
                json={"userId": f"u{i}", "event": "Slot Clicked", "properties": {"decision_id": d["decision_id"]}},
            )
        assert client.get("/v1/decide", params={"slot": "pdp.recs", "user_id": f"u{i}"}).status_code == 200
    sqlite_services.decide.flush()
    login(client)
    html = client.get("/dashboard/experiments").text
    assert 'data-testid="experiment-hero-test"' in html and "running" in html
    header = cells(html, "variants-hero-test", "th")
    rows = {v: dict(zip(header, cells(html, f"variant-hero-test-{v}"), strict=True)) for v in ("a", "b")}
    units = {v: int(rows[v]["units"]) for v in ("a", "b")}
    assert sum(units.values()) == 40
    click_column = next(h for h in header if "click" in h.lower())
    for v in ("a", "b"):  # every click attributed to its decision, as a rate per unit
        assert rows[v][click_column] == f"{100 * clicked[v] / units[v]:.1f}%"
    assert 'data-testid="bandit-pdp.recs"' in html and "40 decisions" in html
    kpis = client.get("/dashboard/kpis?window=24h").text
    groups = dict(re.findall(r'data-testid="kpi-row-(\d+)" data-group="([^"]+)"', kpis))
    by_name = {v: k for k, v in groups.items()}
    assert text_of(kpis, f"kpi-profiles-{by_name['hero-test: a']}") == str(units["a"])
    assert sum(int(text_of(kpis, f"kpi-profiles-{by_name[f'hero-test: {v}']}")) for v in "ab") == 40


def test_stored_ml_segment_definitions_are_reported(client, sqlite_services):
    """An ML definition created through /v1/segments shows its fitted segments, shares and descriptions."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    now = time.time()
    send(
        client,
        [
            {
                "type": "track",
                "userId": f"c{i}",
                "event": "Order Completed",
                "timestamp": iso(now - 3600 + j),
                "properties": {"revenue": 10 + 40 * (i % 3)},
            }
            for i in range(30)
            for j in range(1 + (i % 3) * 3)
        ],
    )
    assert sqlite_services.segments.wait_idle()
    r = client.post(
        "/v1/segments",
        headers=admin,
        json={
            "id": "clusters",
            "name": "Buyer clusters",
            "kind": "ml",
            "config": {"features": {"features": ["frequency", "monetary"]}, "clustering": {"k": 3}},
        },
    )
    assert r.status_code == 201, r.text
    fitted = r.json()["fitted"]
    login(client)
    html = client.get("/dashboard/segments").text
    assert 'data-testid="ml-definition-clusters"' in html and "Buyer clusters" in html
    assert html.count('class="bar-row"') >= 3
    for seg in fitted["segments"]:
        assert escape(seg["name"]) in html and escape(seg["description"]) in html
