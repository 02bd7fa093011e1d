"""What a definition would hold over the stored profiles, without saving anything (``POST /v1/segments/preview``).

RFM and ML definitions are fitted first (the ML model is not saved); members are sampled per segment by reservoir
sampling with a fixed seed, so the same data gives the same sample.
"""

from __future__ import annotations

import random
from typing import Any

from pertinent.rules import Moment
from pertinent.segments.active import Active, prepare_ml, prepare_rfm, prepare_rule
from pertinent.segments.context import SegmentContext
from pertinent.segments.definitions import RfmDefinition, RuleDefinition
from pertinent.segments.documents import DefinitionDocuments
from pertinent.segments.fitting import Fitter
from pertinent.segments.membership import Membership
from pertinent.segments.results import PreviewSegment, SegmentPreview


class Previewer:
    def __init__(
        self, ctx: SegmentContext, documents: DefinitionDocuments, membership: Membership, fitter: Fitter
    ) -> None:
        self.ctx = ctx
        self.documents = documents
        self.membership = membership
        self.fitter = fitter

    def preview(self, data: Any, sample: int | None = None, now: float | None = None) -> SegmentPreview:
        """What a definition would hold over the stored profiles, without saving anything: ``size``,
        ``evaluated`` and a random ``sample`` of member profile ids. RFM and ML definitions are fitted first (the
        ML model is not saved) and also get ``segments`` (id, name, size, sample each) and their ``fitted``
        thresholds or clusters."""
        definition = self.documents.parse(
            {"id": "preview", "name": "preview", **data} if isinstance(data, dict) else data
        )
        now = self.ctx.now(now)
        sample = self.ctx.config.preview_sample if sample is None else sample
        active: Active
        if isinstance(definition, RuleDefinition):
            active = prepare_rule(definition, 0)
        elif isinstance(definition, RfmDefinition):
            definition = self.fitter.fit_rfm(definition, now)
            active = prepare_rfm(definition, 0)
        else:
            definition, model = self.fitter.discover_ml(definition, now)
            active = prepare_ml(definition, 0, model, self.ctx.profile_config)
        moment = Moment(now)
        rng = random.Random(0)
        evaluated = 0
        sizes: dict[str, int] = dict.fromkeys(active.names, 0)
        picked: dict[str, list[str]] = {sid: [] for sid in active.names}
        for row in self.membership.rows():
            evaluated += 1
            for sid in self.membership.memberships(row, [active], moment):  # reservoir sampling per segment
                sizes[sid] = sizes.get(sid, 0) + 1
                chosen = picked.setdefault(sid, [])
                if len(chosen) < sample:
                    chosen.append(row.profile_id)
                elif sample > 0 and (j := rng.randrange(sizes[sid])) < sample:
                    chosen[j] = row.profile_id
        size = sum(sizes.values())
        if isinstance(definition, RuleDefinition):
            return SegmentPreview(
                as_of=now,
                rule=definition.rule.model_dump(mode="json"),
                size=size,
                evaluated=evaluated,
                time_based=active.timed,
                sample=sorted(picked.get(definition.id, [])),
            )
        assert definition.fitted is not None
        everyone = [p for ids in picked.values() for p in ids]
        return SegmentPreview(
            as_of=now,
            size=size,
            evaluated=evaluated,
            time_based=active.timed,
            sample=sorted(rng.sample(everyone, min(sample, len(everyone)))),
            segments=[
                PreviewSegment(id=sid, name=name, size=sizes.get(sid, 0), sample=sorted(picked.get(sid, [])))
                for sid, name in active.names.items()
            ],
            fitted=definition.fitted.model_dump(mode="json", exclude={"model_version"}),
        )
