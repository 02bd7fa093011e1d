"""The dashboard in a real browser (Debian's Chromium through Playwright, no browser download) against the real
app under uvicorn: a person logs in through the form, clicks through every page and reads the numbers of the
data this module sent (events through the HTTP API, an experiment slot served by /v1/decide, a rule segment
created through /v1/segments, a trained model); charts are drawn; logging out locks the pages again; a phone
screen does not scroll sideways. And the loop a person sees after ``make demo``: what a visitor does on the
demo shop (the snippet) shows up on the dashboard's overview and recommendations pages.

Expected numbers come from what was sent (counted here), never from the dashboard's own code. Screenshots are
kept in test-artifacts/browser/. Without Chromium these tests are skipped with the reason.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from pertinent.dashboard.charts import fmt_number, fmt_percent
from pertinent.privacy.identity_proof import user_hash
from pertinent.storage.base import DecisionRow, OutcomeRow
from tests.support.browser import Shop, Tab, named, names, overflows, tab_factory
from tests.support.common import IDENTITY_SECRET, WRITE_KEY

pytestmark = pytest.mark.browser

PAGES = {
    "overview": "/dashboard",
    "segments": "/dashboard/segments",
    "recommendations": "/dashboard/recommendations",
    "experiments": "/dashboard/experiments",
    "kpis": "/dashboard/kpis",
}
HEADINGS = {
    "overview": "Overview",
    "segments": "Segments",
    "recommendations": "Recommendations",
    "experiments": "Slots & experiments",
    "kpis": "KPIs & drift",
}
Z95 = 1.959963984540054


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval, written out."""
    p = k / n
    centre = (p + Z95 * Z95 / (2 * n)) / (1 + Z95 * Z95 / n)
    half = Z95 / (1 + Z95 * Z95 / n) * (p * (1 - p) / n + Z95 * Z95 / (4 * n * n)) ** 0.5
    return centre - half, centre + half


def proof(user: str) -> dict[str, str]:
    return {"X-User-Hash": user_hash(IDENTITY_SECRET, user)}


