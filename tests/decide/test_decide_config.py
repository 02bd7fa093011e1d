"""Blocks, slots and targeting conditions as data: validation with paths, rendering in a sandbox, JSON round
trips; parsers never raise (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.decide.bandits import SlotBandit, context_features
from pertinent.decide.blocks import BLOCK_SCHEMAS, Block, content_errors, parse_block, render
from pertinent.decide.slots import RunBandit, Slot, parse_slot
from pertinent.decide.targeting import parse_condition, request_context, target_view

VALID = {
    "headline": {"title": "Hi", "subtitle": "there"},
    "image": {"src": "/a.png", "alt": "a cat", "width": 10},
    "call_to_action": {"text": "Buy", "url": "/buy", "style": "primary"},
    "product_list": {"title": "Picks", "items": [{"item_id": "p1", "price": 9.5}]},
    "html": {"html": "<b>x</b>"},
    "text": {"text": "plain"},
}


@pytest.mark.parametrize("block_type", sorted(BLOCK_SCHEMAS))
def test_each_block_type_has_a_schema_that_accepts_valid_and_names_bad_content(block_type):
    assert content_errors(block_type, VALID[block_type]) == []
    errors = content_errors(block_type, {"title": 5, "items": "no", "src": 3, "text": 1, "html": 2, "url": 4})
    assert errors and all(e["field"].startswith("content") for e in errors)
    block, errs = parse_block({"id": "b", "type": block_type, "content": VALID[block_type]})
    assert errs == [] and Block.model_validate_json(block.model_dump_json()) == block


def test_nested_paths_in_content_errors():
    assert content_errors("product_list", {"items": [{"item_id": "a"}, {"price": "x"}]}) == [
        {"field": "content.items[1]", "message": "'item_id' is a required property"},
        {"field": "content.items[1].price", "message": "'x' is not of type 'number'"},
    ]


def test_templates_are_autoescaped_and_sandboxed():
    b = Block(id="t", type="text", content={"text": "<script>alert(1)</script>"}, template="<p>{{ text }}</p>")
    assert render(b) == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    evil = Block(id="e", type="text", content={"text": "x"}, template="{{ text.__class__.__mro__ }}")
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        render(evil)
    assert (
        parse_block({"id": "x", "type": "text", "content": {"text": "a"}, "template": "{% for %}"})[1][0]["field"]
        == "template"
    )
    assert render(Block(id="n", type="headline", content={"title": "t"})) is None  # no template, no HTML


def test_slot_validation_reports_every_bad_path():
    slot, errors = parse_slot(
        {
            "id": "s",
            "variants": {"a": "b1"},
            "default": {"kind": "variant", "variant": "x"},
            "rules": [{"then": {"kind": "bandit", "arms": ["a", "q"]}}, {"then": {"kind": "variant", "variant": "y"}}],
        }
    )
    assert slot is None and {e["field"] for e in errors} == {
        "rules[0].then.arms",
        "rules[1].then.variant",
        "default.variant",
    }
    assert parse_slot({"id": "s", "default": {"kind": "teleport"}})[1][0]["field"] == "default"
    assert parse_slot({"id": "bad id!", "default": {"kind": "recommender"}})[1][0]["field"] == "id"
    assert parse_slot([1])[1] == [{"field": "body", "message": "a slot must be a JSON object"}]
    ok, errs = parse_slot({"id": "s", "default": {"kind": "recommender", "k": 3}})
    assert errs == [] and Slot.model_validate_json(ok.model_dump_json()) == ok


def test_conditions_segment_context_region_and_errors():
    cond, errors = parse_condition(
        {
            "type": "or",
            "conditions": [
                {"type": "segment", "segment": ["vip", "gold"], "member": True},
                {"type": "context", "field": "region", "op": "in", "value": ["BY"]},
            ],
        }
    )
    assert errors == []
    assert cond.holds(target_view(None, {"region": "BY"}, {}, 0.0))
    assert cond.holds(target_view(None, {}, {"gold": 1.0}, 0.0))
    assert not cond.holds(target_view(None, {"region": "NW"}, {}, 0.0))
    # the request's facts win over the profile's stored context
    stored = {"context": {"device_type": "desktop", "country": "DE"}}
    view = target_view(stored, {"device_type": "mobile"}, {}, 0.0)
    assert view.context() == {"device_type": "mobile", "country": "DE"}
    _, errors = parse_condition({"type": "and", "conditions": [{"type": "segment"}]}, "rules[0].when")
    assert errors[0]["field"] == "rules[0].when.conditions[0].segment"


def test_request_context_from_headers_and_query():
    ctx = request_context(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "de",
        "by",
        "Europe/Berlin",
        "de-DE",
        "https://www.google.com/search?q=x",
        "https://shop.example/?utm_source=news",
    )
    assert ctx == {
        "browser": "Chrome",
        "os": "Windows",
        "device_type": "desktop",
        "country": "DE",
        "region": "BY",
        "timezone": "Europe/Berlin",
        "locale": "de-DE",
        "referrer": "www.google.com",
        "utm_source": "news",
    }


def test_linucb_bandit_uses_request_context_features():
    bandit = SlotBandit("s", 0, RunBandit(policy="linucb", min_share=0.05, params={"seed": 0}), ["a", "b"])
    mobile, desktop = (context_features({"device_type": d}, 0.0) for d in ("mobile", "desktop"))
    for _ in range(50):
        bandit.learn([("a", 1.0, mobile), ("b", 0.0, mobile), ("a", 0.0, desktop), ("b", 1.0, desktop)])
    assert bandit.choose(mobile).probabilities[0] > 0.9 and bandit.choose(desktop).probabilities[1] > 0.9


json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=15)
)
keys = st.sampled_from(
    [
        "id",
        "type",
        "content",
        "template",
        "variants",
        "rules",
        "default",
        "when",
        "then",
        "kind",
        "variant",
        "field",
        "op",
        "value",
        "conditions",
        "condition",
        "segment",
        "hours",
        "arms",
        "policy",
        "min_share",
        "title",
        "items",
        "src",
        "alt",
        "text",
        "url",
    ]
)
data = st.recursive(
    json_scalars | st.sampled_from(["headline", "image", "and", "segment", "variant", "context"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(raw=data)
def test_parsers_never_raise_and_name_fields(raw):
    for parse in (parse_block, parse_slot, parse_condition):
        parsed, errors = parse(raw)
        assert (parsed is None) == bool(errors)
        assert all(isinstance(e["field"], str) and e["message"] for e in errors)
