"""What the segment service returns: frozen pydantic models (the API's response models) and, for the rows other
services embed in their own JSON (a profile's segments, the data export), typed dicts.

Models whose keys depend on the definition's kind (:class:`SegmentView`, :class:`SegmentPreview`) hold exactly the
keys they were built with: serialise them with ``exclude_unset=True`` (the routes declare
``response_model_exclude_unset=True``), so a rule definition has no ``fit`` and a stored ``fit_error: null`` stays.

>>> view = SegmentView.model_validate({"id": "fr", "name": "French", "description": "", "active": True,
...     "kind": "rule", "rule": {"type": "consent", "purpose": "analytics"}, "template": None, "version": 1,
...     "created_at": 1.0, "updated_at": 1.0, "size": 3, "time_based": False})
>>> list(view.model_dump(exclude_unset=True))  # doctest: +NORMALIZE_WHITESPACE
['id', 'name', 'description', 'active', 'kind', 'rule', 'template', 'version', 'created_at', 'updated_at',
 'size', 'time_based']
>>> view.with_backfill("done").model_dump(exclude_unset=True)["backfill"]
'done'
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict

from pertinent.segments.definitions import MlFit, RfmFit, TemplateInfo, TemplateRef

FitState = Literal["running", "done", "failed"]
Backfill = Literal["done", "running", "skipped", "after the fit"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class SubSegment(_Result):
    """One segment of an RFM or ML definition (membership id ``<definition>:<key>``)."""

    id: str
    name: str
    size: int


class SegmentView(_Result):
    """A stored definition as the API shows it: the definition's own fields (``definitions.py``; rule and ML
    config as their JSON), its version and times, and its current size; RFM and ML definitions add the state of
    their fit and their segments. A save adds ``backfill``. Fields are in the order they are sent."""

    model_config = ConfigDict(frozen=True, extra="allow")  # a field a newer definition has passes through

    id: str
    name: str
    description: str = ""
    active: bool = True
    kind: Literal["rule", "rfm", "ml"]
    rule: dict[str, Any] | None = None  # rule definitions: the rule's JSON (``rules.Rule``)
    template: TemplateRef | None = None  # rule definitions made from a template
    config: dict[str, Any] | None = None  # ML definitions: ``pipeline.SegmentationConfig`` as JSON
    fitted: RfmFit | MlFit | None = None  # RFM and ML definitions: what the last fit learned
    fit_error: str | None = None  # why the last background fit failed
    version: int
    created_at: float
    updated_at: float
    fit: FitState | None = None
    segments: list[SubSegment] | None = None
    size: int
    time_based: bool | None
    backfill: Backfill | None = None  # after a save: the back-fill over the stored profiles

    def with_backfill(self, backfill: Backfill) -> SegmentView:
        """This view with ``backfill`` set (what a save answers)."""
        out = self.model_copy(update={"backfill": backfill})
        out.model_fields_set.add("backfill")
        return out


class SegmentList(_Result):
    segments: list[SegmentView]


class SegmentTemplates(_Result):
    templates: list[TemplateInfo]


class PreviewSegment(_Result):
    id: str
    name: str
    size: int
    sample: list[str]


class SegmentPreview(_Result):
    """What a definition would hold over the stored profiles, nothing saved: its ``size`` among the ``evaluated``
    profiles and a ``sample`` of members; a rule preview shows the ``rule``, RFM and ML previews each segment and
    what was ``fitted`` (the ML model's version left out: it is not saved)."""

    as_of: float
    rule: dict[str, Any] | None = None
    size: int
    evaluated: int
    time_based: bool
    sample: list[str]
    segments: list[PreviewSegment] | None = None
    fitted: dict[str, Any] | None = None


class SegmentDeleted(_Result):
    id: str
    deleted: bool
    members_removed: int


class SegmentMember(_Result):
    profile_id: str
    entered_at: float


class SegmentMembers(_Result):
    segment_id: str
    members: list[SegmentMember]
    next_cursor: str | None  # give it as ``cursor`` for the next page; None on the last one


class SegmentChange(_Result):
    profile_id: str
    change: Literal["entered", "exited"]
    at: float


class SegmentHistory(_Result):
    segment_id: str
    entries: int
    exits: int
    changes: list[SegmentChange]


class SizePoint(_Result):
    at: float
    size: int


class SegmentSizes(_Result):
    segment_id: str
    current: int
    as_of: float
    sizes: list[SizePoint]


class EvaluatorStats(_Result):
    """Real-time evaluator counters: profiles processed, queued, and the lag from commit to written (s)."""

    processed: int
    pending: int
    lag_p50_s: float | None
    lag_p99_s: float | None


class Totals(TypedDict):
    """What a back-fill, reconcile or sweep did: profiles evaluated, entries and exits written."""

    profiles: int
    entered: int
    exited: int


class ProfileSegment(TypedDict):
    """One of a profile's current segments (embedded in the profile view)."""

    id: str
    name: str
    definition: str
    entered_at: float


class ProfileChange(TypedDict):
    segment_id: str
    change: str
    at: float


class ProfileExport(TypedDict):
    """What segmentation keeps about a profile (embedded in the data export)."""

    current: list[ProfileSegment]
    history: list[ProfileChange]