class World(Shop):
    """The demo shop's synthetic history (dated 2024: outside every window but the anchored ones), plus fresh data
    sent through the HTTP API by this module, each number of which is kept for the assertions."""

    USERS = [f"dash-{i:02d}" for i in range(12)]
    GOLD = USERS[:5]  # trait tier=gold: the rule segment
    DENY_PERSONALIZATION = USERS[9:]  # consent recorded from the events' context
    BUYERS = USERS[:2]
    REFERENCE = [f"ref-{i:02d}" for i in range(40)]  # ten days ago, on phones (the current users are on desktops)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        assert self.trained.version, self.trained.message
        with self.services.store.transaction(write=False) as tx:  # type: ignore[call-arg]
            self.base_profiles = tx.count_profiles()
            self.base_denied = tx.consent_counts().get("personalization", {}).get("denied", 0)
            self.base_errors = tx.count_ingest_errors()
        self.site = httpx.Client(base_url=self.url, timeout=10, auth=(WRITE_KEY, ""))
        self.now = time.time()
        self.sent: list[dict[str, Any]] = []
        self._history()
        self._segment()
        self._experiment()
        self._recommendations()
        self._mismatched_experiment()
        assert self.site.post("/v1/track", json={"userId": "dash-00"}).status_code == 400  # an ingest error
        self.services.decide.flush()
        assert self.services.segments.wait_idle()

    def send(self, messages: list[dict[str, Any]]) -> None:
        proven = [  # as the site's pages send them: each user id with its proof (identity verification)
            {**m, "context": {**m.get("context", {}), "userHash": user_hash(IDENTITY_SECRET, m["userId"])}}
            if m.get("userId")
            else m
            for m in messages
        ]
        res = self.site.post("/v1/batch", json={"batch": proven})
        assert res.status_code == 200 and res.json()["stored"] == len(messages), res.text
        self.sent += messages

    def track(self, user: str, event: str, at: float, **properties: Any) -> dict[str, Any]:
        return {
            "type": "track",
            "userId": user,
            "event": event,
            "timestamp": iso(at),
            "properties": properties,
            "context": self.context(user),
        }

    def context(self, user: str) -> dict[str, Any]:
        return {
            "device": {"type": "desktop"},
            "consent": {
                "categoryPreferences": {"analytics": True, "personalization": user not in self.DENY_PERSONALIZATION}
            },
        }

    def _history(self) -> None:
        t0 = self.now - 1200
        messages = []
        for i, user in enumerate(self.USERS):
            start = t0 + 20 * i
            messages.append(
                {
                    "type": "identify",
                    "userId": user,
                    "timestamp": iso(start),
                    "context": self.context(user),
                    "traits": {"tier": "gold" if user in self.GOLD else "silver"},
                }
            )
            messages += [
                {
                    "type": "page",
                    "userId": user,
                    "name": "Home",
                    "timestamp": iso(start + dt),
                    "context": self.context(user),
                }
                for dt in (1, 61)
            ]  # one session, 60 s on the first page
            if user in self.BUYERS:
                messages.append(self.track(user, "Order Completed", start + 90, order_id=f"o-{user}", revenue=25.0))
        self.send(messages)
        ref = [
            {
                "type": "page",
                "userId": user,
                "name": "Home",
                "timestamp": iso(self.now - 10 * 86400 + 60 * i + dt),
                "context": {"device": {"type": "mobile"}},
            }
            for i, user in enumerate(self.REFERENCE)
            for dt in (0, 30)
        ]
        self.send(ref)
        self.recent_events = len(messages)  # grows with what follows (all of it in the last hour)

    def _segment(self) -> None:
        rule = {"type": "trait", "path": ["tier"], "op": "eq", "value": "gold"}
        res = self.http.post("/v1/segments", json={"id": "gold", "name": "Gold tier", "rule": rule})
        assert res.status_code == 201, res.text

    def _experiment(self) -> None:
        for bid in ("dash-a", "dash-b"):
            res = self.http.put(f"/v1/blocks/{bid}", json={"type": "headline", "content": {"title": bid}})
            assert res.status_code == 200, res.text
        assert self.http.put("/v1/experiments/dash-test", json={"variants": ["a", "b"]}).status_code == 200
        res = self.http.put(
            "/v1/slots/dash.banner",
            json={
                "variants": {"a": "dash-a", "b": "dash-b"},
                "default": {"kind": "variant", "variant": "a"},
                "rules": [{"then": {"kind": "experiment", "experiment": "dash-test"}}],
            },
        )
        assert res.status_code == 200, res.text
        assert self.http.post("/v1/experiments/dash-test/start").status_code == 200
        self.units: Counter[str] = Counter()
        self.clicked: Counter[str] = Counter()
        decisions = [
            self.site.get("/v1/decide", params={"slot": "dash.banner", "user_id": user}, headers=proof(user)).json()
            for user in self.USERS
        ]
        seen = time.time()  # after every decision: what follows counts for the users' variants (first exposure)
        events = []
        for i, (user, d) in enumerate(zip(self.USERS, decisions, strict=True)):
            # without personalization consent the slot's default answers, outside the experiment
            in_experiment = d["reason"]["kind"] == "experiment"
            assert in_experiment == (user not in self.DENY_PERSONALIZATION), d
            self.units[d["variant"]] += in_experiment
            props = {"decision_id": d["decision_id"], "slot": "dash.banner", "variant": d["variant"]}
            events.append(self.track(user, "Slot Viewed", seen, **props))
            if i % 3 == 0:
                self.clicked[d["variant"]] += in_experiment
                events.append(self.track(user, "Slot Clicked", seen, **props))
        self.send(events)
        self.slot_clicks = len([e for e in events if e["event"] == "Slot Clicked"])
        # + one "Experiment Viewed" per user in the experiment, sent by the decide service
        self.recent_events += len(events) + sum(self.units.values())
        self.bandit_decisions = 6  # new visitors of the demo hero: its Thompson-sampling bandit answers
        for i in range(self.bandit_decisions):
            assert (
                self.site.get("/v1/decide", params={"slot": "home.hero", "anonymous_id": f"visitor-{i}"}).json()[
                    "reason"
                ]["kind"]
                == "bandit"
            )

    def _recommendations(self) -> None:
        version = self.trained.version
        events = []
        self.impressions = 10
        clicked = {0: 2, 3: 1, 7: 1}  # impression -> clicks (the first one clicked twice)
        for n in range(self.impressions):
            user = self.USERS[n]
            common = {
                "list": "home",
                "model": "default",
                "source": "model",
                "version": version,
                "impression_id": f"imp-{n}",
            }
            at = self.now - 600 + 10 * n
            events.append(self.track(user, "Recommendations Viewed", at, **common, item_ids=["x", "y", "z"]))
            events += [
                self.track(user, "Recommendation Clicked", at + 2 + c, **common, item_id="x", rank=1)
                for c in range(clicked.get(n, 0))
            ]
        self.send(events)
        self.recent_events += len(events)
        self.rec_clicks = sum(clicked.values())
        self.rec_clicked = len(clicked)

    def _mismatched_experiment(self) -> None:
        """An experiment planned 50/50 whose logged decisions came out 400/250 (say, a redirect losing one arm's
        users): the sample-ratio mismatch the page warns about. A correct assignment cannot produce one, so the
        decisions are written to the store as a broken integration would have logged them."""
        res = self.http.put("/v1/experiments/srm-check", json={"variants": ["control", "green"], "weights": [0.5, 0.5]})
        assert res.status_code == 200, res.text
        assert self.http.post("/v1/experiments/srm-check/start").status_code == 200
        rows, outcomes = [], []
        self.srm_units = {"control": 400, "green": 250}
        self.srm_clicks = {"control": 40, "green": 50}
        for variant, n in self.srm_units.items():
            for i in range(n):
                did = f"srm-{variant}-{i}"
                rows.append(
                    DecisionRow(
                        did,
                        f"srm-{variant}-p{i}",
                        "srm.slot",
                        variant,
                        "experiment",
                        self.now - 5000 + i,
                        experiment="srm-check",
                        propensity=0.5,
                    )
                )
                if i < self.srm_clicks[variant]:
                    outcomes.append(
                        OutcomeRow(did, f"srm-{variant}-p{i}", "Slot Clicked", f"m-{did}", self.now - 4000 + i)
                    )
        with self.services.store.transaction() as tx:  # type: ignore[call-arg]
            tx.insert_decisions(rows)
            tx.insert_outcomes(outcomes)

    def close(self) -> None:
        self.site.close()
        super().close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[World]:
    yield from World.serve(tmp_path_factory, "dashboard-world")


