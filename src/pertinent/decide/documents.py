"""Versioned documents: the generic store (:class:`Documents`: create or replace as a new version, get, list,
history, delete, answered as :class:`Document` models) and the decision configuration on top of it
(:class:`DecideDocuments`: blocks, slots and experiments, each change validated against the others).

Every change writes a new version and keeps the old ones (``history``); a delete writes a last version with
body null. The snapshot that serving reads (``snapshot.py``) is invalidated by every change made here. Each change
is audited in its own transaction (``block.put``, ``slot.delete``, ``experiment.start``...: the previous body
before, the new one after) under the ``actor`` the caller names.

>>> import tempfile
>>> from pertinent.storage.sql import SqlStore
>>> store = SqlStore(f"sqlite:///{tempfile.mkdtemp()}/doc.db"); store.migrate()
>>> docs = Documents(store)
>>> docs.put("note", "n1", {"text": "hi"}).version, docs.put("note", "n1", {"text": "hello"}).version
(1, 2)
>>> [v.body for v in docs.history("note", "n1")], docs.delete("note", "n1").success
([{'text': 'hi'}, {'text': 'hello'}], True)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pertinent.bandits.registry import make_policy
from pertinent.decide.bandits import N_FEATURES
from pertinent.decide.blocks import parse_block, template_errors
from pertinent.decide.config import DecideConfig
from pertinent.decide.experiments import ExperimentDefinition
from pertinent.decide.slots import CompareRecommenders, Recommend, RunBandit, RunExperiment, Slot, parse_slot
from pertinent.decide.snapshot import Snapshot, SnapshotCache
from pertinent.errorpath import field_errors
from pertinent.errors import Conflict, InvalidInput, NotFound
from pertinent.experiments.config import Experiment, ExperimentStatus
from pertinent.privacy.audit import SYSTEM, Actor, record
from pertinent.rules.windows import too_long
from pertinent.runtime.limits import fields_problem
from pertinent.storage.base import DocumentRow, Store

Problems = list[dict[str, str]]
# Why a model version cannot be served, as (``model`` or ``version``, message), or None (``RecommendService``)
CheckVersion = Callable[[str, str], "tuple[str, str] | None"]


class Document(BaseModel):
    """One document at its current version."""

    model_config = ConfigDict(frozen=True)

    kind: str
    id: str
    version: int
    created_at: float
    updated_at: float
    body: dict[str, Any]

    @classmethod
    def of(cls, kind: str, row: DocumentRow) -> Document:
        return cls(
            kind=kind,
            id=row.doc_id,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            body=row.body or {},
        )


class DocumentVersion(BaseModel):
    """One version of a document; ``body`` null: deleted at this version."""

    model_config = ConfigDict(frozen=True)

    version: int
    at: float
    body: dict[str, Any] | None


class DocumentHistory(BaseModel):
    """Every version of one document, oldest first."""

    model_config = ConfigDict(frozen=True)

    id: str
    versions: list[DocumentVersion]


class Deleted(BaseModel):
    """The answer to a delete."""

    model_config = ConfigDict(frozen=True)

    success: bool = True
    kind: str
    id: str


class Documents:
    """Versioned documents of any kind in storage, without validation; ``on_change`` runs after each change."""

    def __init__(self, store: Store, on_change: Callable[[], None] | None = None) -> None:
        self.store = store
        self.on_change = on_change

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def put(self, kind: str, doc_id: str, body: dict[str, Any], actor: Actor = SYSTEM, action: str = "put") -> Document:
        """Create or replace (a new version), audited as ``<kind>.<action>``."""
        with self.store.transaction() as tx:
            old = tx.get_document(kind, doc_id)
            row = tx.put_document(kind, doc_id, body, time.time())
            before = old.body if old is not None else None
            record(tx, actor, f"{kind}.{action}", f"{kind}:{doc_id}", before=before, after=body, at=row.updated_at)
        self._changed()
        return Document.of(kind, row)

    def get(self, kind: str, doc_id: str) -> Document:
        with self.store.transaction(write=False) as tx:
            row = tx.get_document(kind, doc_id)
        if row is None:
            raise NotFound.of("id", kind, doc_id)
        return Document.of(kind, row)

    def list_of(self, kind: str) -> list[Document]:
        """Every current document of a kind, by id."""
        with self.store.transaction(write=False) as tx:
            return [Document.of(kind, r) for r in tx.list_documents(kind)]

    def history(self, kind: str, doc_id: str) -> list[DocumentVersion]:
        """Every version (a deleted document has a last version with body null)."""
        with self.store.transaction(write=False) as tx:
            rows = tx.document_history(kind, doc_id)
        if not rows:
            raise NotFound.of("id", kind, doc_id)
        return [DocumentVersion(version=r.version, at=r.created_at, body=r.body) for r in rows]

    def delete(self, kind: str, doc_id: str, actor: Actor = SYSTEM) -> Deleted:
        now = time.time()
        with self.store.transaction() as tx:
            old = tx.get_document(kind, doc_id)
            gone = tx.delete_document(kind, doc_id, now)
            if gone:
                before = old.body if old is not None else None
                record(tx, actor, f"{kind}.delete", f"{kind}:{doc_id}", before=before, at=now)
        if not gone:
            raise NotFound.of("id", kind, doc_id)
        self._changed()
        return Deleted(kind=kind, id=doc_id)


def with_id(data: Any, doc_id: str | None, key: str = "id") -> dict[str, Any]:
    """The body of a PUT with the id of its path (which a body's own id must match).

    >>> with_id({"type": "text"}, "b1")
    {'type': 'text', 'id': 'b1'}
    """
    if not isinstance(data, dict):
        raise InvalidInput([{"field": "body", "message": "must be a JSON object"}])
    unstorable = fields_problem(data)  # nesting orjson cannot write back (a 500 at the write: found by fuzzing)
    if unstorable is not None:
        raise InvalidInput([{"field": unstorable[0], "message": unstorable[1]}])
    if doc_id is None:
        return data
    if key in data and data[key] != doc_id:
        raise InvalidInput([{"field": key, "message": f"does not match the id in the path ('{doc_id}')"}])
    return {**data, key: doc_id}


class DecideDocuments:
    """Blocks, slots and experiments: CRUD with validation against each other, and the serving snapshot."""

    def __init__(self, store: Store, config: DecideConfig, check_version: CheckVersion | None = None) -> None:
        self.config = config
        self.check_version = check_version
        self.cache = SnapshotCache(store, config)
        self.docs = Documents(store, on_change=self.cache.invalidate)
        self.max_window_days = 30  # days of daily counts profiles keep (the service sets count_windows_days)

    def snapshot(self) -> Snapshot:
        """Every current document, parsed (cached; see ``snapshot.py``)."""
        return self.cache.get()

    def _referencing_slots(self, pred: Callable[[Slot], bool]) -> list[str]:
        return sorted(s.id for s in self.cache.fresh().slots.values() if pred(s))

    # ---------------------------------------------------------------- blocks
    def put_block(self, data: Any, block_id: str | None = None, actor: Actor = SYSTEM) -> Document:
        """Create or replace a block (a new version); validated against its type's JSON Schema."""
        block, errors = parse_block(with_id(data, block_id), self.config.template_limits())
        if block is None:
            raise InvalidInput(errors)
        if block.type != "product_list":
            users = self._referencing_slots(
                lambda s: any(isinstance(a, Recommend) and a.block == block.id for _, a in s.actions())
            )
            if users:
                message = f"slots {users} fill this block from the recommender; it must stay a product_list"
                raise Conflict([{"field": "type", "message": message}])
        return self.docs.put("block", block.id, block.model_dump(mode="json", exclude_none=True), actor)

    def delete_block(self, block_id: str, actor: Actor = SYSTEM) -> Deleted:
        users = self._referencing_slots(lambda s: block_id in s.blocks())
        if users:
            raise Conflict([{"field": "id", "message": f"block is shown by slots {users}; change them first"}])
        return self.docs.delete("block", block_id, actor)

    # ---------------------------------------------------------------- slots
    def put_slot(self, data: Any, slot_id: str | None = None, actor: Actor = SYSTEM) -> Document:
        """Create or replace a slot; its blocks and experiments must exist and fit."""
        data = with_id(data, slot_id)  # (also checks what can be stored)
        slot, errors = parse_slot(data)
        if slot is None:
            raise InvalidInput(errors)
        snap = self.cache.fresh()
        problems: Problems = []
        for i, rule in enumerate(slot.rules):  # count windows no longer than the days profiles keep
            for path, message in too_long(rule.when, self.max_window_days, f"rules[{i}].when"):
                problems.append({"field": path, "message": message})
        for name, block_id in slot.variants.items():
            if block_id not in snap.blocks:
                problems.append({"field": f"variants.{name}", "message": f"unknown block '{block_id}'"})
        for where, action in slot.actions():
            if isinstance(action, CompareRecommenders):
                problems += _recommend_problems(snap, where, action, self.config)
                problems += _compare_problems(snap, where, action, self.check_version)
            elif isinstance(action, Recommend):
                problems += _recommend_problems(snap, where, action, self.config)
            elif isinstance(action, RunExperiment):
                problems += _experiment_problems(snap, slot, where, action)
            elif isinstance(action, RunBandit) and action.params:
                problems += _bandit_problems(slot, where, action)
        if problems:
            raise InvalidInput(problems)
        return self.docs.put("slot", slot.id, slot.model_dump(mode="json", exclude_none=True), actor)

    def delete_slot(self, slot_id: str, actor: Actor = SYSTEM) -> Deleted:
        return self.docs.delete("slot", slot_id, actor)

    # ---------------------------------------------------------------- experiments
    def put_experiment(self, data: Any, key: str | None = None, actor: Actor = SYSTEM) -> Document:
        """Create or replace an experiment definition (status included; see start/stop)."""
        data = with_id(data, key, "key")
        try:
            exp = ExperimentDefinition.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(field_errors(exc, data)) from None
        self._check_experiment(exp)
        return self.docs.put("experiment", exp.key, exp.model_dump(mode="json"), actor)

    def _check_experiment(self, exp: ExperimentDefinition) -> None:
        snap = self.cache.fresh()
        problems: Problems = []
        for slot in snap.slots.values():
            allowed = slot.experiment_variants(exp.key)
            if allowed is not None:
                missing = [v for v in exp.variants if v not in allowed]
                if missing:
                    message = f"{missing} are not variants of slot '{slot.id}', which runs this experiment"
                    problems.append({"field": "variants", "message": message})
        ns = exp.namespace
        if ns is not None and exp.status != ExperimentStatus.STOPPED:
            for other in snap.experiments.values():
                o = other.namespace
                if other.key == exp.key or o is None or o.id != ns.id or other.status == ExperimentStatus.STOPPED:
                    continue
                if ns.start < o.end and o.start < ns.end:
                    problems.append(
                        {
                            "field": "namespace",
                            "message": f"range [{ns.start}, {ns.end}) overlaps "
                            f"experiment '{other.key}' [{o.start}, {o.end}) in namespace '{ns.id}': "
                            "they would share units",
                        }
                    )
        if problems:
            raise InvalidInput(problems)

    def experiment(self, key: str) -> ExperimentDefinition:
        """The stored definition (not the cached one)."""
        body = self.docs.get("experiment", key).body
        return ExperimentDefinition.model_validate(body)

    def start_experiment(self, key: str, actor: Actor = SYSTEM) -> Document:
        """Status running from now (assignment begins; sticky records of earlier runs stay valid)."""
        exp = _definition(self.experiment(key).start())
        self._check_experiment(exp)
        return self.docs.put("experiment", key, exp.model_dump(mode="json"), actor, "start")

    def stop_experiment(self, key: str, actor: Actor = SYSTEM) -> Document:
        """Status stopped: no new assignments; the slot falls through to its next rule; results stay."""
        return self.docs.put("experiment", key, self.experiment(key).stop().model_dump(mode="json"), actor, "stop")

    def delete_experiment(self, key: str, actor: Actor = SYSTEM) -> Deleted:
        users = self._referencing_slots(lambda s: key in s.experiments())
        if users:
            raise Conflict([{"field": "id", "message": f"experiment is run by slots {users}; change them first"}])
        return self.docs.delete("experiment", key, actor)


def _definition(exp: Experiment) -> ExperimentDefinition:
    """``Experiment.start``/``stop`` are typed as returning the library's class; they copy the definition."""
    assert isinstance(exp, ExperimentDefinition)
    return exp


def _recommend_problems(snap: Snapshot, where: str, action: Recommend, config: DecideConfig) -> Problems:
    problems: Problems = []
    found = snap.blocks.get(action.block) if action.block else None
    if action.block:
        if found is None:
            problems.append({"field": f"{where}.block", "message": f"unknown block '{action.block}'"})
        elif found[0].type != "product_list":
            message = f"block '{action.block}' is a {found[0].type}, not a product_list"
            problems.append({"field": f"{where}.block", "message": message})
    if action.template:  # tried as the recommender fills it: the block's content, sample items
        content = {k: v for k, v in (found[0].content if found is not None else {}).items() if k != "items"}
        if action.title:
            content["title"] = action.title
        problems += template_errors(
            action.template, "product_list", content, config.template_limits(), f"{where}.template"
        )
    return problems


def _experiment_problems(snap: Snapshot, slot: Slot, where: str, action: RunExperiment) -> Problems:
    exp = snap.experiments.get(action.experiment)
    if exp is None:
        message = f"unknown experiment '{action.experiment}'; create it first"
        return [{"field": f"{where}.experiment", "message": message}]
    missing = [v for v in exp.variants if v not in slot.variants]
    if missing:
        message = f"experiment variants {missing} are not variants of this slot"
        return [{"field": f"{where}.experiment", "message": message}]
    return []


def _compare_problems(
    snap: Snapshot, where: str, action: CompareRecommenders, check_version: CheckVersion | None
) -> Problems:
    """The experiment exists and each of its variants names a version; each version can be served."""
    problems: Problems = []
    exp = snap.experiments.get(action.experiment)
    if exp is None:
        message = f"unknown experiment '{action.experiment}'; create it first"
        problems.append({"field": f"{where}.experiment", "message": message})
    else:
        missing = [v for v in exp.variants if v not in action.versions]
        if missing:
            message = f"experiment variants {missing} name no version; give each a model version"
            problems.append({"field": f"{where}.versions", "message": message})
    for variant, ref in action.versions.items() if check_version is not None else ():
        assert check_version is not None
        why = check_version(ref.model, ref.version)
        if why is not None:
            problems.append({"field": f"{where}.versions.{variant}.{why[0]}", "message": why[1]})
    return problems


def _bandit_problems(slot: Slot, where: str, action: RunBandit) -> Problems:
    """The policy's own validation of ``params`` (built once with the slot's arms)."""
    params = {**action.params, "arms": action.arms or list(slot.variants)}
    if action.policy == "linucb":
        params["n_features"] = N_FEATURES
    try:
        make_policy(action.policy, params)
    except ValidationError as exc:
        return field_errors(exc, action.params, f"{where}.params")
    except (ValueError, TypeError) as exc:
        return [{"field": f"{where}.params", "message": str(exc)[:300]}]
    return []
