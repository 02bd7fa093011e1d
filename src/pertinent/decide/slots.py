"""Slots: a place on a page (``home.hero``) with named variants (each a content block), ordered targeting
rules and a default. A rule's action shows a variant, runs an experiment or a bandit over the variants, or
fills the slot from the recommender. Plain data: round-trips to JSON.

The first rule whose condition holds and whose action produces something decides. An experiment that is not
running, or that does not enrol the user (namespace, holdout, coverage), falls through to the next rule, as
does a recommender with nothing to recommend. The ``default`` serves everyone else, including users with no
or sparse data (``min_events`` on a rule sends profiles with fewer events past it).

>>> slot, errors = parse_slot({"id": "home.hero", "variants": {"spring": "hero-spring", "plain": "hero-plain"},
...     "rules": [{"name": "mobile", "when": {"type": "context", "field": "device_type", "op": "eq",
...                "value": "mobile"}, "then": {"kind": "variant", "variant": "spring"}}],
...     "default": {"kind": "variant", "variant": "plain"}})
>>> errors, slot.rules[0].then.variant
([], 'spring')
>>> parse_slot({"id": "s", "variants": {"a": "b1"}, "default": {"kind": "variant", "variant": "zz"}})[1]
[{'field': 'default.variant', 'message': "unknown variant 'zz'; the slot's variants are ['a']"}]
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pertinent.decide.blocks import DOC_ID, MAX_TEMPLATE
from pertinent.errorpath import field_errors
from pertinent.rules.targeting import PROFILE_TYPES, Condition, condition_types

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=DOC_ID)]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShowVariant(_Action):
    """Show one variant.

    >>> ShowVariant(variant="spring").model_dump()
    {'kind': 'variant', 'variant': 'spring'}
    """

    kind: Literal["variant"] = "variant"
    variant: Name


class RunExperiment(_Action):
    """Assign the user to an experiment (GrowthBook hashing, sticky); its variant names are slot variants.

    >>> RunExperiment(experiment="hero-test").kind
    'experiment'
    """

    kind: Literal["experiment"] = "experiment"
    experiment: Name


class BanditReward(BaseModel):
    """What a bandit learns from: outcomes of ``events`` (default: the configured click events) within
    ``window_s`` of the decision; ``value``: the outcome values summed (e.g. revenue) instead of 0/1.

    >>> BanditReward().window_s
    3600.0
    """

    model_config = ConfigDict(extra="forbid")

    events: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = None
    value: bool = False
    window_s: float = Field(default=3600.0, ge=0, le=30 * 86400)


class RunBandit(_Action):
    """A multi-armed bandit over ``arms`` (default: every variant). ``policy`` is one of the bandit library's
    policies; ``params`` its settings (``epsilon``, ``c``, ``reward``...); ``min_share`` the floor per arm.
    ``linucb`` uses the request context (device type, local hour) as features.

    >>> RunBandit(policy="ucb1", min_share=0.1).reward.value
    False
    """

    kind: Literal["bandit"] = "bandit"
    policy: Literal["thompson", "epsilon_greedy", "ucb1", "linucb"] = "thompson"
    arms: list[Name] | None = Field(default=None, min_length=1, max_length=50)
    min_share: float = Field(default=0.05, ge=0, le=1)
    params: dict[str, Any] = Field(default_factory=dict)
    reward: BanditReward = Field(default_factory=BanditReward)


class Recommend(_Action):
    """A product list from the recommender (``k`` items, optional category filters). ``block`` names a
    ``product_list`` block whose content (title...) and template are used; ``title`` overrides its title.

    >>> Recommend(k=3, include_categories=["shoes"]).k
    3
    """

    kind: Literal["recommender"] = "recommender"
    k: int = Field(default=4, ge=1, le=50)
    include_categories: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    exclude_categories: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    title: str | None = Field(default=None, max_length=300)
    block: Name | None = None
    template: str | None = Field(default=None, max_length=MAX_TEMPLATE)


class ModelRef(BaseModel):
    """A recommender version of the model registry: ``model`` (a model name, e.g. ``default`` or ``ease``) and
    ``version`` (``v3``, or ``latest``: the newest version when the list is made).

    >>> ModelRef(model="ease").version
    'latest'
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    version: str = Field(default="latest", pattern=r"^(latest|v[0-9]{1,9})$")


class CompareRecommenders(Recommend):
    """Recommender versions side by side: ``experiment`` assigns each user a variant (hashing, sticky, weights,
    status, as for ``experiment`` actions) and ``versions[variant]`` fills the list; the other fields are the
    ``recommender`` action's. Its results per version: ``GET /v1/experiments/{key}/versions``.

    >>> a = CompareRecommenders(experiment="rec-ab", versions={"a": {"model": "default", "version": "v1"},
    ...                                                         "b": {"model": "ease"}})
    >>> a.kind, a.versions["b"].version, a.k
    ('recommender_experiment', 'latest', 4)
    """

    kind: Literal["recommender_experiment"] = "recommender_experiment"  # type: ignore[assignment]
    experiment: Name
    versions: dict[Name, ModelRef] = Field(min_length=2, max_length=20)