@pytest.fixture
def new_tab(browser: Any, world: World, request: pytest.FixtureRequest) -> Iterator[Callable[..., Tab]]:
    yield from tab_factory(browser, world.url, request.node.name)


@pytest.fixture
def admin(new_tab: Callable[..., Tab]) -> Tab:
    """A tab logged in to the dashboard through its form; what its console says is kept in ``tab.console``
    (a Content-Security-Policy violation shows there)."""
    tab = new_tab()
    console: list[str] = []
    tab.page.on("console", lambda message: console.append(message.text))
    tab.console = console  # type: ignore[attr-defined]
    tab.dashboard_login()
    assert urlparse(tab.page.url).path == "/dashboard"
    return tab


def policy_violations(tab: Tab) -> list[str]:
    tab.page.evaluate("0")  # the sync API delivers console events only while it is called
    return [m for m in tab.console if "Content Security Policy" in m or "Refused to" in m]  # type: ignore[attr-defined]


def nav(tab: Tab, page: str) -> None:
    """Go to a dashboard page by clicking its link in the navigation bar."""
    tab.page.get_by_test_id(f"nav-{page}").click()
    tab.page.wait_for_url(re.compile(re.escape(PAGES[page]) + r"(\?.*)?$"))
    assert tab.page.locator("h1").inner_text() == HEADINGS[page]
    assert tab.page.get_by_test_id(f"nav-{page}").get_attribute("aria-current") == "page"


