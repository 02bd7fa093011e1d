"""Serving ``/v1/decide``: what one slot shows to one user now, why, and with what propensity.

A decision reads the user's identity, profile (consent, features), segments and first exposures in one read
transaction, tries the slot's rules in order (targeting, experiment, bandit, recommender) and falls back to
its default; the decision row and the exposure event are queued for the background writer (``log.py``).

This is the benchmarked hot path: the answer is a plain dict (typed as :class:`Decision`), serialised by the
route without a model in between.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, NotRequired

from typing_extensions import TypedDict

from pertinent.decide.bandits import Bandits, context_features
from pertinent.decide.blocks import Block
from pertinent.decide.config import DecideConfig
from pertinent.decide.html import Rendered, Renderer, list_block, list_entries, render_block, template_user
from pertinent.decide.log import DecisionLog, PendingDecision
from pertinent.decide.slots import (
    AnyAction,
    CompareRecommenders,
    Recommend,
    RunBandit,
    RunExperiment,
    ShowVariant,
    Slot,
)
from pertinent.decide.snapshot import Plan, Snapshot
from pertinent.decide.sticky import PendingExposures
from pertinent.decide.targeting import target_view
from pertinent.errors import InvalidInput, NotFound
from pertinent.experiments.assignment import StickyRecord, assign
from pertinent.privacy.consent import effective
from pertinent.runtime.cache import TTLCache
from pertinent.storage.availability import is_unavailable
from pertinent.storage.base import DecisionRow, EventRow, IdentityRow, ItemRow, ProfileRow, Store
from pertinent.storage.protocols import ServingReader

if TYPE_CHECKING:
    from pertinent.profiles.service import ProfileService
    from pertinent.recommend.service import RecommendService
    from pertinent.settings import Settings

log = logging.getLogger("pertinent.decide")


class ShownBlock(TypedDict):
    """The block a decision shows: its type and content (a product list's items included)."""

    type: str
    content: dict[str, Any]


class DecisionReason(TypedDict):
    """Why: ``kind`` is rule, experiment, bandit, recommender or default; ``detail`` explains it.
    ``template_error``: the block's template failed to render (its line and kind of error): ``html`` is the
    block's fallback (null without one)."""

    kind: str
    detail: str
    template_error: NotRequired[str]


class ExperimentExposure(TypedDict):
    """The experiment a decision enrolled the user in (``sticky``: the variant of an earlier exposure)."""

    id: str
    variant: str
    variation_index: int
    sticky: bool


class Decision(TypedDict):
    """The answer of ``GET /v1/decide``: send ``decision_id`` back with clicks (``properties.decision_id``).
    ``html`` is the block rendered by its template (null without one); ``variant`` is null for a list filled
    by the recommender. ``degraded`` (only then: ``storage``): the database was unreachable, so the slot's default
    was served to nobody in particular and the decision was not logged."""

    decision_id: str
    slot: str
    variant: str | None
    block: ShownBlock
    html: str | None
    reason: DecisionReason
    experiment: ExperimentExposure | None
    propensity: float
    degraded: NotRequired[str]


class _Shown(NamedTuple):
    """What an action decided (or None from it: fall through to the next rule)."""

    variant: str | None
    block: ShownBlock
    html: str | None
    reason: str
    detail: dict[str, Any]
    propensity: float
    experiment: ExperimentExposure | None
    failed: Rendered | None = None  # the block's template failed: its fallback was shown


@dataclass(slots=True)
class _Who:
    profile_id: str
    identity_key: str
    identity_kind: str
    row: ProfileRow | None
    segments: dict[str, float]
    exposures: dict[str, DecisionRow]
    keys: tuple[str, ...] = ()  # the request's identity keys, then the profile id (pending exposures)


def new_decision_id() -> str:
    """32 hex characters: the time in milliseconds (12), then 80 random bits. Time first, so that the decisions
    table's primary key grows at its end instead of at a random page per decision (a random id made every stored
    decision dearer on SQLite: docs/benchmarks.md); the random part keeps ids unguessable.

    >>> a, b = new_decision_id(), new_decision_id()
    >>> len(a), a != b, a[:8] <= b[:8]
    (32, True, True)
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class Decider:
    """Decides slots (built by ``DecideService``, which shares its documents, bandits and log with it)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        config: DecideConfig,
        snapshot: Callable[[], Snapshot],
        bandits: Bandits,
        log: DecisionLog,
        clean_context: Callable[[dict[str, Any]], dict[str, Any]],
        profiles: ProfileService,
        recommend: RecommendService,
    ) -> None:
        self.store = store
        self.settings = settings
        self.config = config
        self.snapshot = snapshot
        self.bandits = bandits
        self.log = log
        self.clean_context = clean_context
        self.profiles = profiles
        self.pseudo = profiles.pseudo
        self.recommend = recommend
        self._items: TTLCache[tuple[ItemRow | None]] = TTLCache(ttl_s=config.item_cache_s, size=50_000)
        self._exposed: dict[tuple[str, str, str], float] = {}  # (profile, experiment, variant) -> last sent
        self.renderer = Renderer(config.template_limits)
        self.pending = PendingExposures()  # first exposures the writer has not stored yet (sticky.py)
        self._hidden_traits = frozenset(k.lower() for k in settings.pii_traits)

    def runs_inline(self, slot: str) -> bool:
        """Whether ``decide(slot)`` may run on the server's event loop: on SQLite its reads take microseconds and
        never wait for the write lock (WAL). A network database or a key rotation (lookups write) run in a thread
        instead, and so does a slot that may call the recommender while it has something to load (a model version
        to check, popularity or the catalogue: ``RecommendService.runs_inline``), and one whose templates render
        per decision (``Plan.renders``: bounded by the render limits, but not on the loop)."""
        if self.store.backend != "sqlite" or self.pseudo.n_keys != 1:
            return False
        plan = self.snapshot().plans.get(slot)
        if plan is None:
            return True
        return not plan.renders and (not plan.recommends or self.recommend.runs_inline())

    @staticmethod
    def _found(
        reader: ServingReader, plan: Plan, keys: list[tuple[str, str]], found: Mapping[str, IdentityRow]
    ) -> _Who | None:
        """The first known identity's profile, segments and first exposures (None when none is known)."""
        for kind, key in keys:
            if key in found:
                pid = found[key].profile_id
                row = reader.get_profiles([pid]).get(pid)
                segments = reader.segments_of([pid]).get(pid, {}) if plan.segments else {}
                exposures = reader.first_exposures(pid, plan.experiments) if plan.experiments else {}
                return _Who(pid, key, kind, row, segments, exposures)
        return None

    def _who(self, plan: Plan, user_id: str | None, anonymous_id: str | None) -> _Who:
        ids = ([("user", user_id)] if user_id else []) + ([("anonymous", anonymous_id)] if anonymous_id else [])
        keys = [(kind, self.pseudo.key(kind, raw)) for kind, raw in ids]
        if self.pseudo.n_keys > 1:  # an old-key pseudonym may need renaming: a write transaction
            from pertinent.profiles.identity import IdentityResolver

            with self.store.transaction(write=True) as tx:
                resolver = IdentityResolver(tx, self.pseudo, time.time())
                resolver.preload(ids)
                found = {k: resolver.known[k] for _, k in keys if k in resolver.known}
                resolver.flush()
                who = self._found(tx, plan, keys, found)
        else:
            with self.store.reader() as reader:
                who = self._found(reader, plan, keys, reader.get_identities([k for _, k in keys]))
        if who is None:
            kind, key = keys[0]
            who = _Who(key, key, kind, None, {}, {})
        who.keys = (*(k for _, k in keys), who.profile_id)
        return who

    def decide(
        self,
        slot: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        context: dict[str, Any] | None = None,
        now: float | None = None,
        raw_context: dict[str, Any] | None = None,
        verified: bool = True,
    ) -> Decision:
        """What ``slot`` shows to this user now (see docs/api.md for the response).

        ``context``: flat request facts (``targeting.request_context``); ``raw_context``: the Segment context
        sent with the exposure event (user agent, locale, timezone, country). ``verified=False``: the caller did
        not prove ``user_id`` (identity verification), so it is not used: the decision is made for
        ``anonymous_id``, or without one for nobody in particular (nothing of anyone read, nothing logged)."""
        if not user_id and not anonymous_id:
            raise InvalidInput([{"field": "user_id", "message": "give user_id or anonymous_id"}])
        if not verified:
            user_id = None
        snap = self.snapshot()
        spec = snap.slots.get(slot)
        if spec is None:
            raise NotFound.of("slot", "slot", slot)
        plan = snap.plans[slot]
        now = time.time() if now is None else now
        context = context or {}
        degraded = False
        try:
            who = self._who(plan, user_id, anonymous_id) if user_id or anonymous_id else _Who("", "", "", None, {}, {})
        except Exception as exc:  # storage away: the default, for nobody in particular (docs/deploy.md)
            if not is_unavailable(exc):
                raise
            degraded, who = True, _Who("", "", "", None, {}, {})
            self.log.not_logged()
        consent = effective(who.row.consent if who.row is not None else {}, self.settings.default_consent)
        decision_id = new_decision_id()
        ask = _Ask(snap, spec, who, context, now, user_id, anonymous_id, decision_id, consent["personalization"])
        out = None
        if consent["personalization"] and not degraded:
            out = self._rules(ask, plan)
        if out is None:
            why = "no rule matched" if consent["personalization"] else "no personalization consent"
            why = "storage unavailable" if degraded else why
            out = self._act(ask, spec.default, "default", f"default ({why})", None)
            if out is None:  # a recommender default with nothing to recommend: an empty list
                out = self._empty_list(ask, spec.default)
        why = out.detail.get("why", out.reason)
        reason: DecisionReason = {"kind": out.reason, "detail": why}
        if out.failed is not None and out.failed.public is not None:
            out.detail["template_error"] = out.failed.error
            failure = out.failed.public
            reason = {"kind": out.reason, "detail": f"{why}; {failure}", "template_error": failure}
        if who.profile_id and (consent["analytics"] or consent["personalization"]):
            experiment = out.experiment
            row = DecisionRow(
                decision_id,
                who.profile_id,
                slot,
                out.variant,
                out.reason,
                now,
                experiment and experiment["id"],
                out.propensity,
                out.detail,
            )
            exposure = None
            if experiment is not None and self._first_exposure_in_session(who.profile_id, experiment, now):
                exposure = self._exposure(row, experiment, consent["personalization"], raw_context)
            if experiment is not None and not experiment["sticky"]:  # a first exposure: sticky before it is stored
                bucket_version = int(out.detail.get("bucket_version", 0))
                self.pending.add(who.keys, experiment["id"], experiment["variant"], bucket_version, decision_id)
            self.log.add_decision(PendingDecision(row, who.identity_key, who.identity_kind, exposure))
        answer: Decision = {
            "decision_id": decision_id,
            "slot": slot,
            "variant": out.variant,
            "block": out.block,
            "html": out.html,
            "reason": reason,
            "experiment": out.experiment,
            "propensity": out.propensity,
        }
        if degraded:
            answer["degraded"] = "storage"
        return answer

    def _rules(self, ask: _Ask, plan: Plan) -> _Shown | None:
        view = None
        events = None
        who = ask.who
        for i, rule in enumerate(ask.spec.rules):
            if rule.min_events:
                if events is None:
                    events = int((who.row.state if who.row is not None else {}).get("events_total", 0))
                if events < rule.min_events:
                    continue
            if rule.when is not None:
                if view is None:
                    view = self._view(plan, who, ask.context, ask.now)
                if not rule.when.holds(view):
                    continue
            label = f"rule {i}" + (f" '{rule.name}'" if rule.name else "")
            cond = rule.when.describe() if rule.when is not None else "always"
            out = self._act(ask, rule.then, None, f"{label}: {cond}", i)
            if out is not None:
                return out
        return None

    def _view(self, plan: Plan, who: _Who, context: dict[str, Any], now: float) -> Any:
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

    def _act(self, ask: _Ask, action: AnyAction, kind: str | None, why: str, rule: int | None) -> _Shown | None:
        """What ``action`` shows, or None to fall through."""
        detail: dict[str, Any] = {"rule": rule, "why": why}
        if isinstance(action, ShowVariant):
            return self._variant(ask, action.variant, kind or "rule", detail, 1.0, None)
        if isinstance(action, RunExperiment):
            return self._experiment(ask, action, why, detail)
        if isinstance(action, RunBandit):
            bandit = self.bandits.get(ask.spec, rule if rule is not None else -1, action)
            x = context_features(ask.context, ask.now) if bandit.contextual else None
            choice = bandit.choose(x)
            detail.update(
                why=f"{why} -> bandit {action.policy} arm '{choice.arm}' (p={choice.propensity:.3f})",
                arms=bandit.arms,
                probabilities=[round(p, 6) for p in choice.probabilities],
            )
            if x is not None:
                detail["x"] = x
            return self._variant(ask, choice.arm, "bandit", detail, choice.propensity, None)
        if isinstance(action, CompareRecommenders):
            return self._compare(ask, action, why, detail)
        return self._recommended(ask, action, detail)

    def _assign(
        self, ask: _Ask, key: str, variants: Mapping[str, object], why: str, detail: dict[str, Any]
    ) -> tuple[ExperimentExposure, float] | None:
        """The user's variant of experiment ``key`` (None: not enrolled, or a variant not among ``variants``),
        with its planned weight; ``detail`` gets the assignment."""
        exp = ask.snap.experiments.get(key)
        if exp is None:
            return None
        user_id, anonymous_id = ask.user_id, ask.anonymous_id
        if exp.hash_attribute == "user_id":
            unit = user_id
        elif exp.hash_attribute == "anonymous_id":
            unit = anonymous_id or user_id
        else:
            unit = user_id or anonymous_id
        a = assign(exp, unit, self._prior(ask.who, exp.key, exp.bucket_version, unit or ""))
        if a.variant is None or a.variant not in variants:
            return None
        detail.update(
            why=f"{why} -> experiment '{exp.key}' variant '{a.variant}' ({a.reason})",
            bucket_version=exp.bucket_version,
            assignment=a.reason,
            bucket=a.bucket,
        )
        experiment: ExperimentExposure = {
            "id": exp.key,
            "variant": a.variant,
            "variation_index": a.variation_id,
            "sticky": a.reason == "sticky",
        }
        return experiment, exp.planned_weights()[a.variation_id]

    def _experiment(self, ask: _Ask, action: RunExperiment, why: str, detail: dict[str, Any]) -> _Shown | None:
        assigned = self._assign(ask, action.experiment, ask.spec.variants, why, detail)
        if assigned is None:
            return None
        experiment, propensity = assigned
        return self._variant(ask, experiment["variant"], "experiment", detail, propensity, experiment)

    def _compare(self, ask: _Ask, action: CompareRecommenders, why: str, detail: dict[str, Any]) -> _Shown | None:
        """A recommender experiment: the assigned variant's model version fills the list (falls through when
        the user is not enrolled or the version has nothing to recommend)."""
        assigned = self._assign(ask, action.experiment, action.versions, why, detail)
        if assigned is None:
            return None
        experiment, propensity = assigned
        ref = action.versions[experiment["variant"]]
        detail.update(model=ref.model, model_ref=ref.version)
        shown = self._recommended(ask, action, detail, (ref.model, ref.version))
        if shown is None:
            return None
        return shown._replace(
            variant=experiment["variant"], reason="experiment", propensity=propensity, experiment=experiment
        )

    def _prior(self, who: _Who, key: str, bucket_version: int, unit: str) -> StickyRecord | None:
        """The unit's first exposure to the experiment: the stored one, else one not written yet (``sticky.py``)."""
        seen = who.exposures.get(key)
        if seen is not None and seen.variant is not None:
            version = int((seen.detail or {}).get("bucket_version", 0))
            if version >= bucket_version:
                return StickyRecord(experiment_key=key, unit_id=unit, variant=seen.variant, bucket_version=version)
        pending = self.pending.get(who.keys, key)
        if pending is not None:
            return StickyRecord(
                experiment_key=key, unit_id=unit, variant=pending.variant, bucket_version=pending.bucket_version
            )
        return None

    def _variant(
        self,
        ask: _Ask,
        variant: str,
        reason: str,
        detail: dict[str, Any],
        propensity: float,
        experiment: ExperimentExposure | None,
    ) -> _Shown | None:
        snap, spec = ask.snap, ask.spec
        block_id = spec.variants.get(variant)
        found = snap.blocks.get(block_id) if block_id else None
        if found is None:
            log.error("slot %r variant %r: block %r is missing", spec.id, variant, block_id)
            return None
        block, version = found
        detail.update(block=block.id, block_version=version)
        rendered = self.renderer.variant(block, version, ask.decision_id, spec.id, variant, self._user(ask))
        shown: ShownBlock = {"type": block.type, "content": block.content}
        failed = rendered if rendered.error is not None else None
        return _Shown(variant, shown, rendered.html, reason, detail, propensity, experiment, failed)

    def _user(self, ask: _Ask) -> Callable[[], dict[str, Any]]:
        """What a template may see of the user (``html.template_user``), built when a template asks."""
        who = ask.who
        return lambda: template_user(who.profile_id, who.row, who.segments, ask.personalize, self._hidden_traits)

    # ---------------------------------------------------------------- recommender
    def _item_rows(self, ids: list[str]) -> dict[str, ItemRow | None]:
        """Catalogue rows (None: unknown item), cached ``item_cache_s``."""
        out: dict[str, ItemRow | None] = {}
        missing = []
        for i in ids:
            hit = self._items.get(i)
            if hit is not None:
                out[i] = hit[0]
            else:
                missing.append(i)
        if missing:
            try:
                with self.store.transaction(write=False) as tx:
                    rows = tx.get_items(missing)
            except Exception as exc:  # storage away: the list without titles, images and prices
                if not is_unavailable(exc):
                    raise
                return {i: out.get(i) for i in ids}
            for i in missing:
                out[i] = rows.get(i)
                self._items.put(i, (rows.get(i),))
        return out

    def _recommended(
        self, ask: _Ask, action: Recommend, detail: dict[str, Any], version: tuple[str, str] | None = None
    ) -> _Shown | None:
        who, slot = ask.who, ask.spec.id
        raw_id = ask.user_id or ask.anonymous_id or ""
        try:  # from the profile this decision is made for (read once, with its consent)
            recs = self.recommend.recommend(
                raw_id,
                action.k,
                action.include_categories,
                action.exclude_categories,
                profile=(who.profile_id, who.row),
                version=version,
            )
        except Exception:  # the recommender failing must not fail the slot: fall through
            log.exception("recommender failed for slot %r", slot)
            return None
        items = recs.get("items") or []
        if not items:
            return None
        out_items = list_entries(items, self._item_rows([it["item_id"] for it in items]))
        block, content = list_block(ask.snap, action)
        content["items"] = out_items
        detail.update(
            items=[it["item_id"] for it in out_items],
            source=recs.get("source"),
            model_version=recs.get("version"),
            why=f"{detail['why']} -> recommender ({recs.get('source')})",
        )
        return self._list(ask, block, content, "recommender", detail)

    def _empty_list(self, ask: _Ask, action: ShowVariant | Recommend) -> _Shown:
        block, content = list_block(ask.snap, action)
        content["items"] = []
        detail: dict[str, Any] = {"rule": None, "why": "default (recommender had nothing to recommend)", "items": []}
        return self._list(ask, block, content, "default", detail)

    def _list(self, ask: _Ask, block: Block, content: dict[str, Any], reason: str, detail: dict[str, Any]) -> _Shown:
        limits = self.config.template_limits()
        rendered = render_block(block, content, ask.decision_id, ask.spec.id, None, self._user(ask), limits)
        failed = rendered if rendered.error is not None else None
        shown: ShownBlock = {"type": "product_list", "content": content}
        return _Shown(None, shown, rendered.html, reason, detail, 1.0, None, failed)

    # ---------------------------------------------------------------- exposure events
    def _exposure(
        self,
        row: DecisionRow,
        experiment: ExperimentExposure,
        personalize: bool,
        raw_context: dict[str, Any] | None,
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
            context=self.clean_context(raw_context) if raw_context else None,
        )

    def forget(self, profile_id: str) -> int:
        """Erasure: drop what this process remembers of the profile's exposures; returns how many entries."""
        gone = [key for key in list(self._exposed) if key[0] == profile_id]
        for key in gone:
            self._exposed.pop(key, None)
        return len(gone)

    def _first_exposure_in_session(self, identity: str, experiment: ExperimentExposure, now: float) -> bool:
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


class _Ask(NamedTuple):
    """One decision being made: what every rule may read."""

    snap: Snapshot
    spec: Slot
    who: _Who
    context: dict[str, Any]
    now: float
    user_id: str | None
    anonymous_id: str | None
    decision_id: str
    personalize: bool
