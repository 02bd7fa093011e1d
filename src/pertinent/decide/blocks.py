"""Content blocks: typed JSON content validated against a JSON Schema per block type, optionally rendered
through a Jinja2 template in a sandbox with autoescaping.

A block is one variant of content (stored as a versioned document of kind ``block``); slots name blocks.

>>> b, errors = parse_block({"id": "hero-spring", "type": "headline",
...     "content": {"title": "Spring <sale>", "subtitle": "Up to 30% off"},
...     "template": "<h1>{{ title }}</h1><p>{{ subtitle }}</p>"})
>>> errors, render(b)
([], '<h1>Spring &lt;sale&gt;</h1><p>Up to 30% off</p>')
>>> parse_block({"id": "x", "type": "image", "content": {"src": "a.png"}})[1]
[{'field': 'content', 'message': "'alt' is a required property"}]
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pertinent.errorpath import field_errors

if TYPE_CHECKING:  # jinja2 is imported when a template is first compiled
    from jinja2 import Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

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
    """One content variant: ``type``, ``content`` (valid for the type's schema) and an optional template.

    The template sees the content's fields as variables (``{{ title }}``) and ``content`` itself; for
    recommender-filled product lists ``items`` is the recommended list.

    >>> Block(id="cta", type="call_to_action", content={"text": "Go", "url": "/go"}).type
    'call_to_action'
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=DOC_ID)
    type: BlockType
    content: dict[str, Any] = Field(default_factory=dict)
    template: str | None = Field(default=None, max_length=MAX_TEMPLATE)
    description: str = Field(default="", max_length=2000)


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(autoescape=True, auto_reload=False, cache_size=0)


@functools.lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """A compiled sandboxed template (cached by source); raises ``jinja2.TemplateSyntaxError``."""
    return _environment().from_string(source)


def template_errors(source: str | None) -> list[dict[str, str]]:
    """Syntax errors of a template, as field errors naming ``template``."""
    if source is None:
        return []
    from jinja2 import TemplateSyntaxError

    try:
        compile_template(source)
    except TemplateSyntaxError as exc:
        return [{"field": "template", "message": f"line {exc.lineno}: {exc.message}"}]
    return []


def parse_block(data: Any) -> tuple[Block | None, list[dict[str, str]]]:
    """Validate a block (model, content schema, template syntax). Never raises on bad input."""
    if not isinstance(data, dict):
        return None, [{"field": "body", "message": "a block must be a JSON object"}]
    try:
        block = Block.model_validate(data)
    except ValidationError as exc:
        return None, field_errors(exc, data)
    errors = content_errors(block.type, block.content) + template_errors(block.template)
    return (None, errors) if errors else (block, [])


@functools.lru_cache(maxsize=4096)
def prints_id_only(source: str) -> bool:
    """Whether a template uses ``decision_id`` only as a bare ``{{ decision_id }}``. Then rendering once with a
    stand-in id and replacing it per decision gives the same HTML as rendering per decision (a decision id is
    hex: escaping leaves it as it is). The decision path caches such renders (a render per
    decision is measured in docs/benchmarks.md); a template that filters, tests or assigns the id renders per decision.

    >>> prints_id_only('<a data-decision="{{ decision_id }}">{{ title }}</a>')
    True
    >>> prints_id_only('{{ decision_id|upper }}'), prints_id_only('{% if decision_id %}x{% endif %}')
    (False, False)
    """
    from jinja2 import nodes

    tree = _environment().parse(source)
    bare = sum(
        1
        for out in tree.find_all(nodes.Output)
        for n in out.nodes
        if isinstance(n, nodes.Name) and n.name == "decision_id" and n.ctx == "load"
    )
    return bare == sum(1 for n in tree.find_all(nodes.Name) if n.name == "decision_id")


def render(block: Block, content: dict[str, Any] | None = None, **extra: Any) -> str | None:
    """The block's HTML: its template rendered with the content (autoescaped, sandboxed); an ``html`` block
    without a template is its own HTML; other blocks without a template give None.

    >>> render(Block(id="h", type="html", content={"html": "<b>hi</b>"}))
    '<b>hi</b>'
    """
    content = block.content if content is None else content
    if block.template is None:
        html = content.get("html") if block.type == "html" else None
        return html if isinstance(html, str) else None  # a string: the html type's schema requires it
    return compile_template(block.template).render({**content, "content": content, **extra})