def window(tab: Tab, w: str) -> None:
    tab.page.get_by_test_id(f"window-{w}").click()
    tab.page.wait_for_url(re.compile(rf"window={w}$"))


def chart_drawn(tab: Tab, testid: str) -> None:
    """A chart with data: data-empty false, an SVG with at least one drawn line."""
    chart = tab.page.get_by_test_id(testid)
    assert chart.get_attribute("data-empty") == "false", testid
    assert chart.locator("svg path.line").count() >= 1, testid
    box = chart.locator("svg").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50, (testid, box)


# ------------------------------------------------------------------------------------------------------ login
def test_login_form_rejects_a_wrong_key_and_accepts_the_right_one(new_tab: Callable[..., Tab], world: World) -> None:
    tab = new_tab()
    tab.page.goto(world.url + "/dashboard")  # not logged in: the page sends a browser to the form
    assert urlparse(tab.page.url).path == "/dashboard/login"
    assert tab.page.get_by_test_id("login-form").is_visible()
    assert tab.page.evaluate("document.activeElement.id") == "admin_key"  # the key field has the focus
    tab.shot("dashboard-login")

    tab.page.fill("#admin_key", "not-the-admin-key")
    tab.page.click("[data-testid=login-submit]")
    tab.page.wait_for_load_state()
    assert "invalid admin key" in tab.testid("login-error")
    assert tab.page.get_by_test_id("login-form").is_visible()
    assert tab.context.cookies() == []  # no session
    tab.shot("dashboard-login-wrong-key")

    tab.page.fill("#admin_key", world.services.settings.admin_key)
    tab.page.click("[data-testid=login-submit]")
    tab.page.wait_for_url(re.compile(r"/dashboard$"))
    assert tab.page.locator("h1").inner_text() == "Overview"
    assert tab.page.get_by_test_id("login-error").count() == 0
    cookies = tab.context.cookies()
    assert cookies and all(c["httpOnly"] and c["path"] == "/dashboard" for c in cookies)
    assert world.services.settings.admin_key not in tab.page.url + json.dumps(cookies)


