"""Block templates: Jinja2 in a sandbox with autoescaping and cost limits.

A template runs in an :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no private attributes, no
mutation of lists and dicts) extended so that no template can take more than bounded time or memory:

* every loop iteration, call, filter, operator and printed value is a *step*: a render stops after
  ``max_steps`` steps or ``max_ms`` milliseconds (checked every few steps);
* every printed character counts, in macros and ``{% set %}`` blocks too: a render stops past ``max_output``;
* no single operation may build a value (string, list, dict, counted deeply) longer than ``max_value`` or an
  integer wider than ``MAX_INT_BITS``: ``**``, ``*``, ``+``, ``%``, ``~``, ``str.format``, ``join``, ``replace``,
  ``center``, ``indent`` and the like are checked *before* they allocate; every filter and call result after;
* only cheap methods of strings, lists, dicts and numbers can be called (``str.upper``, ``dict.items``...);
  ``lipsum`` is gone, ``sum`` adds numbers only, ``tojson`` indents at most 16.

A limit reached raises :class:`TemplateLimit` (a ``SecurityError``); :func:`render_template` raises it like
any other template error, and :func:`template_problems` reports it as a field error.

>>> render_template("<b>{{ name }}</b>", {"name": "<Ann>"})
'<b>&lt;Ann&gt;</b>'
>>> try:
...     render_template("{{ 'x' * 10000000 }}", {})
... except TemplateLimit as exc:
...     print(exc)
'x' * 10000000 would be longer than 100000
>>> template_problems("{% set n = 3000000 %}{{ (9 ** n) % 7 }}", {})
[{'field': 'template', 'message': 'line 1: 9 ** 3000000 would be wider than 4096 bits'}]
"""

from __future__ import annotations

import functools
import math
import re
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from jinja2 import filters as jf
from jinja2 import nodes, pass_environment, pass_eval_context
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import escape

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.runtime import Context

MAX_INT_BITS = 4096


@dataclass(frozen=True)
class Limits:
    """What one render may cost (``DecideConfig.template_*`` sets them for serving).

    >>> Limits().max_ms, Limits().max_output
    (50.0, 200000)
    """

    max_ms: float = 50.0
    max_output: int = 200_000  # characters printed, in macros and set blocks too
    max_value: int = 100_000  # characters or items of one value, counted deeply
    max_steps: int = 100_000  # loop iterations, calls, filters, operators and printed values


class TemplateLimit(SecurityError):
    """A template went past one of its :class:`Limits`."""


class TemplateTimeout(TemplateLimit):
    """A template ran past ``max_ms``: unlike the other limits, this depends on the machine's load."""


class _Budget:
    __slots__ = ("deadline", "emitted", "limits", "steps")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.perf_counter() + limits.max_ms / 1000
        self.steps = 0
        self.emitted = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise TemplateLimit(f"more than {self.limits.max_steps} steps")
        if not self.steps & 15 and time.perf_counter() > self.deadline:
            raise TemplateTimeout(f"took longer than {self.limits.max_ms:g} ms")


_BUDGET: ContextVar[_Budget | None] = ContextVar("pertinent_template_budget", default=None)
_DEFAULT = Limits()


def _limits() -> Limits:
    budget = _BUDGET.get()
    return _DEFAULT if budget is None else budget.limits


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


def size_of(value: Any, limit: int) -> int:
    """Characters of strings plus items of containers, counted deeply; stops counting past ``limit``.

    >>> size_of(["ab", {"c": "de"}], 100), size_of(["x" * 50] * 50, 100) > 100
    (8, True)
    """
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 1
    total = 0
    stack: list[Any] = [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, dict):
            total += len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset):
            total += len(v)
            stack.extend(v)
        else:
            total += 1
    return total


def _check_size(size: int, what: str) -> None:
    limit = _limits().max_value
    if size > limit:
        raise TemplateLimit(f"{what} would be longer than {limit}")


def _check_value(value: Any, what: str) -> Any:
    if isinstance(value, str | list | tuple | dict | set | frozenset):
        _check_size(size_of(value, _limits().max_value), what)
    return value


