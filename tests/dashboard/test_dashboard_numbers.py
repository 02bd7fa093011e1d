"""Numbers the dashboard must not get wrong (issue 17, items 16, 17 and 20): an erasure is no consent purpose,
variant click-through counts decisions as impressions, and an experiment's significance label, interval and
decision rule come from one test and agree."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from tests.dashboard.test_dashboard import cells, login, send, text_of
from tests.support.common import ADMIN

NOW = time.time()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------- consent (item 16)
def test_an_erasure_is_counted_as_a_request_not_listed_as_a_consent_purpose(client):
    """The defect: the erasure record in the consent log showed as a purpose "erasure" with a 100% rate."""
    page = [{"type": "page", "userId": u, "name": "p", "timestamp": iso(NOW - 60)} for u in ("ann", "ben", "cy")]
    page[2]["context"] = {"consent": {"categoryPreferences": {"personalization": False}}}
    send(client, page)
    assert client.delete("/v1/users/ann", headers=ADMIN).status_code == 200
    login(client)
    html = client.get("/dashboard?window=24h").text
    purposes = cells(html, "consent-table")[::5]
    assert purposes == ["analytics", "personalization"] and 'data-testid="consent-erasure"' not in html
    assert text_of(html, "consent-rate-personalization") == "50.0%"  # cy denied, ben by default; ann is gone
    assert text_of(html, "erasures").startswith("Erasure requests carried out: 1 ")


# ------------------------------------------------------------------------------------- variant CTR (item 16)
def serve_experiment(client, key: str, users: int, slot: str = "home.hero") -> list[dict]:
    """An experiment on a slot, started, and one /v1/decide per user; returns the decisions."""
    for bid in ("block-a", "block-b"):
        block = {"type": "headline", "content": {"title": bid}}
        assert client.put(f"/v1/blocks/{bid}", headers=ADMIN, json=block).status_code == 200
    assert client.put(f"/v1/experiments/{key}", headers=ADMIN, json={"variants": ["a", "b"]}).status_code == 200
    rules = [{"then": {"kind": "experiment", "experiment": key}}]
    body = {
        "variants": {"a": "block-a", "b": "block-b"},
        "default": {"kind": "variant", "variant": "a"},
        "rules": rules,
    }
    assert client.put(f"/v1/slots/{slot}", headers=ADMIN, json=body).status_code == 200
    assert client.post(f"/v1/experiments/{key}/start", headers=ADMIN).status_code == 200
    return [client.get("/v1/decide", params={"slot": slot, "user_id": f"u{i}"}).json() for i in range(users)]


def test_variant_click_through_counts_decisions_as_impressions(client, sqlite_services):
    """The defect: clicks on a slot served by /v1/decide showed click-through "–" on the KPI page when the site
    sent no impression events (decisions were not counted as impressions)."""
    decisions = serve_experiment(client, "ctr-test", 30)
    clicked = {"a": 0, "b": 0}
    shown = {"a": 0, "b": 0}
    for i, d in enumerate(decisions):
        shown[d["variant"]] += 1
        if i % 3 == 0:
            clicked[d["variant"]] += 1
            props = {"decision_id": d["decision_id"]}
            for _ in range(2):  # a decision clicked twice is one clicked impression
                assert client.post("/v1/track", json={"userId": f"u{i}", "event": "Slot Clicked", "properties": props})
    sqlite_services.decide.flush()
    login(client)
    html = client.get("/dashboard/kpis?window=24h").text
    rows = {g: i for i, g in re.findall(r'data-testid="kpi-row-(\d+)" data-group="([^"]+)"', html)}
    for v in ("a", "b"):
        assert text_of(html, f"kpi-ctr-{rows[f'ctr-test: {v}']}") == f"{100 * clicked[v] / shown[v]:.1f}%"
    assert "no impression events" not in html.split('data-group="ctr-test: a"')[1].split("</tr>")[0]