# ---------------------------------------------------------------------------------------------------- pages
def test_every_page_through_the_navigation_shows_the_numbers_sent(admin: Tab, world: World) -> None:
    tab = admin
    # Overview (24h): only this module's fresh data is that recent
    users = len(world.USERS)
    profiles = world.base_profiles + users + len(world.REFERENCE)
    assert tab.testid("stat-events-window") == f"{world.recent_events:,}"
    assert tab.testid("stat-active-users") == str(users)
    assert tab.testid("stat-profiles") == f"{profiles:,}"
    assert tab.testid("stat-events-per-minute") == f"{world.recent_events / 1440:.3g}"
    assert tab.testid("stat-ingest-errors") == "1"
    denied = world.base_denied + len(world.DENY_PERSONALIZATION)
    assert tab.testid("consent-rate-personalization") == fmt_percent((profiles - denied) / profiles)
    assert tab.page.get_by_test_id("window-note").count() == 0  # the window ends now
    chart_drawn(tab, "chart-events-per-minute")
    tab.shot("dashboard-overview")
    window(tab, "1h")
    assert tab.testid("stat-events-window") == f"{world.recent_events:,}"  # all of it within the last hour

    nav(tab, "segments")
    assert tab.testid("segment-size-gold") == str(len(world.GOLD))
    assert "Gold tier" in tab.page.get_by_test_id("segment-gold").inner_text()
    chart_drawn(tab, "chart-segment-entries")
    tab.page.get_by_test_id("ml-run").click()  # the ML report on the stored profiles
    tab.page.wait_for_url(re.compile(r"/dashboard/segments#ml-report$"))
    k = int(tab.testid("ml-k"))
    assert 2 <= k <= 6 and tab.page.locator("[data-testid^=ml-segment-]").count() == k
    assert tab.page.get_by_test_id("chart-ml-shares").locator(".bar-row").count() == k
    tab.shot("dashboard-segments")

    nav(tab, "recommendations")
    version = world.trained.version
    row = tab.page.get_by_test_id(f"model-default-{version}")
    assert row.get_attribute("class") == "served" and "served" in row.inner_text()
    header = tab.page.get_by_test_id("models-table").locator("th").all_inner_texts()
    cells = row.locator("td").all_inner_texts()
    holdout = world.trained.metrics["holdout"]  # the evaluation `pertinent train` ran, one column per metric
    for metric, value in holdout["metrics"].items():
        assert cells[header.index(f"{metric}@{holdout['k']}")] == fmt_number(value)
    chart_drawn(tab, "chart-offline-metrics")
    assert tab.testid(f"ctr-impressions-default-{version}") == str(world.impressions)
    assert tab.testid("ctr-clicks-default") == str(world.rec_clicks)
    assert tab.testid(f"ctr-clicked-default-{version}") == str(world.rec_clicked)
    low, high = wilson(world.rec_clicked, world.impressions)
    assert (
        tab.testid(f"ctr-rate-default-{version}")
        == f"{fmt_percent(world.rec_clicked / world.impressions)} [{fmt_percent(low)}, {fmt_percent(high)}]"
    )
    tab.shot("dashboard-recommendations")

    nav(tab, "experiments")
    section = tab.page.get_by_test_id("experiment-dash-test")
    assert "running" in section.inner_text()
    header = section.get_by_test_id("variants-dash-test").locator("th").all_inner_texts()
    click_col = next(i for i, h in enumerate(header) if "click" in h.lower())
    for variant in ("a", "b"):
        cells = tab.page.get_by_test_id(f"variant-dash-test-{variant}").locator("td").all_inner_texts()
        assert int(cells[1]) == world.units[variant]
        assert cells[click_col] == fmt_percent(world.clicked[variant] / world.units[variant])
    assert sum(world.units.values()) == len(world.USERS) - len(world.DENY_PERSONALIZATION)
    assert set(world.units) == {"a", "b"}
    assert section.get_by_test_id("srm-warning").count() == 0
    srm = tab.page.get_by_test_id("experiment-srm-check")
    assert "sample ratio mismatch" in srm.get_by_test_id("srm-warning").inner_text().lower()
    header = srm.get_by_test_id("variants-srm-check").locator("th").all_inner_texts()
    click_col = next(i for i, h in enumerate(header) if "click" in h.lower())
    for variant, units in world.srm_units.items():
        cells = tab.page.get_by_test_id(f"variant-srm-check-{variant}").locator("td").all_inner_texts()
        assert int(cells[1]) == units and cells[click_col] == fmt_percent(world.srm_clicks[variant] / units)
    ctw = srm.locator("[data-testid^=ctw-srm-check-][data-testid$=-green]").all_inner_texts()
    assert ctw and float(ctw[0].rstrip("%")) > 99  # 20% vs 10% of hundreds: green wins
    chart = srm.get_by_test_id("chart-diff-srm-check-clicked")  # one chart per metric
    assert chart.get_attribute("data-empty") == "false" and chart.locator(".ci-bar").count() >= 1
    bandit = tab.page.get_by_test_id("bandit-home.hero")
    assert f"{world.bandit_decisions} decisions" in bandit.inner_text()
    chart_drawn(tab, "chart-bandit-home.hero")
    tab.shot("dashboard-experiments")

    nav(tab, "kpis")  # 7 days: the current users; the reference week before holds the phone users
    groups = {
        tab.page.get_by_test_id(f"kpi-row-{i}").get_attribute("data-group"): i
        for i in range(tab.page.locator("[data-testid^=kpi-row-]").count())
    }
    assert {"all profiles", "segment: Gold tier", "dash-test: a", "dash-test: b"} <= set(groups)
    everyone = groups["all profiles"]
    assert tab.testid(f"kpi-profiles-{everyone}") == str(users)
    assert tab.testid(f"kpi-sessions-{everyone}") == str(users)  # two pages a minute apart each
    assert tab.testid(f"kpi-dwell-{everyone}") == "1m 00s" and tab.testid(f"kpi-bounce-{everyone}") == "0.0%"
    assert tab.testid(f"kpi-repeat-{everyone}") == "0.0%"
    clicks = world.slot_clicks + world.rec_clicks
    impressions = users + world.impressions  # a Slot Viewed per user, the lists' impressions
    assert tab.testid(f"kpi-ctr-{everyone}") == fmt_percent(clicks / impressions)
    assert tab.testid(f"kpi-conversion-{everyone}") == fmt_percent(len(world.BUYERS) / users)
    assert tab.testid(f"kpi-profiles-{groups['segment: Gold tier']}") == str(len(world.GOLD))
    for variant in ("a", "b"):  # from each user's exposure on: the slot's impression and clicks
        row = groups[f"dash-test: {variant}"]
        assert tab.testid(f"kpi-profiles-{row}") == str(world.units[variant])
        assert tab.testid(f"kpi-ctr-{row}") == fmt_percent(world.clicked[variant] / world.units[variant])
    alerts = tab.testid("drift-alerts")
    assert "context.device.type: psi" in alerts  # phones then, desktops now
    assert tab.page.get_by_test_id("drift-context.device.type").get_attribute("class") == "alert"
    tab.shot("dashboard-kpis")

    nav(tab, "overview")
    assert tab.testid("stat-active-users") == str(users)
    assert policy_violations(tab) == []  # the Content-Security-Policy blocked nothing any page uses


