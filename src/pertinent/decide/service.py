"""DecideService: content blocks, slots and experiments as versioned documents, and ``decide`` — what one
slot shows to one user now, why, and with what propensity.

Documents are cached in memory: a change made through this process is seen at once, and every
``cache_check_s`` the service asks storage for a change counter (``documents_version``), so changes made by
another server process are seen within that time. A decision reads the user's identity, profile (consent,
features), segments and first exposures in one read transaction; the decision row and the exposure event
are written by a background thread (``log.py``).

>>> import tempfile
>>> from pertinent.services import Services
>>> from pertinent.settings import Settings
>>> svc = Services.build(Settings(database_url="sqlite://", data_dir=tempfile.mkdtemp(), write_key="w",
...                               admin_key="a", pseudonym_keys=["k"])); svc.store.migrate()
>>> _ = svc.decide.put_block({"id": "hero-a", "type": "headline", "content": {"title": "Hello"}})
>>> _ = svc.decide.put_slot({"id": "home.hero", "variants": {"a": "hero-a"},
...                          "default": {"kind": "variant", "variant": "a"}})
>>> d = svc.decide.decide("home.hero", anonymous_id="visitor-1")
>>> d["variant"], d["block"], d["reason"]["kind"]
('a', {'type': 'headline', 'content': {'title': 'Hello'}}, 'default')
>>> svc.close()
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pertinent.decide.bandits import SlotBandit, bandit_key, context_features, reward_of
from pertinent.decide.blocks import Block, parse_block, prints_id_only, render
from pertinent.decide.config import DecideConfig
from pertinent.decide.errors import Conflict, InvalidConfig, NotFound, field_errors
from pertinent.decide.experiments import (
    ExperimentDefinition,
    default_metrics,
    experiment_results,
    pre_period_events,
)
from pertinent.decide.log import DecisionLog, PendingDecision
from pertinent.decide.slots import Recommend, RunBandit, RunExperiment, ShowVariant, Slot, parse_slot
from pertinent.decide.targeting import target_view
from pertinent.experiments.assignment import StickyRecord, assign
from pertinent.experiments.config import ExperimentStatus
from pertinent.privacy.consent import effective
from pertinent.storage.base import DecisionRow, EventRow, ItemRow, Store

if TYPE_CHECKING:
    from pertinent.events.service import Committed, IngestService
    from pertinent.profiles.service import ProfileService
    from pertinent.recommend.service import RecommendService
    from pertinent.settings import Settings

log = logging.getLogger("pertinent.decide")
KINDS = ("block", "slot", "experiment")
_ID_STAND_IN = "pertinent0decision0id0stand0in0"  # never a real id (those are hex): replaced in cached HTML


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
    plans: dict[str, _Plan] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    """What deciding a slot needs to read, worked out once per snapshot."""

    segments: bool
    features: bool
    experiments: tuple[str, ...]
    recommends: bool


@dataclass(slots=True)
class _Who:
    profile_id: str
    identity_key: str
    identity_kind: str
    row: Any  # ProfileRow | None
    segments: dict[str, float]
    exposures: dict[str, DecisionRow]


def _doc_json(kind: str, row: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": row.doc_id,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "body": row.body,
    }


def new_decision_id() -> str:
    """32 hex characters: the time in milliseconds (12), then 80 random bits. Time first, so that the decisions
    table's primary key grows at its end instead of at a random page per decision (a random id cost ~25 us more
    per stored decision on SQLite: docs/benchmarks.md); the random part keeps ids unguessable.

    >>> a, b = new_decision_id(), new_decision_id()
    >>> len(a), a != b, a[:8] <= b[:8]
    (32, True, True)
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class DecideService:
    """Slots, blocks and experiments (CRUD with validation), decisions, results and off-policy evaluation
    (built by ``Services.build``; the module docstring has a worked example).

    >>> sorted(KINDS)
    ['block', 'experiment', 'slot']
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        ingest: IngestService,
        profiles: ProfileService,
        recommend: RecommendService,
        config: DecideConfig | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.config = config or settings.decide.model_copy(deep=True)
        self.ingest = ingest
        self.profiles = profiles
        self.pseudo = profiles.pseudo
        self.recommend = recommend
        self._snapshot: Snapshot | None = None
        self._checked_at = float("-inf")
        self._reload = threading.Lock()
        self._bandits: dict[str, SlotBandit] = {}
        self._bandits_lock = threading.Lock()
        self._bandit_refreshed = float("-inf")
        self._items: dict[str, tuple[float, ItemRow | None]] = {}
        self._exposed: dict[tuple[str, str, str], float] = {}  # (identity, experiment, variant) -> last sent
        self._html: dict[tuple[str, int, str, str], str | None] = {}  # (block, version, slot, variant) -> HTML
        self.log = DecisionLog(store, self.config)
        self.log.after_drain.append(self._maybe_refresh_bandits)
        ingest.subscribe(self._on_commit)

    def runs_inline(self, slot: str) -> bool:
        """Whether ``decide(slot)`` may run on the server's event loop: on SQLite its reads take microseconds and
        never wait for the write lock (WAL). A network database or a key rotation (lookups write) run in a thread
        instead, and so does a slot that may call the recommender while it has something to load (a model version
        to check, popularity or the catalogue: ``RecommendService.runs_inline``)."""
        if self.store.backend != "sqlite" or self.pseudo.n_keys != 1:
            return False
        plan = self.snapshot().plans.get(slot)
        return plan is None or not plan.recommends or self.recommend.runs_inline()

    # ================================================================ lifecycle
    def close(self) -> None:
        self.log.close()

    def flush(self, now: float | None = None) -> None:
        """Write queued decisions and exposures and attribute queued events now (tests, shutdown)."""
        self.log.flush(now)

    # ================================================================ personal data (privacy.derived)
    def user_rows(self, profile_id: str) -> list[dict[str, Any]]:
        """Decisions of the profile still queued for writing (stored ones are exported from storage)."""
        return self.log.pending_for(profile_id)

    def forget_user(self, profile_id: str) -> int:
        """Erasure: queued decisions of the profile are dropped (stored ones are deleted by the erasure)."""
        return self.log.forget(profile_id)

    # ================================================================ documents
    def snapshot(self) -> Snapshot:
        """The cached documents; reloaded when the storage change counter moved (checked every cache_check_s).

        One caller reloads a stale snapshot; concurrent callers keep serving the previous one meanwhile."""
        snap = self._snapshot
        now = time.monotonic()
        if snap is not None and now - self._checked_at < self.config.cache_check_s:
            return snap
        if not self._reload.acquire(blocking=snap is None):
            return snap  # type: ignore[return-value]
        try:
            if self._snapshot is not None and self._snapshot is not snap:
                return self._snapshot
            with self.store.transaction(write=False) as tx:
                version = tx.documents_version()
                if snap is not None and version == snap.version:
                    self._checked_at = time.monotonic()
                    return snap
                rows = {kind: tx.list_documents(kind) for kind in KINDS}
            self._snapshot = self._build(version, rows)
            self._checked_at = time.monotonic()
            return self._snapshot
        finally:
            self._reload.release()

    def _build(self, version: int, rows: dict[str, list[Any]]) -> Snapshot:
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
            uses = slot.uses()
            recommends = any(isinstance(a, Recommend) for a in [x.then for x in slot.rules] + [slot.default])
            snap.plans[r.doc_id] = _Plan(
                "segment" in uses, slot.needs_features(), tuple(slot.experiments()), recommends
            )
        return snap

    def _invalidate(self) -> None:
        self._checked_at = float("-inf")

    def _put(self, kind: str, doc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.transaction() as tx:
            row = tx.put_document(kind, doc_id, body, time.time())
        self._invalidate()
        return _doc_json(kind, row)

    def _get(self, kind: str, doc_id: str) -> dict[str, Any]:
        with self.store.transaction(write=False) as tx:
            row = tx.get_document(kind, doc_id)
        if row is None:
            raise NotFound.of("id", kind, doc_id)
        return _doc_json(kind, row)

    def list(self, kind: str) -> list[dict[str, Any]]:
        """Every current document of a kind (block, slot, experiment)."""
        with self.store.transaction(write=False) as tx:
            return [_doc_json(kind, r) for r in tx.list_documents(kind)]

    def get(self, kind: str, doc_id: str) -> dict[str, Any]:
        return self._get(kind, doc_id)

    def history(self, kind: str, doc_id: str) -> list[dict[str, Any]]:
        """Every version (a deleted document has a last version with body null)."""
        with self.store.transaction(write=False) as tx:
            rows = tx.document_history(kind, doc_id)
        if not rows:
            raise NotFound.of("id", kind, doc_id)
        return [{"version": r.version, "at": r.created_at, "body": r.body} for r in rows]

    def _with_id(self, data: Any, doc_id: str | None, key: str = "id") -> Any:
        if not isinstance(data, dict):
            raise InvalidConfig([{"field": "body", "message": "must be a JSON object"}])
        if doc_id is not None:
            if key in data and data[key] != doc_id:
                raise InvalidConfig([{"field": key, "message": f"does not match the id in the path ('{doc_id}')"}])
            data = {**data, key: doc_id}
        return data

    def _referencing_slots(self, pred: Any) -> list[str]:
        return sorted(s.id for s in self.snapshot_fresh().slots.values() if pred(s))

    def snapshot_fresh(self) -> Snapshot:
        self._invalidate()
        return self.snapshot()

    # ---------------------------------------------------------------- blocks
    def put_block(self, data: Any, block_id: str | None = None) -> dict[str, Any]:
        """Create or replace a block (a new version); validated against its type's JSON Schema."""
        block, errors = parse_block(self._with_id(data, block_id))
        if block is None:
            raise InvalidConfig(errors)
        if block.type != "product_list":
            users = self._referencing_slots(
                lambda s: any(
                    isinstance(a, Recommend) and a.block == block.id for a in [r.then for r in s.rules] + [s.default]
                )
            )
            if users:
                raise Conflict(
                    [
                        {
                            "field": "type",
                            "message": f"slots {users} fill this block from the recommender; "
                            "it must stay a product_list",
                        }
                    ]
                )
        return self._put("block", block.id, block.model_dump(mode="json", exclude_none=True))

    def delete_block(self, block_id: str) -> dict[str, Any]:
        users = self._referencing_slots(lambda s: block_id in s.blocks())
        if users:
            raise Conflict([{"field": "id", "message": f"block is shown by slots {users}; change them first"}])
        return self._delete("block", block_id)

    def _delete(self, kind: str, doc_id: str) -> dict[str, Any]:
        with self.store.transaction() as tx:
            gone = tx.delete_document(kind, doc_id, time.time())
        if not gone:
            raise NotFound.of("id", kind, doc_id)
        self._invalidate()
        return {"success": True, "kind": kind, "id": doc_id}

    # ---------------------------------------------------------------- slots
    def put_slot(self, data: Any, slot_id: str | None = None) -> dict[str, Any]:
        """Create or replace a slot; its blocks and experiments must exist and fit."""
        data = self._with_id(data, slot_id)
        slot, errors = parse_slot(data)
        if slot is None:
            raise InvalidConfig(errors)
        snap = self.snapshot_fresh()
        problems: list[dict[str, str]] = []
        for name, block_id in slot.variants.items():
            if block_id not in snap.blocks:
                problems.append({"field": f"variants.{name}", "message": f"unknown block '{block_id}'"})
        for where, action in [(f"rules[{i}].then", r.then) for i, r in enumerate(slot.rules)] + [
            ("default", slot.default)
        ]:
            if isinstance(action, Recommend) and action.block:
                found = snap.blocks.get(action.block)
                if found is None:
                    problems.append({"field": f"{where}.block", "message": f"unknown block '{action.block}'"})
                elif found[0].type != "product_list":
                    problems.append(
                        {
                            "field": f"{where}.block",
                            "message": f"block '{action.block}' is a {found[0].type}, not a product_list",
                        }
                    )
            if isinstance(action, Recommend) and action.template:
                from pertinent.decide.blocks import template_errors

                problems += [
                    {"field": f"{where}.template", "message": e["message"]} for e in template_errors(action.template)
                ]
            if isinstance(action, RunExperiment):
                exp = snap.experiments.get(action.experiment)
                if exp is None:
                    problems.append(
                        {
                            "field": f"{where}.experiment",
                            "message": f"unknown experiment '{action.experiment}'; create it first",
                        }
                    )
                else:
                    missing = [v for v in exp.variants if v not in slot.variants]
                    if missing:
                        problems.append(
                            {
                                "field": f"{where}.experiment",
                                "message": f"experiment variants {missing} are not variants of this slot",
                            }
                        )
            if isinstance(action, RunBandit) and action.params:
                from pertinent.bandits.registry import make_policy

                try:
                    make_policy(
                        action.policy,
                        {
                            **action.params,
                            "arms": action.arms or list(slot.variants),
                            **({"n_features": 7} if action.policy == "linucb" else {}),
                        },
                    )
                except ValidationError as exc:
                    problems += field_errors(exc, action.params, f"{where}.params")
                except (ValueError, TypeError) as exc:
                    problems.append({"field": f"{where}.params", "message": str(exc)[:300]})
        if problems:
            raise InvalidConfig(problems)
        return self._put("slot", slot.id, slot.model_dump(mode="json", exclude_none=True))

    def delete_slot(self, slot_id: str) -> dict[str, Any]:
        return self._delete("slot", slot_id)

    # ---------------------------------------------------------------- experiments
    def put_experiment(self, data: Any, key: str | None = None) -> dict[str, Any]:
        """Create or replace an experiment definition (status included; see start/stop)."""
        data = self._with_id(data, key, "key")
        try:
            exp = ExperimentDefinition.model_validate(data)
        except ValidationError as exc:
            raise InvalidConfig(field_errors(exc, data)) from None
        self._check_experiment(exp)
        return self._put("experiment", exp.key, exp.model_dump(mode="json"))

    def _check_experiment(self, exp: ExperimentDefinition) -> None:
        snap = self.snapshot_fresh()
        problems = []
        for slot in snap.slots.values():
            if exp.key in slot.experiments():
                missing = [v for v in exp.variants if v not in slot.variants]
                if missing:
                    problems.append(
                        {
                            "field": "variants",
                            "message": f"{missing} are not variants of slot '{slot.id}', which runs this experiment",
                        }
                    )
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
            raise InvalidConfig(problems)

    def experiment(self, key: str) -> ExperimentDefinition:
        with self.store.transaction(write=False) as tx:
            row = tx.get_document("experiment", key)
        if row is None:
            raise NotFound.of("id", "experiment", key)
        return ExperimentDefinition.model_validate(row.body)

    def start_experiment(self, key: str) -> dict[str, Any]:
        """Status running from now (assignment begins; sticky records of earlier runs stay valid)."""
        exp = self.experiment(key).start()
        self._check_experiment(exp)
        return self._put("experiment", key, exp.model_dump(mode="json"))

    def stop_experiment(self, key: str) -> dict[str, Any]:
        """Status stopped: no new assignments; the slot falls through to its next rule; results stay."""
        return self._put("experiment", key, self.experiment(key).stop().model_dump(mode="json"))

    def delete_experiment(self, key: str) -> dict[str, Any]:
        users = self._referencing_slots(lambda s: key in s.experiments())
        if users:
            raise Conflict([{"field": "id", "message": f"experiment is run by slots {users}; change them first"}])
        return self._delete("experiment", key)

    # ================================================================ deciding
    def _who(self, plan: _Plan, user_id: str | None, anonymous_id: str | None) -> _Who:
        ids = ([("user", user_id)] if user_id else []) + ([("anonymous", anonymous_id)] if anonymous_id else [])
        keys = [(kind, self.pseudo.key(kind, raw)) for kind, raw in ids]
        rotate = self.pseudo.n_keys > 1
        with self.store.transaction(write=True) if rotate else self.store.reader() as tx:
            if rotate:
                from pertinent.profiles.identity import IdentityResolver

                resolver = IdentityResolver(tx, self.pseudo, time.time())
                resolver.preload(ids)
                found = {k: resolver.known[k] for _, k in keys if k in resolver.known}
                resolver.flush()
            else:
                found = tx.get_identities([k for _, k in keys])
            for kind, key in keys:
                if key in found:
                    pid = found[key].profile_id
                    row = tx.get_profiles([pid]).get(pid)
                    segments = tx.segments_of([pid]).get(pid, {}) if plan.segments else {}
                    exposures = tx.first_exposures(pid, plan.experiments) if plan.experiments else {}
                    return _Who(pid, key, kind, row, segments, exposures)
        kind, key = keys[0]
        return _Who(key, key, kind, None, {}, {})

    def decide(
        self,
        slot: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        context: dict[str, Any] | None = None,
        now: float | None = None,
        raw_context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """What ``slot`` shows to this user now (see docs/api.md for the response).

        ``context``: flat request facts (``targeting.request_context``); ``raw_context``: the Segment context
        sent with the exposure event (user agent, locale, timezone, country)."""
        if not user_id and not anonymous_id:
            raise InvalidConfig([{"field": "user_id", "message": "give user_id or anonymous_id"}])
        snap = self.snapshot()
        spec = snap.slots.get(slot)
        if spec is None:
            raise NotFound.of("slot", "slot", slot)
        plan = snap.plans[slot]
        now = time.time() if now is None else now
        context = context or {}
        who = self._who(plan, user_id, anonymous_id)
        consent = effective(who.row.consent if who.row is not None else {}, self.settings.default_consent)
        decision_id = new_decision_id()
        out = None
        if consent["personalization"]:
            out = self._rules(snap, spec, plan, who, context, now, user_id, anonymous_id, decision_id)
        if out is None:
            why = "no rule matched" if consent["personalization"] else "no personalization consent"
            out = self._act(
                snap,
                spec,
                spec.default,
                who,
                context,
                now,
                user_id,
                anonymous_id,
                decision_id,
                "default",
                f"default ({why})",
                None,
            )
            if out is None:  # a recommender default with nothing to recommend: an empty list
                out = self._empty_list(snap, spec.default, decision_id, slot)
        variant, block, html, reason, detail, propensity, experiment, extra = out
        if consent["analytics"] or consent["personalization"]:
            row = DecisionRow(
                decision_id,
                who.profile_id,
                slot,
                variant,
                reason,
                now,
                experiment and experiment["id"],
                propensity,
                detail,
            )
            exposure = None
            if experiment is not None and self._first_exposure_in_session(who.identity_key, experiment, now):
                exposure = self._exposure(row, experiment, consent["personalization"], raw_context)
            self.log.add_decision(PendingDecision(row, who.identity_key, who.identity_kind, exposure))
        return {
            "decision_id": decision_id,
            "slot": slot,
            "variant": variant,
            "block": block,
            "html": html,
            "reason": {"kind": reason, "detail": detail.get("why", reason)},
            "experiment": experiment,
            "propensity": propensity,
            **extra,
        }

    def _rules(
        self,
        snap: Snapshot,
        spec: Slot,
        plan: _Plan,
        who: _Who,
        context: dict[str, Any],
        now: float,
        user_id: str | None,
        anonymous_id: str | None,
        decision_id: str,
    ) -> Any:
        view = None
        events = None
        for i, rule in enumerate(spec.rules):
            if rule.min_events:
                if events is None:
                    events = int((who.row.state if who.row is not None else {}).get("events_total", 0))
                if events < rule.min_events:
                    continue
            if rule.when is not None:
                if view is None:
                    view = self._view(plan, who, context, now)
                if not rule.when.holds(view):
                    continue
            label = f"rule {i}" + (f" '{rule.name}'" if rule.name else "")
            cond = rule.when.describe() if rule.when is not None else "always"
            out = self._act(
                snap,
                spec,
                rule.then,
                who,
                context,
                now,
                user_id,
                anonymous_id,
                decision_id,
                None,
                f"{label}: {cond}",
                i,
            )
            if out is not None:
                return out
        return None

    def _view(self, plan: _Plan, who: _Who, context: dict[str, Any], now: float) -> Any:
        row = who.row
        features = None
        if plan.features and row is not None:
            from pertinent.profiles.features import summarize

            features = summarize(row.state, now, self.profiles.config)
        elif row is not None and isinstance(row.state.get("context"), dict):
            features = {"context": row.state["context"]}
        return target_view(
            features,
            context,
            who.segments,
            now,
            row.traits if row is not None else None,
            effective(row.consent if row is not None else {}, self.settings.default_consent),
            row.state if row is not None and plan.features else None,
        )

    def _act(
        self,
        snap: Snapshot,
        spec: Slot,
        action: Any,
        who: _Who,
        context: dict[str, Any],
        now: float,
        user_id: str | None,
        anonymous_id: str | None,
        decision_id: str,
        kind: str | None,
        why: str,
        rule: int | None,
    ) -> Any:
        """(variant, block, html, reason, detail, propensity, experiment, extra) or None to fall through."""
        detail: dict[str, Any] = {"rule": rule, "why": why}
        if isinstance(action, ShowVariant):
            return self._variant(snap, spec, action.variant, kind or "rule", detail, 1.0, None, decision_id)
        if isinstance(action, RunExperiment):
            exp = snap.experiments.get(action.experiment)
            if exp is None:
                return None
            if exp.hash_attribute == "user_id":
                unit = user_id
            elif exp.hash_attribute == "anonymous_id":
                unit = anonymous_id or user_id
            else:
                unit = user_id or anonymous_id
            seen = who.exposures.get(exp.key)
            prior = None
            if seen is not None and seen.variant is not None:
                prior = StickyRecord(
                    experiment_key=exp.key,
                    unit_id=unit or "",
                    variant=seen.variant,
                    bucket_version=int((seen.detail or {}).get("bucket_version", 0)),
                )
            a = assign(exp, unit, prior)
            if a.variant is None or a.variant not in spec.variants:
                return None
            weights = exp.planned_weights()
            detail.update(
                why=f"{why} -> experiment '{exp.key}' variant '{a.variant}' ({a.reason})",
                bucket_version=exp.bucket_version,
                assignment=a.reason,
                bucket=a.bucket,
            )
            experiment = {
                "id": exp.key,
                "variant": a.variant,
                "variation_index": a.variation_id,
                "sticky": a.reason == "sticky",
            }
            return self._variant(
                snap, spec, a.variant, "experiment", detail, weights[a.variation_id], experiment, decision_id
            )
        if isinstance(action, RunBandit):
            bandit = self._bandit(spec, rule if rule is not None else -1, action)
            x = context_features(context, now) if bandit.contextual else None
            choice = bandit.choose(x)
            detail.update(
                why=f"{why} -> bandit {action.policy} arm '{choice.arm}' (p={choice.propensity:.3f})",
                arms=bandit.arms,
                probabilities=[round(p, 6) for p in choice.probabilities],
            )
            if x is not None:
                detail["x"] = x
            return self._variant(snap, spec, choice.arm, "bandit", detail, choice.propensity, None, decision_id)
        if isinstance(action, Recommend):
            return self._recommended(snap, action, who, user_id or anonymous_id or "", detail, decision_id, spec.id)
        return None

    def _variant(
        self,
        snap: Snapshot,
        spec: Slot,
        variant: str,
        reason: str,
        detail: dict[str, Any],
        propensity: float,
        experiment: dict[str, Any] | None,
        decision_id: str,
    ) -> Any:
        block_id = spec.variants.get(variant)
        found = snap.blocks.get(block_id) if block_id else None
        if found is None:
            log.error("slot %r variant %r: block %r is missing", spec.id, variant, block_id)
            return None
        block, version = found
        detail.update(block=block.id, block_version=version)
        html = self._variant_html(block, version, decision_id, spec.id, variant)
        return (
            variant,
            {"type": block.type, "content": block.content},
            html,
            reason,
            detail,
            propensity,
            experiment,
            {},
        )

    def _variant_html(self, block: Block, version: int, decision_id: str, slot: str, variant: str) -> str | None:
        """A variant's HTML: rendered once per block version, slot and variant with a stand-in decision id that
        is then replaced, when the template only prints the id (``blocks.prints_id_only``); else per decision."""
        if block.template is None or not prints_id_only(block.template):
            return self._render(block, None, decision_id, slot, variant)
        key = (block.id, version, slot, variant)
        if key not in self._html:
            if len(self._html) >= 10_000:
                self._html.clear()
            self._html[key] = self._render(block, None, _ID_STAND_IN, slot, variant)
        html = self._html[key]
        return None if html is None else html.replace(_ID_STAND_IN, decision_id)

    @staticmethod
    def _render(
        block: Block, content: dict[str, Any] | None, decision_id: str, slot: str, variant: str | None
    ) -> str | None:
        try:
            return render(block, content, decision_id=decision_id, slot=slot, variant=variant)
        except Exception:  # a template error must not fail the decision: no HTML, logged
            log.warning("block %r: template failed to render", block.id, exc_info=True)
            return None

    def _item_rows(self, ids: list[str]) -> dict[str, ItemRow | None]:
        now = time.monotonic()
        out: dict[str, ItemRow | None] = {}
        missing = []
        for i in ids:
            hit = self._items.get(i)
            if hit is not None and now - hit[0] < self.config.item_cache_s:
                out[i] = hit[1]
            else:
                missing.append(i)
        if missing:
            with self.store.transaction(write=False) as tx:
                rows = tx.get_items(missing)
            if len(self._items) > 50_000:
                self._items.clear()
            for i in missing:
                out[i] = rows.get(i)
                self._items[i] = (now, rows.get(i))
        return out

    def _list_block(self, snap: Snapshot, action: Any) -> tuple[Block, dict[str, Any]]:
        base = snap.blocks.get(action.block)[0] if getattr(action, "block", None) in snap.blocks else None
        content = dict(base.content) if base is not None else {}
        if getattr(action, "title", None):
            content["title"] = action.title
        template = getattr(action, "template", None) or (base.template if base is not None else None)
        block = Block(
            id=base.id if base is not None else "recommended", type="product_list", content=content, template=template
        )
        return block, content

    def _recommended(
        self,
        snap: Snapshot,
        action: Recommend,
        who: _Who,
        raw_id: str,
        detail: dict[str, Any],
        decision_id: str,
        slot: str,
    ) -> Any:
        try:  # from the profile this decision is made for (read once, with its consent)
            recs = self.recommend.recommend(
                raw_id,
                action.k,
                action.include_categories,
                action.exclude_categories,
                profile=(who.profile_id, who.row),
            )
        except Exception:  # the recommender failing must not fail the slot: fall through
            log.exception("recommender failed for slot %r", slot)
            return None
        items = recs.get("items") or []
        if not items:
            return None
        rows = self._item_rows([it["item_id"] for it in items])
        out_items = []
        for it in items:
            row = rows.get(it["item_id"])
            entry = {"item_id": it["item_id"], "rank": it["rank"], "score": it["score"], "reason": it.get("reason")}
            if row is not None:
                entry["title"] = row.title
                attrs = row.attributes or {}
                for src, dst in (
                    ("url", "url"),
                    ("image", "image"),
                    ("image_url", "image"),
                    ("price", "price"),
                    ("currency", "currency"),
                ):
                    if src in attrs and dst not in entry and attrs[src] is not None:
                        entry[dst] = attrs[src]
            out_items.append(entry)
        block, content = self._list_block(snap, action)
        content["items"] = out_items
        detail.update(
            items=[it["item_id"] for it in out_items],
            source=recs.get("source"),
            model_version=recs.get("version"),
            why=f"{detail['why']} -> recommender ({recs.get('source')})",
        )
        html = self._render(block, content, decision_id, slot, None)
        return (None, {"type": "product_list", "content": content}, html, "recommender", detail, 1.0, None, {})

    def _empty_list(self, snap: Snapshot, action: Any, decision_id: str, slot: str) -> Any:
        block, content = self._list_block(snap, action)
        content["items"] = []
        html = self._render(block, content, decision_id, slot, None)
        return (
            None,
            {"type": "product_list", "content": content},
            html,
            "default",
            {"rule": None, "why": "default (recommender had nothing to recommend)", "items": []},
            1.0,
            None,
            {},
        )

    def _exposure(
        self, row: DecisionRow, experiment: dict[str, Any], personalize: bool, raw_context: dict[str, Any] | None
    ) -> EventRow:
        """The "Experiment Viewed" track event of a decision (Segment's naming and properties), stored with the
        decision by the log writer: an event of the profile (exports, erasure, the event stream, KPIs), not
        applied to its behavioural features: it records what was shown, not what the visitor did."""
        return EventRow(
            message_id=f"xp-{row.decision_id}",
            type="track",
            event=self.config.exposure_event,
            profile_id=row.profile_id,
            timestamp=row.at,
            received_at=time.time(),
            personalize=personalize,
            properties={
                "experiment_id": experiment["id"],
                "variation_id": experiment["variant"],
                "variation_index": experiment["variation_index"],
                "decision_id": row.decision_id,
                "slot": row.slot,
            },
            context=self.ingest.clean_context(raw_context) if raw_context else None,
        )

    def _first_exposure_in_session(self, identity: str, experiment: dict[str, Any], now: float) -> bool:
        """Whether to send "Experiment Viewed": once per user, experiment and variant per session (as GrowthBook's
        SDKs do per page view); every decision is stored regardless, and results count decisions, not events."""
        key = (identity, experiment["id"], experiment["variant"])
        last = self._exposed.get(key)
        if last is not None and 0 <= now - last < self.config.exposure_every_s:
            return False
        if len(self._exposed) >= 200_000:
            self._exposed.clear()
        self._exposed[key] = now
        return True

    # ================================================================ bandits
    def _bandit(self, spec: Slot, rule: int, action: RunBandit) -> SlotBandit:
        arms = action.arms or list(spec.variants)
        key = bandit_key(spec.id, rule, action, arms)
        bandit = self._bandits.get(key)
        if bandit is None:
            with self._bandits_lock:
                bandit = self._bandits.get(key)
                if bandit is None:
                    bandit = SlotBandit(spec.id, rule, action, arms)
                    self._bandits[key] = bandit
                    self._bandit_refreshed = float("-inf")  # learn its history on the next drain
                    self.log._ensure_thread()
        return bandit

    def _maybe_refresh_bandits(self, now: float) -> None:
        if time.monotonic() - self._bandit_refreshed >= self.config.bandit_refresh_s and self._bandits:
            self.refresh_bandits(now)

    def refresh_bandits(self, now: float | None = None) -> dict[str, int]:
        """Teach every bandit the decisions whose reward window has closed since its last refresh."""
        now = time.time() if now is None else now
        self._bandit_refreshed = time.monotonic()
        live = {}
        snap = self.snapshot()
        for s in snap.slots.values():
            for i, r in enumerate(s.rules):
                if isinstance(r.then, RunBandit):
                    live[bandit_key(s.id, i, r.then, r.then.arms or list(s.variants))] = True
        learned = {}
        for key, bandit in list(self._bandits.items()):
            if key not in live:  # configuration changed or slot deleted
                self._bandits.pop(key, None)
                continue
            learned[f"{bandit.slot_id}#{bandit.rule}"] = self._teach(bandit, now)
        return learned

    def _teach(self, bandit: SlotBandit, now: float) -> int:
        reward = bandit.action.reward
        until = now - reward.window_s
        if until <= bandit.cursor:
            return 0
        events = {e[:32] for e in (reward.events or self.config.click_events)}
        batch: list[tuple[str, float, Any]] = []
        with self.store.transaction(write=False) as tx:
            decisions = [
                d
                for d in tx.iter_decisions(bandit.slot_id, since=bandit.cursor, until=until)
                if d.reason == "bandit" and (d.detail or {}).get("rule") == bandit.rule
            ]
            decisions = decisions[-self.config.max_bandit_history :]
            outcomes: dict[str, list[Any]] = {}
            for o in tx.outcomes_of([d.decision_id for d in decisions]):
                outcomes.setdefault(o.decision_id, []).append(o)
        for d in decisions:
            r = reward_of(d, outcomes.get(d.decision_id, []), events, reward.value, reward.window_s)
            batch.append((d.variant or "", r, (d.detail or {}).get("x")))
        bandit.learn(batch)
        bandit.cursor = until
        return len(batch)

    def bandit_states(self, slot: str) -> list[dict[str, Any]]:
        """The live bandits of a slot (policy state, probabilities, how much they learned)."""
        spec = self.snapshot().slots.get(slot)
        if spec is None:
            raise NotFound.of("slot", "slot", slot)
        return [
            self._bandit(spec, i, r.then).state() for i, r in enumerate(spec.rules) if isinstance(r.then, RunBandit)
        ]

    # ================================================================ measuring
    def results(self, key: str) -> dict[str, Any]:
        """The analysis of an experiment from its stored decisions and outcomes, CUPED-adjusted by the units'
        pre-period events (see experiments.py)."""
        exp = self.experiment(key)
        self.flush()
        outcomes: dict[str, list[Any]] = {}
        metrics = exp.metrics or default_metrics(self.config.click_events, self.config.conversion_events)
        with self.store.transaction(write=False) as tx:
            decisions = list(tx.iter_decisions(experiment=key))  # every run of the experiment
            for o in tx.outcomes_of([d.decision_id for d in decisions]):
                outcomes.setdefault(o.decision_id, []).append(o)
            pre = pre_period_events(tx, exp, decisions, metrics, self.config.conversion_events)
        return experiment_results(exp, decisions, outcomes, metrics, pre)

    def ope(
        self,
        slot: str,
        target: str = "uniform",
        since: float = 0.0,
        reward_events: list[str] | None = None,
        value: bool = False,
        alpha: float = 0.05,
    ) -> dict[str, Any]:
        """Off-policy evaluation of a target policy on a slot's logged decisions (IPS, SNIPS, doubly robust).

        ``target``: ``uniform`` over the logged variants, ``arm:NAME`` (always that variant) or ``greedy`` (the
        variant with the best mean logged reward)."""
        import numpy as np

        from pertinent.bandits.ope import LoggedData, doubly_robust, ips, snips

        self.flush()
        events = {e[:32] for e in (reward_events or self.config.click_events)}
        with self.store.transaction(write=False) as tx:
            decisions = [
                d
                for d in tx.iter_decisions(slot, since=since)
                if d.variant is not None and d.propensity is not None and d.propensity > 0
            ]
            outcomes: dict[str, list[Any]] = {}
            for o in tx.outcomes_of([d.decision_id for d in decisions]):
                outcomes.setdefault(o.decision_id, []).append(o)
        arms = sorted({d.variant for d in decisions if d.variant is not None})
        base: dict[str, Any] = {"slot": slot, "target": target, "arms": arms, "decisions": len(decisions)}
        if target.startswith("arm:") and target[4:] not in arms:
            raise InvalidConfig(
                [
                    {
                        "field": "target",
                        "message": f"no logged decisions showed variant '{target[4:]}'; logged variants are {arms}",
                    }
                ]
            )
        if target not in ("uniform", "greedy") and not target.startswith("arm:"):
            raise InvalidConfig([{"field": "target", "message": "must be uniform, greedy or arm:NAME"}])
        if not decisions:
            return {**base, "message": "no logged decisions with propensities for this slot", "estimates": []}
        index = {a: i for i, a in enumerate(arms)}
        actions = np.array([index[d.variant] for d in decisions])  # type: ignore[index]
        rewards = np.array(
            [reward_of(d, outcomes.get(d.decision_id, []), events, value, float("inf")) for d in decisions]
        )
        props = np.array([float(d.propensity) for d in decisions])  # type: ignore[arg-type]
        k = len(arms)
        if target == "uniform":
            t = np.full((len(decisions), k), 1 / k)
        else:
            if target == "greedy":
                means = [rewards[actions == i].mean() if (actions == i).any() else -np.inf for i in range(k)]
                best = int(np.argmax(means))
            else:
                best = index[target[4:]]
            t = np.zeros((len(decisions), k))
            t[:, best] = 1.0
            base["target_arm"] = arms[best]
        logs = LoggedData(actions, rewards, props)
        base["logged_mean_reward"] = float(rewards.mean())
        estimates = [ips(logs, t, alpha), snips(logs, t, alpha), doubly_robust(logs, t, alpha)]
        thin = "thin data: fewer than 100 logged decisions" if len(decisions) < 100 else ""
        return {**base, "message": thin, "estimates": [e.__dict__ for e in estimates]}

    # ================================================================ attribution (ingest listener)
    def _on_commit(self, committed: Committed) -> None:
        """Queue the committed track events that may be outcomes (quick: runs on the ingest thread)."""
        if not self.snapshot().slots:  # nothing was ever decided (e.g. a history import): nothing to attribute
            return
        conv = self.config.conversion_events
        exposure = self.config.exposure_event
        oldest = committed.at - self.config.attribution_window_s  # imported history has no decisions to credit
        keep = []
        for e in committed.events:
            if e.type != "track" or e.event == exposure:
                continue
            clicked = e.properties is not None and "decision_id" in e.properties
            if clicked or (e.event in conv and e.timestamp >= oldest):
                keep.append(e)
        if keep:
            self.log.add_events(keep)
