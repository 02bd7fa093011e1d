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
from typing import TYPE_CHECKING, Any, NamedTuple

from typing_extensions import TypedDict

from pertinent.decide.bandits import Bandits, context_features
from pertinent.decide.blocks import Block, prints_id_only, render
from pertinent.decide.config import DecideConfig
from pertinent.decide.log import DecisionLog, PendingDecision
from pertinent.decide.slots import AnyAction, Recommend, RunBandit, RunExperiment, ShowVariant, Slot
from pertinent.decide.snapshot import Plan, Snapshot
from pertinent.decide.sticky import PendingExposures
from pertinent.decide.targeting import target_view
from pertinent.errors import InvalidInput, NotFound
from pertinent.experiments.assignment import StickyRecord, assign
from pertinent.privacy.consent import effective
from pertinent.runtime.cache import TTLCache
from pertinent.storage.base import DecisionRow, EventRow, IdentityRow, ItemRow, ProfileRow, Store
from pertinent.storage.protocols import ServingReader

if TYPE_CHECKING:
    from pertinent.profiles.service import ProfileService
    from pertinent.recommend.service import RecommendService
    from pertinent.settings import Settings

log = logging.getLogger("pertinent.decide")
_ID_STAND_IN = "pertinent0decision0id0stand0in0"  # never a real id (those are hex): replaced in cached HTML


class ShownBlock(TypedDict):
    """The block a decision shows: its type and content (a product list's items included)."""

    type: str
    content: dict[str, Any]


class DecisionReason(TypedDict):
    """Why: ``kind`` is rule, experiment, bandit, recommender or default; ``detail`` explains it."""

    kind: str
    detail: str


class ExperimentExposure(TypedDict):
    """The experiment a decision enrolled the user in (``sticky``: the variant of an earlier exposure)."""

    id: str
    variant: str
    variation_index: int
    sticky: bool


class Decision(TypedDict):
    """The answer of ``GET /v1/decide``: send ``decision_id`` back with clicks (``properties.decision_id``).
    ``html`` is the block rendered by its template (null without one); ``variant`` is null for a list filled
    by the recommender."""

    decision_id: str
    slot: str
    variant: str | None
    block: ShownBlock
    html: str | None
    reason: DecisionReason
    experiment: ExperimentExposure | None
    propensity: float


