"""Block templates under hostile or careless input, on both storage backends: what cannot render within the
limits is refused at save (400 naming the field and the line), what fails at decision time shows the block's
fallback with the failure in the decision's reason, and a template sees the profile of its own user only."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.decide.blocks import parse_block
from pertinent.decide.templates import Limits, TemplateLimit, render_template, template_problems
from pertinent.errors import InvalidInput
from pertinent.services import Services
from pertinent.storage.base import MembershipChange
from tests.support.common import ADMIN

# The audit's templates, and more of their kind: each is refused at save with the reason.
HOSTILE = [
    ("{% set n = 3000000 %}{{ (9**n) % 7 }}", r"9 \*\* 3000000 would be wider than 4096 bits"),
    ("{{ 'x'*10000000 }}", r"'x' \* 10000000 would be longer than 100000"),
    ("{{ 9**999999 }}", r"9 \*\* 999999 would be wider than 4096 bits"),
    ("{% set b = 'x'*99999 %}{% for i in range(100) %}{{ b }}{% endfor %}", "printed more than 200000 characters"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "steps|ms"),
    ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", "steps|ms"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "longer"),
    ("{{ ['x'*99999]*99999 }}", "longer than 100000"),
    ("{{ ('x'*1000)|replace('', 'y'*1000) }}", "longer than 100000"),
    ("{{ '%*d' % (1000000000, 1) }}", "larger than 100000"),
    ("{{ '{:>1000000000}'.format(1) }}", "larger than 100000"),
    ("{{ range(10000)|batch(1)|list|sum(start=[]) }}", "start must be a number"),
    ("{{ 'a\tb'.expandtabs(99999) }}", "unsafe"),
    ("{{ lipsum(100000) }}", "undefined"),
]


@pytest.fixture
def svc(services: Services) -> Iterator[Services]:
    yield services
    services.decide.close()


def _slot(svc: Services, block: dict[str, object], validate: bool = True) -> None:
    """A slot showing ``block``; ``validate=False`` stores the block as an older version could have (unchecked)."""
    if validate:
        svc.decide.put_block(block)
    else:
        svc.decide.documents.docs.put("block", str(block["id"]), block)
    svc.decide.put_slot({"id": "s", "variants": {"v": block["id"]}, "default": {"kind": "variant", "variant": "v"}})


@pytest.mark.parametrize(("template", "why"), HOSTILE)
def test_hostile_templates_are_refused_at_save_with_the_line(any_client, template, why):
    r = any_client.put(
        "/v1/blocks/evil", headers=ADMIN, json={"type": "text", "content": {"text": "t"}, "template": template}
    )
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "template" and error["message"].startswith("line 1: ")
    assert re.search(why, error["message"]), error


def test_a_slot_template_for_the_recommender_is_checked_with_sample_items(svc):
    with pytest.raises(InvalidInput) as err:
        svc.decide.put_slot(
            {"id": "recs", "default": {"kind": "recommender", "template": "{% for i in items %}{{ 9**i.price**9 }}"}}
        )
    assert err.value.errors[0]["field"] == "default.template" and "endfor" in err.value.errors[0]["message"]
    with pytest.raises(InvalidInput) as err:
        svc.decide.put_slot(
            {
                "id": "recs",
                "default": {"kind": "recommender", "template": "{% for i in items %}{{ 9**99999 }}{% endfor %}"},
            }
        )
    assert err.value.errors == [
        {"field": "default.template", "message": "line 1: 9 ** 99999 would be wider than 4096 bits"}
    ]


def test_a_template_failing_at_decision_time_shows_the_fallback_and_says_why(svc):
    _slot(
        svc,
        {"id": "b", "type": "text", "content": {"text": "t"}, "template": "{{ 9**999999 }}", "fallback": "<p>t</p>"},
        False,
    )
    d = svc.decide.decide("s", anonymous_id="v1")
    assert d["html"] == "<p>t</p>"
    assert d["reason"]["template_error"] == "block 'b': template failed at line 1 (TemplateLimit)"
    assert d["reason"]["detail"].endswith("; block 'b': template failed at line 1 (TemplateLimit)")
    svc.decide.flush()
    with svc.store.transaction(write=False) as tx:
        [row] = list(tx.iter_decisions("s"))
    assert row.detail["template_error"] == "line 1: 9 ** 999999 would be wider than 4096 bits"
    # without a fallback the HTML is null, but never silently
    _slot(svc, {"id": "c", "type": "text", "content": {"text": "t"}, "template": "{{ 'x' * 10000000 }}"}, False)
    d = svc.decide.decide("s", anonymous_id="v1")
    assert d["html"] is None and "TemplateLimit" in d["reason"]["template_error"]


def test_limits_hold_for_data_only_known_at_decision_time(svc):
    """A template that is fine with the samples but not with one user's traits: the user gets the fallback."""
    template = "<b>{{ 'x' * (user.traits.n|default(0)|int) }}</b>\n{{ 10 // (user.traits.d|default(1)) }}"
    _slot(svc, {"id": "b", "type": "text", "content": {"text": "t"}, "template": template, "fallback": "-"})
    svc.ingest.ingest(
        [
            {"type": "identify", "userId": "small", "traits": {"n": 3}},
            {"type": "identify", "userId": "huge", "traits": {"n": 10_000_000}},
            {"type": "identify", "userId": "zero", "traits": {"d": 0}},
        ]
    )
    assert svc.decide.decide("s", user_id="small")["html"] == "<b>xxx</b>\n10"
    huge = svc.decide.decide("s", user_id="huge")
    assert huge["html"] == "-" and huge["reason"]["template_error"].endswith("at line 1 (TemplateLimit)")
    zero = svc.decide.decide("s", user_id="zero")
    assert zero["html"] == "-" and zero["reason"]["template_error"].endswith("at line 2 (ZeroDivisionError)")


