"""The conditions of the rule language, one class each (see ``rules.base.ConditionBase`` for what a class owns);
the languages' unions (``rules.language.Rule``, ``rules.targeting.Condition``) register them."""

from pertinent.rules.conditions.comparisons import FeatureCondition, TraitCondition
from pertinent.rules.conditions.context import CampaignCondition, ContextCondition, LocalTimeCondition
from pertinent.rules.conditions.events import DidAndNotCondition, EventCountCondition
from pertinent.rules.conditions.groups import GroupCondition
from pertinent.rules.conditions.profile import AffinityCondition, ConsentCondition, SinceCondition

__all__ = [
    "AffinityCondition",
    "CampaignCondition",
    "ConsentCondition",
    "ContextCondition",
    "DidAndNotCondition",
    "EventCountCondition",
    "FeatureCondition",
    "GroupCondition",
    "LocalTimeCondition",
    "SinceCondition",
    "TraitCondition",
]
