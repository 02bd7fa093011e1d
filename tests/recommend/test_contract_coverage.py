"""Every registered implementation has a contract suite: each recommender kind, bandit policy and drift detector
that the package registers must be what some subclass of its contract class makes (``make()``).

A new model, policy or detector fails here until its contract subclass exists:

* recommender kinds register themselves when defined (``Recommender.__init_subclass__``); every module under
  ``pertinent.recommend`` is imported first, so a kind defined anywhere in the package counts;
* bandit policies are ``pertinent.bandits.registry.POLICIES``, drift detectors ``pertinent.drift.DETECTORS``.

The suites: ``tests/recommend/test_recommend_contract.py`` (``RecommenderContract``),
``tests/bandits/test_bandits_policies.py`` (``PolicyContract``), ``tests/dashboard/test_drift.py``
(``DriftContract``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import pertinent.recommend
from pertinent.bandits.registry import POLICIES
from pertinent.drift import DETECTORS
from pertinent.recommend.base import Recommender, registered_kinds

SUITES = {
    "recommender kind": ("tests.recommend.test_recommend_contract", "RecommenderContract"),
    "bandit policy": ("tests.bandits.test_bandits_policies", "PolicyContract"),
    "drift detector": ("tests.dashboard.test_drift", "DriftContract"),
}


# Kinds the package defines outside ``pertinent.recommend`` (a higher layer registers them on import; the
# composition root imports each so that served versions load).
PLUGIN_KINDS = {"spark_als": "pertinent.spark.model"}


def recommender_kinds() -> dict[str, type]:
    """Every kind defined by the package (not by tests), after importing all of ``pertinent.recommend`` and the
    modules of :data:`PLUGIN_KINDS`."""
    for module in pkgutil.walk_packages(pertinent.recommend.__path__, "pertinent.recommend."):
        importlib.import_module(module.name)
    for name in PLUGIN_KINDS.values():
        importlib.import_module(name)
    return {k: cls for k, cls in registered_kinds().items() if cls.__module__.startswith("pertinent.")}


def registries() -> dict[str, Mapping[str, type]]:
    return {"recommender kind": recommender_kinds(), "bandit policy": POLICIES, "drift detector": DETECTORS}


def subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def covered(what: str) -> dict[type, list[str]]:
    """The classes the contract subclasses of ``what`` make, with the names of those subclasses."""
    module, name = SUITES[what]
    contract = getattr(importlib.import_module(module), name)
    out: dict[type, list[str]] = {}
    for suite in subclasses(contract):
        made: Any = suite().make()
        out.setdefault(type(made), []).append(suite.__qualname__)
    return out


@pytest.mark.parametrize("what", sorted(SUITES))
def test_every_registered_implementation_has_a_contract_subclass(what: str) -> None:
    registry = registries()[what]
    assert registry, f"no {what} registered: the registry was not filled"
    suites = covered(what)
    missing = {key: f"{cls.__module__}.{cls.__qualname__}" for key, cls in registry.items() if cls not in suites}
    module, contract = SUITES[what]
    assert not missing, f"no {contract} subclass in {module} makes these registered ({what}): {missing}"


def test_the_recommender_kinds_are_the_built_in_ones() -> None:
    from pertinent.recommend.models import BUILT_IN, MODEL_KINDS

    assert set(recommender_kinds()) == set(MODEL_KINDS) == {cls.kind for cls in BUILT_IN} | set(PLUGIN_KINDS)
    for kind, module in PLUGIN_KINDS.items():
        assert MODEL_KINDS[kind].__module__ == module


def test_a_kind_registers_once_and_subclasses_without_their_own_kind_do_not() -> None:
    from pertinent.recommend.models import EASERecommender

    before = dict(registered_kinds())

    class Tuned(EASERecommender):  # no kind of its own: still "ease", which stays EASERecommender
        pass

    assert dict(registered_kinds()) == before and registered_kinds()["ease"] is EASERecommender
    with pytest.raises(TypeError, match="'ease' is already the kind of"):

        class Impostor(Recommender):
            kind = "ease"

    assert registered_kinds()["ease"] is EASERecommender and Tuned.kind == "ease"
