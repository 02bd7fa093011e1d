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
        while True:  # a delete that committed between making and locking the row: make it again
            made = self._make(kind, doc_id, body, now)
            current = self._lock(kind, doc_id)
            if current is not None:
                return self._version(kind, doc_id, body, now, made, current)

    def create_document(self, kind: str, doc_id: str, body: dict[str, Any], now: float) -> DocumentRow | None:
        if not self._make(kind, doc_id, body, now):
            return None
        current = self._lock(kind, doc_id)  # made by this transaction: it is there
        assert current is not None
        return self._version(kind, doc_id, body, now, True, current)

    def _lock(self, kind: str, doc_id: str) -> Any:
        d = t.documents
        q = select(d.c.version, d.c.created_at).where(d.c.kind == kind, d.c.doc_id == doc_id).with_for_update()
        return self.conn.execute(q).first()

    def _make(self, kind: str, doc_id: str, body: dict[str, Any], now: float) -> bool:
        """Make the document's row if missing; whether this call made it. A concurrent creator's insert waits for
        this transaction, then finds the row: writers of one document queue on its lock (``_version``) and number
        their versions in turn. (A lock on a row that does not exist yet locks nothing: two writers of a new id
        both inserted it.)"""
        d = t.documents
        made = self.conn.execute(
            self._insert(d)
            .values(kind=kind, doc_id=doc_id, version=0, body=body, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["kind", "doc_id"])
            .returning(d.c.version)
        ).first()
        return made is not None

    def _version(
        self, kind: str, doc_id: str, body: dict[str, Any], now: float, made: bool, current: Any
    ) -> DocumentRow:
        """Write the next version of the document (its row ``current``, locked)."""
        d = t.documents
        if made:
            last = self.conn.execute(  # a deleted document keeps counting its versions
                select(t.document_history.c.version)
                .where(t.document_history.c.kind == kind, t.document_history.c.doc_id == doc_id)
                .order_by(t.document_history.c.version.desc())
                .limit(1)
            ).scalar()
            row = DocumentRow(kind, doc_id, (last or 0) + 1, body, now, now)
        else:
            row = DocumentRow(kind, doc_id, current.version + 1, body, current.created_at, now)
        at = (d.c.kind == kind, d.c.doc_id == doc_id)
        self.conn.execute(update(d).where(*at).values(version=row.version, body=body, updated_at=now))
        self.conn.execute(
            insert(t.document_history).values(kind=kind, doc_id=doc_id, version=row.version, body=body, at=now)
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
