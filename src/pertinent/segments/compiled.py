"""The profile facts compiled rules read (``pertinent.rules.facts.Facts``), bound to the profile summary.

A compiled rule gives what ``rules.evaluate(rule, make_view(state, now, cfg, traits, consent), now)`` gives — a
property test checks it on random rules and profiles.

>>> from pertinent.rules import compile_rule
>>> from pertinent.segments.templates import template
>>> check = compile_rule(template("frequent_buyers", min_orders=2).rule)
>>> state = {"counts": {"Order Completed": {"total": 2, "days": {"100": 1, "101": 1}}}}
>>> check(Facts(state, {}, {}, now=101 * 86400.0, cfg=ProfileConfig()))
True
>>> check(Facts(state, {}, {}, now=140 * 86400.0, cfg=ProfileConfig()))
False
"""

from __future__ import annotations

from typing import Any

from pertinent.profiles.features import ProfileConfig, summarize
from pertinent.rules import facts


class Facts(facts.Facts):
    """One stored profile as compiled rules see it at one moment (``cfg``: its :class:`ProfileConfig`).

    >>> f = Facts({"counts": {"buy": {"total": 3, "days": {"9": 2, "2": 1}}}}, {}, {}, now=10 * 86400.0,
    ...           cfg=ProfileConfig())
    >>> f.count(("buy",), 7), f.count(("buy",), 30), f.feature("counts")["buy"]["7d"]
    (2, 3, 2)
    """

    __slots__ = ()
    cfg: ProfileConfig

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        return summarize(state, self.moment.now, self.cfg)
