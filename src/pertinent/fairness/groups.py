"""Which group a profile is in, per audited dimension: ``device`` and ``country`` (from the profile's last
context), ``segment:<name>`` (member or not; the largest segments) and ``trait:<path>`` for each sensitive trait.

A trait value is a group when it is a string, a number or a boolean; anything else (a list, an object) goes to
``invalid type`` and is counted, so a sensitive trait of the wrong type shows in the audit instead of failing it.
Missing values are ``unknown``; beyond ``max_groups`` the smallest groups pool as ``other``.

>>> from pertinent.storage.base import ProfileRow
>>> row = ProfileRow("p1", traits={"gender": "f", "tags": ["x"]}, state={"context": {"device_type": "mobile"}})
>>> profile_groups(row, ["gender", "tags"], {"seg-1": "VIP"}, {"seg-1"})
{'device': 'mobile', 'country': 'unknown', 'trait:gender': 'f', 'trait:tags': 'invalid type', 'segment:VIP': 'member'}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pertinent.storage.base import ProfileRow

UNKNOWN, INVALID, OTHER = "unknown", "invalid type", "other"


def _label(value: Any) -> str:
    if value is None or value == "":
        return UNKNOWN
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value).strip()[:100] or UNKNOWN
    return INVALID


def _lookup(traits: Mapping[str, Any], path: str) -> Any:
    cur: Any = traits
    for key in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def profile_groups(
    row: ProfileRow,
    sensitive: Sequence[str],
    segments: Mapping[str, str],
    member_of: Collection[str],
) -> dict[str, str]:
    """``{dimension: group}`` for one profile; ``segments`` = audited segment id -> name."""
    raw = row.state.get("context")
    context: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    out = {"device": _label(context.get("device_type")), "country": _label(context.get("country"))}
    for path in sensitive:
        out[f"trait:{path}"] = _label(_lookup(row.traits, path))
    for seg_id, name in segments.items():
        out[f"segment:{name}"] = "member" if seg_id in member_of else "not a member"
    return out


def pool(groups: Mapping[str, Mapping[str, str]], max_groups: int) -> dict[str, dict[str, str]]:
    """Per dimension with more than ``max_groups`` groups, keep the ``max_groups - 1`` largest and pool the rest as
    ``other``.

    >>> pool({"a": {"d": "x"}, "b": {"d": "y"}, "c": {"d": "y"}, "e": {"d": "z"}}, 2)
    {'a': {'d': 'other'}, 'b': {'d': 'y'}, 'c': {'d': 'y'}, 'e': {'d': 'other'}}
    """
    sizes: dict[str, Counter[str]] = {}
    for dims in groups.values():
        for dim, g in dims.items():
            sizes.setdefault(dim, Counter())[g] += 1
    keep = {
        dim: {g for g, _ in c.most_common(max_groups - 1)} if len(c) > max_groups else set(c)
        for dim, c in sizes.items()
    }
    return {pid: {dim: g if g in keep[dim] else OTHER for dim, g in dims.items()} for pid, dims in groups.items()}
