"""Content blocks: typed JSON content validated against a JSON Schema per block type, optionally rendered
through a Jinja2 template in a sandbox with autoescaping and cost limits (``templates.py``).

A block is one variant of content (stored as a versioned document of kind ``block``); slots name blocks.
Saving a block renders its template against sample data (a new visitor and a known user, ``SAMPLE_USERS``):
a template that fails there, or goes past the render limits, is refused with the error's line.

>>> b, errors = parse_block({"id": "hero-spring", "type": "headline",
...     "content": {"title": "Spring <sale>", "subtitle": "Up to 30% off"},
...     "template": "<h1>{{ title }}</h1><p>{{ subtitle }}</p>"})
>>> errors, render(b)
([], '<h1>Spring &lt;sale&gt;</h1><p>Up to 30% off</p>')
>>> parse_block({"id": "x", "type": "image", "content": {"src": "a.png"}})[1]
[{'field': 'content', 'message': "'alt' is a required property"}]
>>> parse_block({"id": "x", "type": "text", "content": {"text": "a"}, "template": "{{ 9 ** 999999 }}"})[1]
[{'field': 'template', 'message': 'line 1: 9 ** 999999 would be wider than 4096 bits'}]
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pertinent.decide.templates import Limits, render_template, template_info, template_problems
from pertinent.errorpath import field_errors

DOC_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
BlockType = Literal["headline", "image", "call_to_action", "product_list", "html", "text"]
MAX_TEMPLATE = 20_000

_URL = {"type": "string", "maxLength": 2000}
_PRODUCT = {
    "type": "object",
    "required": ["item_id"],
    "properties": {
        "item_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "title": {"type": "string", "maxLength": 1000},
        "url": _URL,
        "image": _URL,
        "price": {"type": "number"},
        "currency": {"type": "string", "maxLength": 8},
        "score": {"type": "number"},
        "rank": {"type": "integer"},
        "reason": {"type": ["string", "null"], "maxLength": 1000},
        "rule": {"type": ["string", "null"]},
    },
}

#: One JSON Schema (draft 2020-12) per block type. ``additionalProperties`` is allowed: sites may carry
#: extra fields (tracking labels, colours) through to their templates.
BLOCK_SCHEMAS: dict[str, dict[str, Any]] = {
    "headline": {
        "type": "object",
        "required": ["title"],
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 300},
            "subtitle": {"type": "string", "maxLength": 1000},
            "url": _URL,
        },
    },
    "image": {
        "type": "object",
        "required": ["src", "alt"],
        "properties": {
            "src": {**_URL, "minLength": 1},
            "alt": {"type": "string", "maxLength": 500},
            "width": {"type": "integer", "minimum": 1, "maximum": 10000},
            "height": {"type": "integer", "minimum": 1, "maximum": 10000},
            "link": _URL,
        },
    },
    "call_to_action": {
        "type": "object",
        "required": ["text", "url"],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 200},
            "url": {**_URL, "minLength": 1},
            "style": {"enum": ["primary", "secondary", "link"]},
        },
    },
    "product_list": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 300},
            "items": {"type": "array", "maxItems": 100, "items": _PRODUCT},
        },
    },
    "html": {
        "type": "object",
        "required": ["html"],
        "properties": {"html": {"type": "string", "maxLength": 100_000}},
    },
    "text": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "maxLength": 20_000}},
    },
}


@functools.cache
def _validator(block_type: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = BLOCK_SCHEMAS[block_type]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def content_errors(block_type: str, content: Any, prefix: str = "content") -> list[dict[str, str]]:
    """Every JSON Schema violation of ``content`` as ``{"field", "message"}`` (field = JSON path).

    >>> content_errors("call_to_action", {"text": "Buy", "url": 3})
    [{'field': 'content.url', 'message': "3 is not of type 'string'"}]
    """
    out = []
    for err in sorted(_validator(block_type).iter_errors(content), key=lambda e: list(map(str, e.absolute_path))):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        out.append({"field": prefix + path, "message": err.message[:300]})
    return out


class Block(BaseModel):
    """One content variant: ``type``, ``content`` (valid for the type's schema), an optional template and the
    ``fallback`` HTML shown when the template fails at render (docs/api.md: what a template sees).

    The template sees the content's fields as variables (``{{ title }}``) and ``content`` itself; for
    recommender-filled product lists ``items`` is the recommended list; ``decision_id``, ``slot``,
    ``variant`` and ``user`` (the profile the decision is for: ``template_user``).

    >>> Block(id="cta", type="call_to_action", content={"text": "Go", "url": "/go"}).type
    'call_to_action'
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=DOC_ID)
    type: BlockType
    content: dict[str, Any] = Field(default_factory=dict)
    template: str | None = Field(default=None, max_length=MAX_TEMPLATE)
    fallback: str | None = Field(default=None, max_length=100_000)
    description: str = Field(default="", max_length=2000)