def test_a_copy_of_the_session_cookie_stops_working_at_logout(admin: Tab, new_tab: Callable[..., Tab]) -> None:
    thief = new_tab()
    thief.context.add_cookies(admin.context.cookies())
    thief.page.goto(admin.url + "/dashboard/kpis")
    assert thief.page.locator("h1").inner_text() == "KPIs & drift"  # the copy works while the session is open
    admin.page.get_by_test_id("logout").click()
    admin.page.wait_for_url(re.compile(r"/dashboard/login$"))
    thief.page.goto(admin.url + "/dashboard/kpis")
    assert urlparse(thief.page.url).path == "/dashboard/login"  # the session is gone from the database


def test_logout_returns_to_the_login_and_pages_then_redirect(admin: Tab, world: World) -> None:
    tab = admin
    nav(tab, "kpis")
    tab.page.get_by_test_id("logout").click()
    tab.page.wait_for_url(re.compile(r"/dashboard/login$"))
    assert tab.page.get_by_test_id("login-form").is_visible()
    for path in PAGES.values():
        tab.page.goto(world.url + path)
        assert urlparse(tab.page.url).path == "/dashboard/login", path
        assert tab.page.get_by_test_id("login-form").is_visible()
    # logging in again from there goes back to the page that was asked for
    tab.page.fill("#admin_key", world.services.settings.admin_key)
    tab.page.click("[data-testid=login-submit]")
    tab.page.wait_for_url(re.compile(r"/dashboard/kpis$"))
    assert tab.page.locator("h1").inner_text() == "KPIs & drift"