AnyAction = ShowVariant | RunExperiment | RunBandit | CompareRecommenders | Recommend
Action = Annotated[AnyAction, Field(discriminator="kind")]
DefaultAction = Annotated[ShowVariant | Recommend, Field(discriminator="kind")]


class TargetingRule(BaseModel):
    """``when`` (a condition; absent = always) -> ``then`` (an action). ``min_events``: profiles with fewer
    stored events skip this rule (sparse data).

    >>> TargetingRule(then=ShowVariant(variant="a"), min_events=3).when is None
    True
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    when: Condition | None = None
    then: Action
    min_events: int = Field(default=0, ge=0)


class Slot(BaseModel):
    """A slot: ``variants`` maps variant names to block ids; ``rules`` are tried in order; then ``default``.

    >>> s = Slot(id="home.hero", variants={"a": "blk-a"}, default=ShowVariant(variant="a"))
    >>> Slot.model_validate_json(s.model_dump_json()) == s
    True
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=DOC_ID)
    description: str = Field(default="", max_length=2000)
    variants: dict[Name, Name] = Field(default_factory=dict, max_length=100)
    rules: list[TargetingRule] = Field(default_factory=list, max_length=100)
    default: DefaultAction

    @model_validator(mode="after")
    def _variants_exist(self) -> Slot:
        def known(name: str) -> None:
            if name not in self.variants:
                raise ValueError(f"unknown variant {name!r}; the slot's variants are {sorted(self.variants)}")

        problems: list[tuple[str, str]] = []
        for where, action in self.actions():
            try:
                if isinstance(action, ShowVariant):
                    known(action.variant)
                elif isinstance(action, RunBandit):
                    for arm in action.arms or []:
                        known(arm)
                    if not (action.arms or self.variants):
                        raise ValueError("a bandit needs at least one variant")
                    if len(set(action.arms or [])) != len(action.arms or []):
                        raise ValueError("arms must be unique")
                    if action.min_share * len(action.arms or self.variants) > 1 + 1e-12:
                        raise ValueError("min_share times the number of arms must be at most 1")
            except ValueError as exc:
                field = {ShowVariant: "variant", RunBandit: "arms"}.get(type(action), "kind")
                if "min_share" in str(exc):
                    field = "min_share"
                problems.append((f"{where}.{field}", str(exc)))
        if problems:  # raised as one error naming the first path; parse_slot reports every path
            raise _SlotProblems(problems)
        return self

    # ---------------------------------------------------------------- what serving needs
    def actions(self) -> list[tuple[str, AnyAction]]:
        """Every action with its JSON path: the rules' in order, then the default.

        >>> [where for where, _ in Slot(id="s", variants={"a": "b"}, default=ShowVariant(variant="a")).actions()]
        ['default']
        """
        return [(f"rules[{i}].then", r.then) for i, r in enumerate(self.rules)] + [("default", self.default)]

    def recommends(self) -> bool:
        """Whether any action fills the slot from the recommender."""
        return any(isinstance(action, Recommend) for _, action in self.actions())

    def uses(self) -> set[str]:
        """Condition types used by any rule."""
        out: set[str] = set()
        for r in self.rules:
            if r.when is not None:
                out |= condition_types(r.when)
        return out

    def needs_features(self) -> bool:
        return bool(self.uses() & PROFILE_TYPES) or any(r.min_events for r in self.rules)

    def experiments(self) -> list[str]:
        return [r.then.experiment for r in self.rules if isinstance(r.then, RunExperiment | CompareRecommenders)]

    def experiment_variants(self, key: str) -> set[str] | None:
        """The variant names an experiment may assign on this slot (its variants, or the versions of a
        recommender experiment); None when the slot does not run it."""
        out: set[str] | None = None
        for r in self.rules:
            if isinstance(r.then, RunExperiment) and r.then.experiment == key:
                out = (out or set()) | set(self.variants)
            elif isinstance(r.then, CompareRecommenders) and r.then.experiment == key:
                out = (out or set()) | set(r.then.versions)
        return out

    def blocks(self) -> set[str]:
        out = set(self.variants.values())
        for _, action in self.actions():
            if isinstance(action, Recommend) and action.block:
                out.add(action.block)
        return out


class _SlotProblems(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(f"{problems[0][0]}: {problems[0][1]}")


def parse_slot(data: Any) -> tuple[Slot | None, list[dict[str, str]]]:
    """Validate a slot given as parsed JSON; ``(slot, [])`` or ``(None, errors)``. Never raises."""
    if not isinstance(data, dict):
        return None, [{"field": "body", "message": "a slot must be a JSON object"}]
    try:
        return Slot.model_validate(data), []
    except _SlotProblems as exc:
        return None, [{"field": f, "message": m} for f, m in exc.problems]
    except ValidationError as exc:
        inner = [e for e in exc.errors() if isinstance((e.get("ctx") or {}).get("error"), _SlotProblems)]
        if inner:
            return None, [{"field": f, "message": m} for f, m in inner[0]["ctx"]["error"].problems]
        return None, field_errors(exc, data)
    except (RecursionError, TypeError) as exc:
        return None, [{"field": "body", "message": f"cannot read slot: {exc}"}]
