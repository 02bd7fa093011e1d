"""The compiled path: rules compiled once per version into plain closures over lazily computed profile facts
(:class:`~pertinent.rules.facts.Facts`), and what the real-time evaluator needs to skip work: what a rule reads
(:func:`triggers`), what an event changes (:func:`event_changes`), when time alone can change an outcome
(:func:`time_bounds`).

A compiled rule gives what ``rules.explain.evaluate`` gives on the full view of the same profile at the same
moment; a segment whose triggers miss an update's changes keeps its membership (the rule's outcome cannot have
changed at that moment); what time alone changes is the sweep's job. Property tests check all three.

>>> from pertinent.rules.language import parse_rule
>>> rule, _ = parse_rule({"type": "and", "conditions": [
...     {"type": "did_and_not", "did": "Product Added", "did_not": "Order Completed", "window_days": 7},
...     {"type": "since", "field": "last_purchase", "op": "gt", "days": 20}]})
>>> sorted(triggers(rule))
['event:Order Completed', 'event:Product Added', 'purchase']
>>> time_bounds(rule)
TimeBounds(spans=frozenset({('last_purchase', 1728000.0)}), midnight=True, always=False)
>>> from pertinent.rules.facts import Facts
>>> state = {"counts": {"Product Added": {"days": {"100": 1}}}, "rfm": {"last_purchase": 0.0}}
>>> compile_rule(rule)(Facts(state, {}, {}, now=101 * 86400.0))
True
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from pertinent.rules.base import ALL, Check, ConditionBase, TimeBounds


def compile_rule(rule: ConditionBase) -> Check:
    """A function ``Facts -> bool`` equivalent to evaluating ``rule``."""
    return rule.compile()


def triggers(rule: ConditionBase) -> frozenset[str]:
    """What a rule reads, as change tokens (``rules.base``)."""
    return rule.triggers()


def time_bounds(rule: ConditionBase) -> TimeBounds:
    """The :class:`TimeBounds` of a rule (the union over its conditions; none for a rule time cannot change)."""
    return rule.time_bounds()


def depends_on_time(rule: ConditionBase) -> bool:
    """Whether the rule's outcome for an unchanged profile can change as time passes (windows, days since,
    local time, decaying strengths). Such segments are re-checked by the periodic sweep."""
    return rule.time_bounds().timed


class CountingConfig(Protocol):
    """What :func:`event_changes` reads of the profile configuration (``profiles.features.ProfileConfig``)."""

    @property
    def counted_types(self) -> Collection[str]: ...

    @property
    def purchase_events(self) -> Collection[str]: ...

    @property
    def refund_events(self) -> Collection[str]: ...


def event_changes(type_: str, name: str | None, context: Any, traits: Any, cfg: CountingConfig) -> set[str]:
    """What applying one event (``profiles.features.apply_event``, identify traits) can change in a profile, as
    change tokens.

    >>> from types import SimpleNamespace
    >>> cfg = SimpleNamespace(counted_types={"track"}, purchase_events={"Order Completed"}, refund_events=set())
    >>> sorted(event_changes("track", "Order Completed", {"ip": "1.2.3.0"}, None, cfg))
    ['context', 'counted', 'event:Order Completed', 'purchase', 'seen']
    >>> sorted(event_changes("identify", None, None, {"plan": "pro"}, cfg))
    ['seen', 'traits']
    >>> sorted(event_changes("group", None, None, {"plan": "pro"}, cfg))
    ['groups', 'seen']
    """
    if isinstance(context, dict) and "consent" in context:
        return {ALL}  # a consent statement may withdraw or grant personalisation
    out = {"seen"}
    if type_ in cfg.counted_types:
        out.add("counted")
        out.add(f"event:{(name if type_ == 'track' and name else type_)[:200]}")
        if name in cfg.purchase_events or name in cfg.refund_events:
            out.add("purchase")
    if context:
        out.add("context")
    if type_ == "identify" and traits:
        out.add("traits")
    if type_ == "group":
        out.add("groups")  # the person's groups and their traits (rules.conditions.groups)
    return out
