"""Definitions prepared for evaluation: each stored version compiled once into an :class:`Active`, and the set of
active ones re-read from storage at most every ``reload_interval_s`` (other workers may change them).

>>> from pertinent.segments.definitions import RuleDefinition
>>> a = prepare_rule(RuleDefinition(id="fr", name="French", rule={"type": "consent", "purpose": "analytics"}), 1)
>>> (a.id, a.version, a.kind, a.timed, a.names)
('fr', 1, 'rule', False, {'fr': 'French'})
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pertinent.profiles.features import DAY, ProfileConfig
from pertinent.rules import ALL, Check, TimeBounds, compile_rule, depends_on_time, time_bounds, triggers
from pertinent.runtime.cache import TTLCache
from pertinent.segments.compiled import Facts
from pertinent.segments.context import SegmentContext
from pertinent.segments.definitions import (
    MlDefinition,
    RfmDefinition,
    RuleDefinition,
    SegmentDefinitionAdapter,
    sub_segment_id,
)
from pertinent.segments.documents import DefinitionDocuments
from pertinent.segments.model_store import ModelStore
from pertinent.segments.rfm import SEGMENT_LABELS, SEGMENT_ORDER, rfm_segment
from pertinent.storage.base import DocumentRow, ProfileRow

if TYPE_CHECKING:  # pragma: no cover
    from pertinent.segments.ml import SegmentModel

log = logging.getLogger("pertinent.segments")
RFM_READS = frozenset({"purchase"})  # RFM values change with purchases (and with time: the sweep)
ML_READS = frozenset({"seen"})  # ML features include days since last seen: any event changes them
Names = dict[str, tuple[str, str]]  # membership id -> (definition id, readable name)


@dataclass
class Active:
    """One definition prepared for evaluation: ``members(row, facts)`` gives the membership ids it puts the
    profile in; ``timed`` says whether that can change with time alone.

    >>> a = Active("all", 1, "rule", "Everyone", False, lambda row, facts: ["all"])
    >>> a.members(ProfileRow("p1"), None)
    ['all']
    """

    id: str
    version: int
    kind: str
    name: str
    timed: bool
    members: Callable[[ProfileRow, Facts], list[str]]
    names: dict[str, str] = field(default_factory=dict)  # membership id -> readable name
    check: Check | None = None  # a rule definition's compiled rule (the fast path)
    triggers: frozenset[str] = frozenset({ALL})  # what it reads (``compiled.triggers``)
    bounds: TimeBounds = TimeBounds(always=True)  # when time alone can change it (``compiled.TimeBounds``)


def rfm_values(row: ProfileRow, now: float) -> tuple[float, float, float] | None:
    """(-recency in days, frequency, monetary) of an identified buyer, else None (RFM describes customers).

    >>> rfm_values(ProfileRow("u_1", state={"rfm": {"frequency": 2, "monetary": 50.0, "last_purchase": 0.0}}),
    ...            now=86400.0 * 3)
    (-3.0, 2.0, 50.0)
    """
    rfm = row.state.get("rfm") if isinstance(row.state, dict) else None
    if not row.profile_id.startswith("u_") or not isinstance(rfm, dict):
        return None
    frequency, last = rfm.get("frequency") or 0, rfm.get("last_purchase")
    if frequency <= 0 or last is None:
        return None
    return -(now - float(last)) / DAY, float(frequency), float(rfm.get("monetary") or 0.0)


def rfm_score(value: float, cuts: Sequence[float] | np.ndarray) -> int:
    """1 + how many thresholds lie below the value (equal values get equal scores).

    >>> [rfm_score(v, [10, 20, 30, 40]) for v in (5, 10, 11, 45)]
    [1, 1, 2, 5]
    """
    return int(np.searchsorted(np.asarray(cuts), value, side="left")) + 1


def prepare_rule(d: RuleDefinition, version: int) -> Active:
    check: Check = compile_rule(d.rule)
    ids = [d.id]
    none: list[str] = []
    return Active(
        d.id,
        version,
        "rule",
        d.name,
        depends_on_time(d.rule),
        lambda row, facts: ids if check(facts) else none,
        {d.id: d.name},
        check,
        triggers(d.rule),
        time_bounds(d.rule),
    )


def prepare_rfm(d: RfmDefinition, version: int) -> Active:
    fit = d.fitted
    names = {sub_segment_id(d.id, key): SEGMENT_LABELS[key] for key in SEGMENT_ORDER}
    if fit is None:
        return Active(
            d.id, version, "rfm", d.name, True, lambda row, facts: [], names, triggers=RFM_READS, bounds=TimeBounds()
        )
    recency, frequency = np.asarray(fit.recency), np.asarray(fit.frequency)

    def members(row: ProfileRow, facts: Facts) -> list[str]:
        values = rfm_values(row, facts.moment.now)
        if values is None:
            return []
        return [sub_segment_id(d.id, rfm_segment(rfm_score(values[0], recency), rfm_score(values[1], frequency)))]

    # the R score moves only as the days since the last purchase pass a cut (cuts are of -days: rfm_values)
    bounds = TimeBounds(spans=frozenset(("last_purchase", -float(c) * DAY) for c in fit.recency))
    return Active(d.id, version, "rfm", d.name, True, members, names, triggers=RFM_READS, bounds=bounds)


def prepare_ml(d: MlDefinition, version: int, model: SegmentModel, profile_config: ProfileConfig) -> Active:
    """An ML definition with its fitted ``model`` (loaded by the fit's version, or just fitted for a preview)."""
    from pertinent.profiles.frame import profile_features

    fit = d.fitted
    assert fit is not None
    names = {sub_segment_id(d.id, s.key): s.name for s in fit.segments}

    def members(row: ProfileRow, facts: Facts) -> list[str]:
        if not row.state:
            return []
        label = model.assign(profile_features(row, facts.moment.now, profile_config))
        return [] if label < 0 else [sub_segment_id(d.id, label)]

    return Active(d.id, version, "ml", d.name, True, members, names, triggers=ML_READS)


class ActiveDefinitions:
    """The stored definitions prepared for evaluation (each version compiled once) and the copy of the active
    ones that evaluation reads, at most ``reload_interval_s`` old (:meth:`invalidate` forces a re-read)."""

    def __init__(self, ctx: SegmentContext, documents: DefinitionDocuments, models: ModelStore) -> None:
        self.ctx = ctx
        self.documents = documents
        self.models = models
        self._compiled: dict[tuple[str, int], Active] = {}
        self._invalid: set[tuple[str, int]] = set()
        self._current: TTLCache[tuple[list[Active], Names]] = TTLCache(ttl_s=ctx.config.reload_interval_s, size=1)

    def prepare(self, doc: DocumentRow) -> Active | None:
        """The stored version ``doc`` compiled (None when it cannot be evaluated: logged once)."""
        key = (doc.doc_id, doc.version)
        active = self._compiled.get(key)
        if active is not None:
            return active
        if key in self._invalid:
            return None
        try:
            definition = SegmentDefinitionAdapter.validate_python(doc.body)
        except Exception as e:
            self._invalid.add(key)
            log.warning("stored segment definition %s v%s is not valid; not evaluated: %s", doc.doc_id, doc.version, e)
            return None
        if isinstance(definition, RuleDefinition):
            active = prepare_rule(definition, doc.version)
        elif isinstance(definition, RfmDefinition):
            active = prepare_rfm(definition, doc.version)
        else:
            active = self._prepare_ml(definition, doc.version)
        if active is not None:
            self._compiled = {k: v for k, v in self._compiled.items() if k[0] != doc.doc_id}
            self._compiled[key] = active
        return active

    def _prepare_ml(self, d: MlDefinition, version: int) -> Active | None:
        fit = d.fitted
        if fit is None:
            return Active(d.id, version, "ml", d.name, True, lambda row, facts: [], {})
        try:
            model = self.models.load(d.id, fit.model_version)
        except (OSError, ValueError):
            log.exception("model v%s of ML segments %s cannot be loaded", fit.model_version, d.id)
            return None
        return prepare_ml(d, version, model, self.ctx.profile_config)

    def active(self, docs: Iterable[DocumentRow] | None = None) -> list[Active]:
        """The active definitions, prepared; re-read from storage every ``reload_interval_s`` (other workers
        may change them) unless ``docs`` are given."""
        if docs is None:
            return self._current.get_or_compute("current", lambda: self._load(self.documents.all()))[0]
        loaded = self._load(docs)
        self._current.put("current", loaded)
        return loaded[0]

    def _load(self, docs: Iterable[DocumentRow]) -> tuple[list[Active], Names]:
        out = []
        names: Names = {}
        for doc in docs:
            if doc.body is None:
                continue
            active = self.prepare(doc)
            if active is None:  # not evaluated, but still named (e.g. a document written by hand)
                names[doc.doc_id] = (doc.doc_id, str(doc.body.get("name") or doc.doc_id))
                continue
            names.update({sid: (active.id, name) for sid, name in active.names.items()})
            if doc.body.get("active", True):
                out.append(active)
        return out, names

    def invalidate(self) -> None:
        """Re-read the definitions on the next use (this worker changed them)."""
        self._current.clear()

    def has_active(self) -> bool:
        """Whether any definition is active, from the copy at most ``reload_interval_s`` old: like a changed
        definition, one saved by another worker reaches this worker's real-time evaluation within that time."""
        return bool(self.active())

    def names(self, fresh: bool = False) -> Names:
        """membership id -> (definition id, readable name) for every stored definition; ``fresh`` re-reads the
        definitions now instead of using the copy at most ``reload_interval_s`` old."""
        if fresh:
            self.invalidate()
        return dict(self._current.get_or_compute("current", lambda: self._load(self.documents.all()))[1])