def test_a_cached_render_that_ran_out_of_time_is_tried_again_later():
    """Other failures repeat with every render and stay cached; running out of time depends on the load."""
    from pertinent.decide.blocks import Block
    from pertinent.decide.html import Renderer

    limits, clock = [Limits(max_ms=1e-6)], [0.0]
    renderer = Renderer(lambda: limits[0], retry_s=10, clock=lambda: clock[0])
    block = Block(id="b", type="text", content={"text": "t"}, template="{% for i in range(99) %}{% endfor %}ok")
    first = renderer.variant(block, 1, "d1", "s", "v", dict)
    assert first.html is None and first.transient and "took longer than" in (first.error or "")
    limits[0] = Limits()
    assert renderer.variant(block, 1, "d2", "s", "v", dict).error == first.error  # not before retry_s
    clock[0] = 10.0
    assert renderer.variant(block, 1, "d3", "s", "v", dict).html == "ok"
    broken = Block(id="c", type="text", content={"text": "t"}, template="{{ 1 // 0 }}")
    assert not renderer.variant(broken, 1, "d4", "s", "v", dict).transient


def test_a_template_failing_for_the_sample_profile_is_refused_with_its_line(svc):
    with pytest.raises(InvalidInput) as err:
        svc.decide.put_block(
            {
                "id": "b",
                "type": "text",
                "content": {"text": "t"},
                "template": "{{ text }}\n{{ user.recent_items[0].item_id }}",
            }
        )
    assert err.value.errors == [{"field": "template", "message": "line 2: list object has no element 0"}]


def test_templates_see_their_own_users_profile_without_pii(svc):
    template = (
        "{{ user.known }}|{{ user.traits.plan }}|{{ user.traits.email }}|{{ user.segments|join(',') }}|"
        "{{ user.recent_items|map(attribute='item_id')|join(',') }}|{{ decision_id|length }}"
    )
    _slot(svc, {"id": "b", "type": "text", "content": {"text": "t"}, "template": template})
    svc.ingest.ingest(
        [
            {"type": "identify", "userId": "alice", "traits": {"plan": "pro", "email": "alice@example.com"}},
            {"type": "track", "userId": "alice", "event": "Product Viewed", "properties": {"product_id": "p1"}},
            {"type": "track", "userId": "alice", "event": "Product Viewed", "properties": {"product_id": "p2"}},
            {"type": "identify", "userId": "bob", "traits": {"plan": "free"}},
        ],
        prefix="batch",
    )
    with svc.store.transaction() as tx:
        tx.apply_membership_changes([MembershipChange("vip", svc.profiles.find(tx, "alice"), True, 1.0)])
    assert svc.decide.decide("s", user_id="alice")["html"] == "True|pro||vip|p2,p1|32"
    assert svc.decide.decide("s", user_id="bob")["html"] == "True|free||||32"  # not alice's: renders per user
    assert svc.decide.decide("s", anonymous_id="new")["html"] == "False|||||32"
    svc.privacy.set_consent({"personalization": False}, user_id="alice")
    assert svc.decide.decide("s", user_id="alice")["html"] == "False|||||32"  # no consent: nothing of the profile


