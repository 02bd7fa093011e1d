"""The dashboard's audit page on both backends: rows with who, when, kind, subject and what changed; filters,
older pages, a refused filter shown; values escaped; behind the session like every page."""

from __future__ import annotations

from markupsafe import escape

from tests.dashboard.test_dashboard import HTML, cells, login, text_of
from tests.support.common import ADMIN

HEADLINE = {"type": "headline", "content": {"title": "Hello"}}


def _page(c, **params):
    r = c.get("/dashboard/audit", params=params, headers=HTML)
    assert r.status_code == 200, r.text
    return r.text


def test_the_audit_page_lists_changes_with_before_and_after(any_client):
    c = any_client
    assert c.get("/dashboard/audit", headers=HTML, follow_redirects=False).status_code == 303  # log in first
    assert login(c).status_code == 303
    assert "audit-empty" not in _page(c)  # the login itself is audited
    assert c.put("/v1/blocks/hero", json=HEADLINE, headers=ADMIN).status_code == 200
    changed = {**HEADLINE, "content": {"title": "<script>alert(1)</script>"}}
    assert c.put("/v1/blocks/hero", json=changed, headers=ADMIN).status_code == 200
    assert c.post("/v1/items", json={"items": [{"item_id": "mug", "title": "Mug"}]}, headers=ADMIN).status_code == 200
    html = _page(c, kind="block")
    assert 'data-testid="nav-audit" aria-current="page"' in html
    rows = cells(html, "audit-table")
    assert len(rows) == 10  # two rows of five cells
    newest = rows[:5]
    assert newest[1:4] == ["block.put", "block:hero", "admin_key"]
    assert "content.title" in newest[4] and "Hello" in newest[4]
    assert "<script>alert(1)</script>" not in html and str(escape('"<script>alert(1)</script>"')) in html
    assert text_of(_page(c, subject="item:mug"), "audit-table").count("item.upsert") == 1
    assert "audit-empty" in _page(c, actor="cli")


def test_older_pages_and_refused_filters(any_client, monkeypatch):
    from pertinent.dashboard.pages import audit as audit_page

    c = any_client
    assert login(c).status_code == 303
    for i in range(3):
        assert c.put(f"/v1/blocks/b{i}", json=HEADLINE, headers=ADMIN).status_code == 200
    monkeypatch.setattr(audit_page, "PAGE_SIZE", 2)
    first = _page(c, kind="block")
    assert [cells(first, "audit-table")[i] for i in (2, 7)] == ["block:b2", "block:b1"]
    link = first.split('data-testid="audit-older" href="')[1].split('"')[0].replace("&amp;", "&")
    older = c.get(link, headers=HTML)
    assert older.status_code == 200 and cells(older.text, "audit-table")[2] == "block:b0"
    assert 'data-testid="audit-older"' not in older.text
    bad = c.get("/dashboard/audit", params={"subject": "a\u0001b"}, headers=HTML)
    assert bad.status_code == 400 and "subject" in text_of(bad.text, "audit-error")
    assert c.get("/dashboard/audit", params={"cursor": "x"}, headers=HTML).status_code == 400
