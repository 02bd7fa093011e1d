"""The HTML of a decision: a block's template rendered within the render limits (``templates.py``), with what
the template may know of the user (:func:`template_user`).

A template that renders the same for every decision of a variant but for a bare ``{{ decision_id }}``
(``blocks.prints_id_only``) is rendered once per block version, slot and variant with a stand-in id that is
replaced per decision; any other renders per decision, and serving then runs off the event loop
(``Decider.runs_inline``). A template that fails (an error, or past a limit) gives the block's ``fallback``
HTML (or none) and says so: the failure goes into the decision's reason and its stored detail, never a
silent ``"html": null``.

>>> from pertinent.decide.blocks import Block
>>> r = Renderer(lambda: Limits())
>>> bad = Block(id="b", type="text", content={"text": "t"}, template="{{ text }}\\n{{ 1 // 0 }}", fallback="<p>t</p>")
>>> shown = r.variant(bad, 1, "d1", "home", "a", lambda: {})
>>> shown.html, shown.error
('<p>t</p>', 'line 2: integer division or modulo by zero')
>>> shown.public
"block 'b': template failed at line 2 (ZeroDivisionError)"
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

from pertinent.decide.blocks import Block, prints_id_only, render
from pertinent.decide.slots import Recommend, ShowVariant
from pertinent.decide.snapshot import Snapshot
from pertinent.decide.templates import Limits, TemplateTimeout, describe_error, error_line, template_info
from pertinent.storage.base import ItemRow, ProfileRow

log = logging.getLogger("pertinent.decide")
_ID_STAND_IN = "pertinent0decision0id0stand0in0"  # never a real id (those are hex): replaced in cached HTML
RECENT_ITEMS = 20


class Rendered(NamedTuple):
    """A block's HTML, or (when its template failed) its fallback with the error: ``error`` in full (stored
    with the decision), ``public`` its kind and line only (the decision's reason: an error message may quote
    a value of the profile); ``transient``: it ran out of time, which depends on the machine's load."""

    html: str | None
    error: str | None = None
    public: str | None = None
    transient: bool = False


def template_user(
    profile_id: str,
    row: ProfileRow | None,
    segments: Mapping[str, float],
    personalize: bool,
    hidden_traits: Collection[str] = (),
) -> dict[str, Any]:
    """What a template sees of the user a decision is for (``{{ user.traits.plan }}``): ``known`` (a user id,
    not only an anonymous one), ``traits`` as stored (pseudonymised PII traits are left out:
    ``hidden_traits``, lower-case), the ids of the ``segments`` the profile is in and its ``recent_items``
    (newest first, at most 20: ``item_id``, ``event``, ``at``). Without personalization consent: nothing.

    >>> recent = [["p1", "Product Viewed", 1.0, 1.0], ["p2", "Order Completed", 2.0, 5.0]]
    >>> row = ProfileRow("u_1", traits={"plan": "pro", "email": "h_ab"}, state={"recent_items": recent})
    >>> u = template_user("u_1", row, {"vip": 1.0}, True, {"email"})
    >>> u["known"], u["traits"], u["segments"], [i["item_id"] for i in u["recent_items"]]
    (True, {'plan': 'pro'}, ['vip'], ['p2', 'p1'])
    >>> template_user("u_1", row, {"vip": 1.0}, False)["traits"]
    {}
    """
    if not personalize:
        return {"known": False, "traits": {}, "segments": [], "recent_items": []}
    traits = row.traits if row is not None else {}
    recent = row.state.get("recent_items") if row is not None else None
    items = []
    if isinstance(recent, list):
        valid = [e for e in reversed(recent) if isinstance(e, list) and len(e) >= 3]  # the latest first on ties
        for entry in sorted(valid, key=lambda e: e[2] if isinstance(e[2], int | float) else 0, reverse=True)[
            :RECENT_ITEMS
        ]:
            items.append({"item_id": entry[0], "event": entry[1], "at": entry[2]})
    return {
        "known": profile_id.startswith("u_"),
        "traits": {k: v for k, v in traits.items() if k.lower() not in hidden_traits},
        "segments": sorted(segments),
        "recent_items": items,
    }