def _short(value: Any) -> str:
    """An operand in an error message: short, and never a value's content beyond 20 characters."""
    text = repr(value) if isinstance(value, int | float | str) else type(value).__name__
    return text if len(text) <= 20 else text[:17] + "..."


def _check_ints(args: Iterable[Any], what: str) -> None:
    limit = _limits().max_value
    for a in args:
        if isinstance(a, int) and abs(a) > limit:
            raise TemplateLimit(f"{what}: argument {_short(a)} is larger than {limit}")


_WIDE = re.compile(r"\d{6,}")  # a width or precision of 100000 or more in a format string
_NESTED = re.compile(r"\{[^{}]*\{")  # str.format taking a width from its arguments: '{:>{}}'


def _check_format(fmt: str, args: Iterable[Any], what: str) -> None:
    """``%`` and ``str.format``: no huge widths (written, or taken from the arguments by ``*`` or ``{}``), and
    the fields filled cannot exceed ``max_value``."""
    limit = _limits().max_value
    if _WIDE.search(fmt):
        raise TemplateLimit(f"{what}: a width in the format string is larger than {limit}")
    values = list(args)
    if "*" in fmt or _NESTED.search(fmt):
        _check_ints(values, what)
    biggest = max((size_of(v, limit) for v in values), default=0)
    _check_size(len(fmt) + (fmt.count("%") + fmt.count("{")) * biggest, what)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    limit = _limits().max_value
    what = f"{_short(left)} {operator} {_short(right)}"
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if right * math.log2(abs(left)) > MAX_INT_BITS:
                raise TemplateLimit(f"{what} would be wider than {MAX_INT_BITS} bits")
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise TemplateLimit(f"{what} would be wider than {MAX_INT_BITS} bits")
        elif isinstance(right, int) and isinstance(left, str | list | tuple):
            _check_size(size_of(left, limit) * max(right, 0), what)
        elif isinstance(left, int) and isinstance(right, str | list | tuple):
            _check_size(size_of(right, limit) * max(left, 0), what)
    elif operator == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            _check_size(size_of(left, limit) + size_of(right, limit), what)
    elif operator == "%" and isinstance(left, str):
        _check_format(left, right if isinstance(right, tuple) else (right,), what)


# Methods a template may call on plain values: each costs at most about the size of its inputs (the
# padding and joining ones are checked before they run, in ``_GuardedEnvironment.call``).
_STR_METHODS = frozenset(
    "capitalize casefold center count endswith find format index isalnum isalpha isascii isdecimal isdigit "
    "isidentifier islower isnumeric isprintable isspace istitle isupper join ljust lower lstrip partition "
    "removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip split splitlines startswith "
    "strip swapcase title upper zfill escape unescape striptags".split()
)
_METHODS: dict[type, frozenset[str]] = {
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    int: frozenset({"bit_length", "conjugate"}),
    float: frozenset({"is_integer", "conjugate"}),
}


