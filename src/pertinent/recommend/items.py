"""Catalogue items as the API and the CLI write and read them: :class:`ItemIn` (one item sent, validated field by
field), :class:`Item` (one stored item as answered), validation of many rows at once, and the library
:class:`~pertinent.recommend.catalogue.Catalogue` built from stored rows.

>>> rows, errors = validate_items([{"item_id": "mug", "title": "Red mug"}, {"title": "no id"}])
>>> [r.item_id for r in rows], errors
(['mug'], [{'index': 1, 'field': 'items[1].item_id', 'message': 'Field required'}])
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from typing_extensions import TypedDict

from pertinent.errors import NotFound
from pertinent.privacy.audit import Actor, record
from pertinent.runtime.limits import fields_problem, json_problem
from pertinent.storage.base import ItemRow
from pertinent.storage.protocols import AuditRepo, ItemRepo

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue


class UnknownItem(NotFound):
    """The item is neither in the model nor in the catalogue (404 naming ``item_id``).

    >>> e = UnknownItem("mug"); (e.status, e.message, e.errors)
    (404, "item_id: no item 'mug'", [{'field': 'item_id', 'message': 'unknown item'}])
    """

    def __init__(self, item_id: str) -> None:
        super().__init__([{"field": "item_id", "message": "unknown item"}], f"item_id: no item '{item_id}'")
        self.item_id = item_id


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be epoch seconds or an ISO 8601 date-time")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be epoch seconds or an ISO 8601 date-time") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    raise ValueError("must be epoch seconds or an ISO 8601 date-time")


class ItemIn(BaseModel):
    """One catalogue item as sent to ``POST /v1/items`` (unknown fields are refused, by name).

    >>> ItemIn(item_id=42, title="Mug", available_until="2030-01-01T00:00:00Z").available_until
    1893456000.0
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_id: str = Field(min_length=1, max_length=200)
    title: str = Field(default="", max_length=1000)
    text: str = Field(default="", max_length=20_000)
    categories: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)
    available_from: float | None = None
    available_until: float | None = None

    @field_validator("item_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        if value is None or (isinstance(value, float) and value != value):
            raise ValueError("missing item id")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("available_from", "available_until", mode="before")
    @classmethod
    def _time(cls, value: Any) -> float | None:
        return _epoch(value)

    def row(self, now: float) -> ItemRow:
        if (
            self.available_from is not None
            and self.available_until is not None
            and self.available_until <= self.available_from
        ):
            raise ValueError("available_until: must be after available_from")
        return ItemRow(
            self.item_id,
            self.title,
            self.text,
            self.categories,
            self.tags,
            self.attributes,
            self.available_from,
            self.available_until,
            now,
        )


class ItemProblem(TypedDict):
    """One problem of one invalid item: its position in the list sent, the field at fault and why."""

    index: int
    field: str
    message: str


@dataclass(frozen=True)
class UpsertResult:
    """What a catalogue write did: items received, stored (the valid ones) and the problems of the others."""

    received: int = 0
    stored: int = 0
    errors: list[ItemProblem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "success": not self.errors,
            "received": self.received,
            "stored": self.stored,
            "rejected": self.received - self.stored,
            "errors": self.errors,
        }


def validate_items(
    raws: Sequence[Any], prefix: str = "items", now: float | None = None, offset: int = 0
) -> tuple[list[ItemRow], list[ItemProblem]]:
    """Valid rows, and one error per problem of each invalid row: ``{"index", "field", "message"}``
    (indices count from ``offset``, for callers that validate a long list in chunks)."""
    now = time.time() if now is None else now
    rows: list[ItemRow] = []
    errors: list[ItemProblem] = []
    for i, raw in enumerate(raws, start=offset):
        where = f"{prefix}[{i}]"
        if not isinstance(raw, dict):
            errors.append({"index": i, "field": where, "message": "must be an object"})
            continue
        unstorable = fields_problem(raw, f"{where}.")  # NUL characters, nesting deeper than the stores can hold
        if unstorable is None:  # an infinity passes the check above (orjson writes it as null): refused, not lost
            unstorable = json_problem(raw.get("attributes"), f"{where}.attributes")
        if unstorable is not None:
            errors.append({"index": i, "field": unstorable[0], "message": unstorable[1]})
            continue
        try:
            rows.append(ItemIn.model_validate(raw).row(now))
        except ValidationError as exc:
            for e in exc.errors():
                loc = ".".join(str(p) for p in e.get("loc", ()))
                errors.append(
                    {
                        "index": i,
                        "field": f"{where}.{loc}" if loc else where,
                        "message": e.get("msg", "invalid").removeprefix("Value error, "),
                    }
                )
        except ValueError as exc:
            name, _, msg = str(exc).partition(": ")
            errors.append({"index": i, "field": f"{where}.{name}", "message": msg or str(exc)})
    return rows, errors


class Item(BaseModel):
    """One stored catalogue item, as ``GET /v1/items/{item_id}`` answers it (availability and ``updated_at`` in
    epoch seconds).

    >>> Item.from_row(ItemRow("mug", title="Red mug", updated_at=1.5)).model_dump()["title"]
    'Red mug'
    """

    item_id: str
    title: str
    text: str
    categories: list[str]
    tags: list[str]
    attributes: dict[str, Any]
    available_from: float | None
    available_until: float | None
    updated_at: float

    @classmethod
    def from_row(cls, row: ItemRow) -> Item:
        return cls(
            item_id=row.item_id,
            title=row.title,
            text=row.text,
            categories=row.categories,
            tags=row.tags,
            attributes=row.attributes,
            available_from=row.available_from,
            available_until=row.available_until,
            updated_at=row.updated_at,
        )


def catalogue_from_rows(rows: Iterable[ItemRow]) -> Catalogue:
    """A library :class:`Catalogue` (availability as UTC timestamps) from stored items."""
    import pandas as pd

    from pertinent.recommend.catalogue import Catalogue

    rows = list(rows)
    frame = pd.DataFrame(
        {
            "id": [r.item_id for r in rows],
            "title": [r.title for r in rows],
            "text": [r.text for r in rows],
            "categories": [list(r.categories) for r in rows],
            "tags": [list(r.tags) for r in rows],
            "available_from": pd.to_datetime(
                pd.Series([r.available_from for r in rows], dtype="float64"), unit="s", utc=True
            ),
            "available_until": pd.to_datetime(
                pd.Series([r.available_until for r in rows], dtype="float64"), unit="s", utc=True
            ),
            "listed_at": np.asarray([listed_at(r) for r in rows], dtype=np.float64),
        }
    )
    return Catalogue.from_frame(frame)


def listed_at(row: ItemRow) -> float:
    """When an item came out, in epoch seconds, as the cold-item layer ages it: ``attributes.published_at``
    (epoch seconds or ISO 8601), else ``available_from``, else its last catalogue write.

    >>> listed_at(ItemRow("a", attributes={"published_at": "2030-01-01T00:00:00Z"}, updated_at=5.0))
    1893456000.0
    >>> listed_at(ItemRow("a", attributes={"published_at": "soon"}, available_from=7.0, updated_at=5.0))
    7.0
    """
    published = row.attributes.get("published_at") if isinstance(row.attributes, dict) else None
    try:
        at = _epoch(published)
    except ValueError:
        at = None
    if at is None or at != at:
        at = row.available_from
    return float(at if at is not None else row.updated_at)


AUDIT_BODIES = 100  # items whose bodies (before and after) one audit row keeps; a larger write lists the ids
AUDIT_IDS = 1000


class ItemAuditTx(ItemRepo, AuditRepo, Protocol):
    """What auditing a catalogue write touches."""


def item_body(row: ItemRow) -> dict[str, Any]:
    """An item as the audit log keeps it (everything but its id, which keys it, and the write time)."""
    return {k: v for k, v in asdict(row).items() if k not in ("item_id", "updated_at")}


def audit_upsert(tx: ItemAuditTx, actor: Actor, rows: Sequence[ItemRow]) -> None:
    """Record a catalogue write (``item.upsert``) before it is made: the stored and the new bodies of its first
    ``AUDIT_BODIES`` items (``before`` lacks the new ones), how many items it writes, and their ids when more."""
    if not rows:
        return
    latest = {r.item_id: r for r in rows}  # the last row of an id is the one stored
    ids = list(latest)
    shown = ids[:AUDIT_BODIES]
    stored = tx.get_items(shown)
    detail: dict[str, Any] = {"count": len(ids), "created": sum(1 for i in shown if i not in stored)}
    if len(ids) > AUDIT_BODIES:
        detail.update(ids=ids[:AUDIT_IDS], bodies_of_first=AUDIT_BODIES)
    record(
        tx,
        actor,
        "item.upsert",
        f"item:{ids[0]}" if len(ids) == 1 else None,
        before={i: item_body(stored[i]) for i in shown if i in stored},
        after={i: item_body(latest[i]) for i in shown},
        detail=detail,
    )
