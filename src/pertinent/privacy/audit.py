"""The audit log: every change to what the engine does, who made it, when, and the state before and after.

Services record their changes with :func:`record`, in the transaction that makes the change, so the change and
its row commit (or roll back) together. Who acts is an :class:`Actor` that the entry point hands down: a route
behind the admin key passes :data:`ADMIN_KEY`, the dashboard :data:`DASHBOARD`, a CLI command
:meth:`Actor.cli`, a scheduled job :meth:`Actor.system`. :class:`AuditLog` reads the log in pages
(``GET /v1/audit``, the dashboard's audit page) and records what changed in the configuration between two
starts of the server (:meth:`AuditLog.record_configuration`).

Nothing secret or personal enters the log: keys appear by :func:`fingerprint`, people by their pseudonymous
profile id; documents and items by ``kind:id`` subjects (``block:hero``, ``item:sku-1``).

>>> str(ADMIN_KEY), str(Actor.system("retrain")), fingerprint("secret")
('admin_key', 'system:retrain', '2bb80d53')
>>> flat({"a": 1, "b": {"c": [2], "d": {}}})
{'a': 1, 'b.c': [2], 'b.d': {}}
"""

from __future__ import annotations

import getpass
import hashlib
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pertinent.errors import InvalidInput
from pertinent.storage.base import AuditRow
from pertinent.storage.protocols import AuditRepo

if TYPE_CHECKING:
    from pertinent.settings import Settings
    from pertinent.storage.base import Store

ActorKind = Literal["admin_key", "dashboard", "cli", "write_key", "system"]
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: how they were let in (``kind``) and, where known, a name (the CLI's OS user, the
    scheduled job). Stored as ``kind`` or ``kind:name``; filtering on ``kind`` finds both."""

    kind: ActorKind
    name: str | None = None

    def __str__(self) -> str:
        return self.kind if not self.name else f"{self.kind}:{self.name}"

    @classmethod
    def cli(cls) -> Actor:
        """The command line, named by the operating-system user running it."""
        try:
            user = getpass.getuser()
        except Exception:  # no user name in this environment (a container without one)
            user = ""
        return cls("cli", _name(user))

    @classmethod
    def system(cls, job: str) -> Actor:
        """The engine itself, on its own schedule (``retrain``, ``startup``...)."""
        return cls("system", _name(job))


def _name(text: str) -> str | None:
    """A short name safe in the ``actor`` column (64 characters in all)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.@-]", "_", text)[:50]
    return cleaned or None


ADMIN_KEY = Actor("admin_key")  # a request with the admin key (Bearer)
DASHBOARD = Actor("dashboard")  # a logged-in dashboard session
WRITE_KEY = Actor("write_key")  # a collection call (the public write key)
SYSTEM = Actor("system")  # code calling a service directly (tests, the demo's seed content)

# What a person did rather than what was done to their data (a merge says when they logged in): erasing the person
# erases these rows too; the rest (consent given, exports, the erasure itself) stays as the record of the duty.
PERSONAL_ACTIONS = ("identity.merge",)


