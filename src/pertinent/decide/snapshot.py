"""What serving reads: every block, slot and experiment at one document version, parsed once, with each slot's
:class:`Plan` (what deciding it needs to read), cached per server process.

The cache asks storage for its change counter (``Tx.documents_version``) at most every ``cache_check_s`` and
rebuilds only when it moved, so a change made by another server process is served within that time; a change
made through this process invalidates it at once.

>>> snap = build_snapshot(3, {"block": [], "slot": [], "experiment": []})
>>> snap.version, snap.slots
(3, {})
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from pertinent.decide.blocks import Block, prints_id_only
from pertinent.decide.config import DecideConfig
from pertinent.decide.experiments import ExperimentDefinition
from pertinent.decide.slots import Recommend, Slot, parse_slot
from pertinent.decide.templates import template_info
from pertinent.storage.availability import is_unavailable
from pertinent.storage.base import DocumentRow, Store

log = logging.getLogger("pertinent.decide")
KINDS = ("block", "slot", "experiment")


@dataclass(frozen=True)
class Plan:
    """What deciding a slot needs to read, worked out once per snapshot: ``segments`` also when a template reads
    the user; ``renders``: some template renders per decision (it reads the user or more than a bare
    decision id, or fills a product list), so serving runs off the event loop."""

    segments: bool
    features: bool
    experiments: tuple[str, ...]
    recommends: bool
    renders: bool = False

    @classmethod
    def of(cls, slot: Slot, blocks: Mapping[str, tuple[Block, int]] | None = None) -> Plan:
        """The plan of ``slot`` with the current ``blocks``.

        >>> from pertinent.decide.slots import ShowVariant
        >>> b = Block(id="b", type="text", content={"text": "t"}, template="{{ user.traits.plan }}")
        >>> Plan.of(Slot(id="s", variants={"a": "b"}, default=ShowVariant(variant="a")), {"b": (b, 1)})
        Plan(segments=True, features=False, experiments=(), recommends=False, renders=True)
        """
        per_decision = user = False
        for source, listed in _templates(slot, blocks or {}):
            info = template_info(source)
            user = user or info.uses_user
            per_decision = per_decision or listed or not prints_id_only(source)
        return cls(
            "segment" in slot.uses() or user,
            slot.needs_features(),
            tuple(slot.experiments()),
            slot.recommends(),
            per_decision,
        )


def _templates(slot: Slot, blocks: Mapping[str, tuple[Block, int]]) -> list[tuple[str, bool]]:
    """The templates a slot may render, each with whether it renders a product list (content per decision)."""
    out = []
    for block_id in slot.variants.values():
        found = blocks.get(block_id)
        if found is not None and found[0].template is not None:
            out.append((found[0].template, False))
    for _, action in slot.actions():
        if isinstance(action, Recommend):
            found = blocks.get(action.block) if action.block else None
            template = action.template or (found[0].template if found is not None else None)
            if template is not None:
                out.append((template, True))
    return out


@dataclass(frozen=True)
class Snapshot:
    """Every block, slot and experiment at one document version (what serving reads).

    >>> Snapshot(version=0).slots
    {}
    """

    version: int
    blocks: dict[str, tuple[Block, int]] = field(default_factory=dict)  # id -> (block, document version)
    slots: dict[str, Slot] = field(default_factory=dict)
    experiments: dict[str, ExperimentDefinition] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)


def build_snapshot(version: int, rows: Mapping[str, Sequence[DocumentRow]]) -> Snapshot:
    """Parse stored documents (``rows`` by kind); one that no longer validates is logged and skipped."""
    snap = Snapshot(version)
    for r in rows["block"]:
        try:
            snap.blocks[r.doc_id] = (Block.model_validate(r.body), r.version)
        except ValidationError:
            log.error("stored block %r does not validate; skipped", r.doc_id)
    for r in rows["experiment"]:
        try:
            snap.experiments[r.doc_id] = ExperimentDefinition.model_validate(r.body)
        except ValidationError:
            log.error("stored experiment %r does not validate; skipped", r.doc_id)
    for r in rows["slot"]:
        slot, errors = parse_slot(r.body)
        if slot is None:
            log.error("stored slot %r does not validate (%s); skipped", r.doc_id, errors[:1])
            continue
        snap.slots[r.doc_id] = slot
        snap.plans[r.doc_id] = Plan.of(slot, snap.blocks)
    return snap


class SnapshotCache:
    """The current :class:`Snapshot`, checked against storage's change counter every ``config.cache_check_s``.

    Not a :class:`pertinent.runtime.cache.Refreshing`: the caller that finds the snapshot due makes the check
    itself (one cheap version query), so that a change is served right after the check instead of after a
    background reload; concurrent callers keep serving the previous snapshot meanwhile, and only the very
    first load is waited for. ``cache_check_s`` is read on every call (tests and operators may change it).
    While storage is away the last snapshot keeps being served (checked again after ``cache_check_s``); only a
    process that never read one cannot decide (the request gets the 503 of an unavailable database).
    """

    def __init__(self, store: Store, config: DecideConfig) -> None:
        self.store = store
        self.config = config
        self._snapshot: Snapshot | None = None
        self._checked_at = float("-inf")
        self._reload = threading.Lock()

    def get(self) -> Snapshot:
        """The cached snapshot; reloaded when the change counter moved. One caller reloads a stale snapshot;
        concurrent callers keep serving the previous one meanwhile."""
        snap = self._snapshot
        if snap is not None and time.monotonic() - self._checked_at < self.config.cache_check_s:
            return snap
        if snap is not None:
            if not self._reload.acquire(blocking=False):
                return snap
        else:
            self._reload.acquire()
        try:
            if self._snapshot is not None and self._snapshot is not snap:
                return self._snapshot
            try:
                with self.store.transaction(write=False) as tx:
                    version = tx.documents_version()
                    if snap is not None and version == snap.version:
                        self._checked_at = time.monotonic()
                        return snap
                    rows = {kind: tx.list_documents(kind) for kind in KINDS}
            except Exception as exc:
                if snap is None or not is_unavailable(exc):
                    raise
                log.warning("storage unavailable (%s): serving slots at version %d", type(exc).__name__, snap.version)
                self._checked_at = time.monotonic()
                return snap
            self._snapshot = build_snapshot(version, rows)
            self._checked_at = time.monotonic()
            return self._snapshot
        finally:
            self._reload.release()

    def invalidate(self) -> None:
        """Check the change counter on the next :meth:`get` (a document changed through this process)."""
        self._checked_at = float("-inf")

    def fresh(self) -> Snapshot:
        """The snapshot as storage has it now (for validating a change against every other document)."""
        self.invalidate()
        return self.get()