def test_templates_that_render_per_decision_run_off_the_event_loop(svc):
    _slot(
        svc,
        {
            "id": "b",
            "type": "text",
            "content": {"text": "t"},
            "template": "<p data-d='{{ decision_id }}'>{{ text }}</p>",
        },
    )
    cached = svc.decide.serving.runs_inline("s")
    _slot(svc, {"id": "b", "type": "text", "content": {"text": "t"}, "template": "<p>{{ user.traits.plan }}</p>"})
    assert svc.decide.serving.runs_inline("s") is False
    assert cached is (svc.store.backend == "sqlite")  # PostgreSQL always decides in a thread


ORDINARY = [
    "{% for x in items %}{{ loop.index }}/{{ loop.length }}{% if loop.last %}!{% endif %}{% endfor %}",
    "{% for x in items if x > 1 %}{{ x }}{% else %}none{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for n in tree recursive %}<{{ n.name }}{% if n.kids %}{{ loop(n.kids) }}{% endif %}>{% endfor %}",
    "{% autoescape false %}{{ raw }}{% endautoescape %}{{ raw }}",
    "{% set x %}<b>{{ raw }}</b>{% endset %}{{ x }}",
    "{% macro m(a) %}[{{ a }}{{ caller() }}]{% endmacro %}{% call m(1) %}c{% endcall %}",
    "{{ '%s-%s'|format(1, raw) }} {{ items|join(',') }} {{ raw ~ 1 }} {{ items|sum }} {{ d|tojson }}",
    "{% filter upper %}abc{{ raw }}{% endfilter %}",
    "{{ items|map('string')|join }} {{ items|select('odd')|list }} {{ (items|first) ** 3 }} {{ 1234567 * 100 }}",
    "{{ '{:,}'.format(1234567) }} {{ '%d items' % 1234567 }} {{ raw.upper() }} {{ 'x'.center(9) }}",
]


@pytest.mark.parametrize("template", ORDINARY)
def test_ordinary_templates_render_as_plain_jinja_does(template):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    variables = {"items": [1, 2, 3], "d": {"a": 1}, "tree": [{"name": "a", "kids": [{"name": "b"}]}], "raw": "<i>"}
    plain = ImmutableSandboxedEnvironment(autoescape=True).from_string(template).render(variables)
    assert render_template(template, variables) == plain


# ------------------------------------------------------------------------------------------ properties
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_template_text_is_a_block_or_field_errors(text):
    block, errors = parse_block({"id": "b", "type": "text", "content": {"text": "t"}, "template": text})
    assert (block is None) != (errors == [])
    assert all(e["field"] == "template" for e in errors)


_ATOMS = st.sampled_from(["'x'", "'ab'", "9", "2", "99999", "[1, 2]", "['x' * 9]", "content.text", "range(9)|list"])
_OPS = st.sampled_from(["*", "**", "+", "~", "%"])


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 4) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(_ATOMS)
    left, right = draw(_expressions(depth - 1)), draw(_expressions(depth - 1))
    return f"({left} {draw(_OPS)} {right})"


@st.composite
def _templates(draw: st.DrawFn) -> str:
    expr = draw(_expressions())
    loops = draw(st.integers(0, 2))
    body = f"{{{{ {expr} }}}}"
    for i in range(loops):
        body = f"{{% for i{i} in range({draw(st.sampled_from([3, 999, 99999]))}) %}}{body}{{% endfor %}}"
    return body


@settings(max_examples=150, deadline=None)
@given(_templates())
def test_compositions_of_growing_operations_stay_within_the_limits(template):
    """Powers, products, sums and loops of them: a render returns at most ``max_output`` characters or stops
    with an error that saving reports on the template field."""
    limits = Limits(max_ms=10_000)  # the step limit decides here, not the machine's speed
    variables = {"content": {"text": "t"}}
    try:
        out = render_template(template, variables, limits)
    except (TemplateLimit, TypeError, ValueError, OverflowError, ZeroDivisionError):  # a limit, or bad operands
        out = None
    if out is not None:
        assert len(out) <= limits.max_output
    problems = template_problems(template, variables, limits=limits)
    assert (out is None) == bool(problems) and all(p["field"] == "template" for p in problems)