def fingerprint(secret: str) -> str:
    """How a key appears in the log: the first 8 hex digits of its SHA-256 (tells keys apart, reveals nothing)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def record(
    tx: AuditRepo,
    actor: Actor,
    action: str,
    subject: str | None = None,
    *,
    before: Any = None,
    after: Any = None,
    detail: dict[str, Any] | None = None,
    at: float | None = None,
) -> None:
    """Append one row in ``tx`` (the transaction of the change itself); values are made JSON-safe (a number that
    is not finite becomes null: PostgreSQL's JSON has no NaN)."""
    at = time.time() if at is None else at
    tx.append_audit(AuditRow(at, str(actor), action, subject, json_safe(detail), json_safe(before), json_safe(after)))


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON: mappings with text keys, lists, text, finite numbers, booleans and null.

    >>> json_safe({"a": float("nan"), 1: (2, {3})})
    {'a': None, '1': [2, '{3}']}
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


# ------------------------------------------------------------------------------------------------ reading
class AuditEntry(BaseModel):
    """One recorded change. ``kind`` is what changed and how (``block.put``, ``experiment.start``,
    ``segment.delete``, ``item.upsert``, ``model.train``, ``keys.rotate``, ``settings.change``,
    ``identity.merge``, ``erase``...); ``before`` and ``after`` are the states around it (null: none)."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: float = Field(description="epoch seconds (UTC)")
    actor: str = Field(description="admin_key, dashboard, cli:<user>, write_key or system:<job>")
    kind: str
    subject: str | None = Field(description="what changed: kind:id (block:hero) or a pseudonymous profile id")
    before: Any = None
    after: Any = None
    detail: dict[str, Any] | None = None


class AuditPage(BaseModel):
    """Entries newest first; ``next_cursor`` (null on the last page) asks for the next, older ones."""

    model_config = ConfigDict(frozen=True)

    entries: list[AuditEntry]
    next_cursor: str | None = None


def parse_cursor(cursor: str | None) -> int | None:
    """A page cursor: the id of the last entry of the previous page.

    >>> parse_cursor("42"), parse_cursor(None)
    (42, None)
    """
    if cursor is None:
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
        raise InvalidInput.field("cursor", "must be the next_cursor of a previous page")
    return int(cursor)


class AuditLog:
    """Reads the audit log in pages and records configuration changes between server starts."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def page(
        self,
        kind: str | None = None,
        subject: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """Up to ``limit`` entries, newest first, after ``cursor``; ``kind`` and ``actor`` match themselves and
        what is under them (``block`` finds ``block.put``, ``cli`` finds ``cli:ann``)."""
        for name, value in (("kind", kind), ("subject", subject), ("actor", actor)):
            if value is not None and (not value or len(value) > 300 or not value.isprintable()):
                raise InvalidInput.field(name, "must be 1-300 printable characters")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput.field("limit", f"must be between 1 and {MAX_PAGE}")
        if since is not None and until is not None and until <= since:
            raise InvalidInput.field("until", "must be after since")
        before_id = parse_cursor(cursor)
        with self.store.transaction(write=False) as tx:
            rows = tx.audit_entries(
                subject, limit + 1, action=kind, actor=actor, since=since, until=until, before_id=before_id
            )
        more = len(rows) > limit
        rows = rows[:limit]
        entries = [
            AuditEntry(
                id=r.id or 0,
                at=r.at,
                actor=r.actor,
                kind=r.action,
                subject=r.subject,
                before=r.before,
                after=r.after,
                detail=r.detail,
            )
            for r in rows
        ]
        return AuditPage(entries=entries, next_cursor=str(rows[-1].id) if more and rows else None)

    def record_configuration(self, settings: Settings, actor: Actor = Actor("system", "startup")) -> list[str]:
        """Compare the keys (by fingerprint) and the other settings with those recorded at the last start; record
        what changed (``keys.rotate``, ``settings.change``; the first start records them all). Returns the kinds
        recorded."""
        keys, other = configuration(settings)
        recorded = []
        with self.store.transaction() as tx:
            for kind, current in (("keys.rotate", keys), ("settings.change", other)):
                last = tx.audit_entries(limit=1, action=kind)
                previous = (last[0].detail or {}).get("state") if last else None
                if previous == current:
                    continue
                before, after = changed(previous, current)
                detail = {"state": current, "changed": sorted(after)}
                record(tx, actor, kind, kind.split(".")[0], before=before, after=after, detail=detail)
                recorded.append(kind)
        return recorded


# ------------------------------------------------------------------------------------------------ settings
_SECRET_NAME = re.compile(r"(^|_)(keys?|secrets?|tokens?|passwords?|passwd|salt)($|_)", re.IGNORECASE)


def flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``section.name`` -> value (lists and empty mappings are values)."""
    out: dict[str, Any] = {}
    for name, item in value.items():
        path = f"{prefix}{name}"
        if isinstance(item, Mapping) and item:
            out.update(flat(item, path + "."))
        else:
            out[path] = item
    return out


def _hide(value: Any) -> Any:
    if isinstance(value, str):
        return fingerprint(value) if value else value
    if isinstance(value, list):
        return [_hide(v) for v in value]
    return value if value is None else fingerprint(repr(value))


def configuration(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """(keys, other settings) as recorded: every setting named like a secret (``*_key``, ``*_keys``, ``secret``,
    ``token``, ``password``...) by fingerprint, the others flat (``recommend.model``) with the database
    password hidden."""
    values = flat(settings.model_dump(mode="json"))
    keys = {k: _hide(v) for k, v in values.items() if _SECRET_NAME.search(k.rsplit(".", 1)[-1])}
    other = {k: v for k, v in values.items() if k not in keys}
    url = other.get("database_url")
    if isinstance(url, str):
        other["database_url"] = _without_password(url)
    return keys, other


def _without_password(url: str) -> str:
    """A database URL as recorded: the password replaced by ``***``.

    >>> _without_password("postgresql+psycopg://app:s3cret@db:5432/p"), _without_password("sqlite:///x.db")
    ('postgresql+psycopg://app:***@db:5432/p', 'sqlite:///x.db')
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return fingerprint(url)  # not a URL: it could hold anything


def changed(previous: dict[str, Any] | None, current: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(before, after) of the names whose values differ (a name that went away is null after); without a previous
    state, (None, everything).

    >>> changed({"a": 1, "b": 2, "gone": 0}, {"a": 1, "b": 3})
    ({'b': 2, 'gone': 0}, {'b': 3, 'gone': None})
    """
    if previous is None:
        return None, dict(current)
    names = sorted({k for k in previous.keys() | current.keys() if previous.get(k) != current.get(k)})
    return {k: previous.get(k) for k in names}, {k: current.get(k) for k in names}
