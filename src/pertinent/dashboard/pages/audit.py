"""The audit page: who changed what, when, and what it was before and after, newest first, filtered and paged
like ``GET /v1/audit``.

Each entry shows the names whose values changed (a document's fields, an item's, a setting's) with the value
before and after, shortened; the whole states are one click away.

>>> import tempfile
>>> from pertinent.privacy.audit import ADMIN_KEY, AuditLog, record
>>> from pertinent.storage.sql import SqlStore
>>> store = SqlStore("sqlite://"); store.migrate()
>>> with store.transaction() as tx:
...     record(tx, ADMIN_KEY, "block.put", "block:hero", before={"title": "Hi"}, after={"title": "Hello"})
>>> page = build(AuditLog(store))
>>> [(r.kind, r.actor, [(c.name, c.before, c.after) for c in r.changes]) for r in page.rows]
[('block.put', 'admin_key', [('title', '"Hi"', '"Hello"')])]
>>> store.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pertinent.errors import DomainError
from pertinent.privacy.audit import AuditEntry, AuditLog, flat

PAGE_SIZE = 50
SHORT = 120  # characters of one value shown in the list of changes
FULL = 20_000  # characters of a whole state shown on demand
MAX_CHANGES = 12


@dataclass(frozen=True, kw_only=True)
class Change:
    """One name whose value changed, with both values as short JSON (``–`` when absent)."""

    name: str
    before: str
    after: str


@dataclass(frozen=True, kw_only=True)
class AuditRowView:
    id: int
    at: str
    actor: str
    kind: str
    subject: str
    changes: list[Change]
    more_changes: int
    before: str  # the whole states, as indented JSON ("" when none)
    after: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class AuditView:
    """The page: its filters, the rows, the cursor of the next (older) page and a refused filter's message."""

    kind: str
    subject: str
    actor: str
    rows: list[AuditRowView]
    next_cursor: str | None
    error: str | None = None


def _json(value: Any, limit: int, indent: bool = False) -> str:
    """``value`` as JSON text, cut at ``limit`` characters.

    >>> _json({"a": "x" * 10}, 12)
    '{"a":"xxxxx…'
    """
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _at(ts: float) -> str:
    """An entry's time to the second, UTC.

    >>> _at(0.0)
    '1970-01-01 00:00:00'
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def changes(before: Any, after: Any) -> list[Change]:
    """The names whose values differ between two states (mappings are compared name by name, nested names
    joined by dots; other states as one value).

    >>> [(c.name, c.before, c.after) for c in changes({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 4})]
    [('b.c', '2', '3'), ('d', '–', '4')]
    >>> [(c.name, c.before, c.after) for c in changes(None, ["p1"])]
    [('', '–', '["p1"]')]
    """
    if isinstance(before, dict | type(None)) and isinstance(after, dict | type(None)) and (before or after):
        old, new = flat(before or {}), flat(after or {})
        names = sorted(k for k in old.keys() | new.keys() if old.get(k, _ABSENT) != new.get(k, _ABSENT))
        return [Change(name=k, before=_short(old, k), after=_short(new, k)) for k in names]
    if before == after:
        return []
    return [Change(name="", before=_show(before), after=_show(after))]


_ABSENT = object()


def _short(values: dict[str, Any], name: str) -> str:
    return _json(values[name], SHORT) if name in values else "–"


def _show(value: Any) -> str:
    return "–" if value is None else _json(value, SHORT)


def _row(e: AuditEntry) -> AuditRowView:
    found = changes(e.before, e.after)
    return AuditRowView(
        id=e.id,
        at=_at(e.at),
        actor=e.actor,
        kind=e.kind,
        subject=e.subject or "",
        changes=found[:MAX_CHANGES],
        more_changes=max(0, len(found) - MAX_CHANGES),
        before="" if e.before is None else _json(e.before, FULL, indent=True),
        after="" if e.after is None else _json(e.after, FULL, indent=True),
        detail="" if not e.detail else _json(e.detail, FULL, indent=True),
    )


def build(
    log: AuditLog,
    kind: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    cursor: str | None = None,
) -> AuditView:
    """The page for these filters (blank ones ignored); a refused filter is shown, with no rows."""
    kind, subject, actor = (v.strip() if v else None for v in (kind, subject, actor))
    echo = {"kind": kind or "", "subject": subject or "", "actor": actor or ""}
    try:
        page = log.page(kind or None, subject or None, actor or None, cursor=cursor or None, limit=PAGE_SIZE)
    except DomainError as e:
        return AuditView(**echo, rows=[], next_cursor=None, error=e.message)
    return AuditView(**echo, rows=[_row(e) for e in page.entries], next_cursor=page.next_cursor)
