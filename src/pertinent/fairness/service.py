"""The fairness audit on the stored data: recommendations, decisions and predictive traits across groups.

Units are profiles. Over the last ``window_days`` of decisions:

- **recommendations** (decisions whose reason is ``recommender``): the exposure share of items and categories
  per group, the distance of each group's category mix from everyone else's, and the parity of conversion after
  a recommendation (a conversion event attributed to one of the profile's recommended decisions);
- **decisions** (every slot decision): demographic parity of conversion after a decision, and equal opportunity:
  among the profiles that converted, the share that got a personalised decision (anything but ``default``);
- **predictive traits** (purchase propensity, churn risk): at the latest cutoff whose label window has closed,
  parity of the flag rate (score at or above the model's threshold) and equal opportunity (the flag rate among
  those who then did buy / churn: the true-positive rate).

Groups come from ``groups.py``: device, country, the largest segments and each sensitive trait (settings or the
CLI's ``--sensitive``). A group smaller than ``min_group_size`` is listed but not compared; too little data gives
a section with a ``message``.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

from pertinent.fairness.config import FairnessConfig
from pertinent.fairness.groups import pool, profile_groups
from pertinent.fairness.metrics import (
    AuditSection,
    Exposure,
    FairnessAudit,
    ParityResult,
    parity,
    shares,
    total_variation,
)
from pertinent.predictions.monitor import LabelledScores
from pertinent.predictions.service import PredictionService
from pertinent.settings import Settings
from pertinent.storage.base import DecisionRow, OutcomeRow, Store

DAY = 86_400.0
CHUNK = 500


def _chunks(ids: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


class FairnessService:
    """Runs the audit; ``segment_names`` (set by ``Services.build``) maps membership ids to readable names."""

    def __init__(self, store: Store, settings: Settings, predictions: PredictionService | None = None) -> None:
        self.store = store
        self.settings = settings
        self.config = settings.fairness
        self.predictions = predictions
        self.segment_names: Callable[[], Mapping[str, tuple[str, str]]] = lambda: {}

    def audit(
        self,
        sensitive: Sequence[str] | None = None,
        window_days: float | None = None,
        now: float | None = None,
        include_predictions: bool = True,
    ) -> FairnessAudit:
        """The audit (``sensitive`` adds trait paths to the configured ones)."""
        cfg = self.config
        if sensitive:
            cfg = FairnessConfig.model_validate(
                {**cfg.model_dump(), "sensitive_traits": [*cfg.sensitive_traits, *sensitive]}
            )
        if window_days is not None:
            cfg = FairnessConfig.model_validate({**cfg.model_dump(), "window_days": window_days})
        now = time.time() if now is None else now
        since = now - cfg.window_days * DAY
        decisions, outcomes = self._decisions(since, now)
        conversions = set(self.settings.decide.conversion_events)
        profiles = sorted({d.profile_id for d in decisions})
        sections = []
        predicted: dict[str, LabelledScores] = {}
        if include_predictions and self.predictions is not None and self.predictions.versions():
            panel = self.predictions.panel(now)
            for trait in ("purchase_propensity", "churn_risk"):
                ls = self.predictions.labelled(trait, now, panel)
                if ls is not None:
                    predicted[trait] = ls
                    profiles = sorted(set(profiles) | set(ls.users))
        groups = self._groups(profiles, cfg)
        dims = sorted({d for g in groups.values() for d in g})
        converted = {o.profile_id for rows in outcomes.values() for o in rows if o.kind in conversions}
        sections.append(self._recommendations(decisions, outcomes, conversions, groups, dims, cfg))
        sections.append(self._decisions_section(decisions, converted, groups, dims, cfg))
        for trait, ls in predicted.items():
            sections.append(self._predicted(trait, ls, groups, dims, cfg))
        if include_predictions and not predicted:
            sections.append(
                AuditSection("predictive traits", message="no registered model: run pertinent predict train")
            )
        compared = [p for s in sections for p in s.parity if p.verdict != "too little data"]
        flagged = [p for p in compared if p.verdict == "disparity"]
        possible = [p for p in compared if p.verdict == "possible disparity"]
        if not compared:
            verdict = "too little data to compare any groups"
        elif flagged:
            verdict = f"{len(flagged)} of {len(compared)} comparisons show a disparity: " + "; ".join(
                p.summary for p in flagged[:3]
            )
        elif possible:
            verdict = f"no clear disparity; {len(possible)} of {len(compared)} comparisons need more data"
        else:
            verdict = f"no material disparity in {len(compared)} comparisons"
        message = "" if decisions else f"no decisions in the last {cfg.window_days:g} days"
        return FairnessAudit(now, since, dims, sections, verdict, message)

    # ------------------------------------------------------------------ reads
    def _decisions(self, since: float, until: float) -> tuple[list[DecisionRow], dict[str, list[OutcomeRow]]]:
        with self.store.transaction(write=False) as tx:
            decisions = list(tx.iter_decisions(since=since, until=until))
            outcomes: dict[str, list[OutcomeRow]] = defaultdict(list)
            for ids in _chunks([d.decision_id for d in decisions]):
                for o in tx.outcomes_of(ids):
                    outcomes[o.decision_id].append(o)
        return decisions, outcomes

    def _groups(self, profiles: Sequence[str], cfg: FairnessConfig) -> dict[str, dict[str, str]]:
        names = self.segment_names()
        out: dict[str, dict[str, str]] = {}
        with self.store.transaction(write=False) as tx:
            sizes = tx.count_segment_members()
            largest = sorted(sizes, key=lambda s: -sizes[s])[: cfg.max_segments]
            audited = {s: names.get(s, (s, s))[1] for s in largest}
            for ids in _chunks(list(profiles)):
                rows = tx.get_profiles(ids)
                members = tx.segments_of(ids)
                for pid, row in rows.items():
                    out[pid] = profile_groups(row, cfg.sensitive_traits, audited, members.get(pid, {}))
        return pool(out, cfg.max_groups)

    # ------------------------------------------------------------------ sections
    def _parity(
        self, metric: str, dims: Sequence[str], counts: Mapping[str, Mapping[str, list[int]]], cfg: FairnessConfig
    ) -> list[ParityResult]:
        return [
            parity(
                metric,
                dim,
                {g: (k, n) for g, (k, n) in counts.get(dim, {}).items()},
                cfg.min_group_size,
                cfg.confidence,
                cfg.tolerance,
                cfg.min_ratio,
            )
            for dim in dims
        ]

    @staticmethod
    def _count(
        units: Iterable[str], positive: Callable[[str], bool], groups: Mapping[str, Mapping[str, str]]
    ) -> dict[str, dict[str, list[int]]]:
        counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for pid in units:
            hit = positive(pid)
            for dim, g in groups.get(pid, {}).items():
                counts[dim][g][0] += int(hit)
                counts[dim][g][1] += 1
        return counts

    def _recommendations(
        self,
        decisions: Sequence[DecisionRow],
        outcomes: Mapping[str, list[OutcomeRow]],
        conversions: set[str],
        groups: Mapping[str, Mapping[str, str]],
        dims: Sequence[str],
        cfg: FairnessConfig,
    ) -> AuditSection:
        recs = [d for d in decisions if d.reason == "recommender"]
        if not recs:
            return AuditSection("recommendations", message="no recommender decisions in the window")
        shown: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        n_decisions: Counter[tuple[str, str]] = Counter()
        items_all: set[str] = set()
        for d in recs:
            items = [str(i) for i in (d.detail or {}).get("items", []) if isinstance(i, str | int)]
            items_all.update(items)
            for dim, g in groups.get(d.profile_id, {}).items():
                shown[(dim, g)].update(items)
                n_decisions[(dim, g)] += 1
        with self.store.transaction(write=False) as tx:
            catalogue = tx.get_items(items_all)
        category = {i: (row.categories[0] if row.categories else "uncategorised") for i, row in catalogue.items()}
        exposure = []
        for dim in dims:
            by_group = {g: c for (d_, g), c in shown.items() if d_ == dim}
            cats: dict[str, Counter[str]] = {g: Counter() for g in by_group}
            for g, c in by_group.items():
                for item, n in c.items():
                    cats[g][category.get(item, "unknown")] += n
            for g, c in sorted(by_group.items(), key=lambda kv: -n_decisions[(dim, kv[0])]):
                rest: Counter[str] = Counter()
                for other, oc in cats.items():
                    if other != g:
                        rest.update(oc)
                exposure.append(
                    Exposure(
                        dim,
                        g,
                        n_decisions[(dim, g)],
                        sum(c.values()),
                        shares(c, 5),
                        shares(cats[g], 5),
                        total_variation(cats[g], rest),
                    )
                )
        rec_converted = {
            d.profile_id for d in recs if any(o.kind in conversions for o in outcomes.get(d.decision_id, []))
        }
        units = sorted({d.profile_id for d in recs})
        counts = self._count(units, lambda p: p in rec_converted, groups)
        return AuditSection(
            "recommendations", self._parity("conversion after a recommendation", dims, counts, cfg), exposure
        )

    def _decisions_section(
        self,
        decisions: Sequence[DecisionRow],
        converted: set[str],
        groups: Mapping[str, Mapping[str, str]],
        dims: Sequence[str],
        cfg: FairnessConfig,
    ) -> AuditSection:
        if not decisions:
            return AuditSection("decisions", message="no decisions in the window")
        units = sorted({d.profile_id for d in decisions})
        personalised = {d.profile_id for d in decisions if d.reason != "default"}
        results = self._parity(
            "conversion after a decision", dims, self._count(units, lambda p: p in converted, groups), cfg
        )
        eo = self._count(sorted(converted & set(units)), lambda p: p in personalised, groups)
        results += self._parity("personalised decision among converters (equal opportunity)", dims, eo, cfg)
        return AuditSection("decisions", results)

    def _predicted(
        self,
        trait: str,
        ls: LabelledScores,
        groups: Mapping[str, Mapping[str, str]],
        dims: Sequence[str],
        cfg: FairnessConfig,
    ) -> AuditSection:
        if not ls.users:
            return AuditSection(f"predicted.{trait}", message=ls.message or "no profile to score")
        flag = dict(zip(ls.users, ls.flags.tolist(), strict=True))
        label = dict(zip(ls.users, ls.labels.tolist(), strict=True))
        known = [u for u in ls.users if u in groups]
        results = self._parity(
            f"flagged by predicted.{trait}", dims, self._count(known, lambda p: flag[p], groups), cfg
        )
        positives = [u for u in known if label[u] == 1]
        eo = self._count(positives, lambda p: flag[p], groups)
        results += self._parity(f"predicted.{trait} true-positive rate (equal opportunity)", dims, eo, cfg)
        return AuditSection(f"predicted.{trait}", results)