class _Instrument(NodeTransformer):
    """Adds the budget's checks to a parsed template: loop iterations, ``~`` and every printed value."""

    @staticmethod
    def _filter(node: nodes.Node, name: str, lineno: int) -> nodes.Filter:
        return nodes.Filter(node, name, [], [], None, None, lineno=lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._filter(node.iter, "_pertinent_loop", node.iter.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._filter(node, "_pertinent_value", node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        fixed = sum(len(n.data) for n in node.nodes if isinstance(n, nodes.TemplateData))
        out: list[nodes.Expr] = [
            n if isinstance(n, nodes.TemplateData) else self._filter(n, "_pertinent_emit", n.lineno) for n in node.nodes
        ]
        if fixed:
            out.append(self._filter(nodes.Const(fixed), "_pertinent_count", node.lineno))
        node.nodes = out
        return node


def _loop(iterable: Any) -> Any:
    budget = _BUDGET.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.tick()
        yield item


@pass_eval_context
def _emit(eval_ctx: Any, value: Any) -> Any:
    text = escape(value) if eval_ctx.autoescape else str(value)
    _count(len(text))
    return text


def _count(n: int) -> str:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()
        budget.emitted += n
        if budget.emitted > budget.limits.max_output:
            raise TemplateLimit(f"printed more than {budget.limits.max_output} characters")
    return ""


def _value(value: Any) -> Any:
    _tick()
    return _check_value(value, "a ~ concatenation")


_SIZED = frozenset({"batch", "slice", "center"})  # filters whose integer arguments size their result


def _guard_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A builtin filter with a step and a checked result (and for :data:`_SIZED`, no size over ``max_value``)."""
    skip = 2 if getattr(f, "jinja_pass_arg", None) is not None else 1
    sized = name in _SIZED

    @functools.wraps(f)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if sized:
            _check_ints([*args[skip:], *kwargs.values()], f"filter {name}")
        return _check_value(f(*args, **kwargs), f"the result of filter {name}")

    return guarded


@pass_eval_context
def _f_replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
    text, o, n = str(s), str(old), str(new)
    times = (len(text) + 1 if not o else text.count(o)) if count is None or count < 0 else count
    _check_size(len(text) + times * len(n), "filter replace")
    return jf.do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def _f_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
    items = list(value)
    _check_size(sum(len(str(v)) for v in items) + len(str(d)) * len(items), "filter join")
    return jf.sync_do_join(eval_ctx, items, d, attribute)


def _f_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
    text = str(s)
    per_line = width if isinstance(width, int) else len(str(width))
    _check_size(len(text) + (text.count("\n") + 1) * max(per_line, 0), "filter indent")
    return jf.do_indent(s, width, first, blank)


@pass_environment
def _f_wordwrap(env: Any, s: Any, width: int = 79, *args: Any, **kwargs: Any) -> Any:
    wrap = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    if wrap is not None and len(str(wrap)) > 16:
        raise TemplateLimit("filter wordwrap: wrapstring is longer than 16")
    return jf.do_wordwrap(env, s, width, *args, **kwargs)


def _f_format(value: Any, *args: Any, **kwargs: Any) -> Any:
    _check_format(str(value), [*args, *kwargs.values()], "filter format")
    return jf.do_format(value, *args, **kwargs)


@pass_eval_context
def _f_tojson(eval_ctx: Any, value: Any, indent: int | None = None) -> Any:
    if indent is not None and not 0 <= indent <= 16:
        raise TemplateLimit("filter tojson: indent must be between 0 and 16")
    return jf.do_tojson(eval_ctx, value, indent)


@pass_environment
def _f_sum(env: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    if not isinstance(start, int | float):
        raise TemplateLimit("filter sum: start must be a number")
    return jf.sync_do_sum(env, iterable, attribute, start)


_SPECIAL: dict[str, Callable[..., Any]] = {
    "replace": _f_replace,
    "join": _f_join,
    "indent": _f_indent,
    "wordwrap": _f_wordwrap,
    "format": _f_format,
    "tojson": _f_tojson,
    "sum": _f_sum,
}


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with :class:`Limits` (module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(autoescape=True, auto_reload=False, cache_size=0)
        self.globals.pop("lipsum", None)
        for name, f in list(self.filters.items()):
            self.filters[name] = _guard_filter(name, _SPECIAL.get(name, f))
        self.filters.update(
            _pertinent_loop=_loop, _pertinent_emit=_emit, _pertinent_count=_count, _pertinent_value=_value
        )

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        result = self.binop_table[operator](left, right)
        if operator == "%" and isinstance(result, str):
            _check_value(result, f"{_short(left)} % ...")
        return result

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if callable(value):
            if isinstance(obj, str):
                return attr in _STR_METHODS
            for kind, allowed in _METHODS.items():
                if isinstance(obj, kind):
                    return attr in allowed
        return True

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        @functools.wraps(wrapped)
        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format(fmt, [*args, *kwargs.values()], "str.format")
            return wrapped(*args, **kwargs)

        return checked

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        what = getattr(__obj, "__name__", "a call")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            limit = _limits().max_value
            if what in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
                _check_size(max(len(owner), args[0]), f"str.{what}")
            elif what == "replace" and len(args) >= 2:
                old, new = str(args[0]), str(args[1])
                times = len(owner) + 1 if not old else owner.count(old)
                _check_size(len(owner) + times * len(new), "str.replace")
            elif what == "join" and args:
                items = list(args[0])
                _check_size(sum(size_of(v, limit) for v in items) + len(owner) * len(items), "str.join")
                args = (items, *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_value(result, f"the result of {what}")


@functools.cache
def environment() -> _GuardedEnvironment:
    """The one guarded sandbox (filters are wrapped once)."""
    return _GuardedEnvironment()


@functools.lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """A compiled, instrumented template (cached by source); raises ``jinja2.TemplateSyntaxError``."""
    env = environment()
    tree = env.parse(source)
    _Instrument().visit(tree)
    return env.from_string(tree)


@dataclass(frozen=True)
class TemplateInfo:
    """What a template reads, from its syntax tree (cached by source)."""

    prints_id_only: bool  # decision_id only as a bare {{ decision_id }}
    uses_user: bool  # reads the user (the profile of the decision)


@functools.lru_cache(maxsize=4096)
def template_info(source: str) -> TemplateInfo:
    """Whether a template uses ``decision_id`` only as a bare ``{{ decision_id }}`` and whether it reads
    ``user``. A template that does the first and not the second renders the same for every decision of a
    slot's variant but for the id: serving renders it once with a stand-in id and replaces that per decision.

    >>> template_info('<a data-decision="{{ decision_id }}">{{ title }}</a>')
    TemplateInfo(prints_id_only=True, uses_user=False)
    >>> template_info('{{ decision_id|upper }}{{ user.traits.plan }}')
    TemplateInfo(prints_id_only=False, uses_user=True)
    """
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError:  # stored before templates were checked: it fails at render, per decision
        return TemplateInfo(prints_id_only=False, uses_user=False)
    names = list(tree.find_all(nodes.Name))
    bare = sum(
        1
        for out in tree.find_all(nodes.Output)
        for n in out.nodes
        if isinstance(n, nodes.Name) and n.name == "decision_id" and n.ctx == "load"
    )
    return TemplateInfo(
        prints_id_only=bare == sum(1 for n in names if n.name == "decision_id"),
        uses_user=any(n.name == "user" for n in names),
    )


def render_template(source: str, variables: Mapping[str, Any], limits: Limits = _DEFAULT) -> str:
    """``source`` rendered with ``variables`` within ``limits``; raises the template's error (a
    :class:`TemplateLimit` past a limit, ``TemplateSyntaxError``, ``UndefinedError``...)."""
    template = compile_template(source)
    budget = _Budget(limits)
    token = _BUDGET.set(budget)
    chunks = cast(Generator[str, None, None], template.generate(variables))
    try:
        out = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > limits.max_output:
                raise TemplateLimit(f"printed more than {limits.max_output} characters")
            out.append(chunk)
        return "".join(out)
    finally:
        chunks.close()
        _BUDGET.reset(token)


def error_line(exc: BaseException) -> int | None:
    """The template line an error was raised at (Jinja rewrites tracebacks to template lines), if known."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return lines[-1] if lines else None


def describe_error(exc: BaseException, detail: bool = True) -> str:
    """``line N: message`` of a template error; without ``detail`` only its kind (for a browser: an error
    message may quote a value of the profile).

    >>> describe_error(TemplateLimit("took longer than 50 ms")), describe_error(ValueError("secret"), False)
    ('took longer than 50 ms', 'ValueError')
    """
    line = error_line(exc)
    text = str(getattr(exc, "message", None) or exc) if detail else type(exc).__name__
    return f"line {line}: {text[:300]}" if line else text[:300]


def template_problems(
    source: str | None,
    samples: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    field: str = "template",
    limits: Limits = _DEFAULT,
) -> list[dict[str, str]]:
    """Field errors of a template: its syntax, then a render against each sample (variables) within
    ``limits``. Empty when it compiles and renders every sample."""
    if source is None:
        return []
    try:
        compile_template(source)
    except TemplateSyntaxError as exc:
        return [{"field": field, "message": f"line {exc.lineno}: {exc.message}"}]
    for sample in [samples] if isinstance(samples, Mapping) else samples:
        try:
            render_template(source, sample, limits)
        except Exception as exc:  # any error a render can raise is the template's problem
            return [{"field": field, "message": describe_error(exc)}]
    return []