class _Shown(NamedTuple):
    """What an action decided (or None from it: fall through to the next rule)."""

    variant: str | None
    block: ShownBlock
    html: str | None
    reason: str
    detail: dict[str, Any]
    propensity: float
    experiment: ExperimentExposure | None


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
        self._exposed: dict[tuple[str, str, str], float] = {}  # (identity, experiment, variant) -> last sent
        self._html: dict[tuple[str, int, str, str], str | None] = {}  # (block, version, slot, variant) -> HTML
        self.pending = PendingExposures()  # first exposures the writer has not stored yet (sticky.py)

    def runs_inline(self, slot: str) -> bool:
        """Whether ``decide(slot)`` may run on the server's event loop: on SQLite its reads take microseconds and
        never wait for the write lock (WAL). A network database or a key rotation (lookups write) run in a thread
        instead, and so does a slot that may call the recommender while it has something to load (a model version
        to check, popularity or the catalogue: ``RecommendService.runs_inline``)."""
        if self.store.backend != "sqlite" or self.pseudo.n_keys != 1:
            return False
        plan = self.snapshot().plans.get(slot)
        return plan is None or not plan.recommends or self.recommend.runs_inline()

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
    ) -> Decision:
        """What ``slot`` shows to this user now (see docs/api.md for the response).

        ``context``: flat request facts (``targeting.request_context``); ``raw_context``: the Segment context
        sent with the exposure event (user agent, locale, timezone, country)."""
        if not user_id and not anonymous_id:
            raise InvalidInput([{"field": "user_id", "message": "give user_id or anonymous_id"}])
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
        ask = _Ask(snap, spec, who, context, now, user_id, anonymous_id, decision_id)
        out = None
        if consent["personalization"]:
            out = self._rules(ask, plan)
        if out is None:
            why = "no rule matched" if consent["personalization"] else "no personalization consent"
            out = self._act(ask, spec.default, "default", f"default ({why})", None)
            if out is None:  # a recommender default with nothing to recommend: an empty list
                out = self._empty_list(snap, spec.default, decision_id, slot)
        if consent["analytics"] or consent["personalization"]:
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
            if experiment is not None and self._first_exposure_in_session(who.identity_key, experiment, now):
                exposure = self._exposure(row, experiment, consent["personalization"], raw_context)
            if experiment is not None and not experiment["sticky"]:  # a first exposure: sticky before it is stored
                bucket_version = int(out.detail.get("bucket_version", 0))
                self.pending.add(who.keys, experiment["id"], experiment["variant"], bucket_version, decision_id)
            self.log.add_decision(PendingDecision(row, who.identity_key, who.identity_kind, exposure))
        return {
            "decision_id": decision_id,
            "slot": slot,
            "variant": out.variant,
            "block": out.block,
            "html": out.html,
            "reason": {"kind": out.reason, "detail": out.detail.get("why", out.reason)},
            "experiment": out.experiment,
            "propensity": out.propensity,
        }

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
        snap, spec = ask.snap, ask.spec
        detail: dict[str, Any] = {"rule": rule, "why": why}
        if isinstance(action, ShowVariant):
            return self._variant(snap, spec, action.variant, kind or "rule", detail, 1.0, None, ask.decision_id)
        if isinstance(action, RunExperiment):
            return self._experiment(ask, action, why, detail)
        if isinstance(action, RunBandit):
            bandit = self.bandits.get(spec, rule if rule is not None else -1, action)
            x = context_features(ask.context, ask.now) if bandit.contextual else None
            choice = bandit.choose(x)
            detail.update(
                why=f"{why} -> bandit {action.policy} arm '{choice.arm}' (p={choice.propensity:.3f})",
                arms=bandit.arms,
                probabilities=[round(p, 6) for p in choice.probabilities],
            )
            if x is not None:
                detail["x"] = x
            return self._variant(snap, spec, choice.arm, "bandit", detail, choice.propensity, None, ask.decision_id)
        return self._recommended(ask, action, detail)

    def _experiment(self, ask: _Ask, action: RunExperiment, why: str, detail: dict[str, Any]) -> _Shown | None:
        exp = ask.snap.experiments.get(action.experiment)
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
        if a.variant is None or a.variant not in ask.spec.variants:
            return None
        weights = exp.planned_weights()
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
        propensity = weights[a.variation_id]
        return self._variant(
            ask.snap, ask.spec, a.variant, "experiment", detail, propensity, experiment, ask.decision_id
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
        snap: Snapshot,
        spec: Slot,
        variant: str,
        reason: str,
        detail: dict[str, Any],
        propensity: float,
        experiment: ExperimentExposure | None,
        decision_id: str,
    ) -> _Shown | None:
        block_id = spec.variants.get(variant)
        found = snap.blocks.get(block_id) if block_id else None
        if found is None:
            log.error("slot %r variant %r: block %r is missing", spec.id, variant, block_id)
            return None
        block, version = found
        detail.update(block=block.id, block_version=version)
        html = self._variant_html(block, version, decision_id, spec.id, variant)
        shown: ShownBlock = {"type": block.type, "content": block.content}
        return _Shown(variant, shown, html, reason, detail, propensity, experiment)

    def _variant_html(self, block: Block, version: int, decision_id: str, slot: str, variant: str) -> str | None:
        """A variant's HTML: rendered once per block version, slot and variant with a stand-in decision id that
        is then replaced, when the template only prints the id (``blocks.prints_id_only``); else per decision."""
        if block.template is None or not prints_id_only(block.template):
            return _render(block, None, decision_id, slot, variant)
        key = (block.id, version, slot, variant)
        if key not in self._html:
            if len(self._html) >= 10_000:
                self._html.clear()
            self._html[key] = _render(block, None, _ID_STAND_IN, slot, variant)
        html = self._html[key]
        return None if html is None else html.replace(_ID_STAND_IN, decision_id)

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
            with self.store.transaction(write=False) as tx:
                rows = tx.get_items(missing)
            for i in missing:
                out[i] = rows.get(i)
                self._items.put(i, (rows.get(i),))
        return out

    def _recommended(self, ask: _Ask, action: Recommend, detail: dict[str, Any]) -> _Shown | None:
        who, slot = ask.who, ask.spec.id
        raw_id = ask.user_id or ask.anonymous_id or ""
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
        block, content = _list_block(ask.snap, action)
        content["items"] = out_items
        detail.update(
            items=[it["item_id"] for it in out_items],
            source=recs.get("source"),
            model_version=recs.get("version"),
            why=f"{detail['why']} -> recommender ({recs.get('source')})",
        )
        html = _render(block, content, ask.decision_id, slot, None)
        return _Shown(None, {"type": "product_list", "content": content}, html, "recommender", detail, 1.0, None)

    @staticmethod
    def _empty_list(snap: Snapshot, action: ShowVariant | Recommend, decision_id: str, slot: str) -> _Shown:
        block, content = _list_block(snap, action)
        content["items"] = []
        html = _render(block, content, decision_id, slot, None)
        detail: dict[str, Any] = {"rule": None, "why": "default (recommender had nothing to recommend)", "items": []}
        return _Shown(None, {"type": "product_list", "content": content}, html, "default", detail, 1.0, None)

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


def _render(
    block: Block, content: dict[str, Any] | None, decision_id: str, slot: str, variant: str | None
) -> str | None:
    try:
        return render(block, content, decision_id=decision_id, slot=slot, variant=variant)
    except Exception:  # a template error must not fail the decision: no HTML, logged
        log.warning("block %r: template failed to render", block.id, exc_info=True)
        return None


def _list_block(snap: Snapshot, action: ShowVariant | Recommend) -> tuple[Block, dict[str, Any]]:
    """The block a product list renders with: the action's ``block`` (content, template) if any, its title."""
    name = action.block if isinstance(action, Recommend) else None
    found = snap.blocks.get(name) if name else None
    base = found[0] if found is not None else None
    content = dict(base.content) if base is not None else {}
    title = action.title if isinstance(action, Recommend) else None
    if title:
        content["title"] = title
    template = (action.template if isinstance(action, Recommend) else None) or (
        base.template if base is not None else None
    )
    block = Block(
        id=base.id if base is not None else "recommended", type="product_list", content=content, template=template
    )
    return block, content
