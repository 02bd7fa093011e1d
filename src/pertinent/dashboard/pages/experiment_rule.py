"""Which result of an experiment is the decision rule, and what a comparison is then called.

**The rule.** While an experiment runs, a person looks at it again and again; stopping the first time the
fixed-horizon test says "significant" makes a false positive far likelier than alpha (23% measured over
daily looks). The sequential test (an always-valid p-value and confidence sequence, :mod:`pertinent.
experiments.sequential`) stays valid at every look, so it is the decision rule until the experiment's
planned end. The fixed-horizon test (:mod:`pertinent.experiments.frequentist`) is the rule only once a
planned end is reached: a planned end time, or a planned number of units (``planned_end``,
``planned_units``, read from the experiment's document or analysis). Without a planned end the sequential
result stays the rule, also after the experiment is stopped: a stop decided by looking is no planned
horizon. :func:`choose_rule` picks it and says why.

**One test per row.** A row shows the chosen test's p-value (adjusted across the experiment's comparisons,
with the experiment's correction), that same test's interval on the *absolute* difference (treatment minus
control: percentage points for a conversion rate, the metric's unit for a continuous one) and a verdict
(:func:`verdict`) that cannot contradict the interval: "significant" only when the p-value is below alpha
*and* the interval excludes 0 on the side the verdict names. A significant change in the wrong direction
(lower for a metric where higher is better, or the reverse) is a harm, never shown as a win. Interval
labels come from the configured alpha (:func:`confidence`).

>>> rule = choose_rule(status="running", planned_end=None, planned_units=None, units=1200, now=0.0, alpha=0.1)
>>> rule.kind, rule.interval_label
('sequential', '90% always-valid CI')
>>> verdict(0.01, 0.02, 0.08, alpha=0.05, higher_is_better=False, corrected=False).label
'significant harm'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pertinent.dashboard import charts

RuleKind = Literal["sequential", "fixed_horizon"]


def confidence(alpha: float) -> str:
    """The confidence level of ``alpha`` as people write it.

    >>> confidence(0.05), confidence(0.1), confidence(0.005), confidence(1 / 3)
    ('95%', '90%', '99.5%', '66.7%')
    """
    return f"{round(100 * (1 - alpha), 1):g}%"


@dataclass(frozen=True, kw_only=True)
class DecisionRule:
    """The test whose result decides, with the confidence it is read at and why it was chosen."""

    kind: RuleKind
    alpha: float
    reason: str

    @property
    def name(self) -> str:
        return "sequential (always-valid) test" if self.kind == "sequential" else "fixed-horizon test"

    @property
    def interval_label(self) -> str:
        """E.g. ``95% always-valid CI`` or ``90% CI``."""
        return f"{confidence(self.alpha)} {'always-valid CI' if self.kind == 'sequential' else 'CI'}"


def planned_end_of(*sources: dict[str, Any]) -> tuple[float | None, int | None]:
    """The planned end time (epoch seconds; ISO 8601 text is read too) and planned units of the first source
    that has each (the experiment's document, its analysis); None where none says.

    >>> planned_end_of({"planned_end": "2030-01-01T00:00:00Z"}, {"planned_units": 5000})
    (1893456000.0, 5000)
    >>> planned_end_of({"planned_end": "soon", "planned_units": -3})
    (None, None)
    """
    end: float | None = None
    units: int | None = None
    for source in sources:
        if end is None:
            end = _time(source.get("planned_end"))
        if units is None:
            raw = source.get("planned_units")
            if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw) and raw > 0:
                units = int(raw)
    return end, units


def _time(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def choose_rule(
    *, status: str, planned_end: float | None, planned_units: int | None, units: int, now: float, alpha: float
) -> DecisionRule:
    """The sequential test until a planned end (time or units) is reached, then the fixed-horizon test.

    >>> choose_rule(status="stopped", planned_end=None, planned_units=None, units=9, now=0.0, alpha=0.05).kind
    'sequential'
    >>> r = choose_rule(status="running", planned_end=None, planned_units=1000, units=1000, now=0.0, alpha=0.05)
    >>> r.kind, r.reason
    ('fixed_horizon', 'the planned sample size (1,000 units) is reached')
    """
    reached = []
    if planned_units is not None and units >= planned_units:
        reached.append(f"the planned sample size ({planned_units:,} units) is reached")
    if planned_end is not None and now >= planned_end:
        reached.append(f"the planned end ({_day(planned_end)}) has passed")
    if reached:
        return DecisionRule(kind="fixed_horizon", alpha=alpha, reason=" and ".join(reached))
    plans = []
    if planned_units is not None:
        plans.append(f"{units:,} of {planned_units:,} planned units")
    if planned_end is not None:
        plans.append(f"planned end {_day(planned_end)}")
    if plans:
        why = f"the experiment has not reached its planned end ({'; '.join(plans)})"
    elif status == "running":
        why = "the experiment is running and has no planned end"
    else:
        why = "the experiment had no planned end, so its stop does not make a fixed-horizon test valid"
    return DecisionRule(
        kind="sequential",
        alpha=alpha,
        reason=f"{why}: the always-valid result stays valid however often it is looked at",
    )


def _day(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What a comparison is called: ``outcome`` is ``better``/``worse`` for a significant change (the css
    class too), else empty."""

    significant: bool
    outcome: Literal["better", "worse", ""]
    label: str


def verdict(
    p_value: float | None,
    low: float | None,
    high: float | None,
    *,
    alpha: float,
    higher_is_better: bool,
    corrected: bool,
) -> Verdict:
    """The verdict of one comparison from one test's adjusted p-value and interval (see the module docstring);
    ``corrected``: the p-value was adjusted for multiple comparisons (and so may exceed the raw one).

    >>> verdict(0.01, 0.02, 0.08, alpha=0.05, higher_is_better=True, corrected=False).label
    'significant improvement'
    >>> verdict(0.04, -0.01, 0.08, alpha=0.05, higher_is_better=True, corrected=False).label
    'not significant (the test and its interval disagree at the margin)'
    >>> verdict(0.08, 0.01, 0.08, alpha=0.05, higher_is_better=True, corrected=True).label
    'not significant after the correction for multiple comparisons'
    >>> verdict(None, None, None, alpha=0.05, higher_is_better=True, corrected=False).label
    'no result yet'
    """
    if p_value is None or low is None or high is None or not all(map(math.isfinite, (p_value, low, high))):
        return Verdict(significant=False, outcome="", label="no result yet")
    excludes_zero = low > 0 or high < 0
    if p_value < alpha and excludes_zero:
        good = (low > 0) == higher_is_better
        return Verdict(
            significant=True,
            outcome="better" if good else "worse",
            label="significant improvement" if good else "significant harm",
        )
    if excludes_zero and corrected:
        return Verdict(
            significant=False, outcome="", label="not significant after the correction for multiple comparisons"
        )
    if excludes_zero or p_value < alpha:
        return Verdict(
            significant=False, outcome="", label="not significant (the test and its interval disagree at the margin)"
        )
    return Verdict(significant=False, outcome="", label="not significant")


def fmt_difference(value: float | None, kind: str) -> str:
    """An absolute difference with its sign: percentage points for a conversion rate, else the metric's unit.

    >>> fmt_difference(0.0213, "conversion"), fmt_difference(-1.5, "continuous"), fmt_difference(None, "conversion")
    ('+2.13 pp', '-1.5', '–')
    """
    if value is None or not math.isfinite(value):
        return "–"
    if kind == "conversion":
        return f"{100 * value:+.3g} pp"
    text = charts.fmt_number(value)
    return text if text.startswith("-") else f"+{text}"
