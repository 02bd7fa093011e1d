"""A transaction on SQL (SQLAlchemy Core): identities, events, profiles, consent and audit, items, erasure.

Documents, segment membership, decisions and the dashboard's aggregates are parts of their own
(``sql_documents`` ...). This is the portable transaction; ``sql_postgres.PostgresTx`` is PostgreSQL's (storing
events by ``unnest``), ``sql_sqlite.SqliteTx`` is SQLite's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, insert, or_, select, update

from pertinent.storage import tables as t
from pertinent.storage.base import AuditRow, ConsentRow, EventRow, IdentityRow, ItemRow, ProfileRow, SuppressionRow
from pertinent.storage.sql_decisions import DecisionsMixin
from pertinent.storage.sql_documents import DocumentsMixin
from pertinent.storage.sql_groups import GroupsMixin
from pertinent.storage.sql_jobs import JobsMixin
from pertinent.storage.sql_outbox import OutboxMixin
from pertinent.storage.sql_quality import QualityMixin
from pertinent.storage.sql_segments import SegmentsMixin
from pertinent.storage.sql_settings import SettingsMixin
from pertinent.storage.sql_stats import StatsMixin
from pertinent.storage.sqlutil import EVENT_COLS, row_dict, rows_where_in


def _itself_or_under(column: Any, value: str, sep: str) -> ColumnElement[bool]:
    """``column`` is ``value`` or starts with ``value + sep``: compared by substring, not LIKE (no wildcards to
    escape, and case-sensitive on SQLite too), nor by a range (a locale collation may ignore punctuation)."""
    head = value + sep
    return or_(column == value, func.substr(column, 1, len(head)) == head)


class SqlTx(
    DocumentsMixin,
    SegmentsMixin,
    DecisionsMixin,
    StatsMixin,
    JobsMixin,
    GroupsMixin,
    OutboxMixin,
    QualityMixin,
    SettingsMixin,
):
    """A transaction on one connection. Implements :class:`pertinent.storage.base.Tx`."""

    # identities -------------------------------------------------------------
    def get_identities(self, keys: Iterable[str]) -> dict[str, IdentityRow]:
        keys = list(set(keys))
        if not keys:
            return {}
        rows = self.conn.execute(select(t.identities).where(t.identities.c.key.in_(keys)))
        return {r.key: IdentityRow(r.key, r.kind, r.profile_id, r.created_at) for r in rows}

    def put_identities(self, rows: Sequence[IdentityRow]) -> None:
        if not rows:
            return
        stmt = self._insert(t.identities).on_conflict_do_update(
            index_elements=["key"], set_={"profile_id": self._insert(t.identities).excluded.profile_id}
        )
        self.conn.execute(stmt, [row_dict(r) for r in rows])

    def repoint_identities(self, from_profile: str, to_profile: str) -> None:
        self._repoint(t.identities, from_profile, to_profile)

    def identities_of(self, profile_id: str) -> list[IdentityRow]:
        rows = self.conn.execute(
            select(t.identities).where(t.identities.c.profile_id == profile_id).order_by(t.identities.c.created_at)
        )
        return [IdentityRow(r.key, r.kind, r.profile_id, r.created_at) for r in rows]

    def rename_identity(self, old_key: str, new_key: str) -> None:
        self.conn.execute(update(t.identities).where(t.identities.c.key == old_key).values(key=new_key))

    # events -----------------------------------------------------------------
    def insert_events(self, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        if not rows:
            return set()
        stmt = (
            self._insert(t.events)
            .on_conflict_do_nothing(index_elements=["profile_id", "message_id"])
            .returning(t.events.c.profile_id, t.events.c.message_id)
        )
        params = [{c: getattr(r, c) for c in EVENT_COLS} for r in rows]
        return {(p, m) for p, m in self.conn.execute(stmt, params)}

    def repoint_events(self, from_profile: str, to_profile: str) -> int:
        # A message both people already have (the same messageId sent under both identities) is kept once.
        ev = t.events
        dup = select(ev.c.message_id).where(ev.c.profile_id == to_profile).scalar_subquery()
        self.conn.execute(ev.delete().where(ev.c.profile_id == from_profile, ev.c.message_id.in_(dup)))
        return self._repoint(t.events, from_profile, to_profile)

    def events_of(self, profile_id: str, limit: int | None = None) -> list[EventRow]:
        q = select(t.events).where(t.events.c.profile_id == profile_id).order_by(t.events.c.timestamp, t.events.c.id)
        if limit:
            q = q.limit(limit)
        return [EventRow(**{c: getattr(r, c) for c in EVENT_COLS}) for r in self.conn.execute(q)]

    def count_events(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    def iter_events(
        self,
        event_type: str = "track",
        limit: int | None = None,
        batch_size: int = 5000,
        names: Sequence[str] | None = None,
    ) -> Iterator[EventRow]:
        """Events of one type (and, given ``names``, only those event names), newest first (by insertion), at
        most ``limit``; paged by id."""
        cond = [t.events.c.type == event_type]
        if names is not None:
            cond.append(t.events.c.event.in_(list(names)))
        return self._events_paged(cond, True, limit, batch_size)

    def iter_events_after(
        self, after_id: int = 0, received_since: float = 0.0, batch_size: int = 5000
    ) -> Iterator[tuple[int, EventRow]]:
        """(id, event) of every event stored after insertion id ``after_id`` (and received at or after
        ``received_since``), in insertion order; paged by id. What incremental warehouse exports read."""
        e = t.events
        last = after_id
        while True:
            q = select(e).where(e.c.id > last)
            if received_since > 0:
                q = q.where(e.c.received_at >= received_since)
            rows = list(self.conn.execute(q.order_by(e.c.id).limit(batch_size)))
            if not rows:
                return
            for r in rows:
                yield r[0], EventRow(*r[1:])
            last = rows[-1][0]

    def iter_event_properties(
        self, names: Sequence[str], limit: int | None = None, batch_size: int = 5000
    ) -> Iterator[tuple[str, str, float, dict[str, Any] | None]]:
        names = list(names)
        if not names:
            return
        last: int | None = None
        left = limit
        while left is None or left > 0:
            n = batch_size if left is None else min(batch_size, left)
            rows, last = self._event_properties_page(names, last, n)
            if not rows:
                return
            yield from rows
            if left is not None:
                left -= len(rows)

    def _event_properties_page(
        self, names: list[str], before: int | None, n: int
    ) -> tuple[list[tuple[str, str, float, dict[str, Any] | None]], int | None]:
        """Up to ``n`` rows of ``iter_event_properties`` with an id below ``before``, and the last row's id."""
        e = t.events
        q = (
            select(e.c.id, e.c.profile_id, e.c.event, e.c.timestamp, e.c.properties)
            .where(e.c.type == "track", e.c.event.in_(names))
            .order_by(e.c.id.desc())
            .limit(n)
        )
        if before is not None:
            q = q.where(e.c.id < before)
        rows = list(self.conn.execute(q))
        return [(r[1], r[2], r[3], r[4]) for r in rows], rows[-1][0] if rows else before

    def record_ingest_errors(self, endpoint: str, errors: Sequence[Mapping[str, str]]) -> None:
        if errors:
            self.conn.execute(
                insert(t.ingest_errors),
                [
                    {"at": e["at"], "endpoint": endpoint, "field": e.get("field"), "message": e["message"][:1000]}
                    for e in errors
                ],
            )

    def purge_ingest_errors(self, before: float) -> int:
        res = self.conn.execute(delete(t.ingest_errors).where(t.ingest_errors.c.at < before))
        return int(res.rowcount or 0)

    # profiles ---------------------------------------------------------------
    def get_profiles(self, ids: Iterable[str], for_update: bool = False) -> dict[str, ProfileRow]:
        ids = sorted(set(ids))
        if not ids:
            return {}
        q = select(t.profiles).where(t.profiles.c.profile_id.in_(ids)).order_by(t.profiles.c.profile_id)
        if for_update:
            q = q.with_for_update()
        return {r.profile_id: self._profile(r) for r in self.conn.execute(q)}

    def lock_profiles(self, ids: Iterable[str], now: float) -> dict[str, ProfileRow]:
        """Return the profiles, creating empty ones for unknown ids, locked until commit."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        # Create missing rows first so that every id has a row to lock (no lost updates).
        stmt = self._insert(t.profiles).on_conflict_do_nothing(index_elements=["profile_id"])
        self.conn.execute(stmt, [row_dict(ProfileRow(i, created_at=now, updated_at=now)) for i in ids])
        return self.get_profiles(ids, for_update=True)

    def put_profiles(self, rows: Sequence[ProfileRow]) -> None:
        if not rows:
            return
        ins = self._insert(t.profiles)
        stmt = ins.on_conflict_do_update(
            index_elements=["profile_id"],
            set_={c: ins.excluded[c] for c in ("traits", "state", "consent", "updated_at")},
        )
        self.conn.execute(stmt, [row_dict(r) for r in rows])

    def delete_profile(self, profile_id: str) -> None:
        self.conn.execute(delete(t.profiles).where(t.profiles.c.profile_id == profile_id))

    def count_profiles(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.profiles)).scalar_one())

    def iter_profiles(self, batch_size: int = 1000) -> Iterator[ProfileRow]:
        return (self._profile(r) for r in self._keyset(t.profiles, t.profiles.c.profile_id, batch_size))

    def _keyset(self, table: Table, key: Any, batch_size: int) -> Iterator[Any]:
        """Every row of ``table`` in ``key`` order, fetched ``batch_size`` at a time (keyset pagination)."""
        last = ""
        while True:
            rows = list(self.conn.execute(select(table).where(key > last).order_by(key).limit(batch_size)))
            if not rows:
                return
            yield from rows
            last = getattr(rows[-1], key.name)

    # consent, audit ---------------------------------------------------------
    def append_consent(self, rows: Sequence[ConsentRow]) -> None:
        if rows:
            self.conn.execute(insert(t.consent_log), [row_dict(r) for r in rows])

    def consent_of(self, profile_id: str) -> list[ConsentRow]:
        rows = self.conn.execute(
            select(t.consent_log)
            .where(t.consent_log.c.profile_id == profile_id)
            .order_by(t.consent_log.c.at, t.consent_log.c.id)
        )
        return [ConsentRow(r.profile_id, r.purpose, r.granted, r.source, r.at) for r in rows]

    def repoint_consent(self, from_profile: str, to_profile: str) -> None:
        self._repoint(t.consent_log, from_profile, to_profile)

    def append_audit(self, row: AuditRow) -> None:
        values = row_dict(row)
        del values["id"]
        self.conn.execute(insert(t.audit_log), [values])

    def audit_entries(
        self,
        subject: str | None = None,
        limit: int = 100,
        *,
        action: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
        before_id: int | None = None,
    ) -> list[AuditRow]:
        a = t.audit_log.c
        q = select(t.audit_log).order_by(a.id.desc()).limit(limit)
        if subject is not None:
            q = q.where(a.subject == subject)
        if action is not None:
            q = q.where(_itself_or_under(a.action, action, "."))
        if actor is not None:
            q = q.where(_itself_or_under(a.actor, actor, ":"))
        if since is not None:
            q = q.where(a.at >= since)
        if until is not None:
            q = q.where(a.at < until)
        if before_id is not None:
            q = q.where(a.id < before_id)
        return [
            AuditRow(r.at, r.actor, r.action, r.subject, r.detail, r.before, r.after, r.id)
            for r in self.conn.execute(q)
        ]

    def delete_audit_entries(self, subject: str, actions: Sequence[str]) -> int:
        a = t.audit_log.c
        res = self.conn.execute(delete(t.audit_log).where(a.subject == subject, a.action.in_(list(actions))))
        return res.rowcount or 0

    # the item catalogue -----------------------------------------------------
    @staticmethod
    def _item(r: Any) -> ItemRow:
        return ItemRow(
            r.item_id,
            r.title,
            r.text,
            list(r.categories or []),
            list(r.tags or []),
            dict(r.attributes or {}),
            r.available_from,
            r.available_until,
            r.updated_at,
        )

    def upsert_items(self, rows: Sequence[ItemRow]) -> None:
        if not rows:
            return
        latest = {r.item_id: r for r in rows}  # one statement may not touch a row twice (PostgreSQL)
        ins = self._insert(t.items)
        cols = [c.name for c in t.items.columns if c.name != "item_id"]
        stmt = ins.on_conflict_do_update(index_elements=["item_id"], set_={c: ins.excluded[c] for c in cols})
        values = [row_dict(r) for r in latest.values()]
        for i in range(0, len(values), 1000):
            self.conn.execute(stmt, values[i : i + 1000])

    def get_items(self, ids: Iterable[str]) -> dict[str, ItemRow]:
        return {r.item_id: self._item(r) for r in rows_where_in(self.conn, select(t.items), t.items.c.item_id, ids)}

    def iter_items(self, batch_size: int = 1000) -> Iterator[ItemRow]:
        return (self._item(r) for r in self._keyset(t.items, t.items.c.item_id, batch_size))

    def delete_items(self, ids: Iterable[str]) -> int:
        ids = sorted(set(ids))
        deleted = 0
        for i in range(0, len(ids), 500):
            res = self.conn.execute(delete(t.items).where(t.items.c.item_id.in_(ids[i : i + 500])))
            deleted += res.rowcount or 0
        return deleted

    def count_items(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.items)).scalar_one())

    # erasure ----------------------------------------------------------------
    def erase_profile(self, profile_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, table in (
            ("events", t.events),
            ("identities", t.identities),
            ("consent_log", t.consent_log),
            ("profiles", t.profiles),
            ("segment_members", t.segment_members),
            ("segment_history", t.segment_history),
            ("decisions", t.decisions),
            ("decision_outcomes", t.decision_outcomes),
            ("group_members", t.group_members),  # the person leaves their groups; the groups (accounts) stay
            ("destination_outbox", t.destination_outbox),  # deliveries and dead letters about the person
        ):
            res = self.conn.execute(delete(table).where(table.c.profile_id == profile_id))
            counts[name] = res.rowcount or 0
        return counts

    # suppression (erasure) ----------------------------------------------------
    def suppress(self, rows: Sequence[SuppressionRow]) -> int:
        if not rows:
            return 0
        listed = self.suppressed(r.key for r in rows)
        fresh = {r.key: r for r in rows if r.key not in listed}
        if fresh:
            stmt = self._insert(t.suppressions).on_conflict_do_nothing(index_elements=["key"])
            self.conn.execute(stmt, [row_dict(r) for r in fresh.values()])
        return len(fresh)

    def suppressed(self, keys: Iterable[str]) -> set[str]:
        c = t.suppressions.c
        return {r.key for r in rows_where_in(self.conn, select(c.key), c.key, keys)}
