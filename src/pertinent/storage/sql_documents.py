"""Versioned configuration documents on SQL (segment definitions, content blocks, slots, experiments...)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update

from pertinent.storage import tables as t
from pertinent.storage.base import DocumentRow
from pertinent.storage.sqlutil import SqlBase


class DocumentsMixin(SqlBase):
    """The document methods of :class:`pertinent.storage.sql_tx.SqlTx`."""

    @staticmethod
    def _document(r: Any) -> DocumentRow:
        return DocumentRow(r.kind, r.doc_id, r.version, r.body, r.created_at, r.updated_at)

    def put_document(self, kind: str, doc_id: str, body: dict[str, Any], now: float) -> DocumentRow:
        """One statement makes the row (version 0: numbered next) or writes the next version on it, holding its
        lock: writers of one document queue there and number their versions in turn. On PostgreSQL a writer that
        finds the row being deleted waits, then makes it again (ON CONFLICT DO UPDATE retries when the row it
        conflicted with is gone), so two puts of a new id and a put racing a delete both succeed."""
        d = t.documents
        ins = self._insert(d).values(kind=kind, doc_id=doc_id, version=0, body=body, created_at=now, updated_at=now)
        r = self.conn.execute(
            ins.on_conflict_do_update(
                index_elements=["kind", "doc_id"],
                set_={"version": d.c.version + 1, "body": ins.excluded.body, "updated_at": ins.excluded.updated_at},
            ).returning(d.c.version, d.c.created_at)
        ).one()
        if r.version == 0:  # made by this call (a committed row has a version of 1 or more)
            return self._number(kind, doc_id, body, now)
        return self._record(DocumentRow(kind, doc_id, r.version, body, r.created_at, now))

    def create_document(self, kind: str, doc_id: str, body: dict[str, Any], now: float) -> DocumentRow | None:
        if not self._make(kind, doc_id, body, now):
            return None
        return self._number(kind, doc_id, body, now)

    def _make(self, kind: str, doc_id: str, body: dict[str, Any], now: float) -> bool:
        """Make the document's row (version 0) if missing; whether this call made it. A concurrent creator's insert
        waits for this transaction, then finds the row."""
        d = t.documents
        made = self.conn.execute(
            self._insert(d)
            .values(kind=kind, doc_id=doc_id, version=0, body=body, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["kind", "doc_id"])
            .returning(d.c.version)
        ).first()
        return made is not None

    def _number(self, kind: str, doc_id: str, body: dict[str, Any], now: float) -> DocumentRow:
        """Number the row this transaction just made after the document's last version in the history (a deleted
        document keeps counting its versions). Read after the insert: whoever deleted the row before has
        committed its history by then, and no other writer reaches the row until this transaction ends."""
        d, h = t.documents, t.document_history
        last = select(func.coalesce(func.max(h.c.version), 0) + 1).where(h.c.kind == kind, h.c.doc_id == doc_id)
        version = self.conn.execute(
            update(d)
            .where(d.c.kind == kind, d.c.doc_id == doc_id)
            .values(version=last.scalar_subquery())
            .returning(d.c.version)
        ).scalar_one()
        return self._record(DocumentRow(kind, doc_id, int(version), body, now, now))

    def _record(self, row: DocumentRow) -> DocumentRow:
        """Add the version ``row`` to the document's history."""
        self.conn.execute(
            insert(t.document_history).values(
                kind=row.kind, doc_id=row.doc_id, version=row.version, body=row.body, at=row.updated_at
            )
        )
        return row

    def get_document(self, kind: str, doc_id: str) -> DocumentRow | None:
        d = t.documents
        r = self.conn.execute(select(d).where(d.c.kind == kind, d.c.doc_id == doc_id)).first()
        return None if r is None else self._document(r)

    def list_documents(self, kind: str) -> list[DocumentRow]:
        d = t.documents
        return [self._document(r) for r in self.conn.execute(select(d).where(d.c.kind == kind).order_by(d.c.doc_id))]

    def delete_document(self, kind: str, doc_id: str, now: float) -> bool:
        d = t.documents
        current = self.conn.execute(  # locked: a concurrent put numbers its version after this deletion, or before
            select(d.c.version).where(d.c.kind == kind, d.c.doc_id == doc_id).with_for_update()
        ).first()
        if current is None:
            return False
        self.conn.execute(delete(d).where(d.c.kind == kind, d.c.doc_id == doc_id))
        self.conn.execute(
            insert(t.document_history).values(kind=kind, doc_id=doc_id, version=current.version + 1, body=None, at=now)
        )
        return True

    def documents_version(self) -> int:
        return int(self.conn.execute(select(func.max(t.document_history.c.id))).scalar() or 0)

    def document_history(self, kind: str, doc_id: str) -> list[DocumentRow]:
        h = t.document_history
        rows = self.conn.execute(select(h).where(h.c.kind == kind, h.c.doc_id == doc_id).order_by(h.c.version))
        return [DocumentRow(r.kind, r.doc_id, r.version, r.body, r.at, r.at) for r in rows]