#: The users a template is tried with when it is saved: a new visitor (nothing known) and a known user.
SAMPLE_USERS: tuple[dict[str, Any], ...] = (
    {"known": False, "traits": {}, "segments": [], "recent_items": []},
    {
        "known": True,
        "traits": {"plan": "sample"},
        "segments": ["sample-segment"],
        "recent_items": [{"item_id": "sample-1", "event": "Product Viewed", "at": 0.0}],
    },
)
SAMPLE_ITEMS = [
    {
        "item_id": f"sample-{i}",
        "title": f"Sample product {i}",
        "url": f"/products/sample-{i}",
        "image": f"/images/sample-{i}.png",
        "price": 9.5 + i,
        "currency": "EUR",
        "score": 1.0 / i,
        "rank": i,
        "reason": "sample",
    }
    for i in (1, 2, 3)
]


def template_variables(
    content: dict[str, Any], decision_id: str, slot: str, variant: str | None, user: dict[str, Any] | None
) -> dict[str, Any]:
    """What a template sees: the content's fields, ``content``, the decision's id, slot and variant, ``user``.

    >>> sorted(template_variables({"title": "t"}, "d1", "home", "a", None))
    ['content', 'decision_id', 'slot', 'title', 'user', 'variant']
    """
    return {
        **content,
        "content": content,
        "decision_id": decision_id,
        "slot": slot,
        "variant": variant,
        "user": user if user is not None else SAMPLE_USERS[0],
    }


def sample_variables(block_type: str, content: dict[str, Any]) -> list[dict[str, Any]]:
    """The variables a template is tried with at save: its content (a product list without items gets
    three sample items, as the recommender would fill it) with each of ``SAMPLE_USERS``."""
    if block_type == "product_list" and not content.get("items"):
        content = {**content, "items": SAMPLE_ITEMS}
    return [template_variables(content, "0" * 32, "sample.slot", "sample", user) for user in SAMPLE_USERS]


def template_errors(
    source: str | None,
    block_type: str = "product_list",
    content: dict[str, Any] | None = None,
    limits: Limits | None = None,
    field: str = "template",
) -> list[dict[str, str]]:
    """Errors of a template as field errors naming ``field``: its syntax, then a render of the samples
    (``sample_variables``) within the render ``limits``.

    >>> template_errors("{{ title }}\\n{{ user.recent_items[0].item_id }}")
    [{'field': 'template', 'message': 'line 2: list object has no element 0'}]
    """
    return template_problems(source, sample_variables(block_type, content or {}), field, limits or Limits())


def parse_block(data: Any, limits: Limits | None = None) -> tuple[Block | None, list[dict[str, str]]]:
    """Validate a block (model, content schema, its template against the samples within ``limits``). Never
    raises on bad input."""
    if not isinstance(data, dict):
        return None, [{"field": "body", "message": "a block must be a JSON object"}]
    try:
        block = Block.model_validate(data)
    except ValidationError as exc:
        return None, field_errors(exc, data)
    errors = content_errors(block.type, block.content)
    errors = errors or template_errors(block.template, block.type, block.content, limits)
    return (None, errors) if errors else (block, [])


def prints_id_only(source: str) -> bool:
    """Whether a template renders the same for every decision of a variant but for a bare
    ``{{ decision_id }}``: it prints the id only as it is and reads nothing of the ``user``. Then rendering once
    with a stand-in id and replacing it per decision gives the same HTML as rendering per decision (a decision
    id is hex: escaping leaves it as it is). The decision path caches such renders (a render per decision is
    measured in docs/benchmarks.md); a template that filters, tests or assigns the id, or reads the user,
    renders per decision.

    >>> prints_id_only('<a data-decision="{{ decision_id }}">{{ title }}</a>')
    True
    >>> prints_id_only('{{ decision_id|upper }}'), prints_id_only('{% if decision_id %}x{% endif %}')
    (False, False)
    >>> prints_id_only('{{ decision_id }} {{ user.traits.plan }}')
    False
    """
    info = template_info(source)
    return info.prints_id_only and not info.uses_user


def render(
    block: Block, content: dict[str, Any] | None = None, limits: Limits | None = None, **extra: Any
) -> str | None:
    """The block's HTML: its template rendered with the content (autoescaped, sandboxed, within ``limits``);
    an ``html`` block without a template is its own HTML; other blocks without a template give None. A
    template error is raised (``describe_error`` says it).

    >>> render(Block(id="h", type="html", content={"html": "<b>hi</b>"}))
    '<b>hi</b>'
    """
    content = block.content if content is None else content
    if block.template is None:
        html = content.get("html") if block.type == "html" else None
        return html if isinstance(html, str) else None  # a string: the html type's schema requires it
    return render_template(block.template, {**content, "content": content, **extra}, limits or Limits())
