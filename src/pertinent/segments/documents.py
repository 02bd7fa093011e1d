"""Segment definitions as versioned documents (kind ``segment``): parsing input, reading, writing and deleting
them, and the view the API shows of a stored version (:class:`~.results.SegmentView`).

>>> from pertinent.profiles.features import ProfileConfig
>>> from pertinent.segments.config import SegmentsConfig
>>> from pertinent.settings import Settings
>>> from pertinent.storage.sql import SqlStore
>>> store = SqlStore("sqlite://"); store.migrate()
>>> docs = DefinitionDocuments(SegmentContext(store, Settings(), ProfileConfig(), SegmentsConfig()))
>>> row = docs.put(docs.parse({"template": "browsers"}), create=True)
>>> view = docs.describe(row, {"browsers": 4}); (view.id, view.version, view.size, view.time_based)
('browsers', 1, 4, True)
>>> docs.get("nope")
Traceback (most recent call last):
pertinent.segments.errors.UnknownSegment: segment_id: no segment 'nope'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from pertinent.privacy.audit import SYSTEM, Actor, record
from pertinent.rules import RuleError, depends_on_time
from pertinent.rules.windows import too_long
from pertinent.segments.context import SegmentContext
from pertinent.segments.definitions import (
    Definition,
    RuleDefinition,
    owner_of,
    parse_definition,
    sub_segment_id,
)
from pertinent.segments.errors import SegmentError, UnknownSegment
from pertinent.segments.results import SegmentList, SegmentView
from pertinent.segments.rfm import SEGMENT_LABELS, SEGMENT_ORDER
from pertinent.storage.base import DocumentRow, Tx

KIND = "segment"  # the document kind of segment definitions


class DefinitionDocuments:
    """The stored definitions: each save is a new version of the document (the previous ones stay in its
    history); deleting one removes its members, history and sizes with it. Every change is audited
    (``segment.create``, ``.replace``, ``.fit``, ``.retrain``, ``.delete``: the previous body before, the new one
    after) under the caller's ``actor``."""

    def __init__(self, ctx: SegmentContext) -> None:
        self.ctx = ctx

    def parse(self, data: Any, segment_id: str | None = None) -> Definition:
        """A definition from JSON text or parsed JSON (``SegmentError`` naming the bad part)."""
        definition, errors = parse_definition(data, segment_id)
        rule = getattr(definition, "rule", None)
        if not errors and rule is not None:  # no longer than the days of counts profiles keep
            limit = max(self.ctx.profile_config.windows_days)
            made = getattr(definition, "template", None) is not None  # a template's rule: its params name it
            errors = [
                RuleError("params.window_days" if made else path, message)
                for path, message in too_long(rule, limit, "rule")
            ]
        if errors:
            first = errors[0]
            raise SegmentError(f"{first.path or 'body'}: {first.message}", errors)
        assert definition is not None
        return definition

    def all(self) -> list[DocumentRow]:
        """Every stored definition's current version, by id."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.list_documents(KIND)

    def get_doc(self, definition_id: str) -> DocumentRow:
        with self.ctx.store.transaction(write=False) as tx:
            doc = tx.get_document(KIND, definition_id)
        if doc is None or doc.body is None:
            raise UnknownSegment(definition_id)
        return doc

    def sizes(self) -> dict[str, int]:
        """Current member counts by membership id."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.count_segment_members()

    def put(self, definition: Definition, create: bool, actor: Actor = SYSTEM) -> DocumentRow:
        """Store ``definition`` as a new document (``create``: 409 if its id exists) or a new version of an
        existing one (404 if none)."""
        with self.ctx.store.transaction() as tx:
            old = tx.get_document(KIND, definition.id)
            exists = old is not None
            if create and exists:
                raise _taken(definition.id)
            if not create and not exists:
                raise UnknownSegment(definition.id)
            action = "segment.create" if create else "segment.replace"
            return self._put(tx, definition, old, actor, action, create)

    def put_version(
        self, definition: Definition, only_over: int | None = None, actor: Actor = SYSTEM, action: str = "segment.fit"
    ) -> DocumentRow | None:
        """Store a new version of an existing definition (a fit); with ``only_over``, only when the stored version
        is still that one (else None: it changed or went meanwhile)."""
        with self.ctx.store.transaction() as tx:
            current = tx.get_document(KIND, definition.id)
            if only_over is not None and (current is None or current.version != only_over):
                return None
            return self._put(tx, definition, current, actor, action)

    def _put(
        self, tx: Tx, definition: Definition, old: DocumentRow | None, actor: Actor, action: str, create: bool = False
    ) -> DocumentRow:
        body = definition.model_dump(mode="json")
        if create:  # a new id only: a concurrent creator of the same id got it first
            made = tx.create_document(KIND, definition.id, body, self.ctx.clock())
            if made is None:
                raise _taken(definition.id)
            row = made
        else:
            row = tx.put_document(KIND, definition.id, body, self.ctx.clock())
        before = old.body if old is not None else None
        record(tx, actor, action, f"{KIND}:{definition.id}", before=before, after=body, at=row.updated_at)
        return row

    def delete(self, definition_id: str, actor: Actor = SYSTEM) -> int:
        """Delete a definition with its members, history and sizes; returns how many memberships were removed."""
        now = self.ctx.clock()
        with self.ctx.store.transaction() as tx:
            doc = tx.get_document(KIND, definition_id)
            if doc is None:
                raise UnknownSegment(definition_id)
            ids = {definition_id} | {sid for sid in tx.count_segment_members() if owner_of(sid) == definition_id}
            ids |= {s.id for s in self.describe(doc, {}).segments or []}
            removed = sum(tx.clear_segment(sid) for sid in sorted(ids))
            tx.delete_document(KIND, definition_id, now)
            detail = {"members_removed": removed}
            record(tx, actor, "segment.delete", f"{KIND}:{definition_id}", before=doc.body, detail=detail, at=now)
        return removed

    def list(self) -> SegmentList:
        """Every definition (rule, RFM, ML) with its current sizes."""
        with self.ctx.store.transaction(write=False) as tx:
            docs = tx.list_documents(KIND)
            sizes = tx.count_segment_members()
        return SegmentList(segments=[self.describe(d, sizes) for d in docs])

    def get(self, definition_id: str) -> SegmentView:
        return self.describe(self.get_doc(definition_id), self.sizes())

    def describe(self, doc: DocumentRow, sizes: Mapping[str, int]) -> SegmentView:
        """The API's view of a stored version with the current ``sizes``."""
        body = dict(doc.body or {})
        out = {**body, "version": doc.version, "created_at": doc.created_at, "updated_at": doc.updated_at}
        kind = body.get("kind", "rule")
        if kind == "rule":
            out["size"] = sizes.get(doc.doc_id, 0)
            try:
                out["time_based"] = depends_on_time(RuleDefinition.model_validate(body).rule)
            except Exception:  # pragma: no cover - stored definitions were validated
                out["time_based"] = None
            return _view(out)
        if kind == "rfm":
            subs = [(sub_segment_id(doc.doc_id, k), SEGMENT_LABELS[k]) for k in SEGMENT_ORDER]
        else:
            fitted = body.get("fitted") or {}
            subs = [(sub_segment_id(doc.doc_id, s["key"]), s["name"]) for s in fitted.get("segments", [])]
        out["fit"] = "done" if body.get("fitted") else "failed" if body.get("fit_error") else "running"
        out["segments"] = [{"id": sid, "name": name, "size": sizes.get(sid, 0)} for sid, name in subs]
        out["size"] = sum(s["size"] for s in out["segments"])
        out["time_based"] = True
        return _view(out)

    def check_membership_id(self, segment_id: str) -> None:
        """``segment_id`` names a segment with members: a rule definition, or one segment of an RFM/ML one."""
        doc = self.get_doc(owner_of(segment_id))
        subs = [s.id for s in self.describe(doc, {}).segments or []]
        several = doc.body is not None and doc.body.get("kind", "rule") != "rule"
        if several and segment_id == doc.doc_id:
            listed = ", ".join(subs) or "none yet"
            raise SegmentError(
                f"segment_id: {segment_id} holds several segments; name one of them ({listed})",
                [RuleError("segment_id", f"name one of {listed}")],
            )
        if segment_id != doc.doc_id and segment_id not in subs:
            raise UnknownSegment(segment_id)


def _view(out: dict[str, Any]) -> SegmentView:
    try:
        return SegmentView.model_validate(out)
    except ValidationError:  # a document written by hand (or by an older version): shown as it is stored
        return SegmentView.model_construct(**out)


def _taken(definition_id: str) -> SegmentError:
    return SegmentError(
        f"id: a segment '{definition_id}' already exists (PUT replaces it)",
        [RuleError("id", "already exists")],
        status=409,
        code="conflict",
    )
