"""Segment definitions as stored documents (kind ``segment``): rule, RFM and machine-learned segments.

A definition is data: a pydantic model that round-trips to JSON. Rule segments hold a rule (``rules.py``),
written out or made from a template with parameters; RFM and ML definitions hold their configuration plus what
fitting learned (RFM thresholds; the ML model's version, saved under the data directory). RFM and ML definitions
put each profile into one of several segments, whose ids are ``<definition id>:<key>`` (``rfm:champions``,
``clusters:3``); a rule definition is one segment with the definition's id.

>>> d, errors = parse_definition({"template": "frequent_buyers", "params": {"min_orders": 3}})
>>> errors, d.id, d.kind, d.rule.value, d.template.name
([], 'frequent_buyers', 'rule', 2, 'frequent_buyers')
>>> parse_definition({"id": "x", "name": "X", "rule": {"type": "event_count", "event": "buy", "window_days": 9999,
...                   "value": 1}})[1][0].path
'rule.window_days'
>>> SegmentDefinitionAdapter.validate_json(d.model_dump_json()) == d
True
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from pertinent.rules import Rule, RuleError, load_json, rule_errors
from pertinent.segments.pipeline import SegmentationConfig
from pertinent.segments.templates import TEMPLATES, template

KINDS = ("rule", "rfm", "ml")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # no ':' -- it separates a definition from its segments
# Features of a profile available to ML segments (``profiles.frame.profile_features``).
ML_FEATURES = (
    "events_total",
    "sessions",
    "tenure_days",
    "days_since_last_seen",
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "categories",
    "top_category_share",
    "identified",
    "views",
    "carts",
    "pages",
    "reviews",
)
# Fields set by fitting, never by a client: ignored in input so a definition read from the API can be sent back.
MANAGED = (
    "version",
    "created_at",
    "updated_at",
    "fitted",
    "fit_error",
    "fit",
    "segments",
    "size",
    "time_based",
    "backfill",
)


class TemplateRef(BaseModel):
    """Which template (and parameters) a rule segment was made from.

    >>> TemplateRef(name="browsers", params={"min_views": 3}).params
    {'min_views': 3}
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class _Definition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    active: bool = True


class RuleDefinition(_Definition):
    """One segment: the profiles the rule holds for (see ``rules.py``).

    >>> RuleDefinition(id="fr", name="French", rule={"type": "context", "field": "country", "op": "eq",
    ...                                               "value": "FR"}).kind
    'rule'
    """

    kind: Literal["rule"] = "rule"
    rule: Rule
    template: TemplateRef | None = None


class RfmFit(BaseModel):
    """RFM thresholds learned from the customers (value quintiles): score = 1 + cuts below the value.

    >>> RfmFit(recency=[-40, -20, -10, -5], frequency=[1, 2, 3, 5], monetary=[10, 50, 90, 200], customers=50,
    ...        fitted_at=0.0).customers
    50
    """

    model_config = ConfigDict(extra="forbid")

    recency: list[float]  # of -recency_days (more recent = higher)
    frequency: list[float]
    monetary: list[float]
    customers: int
    fitted_at: float


class RfmDefinition(_Definition):
    """The classic RFM segments (champions, loyal customers, at risk, ...) over identified buyers.

    >>> RfmDefinition(id="rfm", name="RFM").kind
    'rfm'
    """

    kind: Literal["rfm"] = "rfm"
    fitted: RfmFit | None = None
    fit_error: str | None = None  # why the last fit in the background failed (too few customers)


class MlSegment(BaseModel):
    """One cluster of an ML definition: its stable key (membership id ``<definition>:<key>``) and description.

    >>> MlSegment(key=2, name="Big spenders", size=10, share=0.1, description="spends 3x the median").key
    2
    """

    model_config = ConfigDict(extra="forbid")

    key: int
    name: str
    size: int
    share: float
    description: str


class MlFit(BaseModel):
    """What the last training produced: the model version on disk and its segments.

    >>> MlFit(model_version=1, k=1, profiles=5, features=["frequency"], selection="k=1 fixed", fitted_at=0.0,
    ...       segments=[]).model_version
    1
    """

    model_config = ConfigDict(extra="forbid")

    model_version: int
    k: int
    profiles: int
    features: list[str]
    selection: str
    stability_ari: float | None = None
    segments: list[MlSegment]
    fitted_at: float