def render_block(
    block: Block,
    content: dict[str, Any] | None,
    decision_id: str,
    slot: str,
    variant: str | None,
    user: Callable[[], dict[str, Any]],
    limits: Limits,
) -> Rendered:
    """``block`` rendered for one decision (``user`` is called only when the template reads it)."""
    extra: dict[str, Any] = {"decision_id": decision_id, "slot": slot, "variant": variant}
    if block.template is not None and template_info(block.template).uses_user:
        extra["user"] = user()
    try:
        return Rendered(render(block, content, limits, **extra))
    except Exception as exc:  # a template error must not fail the decision: the fallback, and why
        log.warning("block %r: template failed to render: %s", block.id, describe_error(exc))
        line = error_line(exc)
        where = f" at line {line}" if line else ""
        public = f"block '{block.id}': template failed{where} ({type(exc).__name__})"
        return Rendered(block.fallback, describe_error(exc), public, isinstance(exc, TemplateTimeout))


class Renderer:
    """Renders decisions' blocks, caching the renders that do not depend on the decision. A cached failure is
    kept like a render (the template fails the same way every time), except one that ran out of time: that
    one is tried again after ``retry_s``."""

    def __init__(
        self, limits: Callable[[], Limits], retry_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self.retry_s = retry_s
        self.clock = clock
        self._cache: dict[tuple[str, int, str, str], Rendered] = {}  # (block, version, slot, variant)
        self._retry: dict[tuple[str, int, str, str], float] = {}  # timed-out renders: when to try again

    def cached(self) -> int:
        """How many variant renders are cached."""
        return len(self._cache)

    def variant(
        self, block: Block, version: int, decision_id: str, slot: str, variant: str, user: Callable[[], dict[str, Any]]
    ) -> Rendered:
        """A variant's HTML: rendered once per block version, slot and variant with a stand-in decision id that
        is then replaced, when the template allows it (``blocks.prints_id_only``); else per decision."""
        if block.template is None or not prints_id_only(block.template):
            return render_block(block, None, decision_id, slot, variant, user, self.limits())
        key = (block.id, version, slot, variant)
        hit = self._cache.get(key)
        if hit is not None and hit.transient and self.clock() >= self._retry.get(key, 0.0):
            hit = None
        if hit is None:
            if len(self._cache) >= 10_000:
                self._cache.clear()
                self._retry.clear()
            hit = self._cache[key] = render_block(block, None, _ID_STAND_IN, slot, variant, user, self.limits())
            if hit.transient:
                self._retry[key] = self.clock() + self.retry_s
        if hit.html is None or hit.error is not None:
            return hit
        return Rendered(hit.html.replace(_ID_STAND_IN, decision_id))


def list_block(snap: Snapshot, action: ShowVariant | Recommend) -> tuple[Block, dict[str, Any]]:
    """The block a product list renders with: the action's ``block`` (content, template) if any, its title."""
    name = action.block if isinstance(action, Recommend) else None
    found = snap.blocks.get(name) if name else None
    base = found[0] if found is not None else None
    content = dict(base.content) if base is not None else {}
    title = action.title if isinstance(action, Recommend) else None
    if title:
        content["title"] = title
    template = (action.template if isinstance(action, Recommend) else None) or (
        base.template if base is not None else None
    )
    block = Block(
        id=base.id if base is not None else "recommended",
        type="product_list",
        content=content,
        template=template,
        fallback=base.fallback if base is not None else None,
    )
    return block, content


def list_entries(items: Sequence[Mapping[str, Any]], rows: Mapping[str, ItemRow | None]) -> list[dict[str, Any]]:
    """A product list's items as a decision shows them: id, rank, score and reason, with the catalogue row's
    title, ``url``, ``image`` (or ``image_url``), ``price`` and ``currency`` when it has them.

    >>> list_entries([{"item_id": "a", "rank": 1, "score": 0.5, "reason": "r"}],
    ...              {"a": ItemRow("a", title="A", attributes={"image_url": "/a.png"})})
    [{'item_id': 'a', 'rank': 1, 'score': 0.5, 'reason': 'r', 'title': 'A', 'image': '/a.png'}]
    """
    out = []
    for it in items:
        row = rows.get(it["item_id"])
        entry = {"item_id": it["item_id"], "rank": it["rank"], "score": it["score"], "reason": it.get("reason")}
        if row is not None:
            entry["title"] = row.title
            attrs = row.attributes or {}
            for src, dst in (
                ("url", "url"),
                ("image", "image"),
                ("image_url", "image"),
                ("price", "price"),
                ("currency", "currency"),
            ):
                if src in attrs and dst not in entry and attrs[src] is not None:
                    entry[dst] = attrs[src]
        out.append(entry)
    return out
