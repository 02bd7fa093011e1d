"""Segment HTTP API message shapes (track, identify, page, screen, group, alias) and their validation.

Validation never raises on user input: :func:`validate_message` returns either a message or a list
of errors that name the field and the problem.

>>> msg, errors = validate_message({"type": "track", "event": "Signed Up", "userId": "u1"})
>>> msg.event, errors
('Signed Up', [])
>>> _, errors = validate_message({"type": "track", "userId": "u1"})
>>> errors[0]["field"], errors[0]["message"]
('event', 'Field required')
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from pertinent.runtime.limits import fields_problem

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def _id_to_str(value: Any) -> Any:
    # Segment libraries send ids as strings; numbers are accepted and kept as their decimal form.
    if isinstance(value, bool):
        raise ValueError("must be a string or number, not a boolean")
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):  # ids are kept verbatim; an empty or whitespace-only one means absent, as the
        return value if value.strip() else None  # API's id parameters refuse it (api/ids.py): it names nobody
    return value


def _required_id(value: Any) -> Any:
    """A previousId or groupId: required, so a blank one is refused by name rather than taken as absent."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return _id_to_str(value)


def _utc(value: datetime) -> datetime:
    # A time without an offset is UTC (Segment's libraries always send one). Every time must exist in UTC:
    # "9999-12-31T23:59:59-23:59" parses, but is in year 10000 there, which no reader can show.
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the years 1 to 9999 once converted to UTC") from None


# Object fields that a null means absent for: Segment's libraries send ``"properties": null`` and ``"context": null``.
NULLABLE_OBJECTS = ("context", "integrations", "properties", "traits")

Time = Annotated[datetime, AfterValidator(_utc)]
"""A date-time as sent, converted to UTC; refused when UTC cannot represent it."""

Id = Annotated[Annotated[str, StringConstraints(max_length=256)] | None, BeforeValidator(_id_to_str)]
Json = dict[str, Any]


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=False)

    messageId: str | None = Field(default=None, max_length=200, min_length=1)
    userId: Id = None
    anonymousId: Id = None
    timestamp: Time | None = None
    originalTimestamp: Time | None = None
    sentAt: Time | None = None
    receivedAt: Time | None = None
    context: Json = Field(default_factory=dict)
    integrations: Json = Field(default_factory=dict)
    writeKey: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """``"properties": null`` (and context, traits, integrations) is what some libraries send for none.

        >>> Track.model_validate({"event": "E", "userId": "u", "properties": None, "context": None}).properties
        {}
        """
        if isinstance(data, dict) and any(data.get(k, ...) is None for k in NULLABLE_OBJECTS):
            return {k: v for k, v in data.items() if not (v is None and k in NULLABLE_OBJECTS)}
        return data

    @model_validator(mode="after")
    def _needs_identity(self) -> _Base:
        if not self.userId and not self.anonymousId:
            raise ValueError("userId: userId or anonymousId is required")
        return self


class Track(_Base):
    type: Literal["track"] = "track"
    event: str = Field(min_length=1, max_length=200)
    properties: Json = Field(default_factory=dict)


def _no_engine_namespace(traits: Any) -> Any:
    # ``predicted`` holds the engine's model scores (predictions/traits.py): a site must not forge them
    if isinstance(traits, dict) and "predicted" in traits:
        raise ValueError("traits.predicted is reserved for the engine's predictive traits; use another name")
    return traits


class Identify(_Base):
    type: Literal["identify"] = "identify"
    traits: Annotated[Json, AfterValidator(_no_engine_namespace)] = Field(default_factory=dict)


class _View(_Base):
    """What a page and a screen call share."""

    name: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    properties: Json = Field(default_factory=dict)


class Page(_View):
    type: Literal["page"] = "page"


class Screen(_View):
    type: Literal["screen"] = "screen"


class Group(_Base):
    type: Literal["group"] = "group"
    groupId: Annotated[str, BeforeValidator(_required_id), Field(min_length=1, max_length=256)]
    traits: Json = Field(default_factory=dict)


class Alias(_Base):
    type: Literal["alias"] = "alias"
    previousId: Annotated[str, BeforeValidator(_required_id), Field(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def _needs_user(self) -> Alias:
        if not self.userId:
            raise ValueError("userId: required for alias")
        return self


Message = Annotated[Track | Identify | Page | Screen | Group | Alias, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Message)
_BY_TYPE = {m.model_fields["type"].default: m for m in (Track, Identify, Page, Screen, Group, Alias)}


def _field_name(loc: tuple[Any, ...]) -> str:
    # Drop the discriminator tag pydantic puts first ("track", ...); join the rest as a path.
    parts = [str(p) for p in loc if str(p) not in _BY_TYPE]
    return ".".join(parts)


def split_field(field: str, msg: str) -> tuple[str, str]:
    """Model-level validators name their field as ``"field: problem"``; move it into the field."""
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    head, sep, rest = msg.partition(": ")
    if sep and head.isidentifier():
        field = head if field in ("", "body") else f"{field}.{head}"
        msg = rest
    return field, msg


def validation_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        field, msg = split_field(_field_name(tuple(err.get("loc", ()))), err.get("msg", "invalid"))
        out.append({"field": f"{prefix}{field}" if field else (prefix.rstrip(".") or "body"), "message": msg})
    return out


def storable_problems(raw: dict[str, Any], prefix: str = "") -> list[dict[str, str]]:
    """The first NUL character or too deep nesting anywhere in a raw message (see :mod:`pertinent.runtime.limits`),
    named by its path: such a message is refused whole, before any of it reaches a store.

    >>> storable_problems({"event": "E\\x00", "userId": "u"}, "batch[2].")
    [{'field': 'batch[2].event', 'message': 'contains a NUL character (\\\\u0000), which cannot be stored'}]
    """
    found = fields_problem(raw, prefix)
    return [] if found is None else [{"field": found[0], "message": found[1]}]


def validate_message(raw: Any, type_: str | None = None, prefix: str = "") -> tuple[Any, list[dict[str, str]]]:
    """Validate one raw message. ``type_`` is the type implied by the endpoint (e.g. /v1/track)."""
    if not isinstance(raw, dict):
        return None, [{"field": prefix.rstrip(".") or "body", "message": "must be a JSON object"}]
    problems = storable_problems(raw, prefix)
    if problems:
        return None, problems
    if type_ is not None:
        given = raw.get("type")
        if given is not None and given != type_:
            return None, [{"field": f"{prefix}type", "message": f"must be '{type_}' on this endpoint"}]
        model = _BY_TYPE[type_]
        try:
            return model.model_validate(raw), []
        except ValidationError as exc:
            return None, validation_errors(exc, prefix)
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _BY_TYPE:
        allowed = ", ".join(MESSAGE_TYPES)
        shown = repr(kind)[:60]
        problem = "is required" if kind is None else f"unknown type {shown}; expected one of {allowed}"
        return None, [{"field": f"{prefix}type", "message": problem}]
    try:
        return _ADAPTER.validate_python(raw), []
    except ValidationError as exc:
        return None, validation_errors(exc, prefix)