class MlDefinition(_Definition):
    """Clusters of the profiles' features; each profile is assigned to its nearest cluster.

    >>> MlDefinition(id="clusters", name="Clusters", config={"clustering": {"k": 4}}).config.clustering.k
    4
    """

    kind: Literal["ml"] = "ml"
    config: SegmentationConfig = Field(default_factory=SegmentationConfig)
    fitted: MlFit | None = None
    fit_error: str | None = None  # why the last fit in the background failed (too few profiles, ...)

    @field_validator("config")
    @classmethod
    def _known_features(cls, config: SegmentationConfig) -> SegmentationConfig:
        unknown = [f for f in config.features.features or [] if f not in ML_FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {', '.join(ML_FEATURES)}")
        return config


SegmentDefinition = Annotated[RuleDefinition | RfmDefinition | MlDefinition, Field(discriminator="kind")]
Definition = RuleDefinition | RfmDefinition | MlDefinition
SegmentDefinitionAdapter: TypeAdapter[Definition] = TypeAdapter(SegmentDefinition)
_MODELS: dict[str, type[Definition]] = {"rule": RuleDefinition, "rfm": RfmDefinition, "ml": MlDefinition}


def _template_input(data: dict[str, Any]) -> tuple[dict[str, Any] | None, list[RuleError]]:
    name = data["template"]
    if not isinstance(name, str) or name not in TEMPLATES:
        return None, [RuleError("template", f"unknown template {name!r}; known: {', '.join(sorted(TEMPLATES))}")]
    params = data.get("params", {})
    if not isinstance(params, dict):
        return None, [RuleError("params", "params must be an object of template parameters")]
    known = template_parameters(name)
    unknown = [p for p in params if p not in known]
    if unknown:
        return None, [
            RuleError(f"params.{p}", f"unknown parameter of {name}; known: {', '.join(known)}") for p in unknown
        ]
    try:
        seg = template(name, **params)
    except ValidationError as e:  # a parameter made an invalid rule: point at the parameter when we can
        errors = []
        for err in rule_errors(e, {}):
            field = err.path.rsplit(".", 1)[-1]
            hit = next((p for p in params if p in field or field in p), None)
            errors.append(RuleError(f"params.{hit}" if hit else "params", err.message))
        return None, errors
    except (TypeError, ValueError, OverflowError, ArithmeticError) as e:
        return None, [RuleError("params", f"invalid parameters for {name}: {e}")]
    out = {k: v for k, v in data.items() if k not in ("template", "params")}
    out.setdefault("id", seg.id)
    out.setdefault("name", seg.name)
    out.setdefault("description", seg.description)
    out["kind"] = "rule"
    out["rule"] = seg.rule.model_dump(mode="json")
    out["template"] = {"name": name, "params": params}
    return out, []


def parse_definition(data: Any, segment_id: str | None = None) -> tuple[Definition | None, list[RuleError]]:
    """Validate a definition given as JSON text or parsed JSON; returns ``(definition, [])`` or ``(None,
    errors)`` whose paths point at the bad part (``rule.conditions[1].window_days``, ``params.min_orders``).

    ``kind`` defaults to ``rule``; ``{"template": name, "params": {...}}`` makes a rule segment from a template;
    ``segment_id`` (from a URL) must match the body's id, or fills it in. Never raises on bad input.
    """
    data, errors = load_json(data)
    if errors:
        return None, errors
    if not isinstance(data, dict):
        return None, [RuleError("", "a segment definition must be a JSON object")]
    data = {k: v for k, v in data.items() if k not in MANAGED}
    if segment_id is not None:
        if "id" in data and data["id"] != segment_id:
            return None, [RuleError("id", f"the body's id {data['id']!r} differs from the URL's {segment_id!r}")]
        data["id"] = segment_id
    if data.get("template") is None or isinstance(data.get("template"), dict) and "rule" in data:
        pass  # no template, or the provenance of a rule read back from the API
    elif "template" in data:
        if data.get("kind", "rule") != "rule" or "rule" in data:
            return None, [RuleError("template", "a template makes a rule segment: give either template or rule")]
        data, errors = _template_input(data)
        if errors:
            return None, errors
        assert data is not None
    kind = data.setdefault("kind", "rule")
    if kind not in KINDS:
        return None, [RuleError("kind", f"'kind' must be one of {', '.join(KINDS)}")]
    try:
        return _MODELS[kind].model_validate(data), []
    except ValidationError as e:
        return None, rule_errors(e, data)
    except (RecursionError, TypeError, ValueError) as e:  # defensive: report, never crash
        return None, [RuleError("", f"cannot read segment definition: {e}")]


def template_parameters(name: str) -> dict[str, Any]:
    """A template's parameters and their defaults.

    >>> template_parameters("frequent_buyers")
    {'min_orders': 6, 'window_days': 30, 'event': 'Order Completed'}
    """
    return {p.name: p.default for p in inspect.signature(TEMPLATES[name]).parameters.values()}


class TemplateInfo(BaseModel):
    """A template in the catalogue: its parameters with their defaults and the rule they make by default."""

    model_config = ConfigDict(frozen=True)

    template: str
    name: str
    description: str
    doc: str
    params: dict[str, Any]
    rule: dict[str, Any]  # the rule's JSON (``rules.Rule``)


def templates_catalogue() -> list[TemplateInfo]:
    """Every template: id, name, description, parameters with defaults and the rule with default parameters.

    >>> next(t for t in templates_catalogue() if t.template == "frequent_buyers").params["min_orders"]
    6
    """
    out = []
    for name, make in TEMPLATES.items():
        seg = make()
        out.append(
            TemplateInfo(
                template=name,
                name=seg.name,
                description=seg.description,
                doc=inspect.getdoc(make) or "",
                params=template_parameters(name),
                rule=seg.rule.model_dump(mode="json"),
            )
        )
    return out


def sub_segment_id(definition_id: str, key: Any) -> str:
    """The membership id of one of a definition's segments.

    >>> sub_segment_id("rfm", "champions")
    'rfm:champions'
    """
    return f"{definition_id}:{key}"


def owner_of(segment_id: str) -> str:
    """The definition a membership id belongs to.

    >>> owner_of("clusters:3"), owner_of("vip")
    ('clusters', 'vip')
    """
    return segment_id.split(":", 1)[0]
