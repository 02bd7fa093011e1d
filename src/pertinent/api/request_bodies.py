"""What the routes that read their JSON body themselves accept, for ``/openapi.json`` (``openapi_extra`` of
their decorators; see :func:`pertinent.api.openapi.json_body`).

The routes keep reading bodies with :func:`pertinent.api.body.read_json` and validating them with the services'
own models (field-by-field errors, a batch that keeps its valid messages); the schemas here are those models'.

>>> MESSAGES["track"]["requestBody"]["content"]["application/json"]["schema"]
{'$ref': '#/components/schemas/__body__Track'}
>>> sorted(BATCH["responses"]), BATCH["security"]
(['413', '415'], [{'writeKey': []}])
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from pertinent.api.openapi import WRITE_KEY, json_body, schema_of
from pertinent.decide.blocks import BLOCK_SCHEMAS, Block
from pertinent.decide.experiments import ExperimentDefinition
from pertinent.decide.slots import Slot
from pertinent.events.schema import Alias, Group, Identify, Message, Page, Screen, Track
from pertinent.recommend.items import ItemIn
from pertinent.segments.definitions import ID_PATTERN, MlDefinition, RfmDefinition, RuleDefinition
from pertinent.segments.templates import TEMPLATES

__all__ = ["BATCH", "BLOCK", "EXPERIMENT", "ITEMS", "MESSAGES", "SEGMENT", "SLOT"]

# ------------------------------------------------------------------------------------------------ collection
_MODELS: dict[str, type[BaseModel]] = {
    "track": Track,
    "identify": Identify,
    "page": Page,
    "screen": Screen,
    "group": Group,
    "alias": Alias,
}
MESSAGES = {
    name: json_body(
        schema_of(model),
        f"One Segment `{name}` message (`type` may be left out). Ids may also be numbers (kept as their decimal "
        "form); unknown keys are ignored.",
        extra=WRITE_KEY,
    )
    for name, model in _MODELS.items()
}


class BatchBody(BaseModel):
    """A Segment ``batch`` call: messages of any type, each naming its ``type``. ``sentAt`` corrects the
    messages' clocks (Segment's ``timestamp`` arithmetic); ``context`` is merged under each message's own."""

    model_config = ConfigDict(extra="allow")

    batch: list[Annotated[Message, Field(json_schema_extra={"required": ["type"]})]] = Field(
        description="the messages, each naming its `type` (at most PERTINENT_LIMITS__MAX_BATCH_EVENTS, 2,500 by "
        "default)"
    )
    sentAt: datetime | None = None
    context: dict[str, Any] | None = None
    writeKey: str | None = Field(None, description="the write key, when the Authorization header does not carry it")


BATCH = json_body(
    schema_of(BatchBody),
    "Messages of any type; the valid ones are stored and every refused one is reported with its index.",
    extra=WRITE_KEY,
)


# ------------------------------------------------------------------------------------------------ catalogue
class ItemsBody(BaseModel):
    """Catalogue items to create or replace (by ``item_id``)."""

    items: list[ItemIn] = Field(max_length=10_000)


ITEMS = json_body(schema_of(ItemsBody), "Items to create or replace; the valid ones are stored, the others reported.")


# ------------------------------------------------------------------------------------------------ segments
_TEMPLATE_NAMES: list[JsonValue] = [*sorted(TEMPLATES)]


class SegmentFromTemplate(BaseModel):
    """A rule segment made from a ready-made template (``GET /v1/segments/templates``) and its parameters."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(json_schema_extra={"enum": _TEMPLATE_NAMES})
    params: dict[str, Any] = Field(default_factory=dict, description="the template's parameters by name")
    id: str | None = Field(None, min_length=1, max_length=100, pattern=ID_PATTERN, description="else the template's")
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    active: bool = True


SEGMENT = json_body(
    {
        "anyOf": [
            schema_of(RuleDefinition),
            schema_of(RfmDefinition),
            schema_of(MlDefinition),
            schema_of(SegmentFromTemplate),
        ]
    },
    "A segment definition: a rule (`kind` rule, the default), RFM (`kind` rfm) or ML clusters (`kind` ml), or a "
    "template with parameters. In a PUT the `id` may be left out (it is the path's; a different one is refused). "
    "Fields set by fitting (`version`, `fitted`, `segments`, `size`...) are ignored, so a definition read back "
    "can be sent again.",
)


# ------------------------------------------------------------------------------------------------ decisions
def _block_schema() -> dict[str, Any]:
    """A block, its ``content`` checked against its ``type``'s schema (``GET /v1/block-types``)."""
    by_type = [{"properties": {"type": {"const": name}, "content": content}} for name, content in BLOCK_SCHEMAS.items()]
    return {"allOf": [schema_of(Block)], "oneOf": by_type}


_KEEP_ID = "The `{key}` may be left out: it is the path's (a different one is refused)."
BLOCK = json_body(_block_schema(), "A content block. " + _KEEP_ID.format(key="id"))
SLOT = json_body(schema_of(Slot), "A slot: variants, targeting rules and a default. " + _KEEP_ID.format(key="id"))
EXPERIMENT = json_body(schema_of(ExperimentDefinition), "An experiment definition. " + _KEEP_ID.format(key="key"))
