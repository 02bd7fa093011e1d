"""The condition interface: every condition class of the rule language owns, in one place,

- how it evaluates a profile view (:meth:`ConditionBase.check`, the interpreted path, with what it observed),
- how it compiles into a closure over :class:`~pertinent.rules.facts.Facts` (:meth:`ConditionBase.compile`, the
  real-time fast path; the result must agree with ``check``, a property test holds them in step),
- what it reads, as change tokens (:meth:`ConditionBase.triggers`): a profile update whose changes miss them cannot
  change its outcome at that moment,
- when time alone can change its outcome (:meth:`ConditionBase.time_bounds`),
- how it reads to a person (:meth:`ConditionBase.describe`).

Change tokens: ``event:<name>`` the counts of that event, ``counted`` totals, sessions, affinities and recent
items, ``seen`` first/last seen, ``purchase`` RFM, ``context``, ``traits``, ``consent``, ``groups`` the person's groups
(accounts) and their traits; :data:`ALL` everything.

>>> TimeBounds(midnight=True) | TimeBounds(spans=frozenset({("first_seen", 86400.0)}))
TimeBounds(spans=frozenset({('first_seen', 86400.0)}), midnight=True, always=False)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, Field

from pertinent.rules.facts import Facts
from pertinent.rules.view import ConditionView

Check = Callable[[Facts], bool]
ALL = "*"  # the change token that stands for every change

EventName = Annotated[str, Field(min_length=1, max_length=200)]
Key = Annotated[str, Field(min_length=1, max_length=200)]


@dataclass(frozen=True)
class TimeBounds:
    """When time alone can change a rule's outcome for a profile that does not change: as ``timestamp + seconds``
    passes, for each (timestamp field, seconds) in ``spans`` (days since first/last seen or last purchase); at UTC
    midnights (``midnight``: event counts in day-bucket windows); or at any moment (``always``: local time,
    decaying or unknown features). The segments' sweep re-checks only the profiles these bounds say may have
    changed.
    """

    spans: frozenset[tuple[str, float]] = frozenset()
    midnight: bool = False
    always: bool = False

    def __or__(self, other: TimeBounds) -> TimeBounds:
        return TimeBounds(self.spans | other.spans, self.midnight or other.midnight, self.always or other.always)

    @property
    def timed(self) -> bool:
        """Whether time can change the outcome at all."""
        return bool(self.spans) or self.midnight or self.always


@dataclass(frozen=True, slots=True)
class Explanation:
    """Which part of a rule held: ``path`` in the rule, a description, the outcome, what was observed."""

    path: str
    condition: str
    held: bool
    observed: Any = None
    children: tuple[Explanation, ...] = field(default_factory=tuple)

    def lines(self, indent: int = 0) -> list[str]:
        """A readable tree, one line per condition."""
        mark = "yes" if self.held else "no "
        seen = "" if self.children or self.observed is None else f"  (observed {self.observed!r})"
        out = [f"{'  ' * indent}[{mark}] {self.condition}{seen}"]
        for child in self.children:
            out += child.lines(indent + 1)
        return out


class ConditionBase(BaseModel):
    """A condition of the rule language (a frozen pydantic model tagged by ``type``). A new condition subclasses
    this, implements the abstract methods and is registered in the unions of the languages it belongs to
    (``rules.language.Rule``, ``rules.targeting.Condition``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # whether it reads the stored profile (its summary, state, traits or consent): slot targeting loads a
    # profile's features only for slots with such conditions
    reads_profile: ClassVar[bool] = True

    if TYPE_CHECKING:
        type: str  # each condition declares its tag as a Literal

    def holds(self, v: ConditionView) -> bool:
        """Whether the condition holds for the view (interpreted)."""
        return self.check(v)[0]

    @abstractmethod
    def check(self, v: ConditionView) -> tuple[bool, Any]:
        """(held, observed value) for the view (interpreted)."""

    @abstractmethod
    def describe(self) -> str:
        """One line for people."""

    @abstractmethod
    def compile(self) -> Check:
        """A function ``Facts -> bool`` equivalent to :meth:`holds` on the full view of the same profile."""

    @abstractmethod
    def triggers(self) -> frozenset[str]:
        """What the condition reads, as change tokens (see the module)."""

    @abstractmethod
    def time_bounds(self) -> TimeBounds:
        """When time alone can change the outcome (``TimeBounds()``: never)."""

    def parts(self) -> tuple[ConditionBase, ...]:
        """The sub-conditions (of ``and``, ``or``, ``not``); none for a leaf."""
        return ()

    def explain(self, v: ConditionView, path: str = "") -> Explanation:
        """Evaluate this condition and every sub-condition (no short-circuit); ``path`` is where it sits."""
        held, observed = self.check(v)
        return Explanation(path, self.describe(), held, observed)


def union_classes(union: Any) -> tuple[type[ConditionBase], ...]:
    """The condition classes of a language (an ``Annotated`` discriminated union), in its order."""
    classes: tuple[type[ConditionBase], ...] = get_args(get_args(union)[0])
    return classes


def union_types(union: Any) -> tuple[str, ...]:
    """The ``type`` tags of a language, in its order (what an unknown tag's error message lists)."""
    return tuple(str(cls.model_fields["type"].default) for cls in union_classes(union))