def test_pages_fit_a_phone_screen(new_tab: Callable[..., Tab], world: World) -> None:
    tab = new_tab(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    tab.dashboard_login()
    assert not overflows(tab.page), "the login form scrolls sideways"
    for page, path in PAGES.items():
        tab.page.goto(world.url + path)
        assert tab.page.locator("h1").inner_text() == HEADINGS[page]
        assert not overflows(tab.page), f"{path} scrolls sideways on a 390 px screen"
        assert tab.page.get_by_test_id("logout").is_visible()
        tab.shot(f"dashboard-phone-{page}")


# ------------------------------------------------------------------------------------- the demo, then the dashboard
@pytest.fixture(scope="module")
def fresh_shop(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Shop]:
    """The demo shop as `make demo` leaves it: a synthetic history (2024), nobody visiting yet."""
    yield from Shop.serve(tmp_path_factory, "dashboard-demo")


@pytest.fixture
def demo_tab(browser: Any, fresh_shop: Shop, request: pytest.FixtureRequest) -> Iterator[Callable[..., Tab]]:
    yield from tab_factory(browser, fresh_shop.url, request.node.name)


def test_what_a_demo_visitor_does_shows_on_the_dashboard(demo_tab: Callable[..., Tab], fresh_shop: Shop) -> None:
    person = demo_tab()  # the person who ran `make demo`, on the dashboard
    person.dashboard_login()
    assert "newest event" in person.testid("window-note")  # only the 2024 history: the window moved back to it
    profiles = int(person.testid("stat-profiles").replace(",", ""))

    visitor = demo_tab()  # and a visitor of the demo shop
    visitor.goto("/demo/")
    visitor.click_banner("accept")
    anon = visitor.anonymous_id()
    visitor.page.wait_for_selector("#recommended[data-pertinent-state=filled] [data-item-id]")
    visitor.page.locator("#recommended").scroll_into_view_if_needed()
    visitor.page.locator("#recommended [data-item-id]").first.click()
    visitor.page.wait_for_url(re.compile(r"/demo/products/"))
    visitor.page.wait_for_selector("#add-to-cart")
    visitor.page.click("#add-to-cart")
    visitor.flush()
    # the visitor leaves for a page without the snippet: what was left goes out as a beacon, then nothing more
    visitor.page.goto(fresh_shop.url + "/dashboard/login")
    batches = visitor.sent()
    assert batches and all(r.response() is not None and r.response().ok for r in batches)  # all answered: stored
    events = fresh_shop.events(anon)
    assert {"page", "Recommendations Viewed", "Recommendation Clicked", "Product Viewed", "Product Added"} <= set(
        names(events)
    )

    person.page.reload()
    assert person.page.get_by_test_id("window-note").count() == 0  # now there is something recent
    assert person.testid("stat-events-window") == str(len(events))
    assert person.testid("stat-active-users") == "1"
    assert person.testid("stat-profiles") == f"{profiles + 1:,}"
    chart_drawn(person, "chart-events-per-minute")
    person.shot("dashboard-after-demo-visit")

    nav(person, "recommendations")  # the lists the visitor saw and clicked, per model
    shown: Counter[tuple[str, str]] = Counter()
    for e in named(events, "Recommendations Viewed"):
        p = e["properties"]
        shown[(p.get("model") or p["source"], p.get("version") or "–")] += 1
    click = named(events, "Recommendation Clicked")[0]["properties"]
    key = (click.get("model") or click["source"], click.get("version") or "–")
    assert click["impression_id"] in {e["properties"]["impression_id"] for e in named(events, "Recommendations Viewed")}
    for (model, version), n in shown.items():
        assert person.testid(f"ctr-impressions-{model}-{version}") == str(n)
        clicked = 1 if (model, version) == key else 0
        assert person.testid(f"ctr-clicked-{model}-{version}") == str(clicked)
        assert person.testid(f"ctr-rate-{model}-{version}").startswith(fmt_percent(clicked / n))
    person.shot("dashboard-recommendations-after-demo-visit")
