"""Duplicate candidates: profiles that may be one person, by fuzzy matching (rapidfuzz) of the traits they keep.

Equal identifiers match exactly: an email or phone number is normalised before it is pseudonymised, so two
profiles with the same address hold the same pseudonym (``h_...``) and score 100. Traits kept in clear (name,
email local part, phone, address, postal code) are compared fuzzily: each field's similarity (0-100), weighted,
over the fields both profiles have. Pairs are only compared within blocks (a shared email local-part prefix, name
key or phone tail), so the work grows with the blocks, not with the square of the population.

>>> a = record("a", {"firstName": "Jonathan", "lastName": "Smith", "email": "jon.smith@example.com"})
>>> b = record("b", {"name": "Jonathon  smith", "email": "jonsmith@example.com"})
>>> c = record("c", {"name": "Maria Lopez", "email": "maria@example.org"})
>>> [(p.a, p.b, p.score >= 85) for p in candidates([a, b, c], threshold=60)]
[('a', 'b', True)]
>>> candidates([record("x", {"email": "h_1"}), record("y", {"email": "h_1"})])[0].reasons
{'email': 100.0}
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

WEIGHTS = {"name": 0.45, "email_local": 0.3, "phone": 0.15, "address": 0.1}
EXACT = ("email", "phone")  # equal values (clear or pseudonymised) are the same person
MAX_BLOCK = 200  # a larger block (a common name) is not compared pairwise
_NON_DIGIT = re.compile(r"\D")


@dataclass(frozen=True)
class Record:
    """What matching reads of a profile (lower-cased, whitespace collapsed)."""

    profile_id: str
    name: str = ""
    email: str = ""  # as stored: clear or a pseudonym
    email_local: str = ""  # clear addresses only, dots and +tags removed
    phone: str = ""  # as stored (E.164 when clear)
    address: str = ""


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float
    reasons: dict[str, float] = field(default_factory=dict)


def _text(value: Any) -> str:
    return " ".join(str(value).split()).lower() if isinstance(value, str | int | float) else ""


def record(profile_id: str, traits: dict[str, Any]) -> Record:
    """The matching view of a profile's traits."""
    name = _text(traits.get("name")) or _text(f"{traits.get('firstName') or ''} {traits.get('lastName') or ''}")
    email = _text(traits.get("email"))
    local = ""
    if "@" in email:
        local = email.split("@", 1)[0].split("+", 1)[0].replace(".", "")
    address = traits.get("address")
    if isinstance(address, dict):
        address = " ".join(str(address.get(k) or "") for k in ("street", "city", "postalCode"))
    address = _text(address) or _text(traits.get("postalCode"))
    return Record(profile_id, name, email, local, _text(traits.get("phone")), address)


def _blocks(r: Record) -> set[str]:
    keys = set()
    if r.email:
        keys.add("e:" + r.email)
    if r.phone:
        keys.add("p:" + r.phone)
    if len(r.email_local) >= 3:
        keys.add("l:" + r.email_local[:4])
    tokens = sorted(t for t in re.split(r"\W+", r.name) if t)
    if tokens:
        keys.add("n:" + tokens[-1][:3] + tokens[0][:1])  # a token's start, whatever the order of the name
        keys.add("n:" + tokens[0][:3] + tokens[-1][:1])
    digits = _NON_DIGIT.sub("", r.phone)
    if len(digits) >= 6:
        keys.add("d:" + digits[-6:])
    return keys


def score(a: Record, b: Record) -> tuple[float, dict[str, float]]:
    """The match score of two records (0-100) and each compared field's similarity."""
    for name in EXACT:
        va, vb = getattr(a, name), getattr(b, name)
        if va and va == vb:
            return 100.0, {name: 100.0}
    sims: dict[str, float] = {}
    if a.name and b.name:
        sims["name"] = fuzz.token_sort_ratio(a.name, b.name)
    if a.email_local and b.email_local:
        sims["email_local"] = fuzz.ratio(a.email_local, b.email_local)
    if a.phone and b.phone and not a.phone.startswith("h_") and not b.phone.startswith("h_"):
        sims["phone"] = fuzz.ratio(_NON_DIGIT.sub("", a.phone), _NON_DIGIT.sub("", b.phone))
    if a.address and b.address:
        sims["address"] = fuzz.token_set_ratio(a.address, b.address)
    if not sims or ("name" not in sims and "email_local" not in sims):
        return 0.0, sims  # an address or phone alone does not name a person
    weight = sum(WEIGHTS[k] for k in sims)
    total = sum(WEIGHTS[k] * v for k, v in sims.items()) / weight
    if len(sims) == 1:
        total *= 0.9  # one field alone is weaker evidence
    return round(total, 2), {k: round(v, 2) for k, v in sims.items()}


def _bounds(members: list[Record]) -> np.ndarray:
    """An upper bound of :func:`score` for every pair of a block, from the name and email similarities computed at
    once (``rapidfuzz.process.cdist``), the other fields counted as perfect: pairs below the threshold are skipped."""
    n = len(members)
    names = [m.name for m in members]
    locals_ = [m.email_local for m in members]
    name = process.cdist(names, names, scorer=fuzz.token_sort_ratio, dtype=np.float32)
    local = process.cdist(locals_, locals_, scorer=fuzz.ratio, dtype=np.float32)
    has_name = np.array([bool(v) for v in names])
    has_local = np.array([bool(v) for v in locals_])
    both_name = np.outer(has_name, has_name)
    both_local = np.outer(has_local, has_local)
    rest = WEIGHTS["phone"] + WEIGHTS["address"]
    weight = rest + WEIGHTS["name"] * both_name + WEIGHTS["email_local"] * both_local
    total = 100.0 * rest + WEIGHTS["name"] * name * both_name + WEIGHTS["email_local"] * local * both_local
    bound = total / weight
    exact = np.zeros((n, n), dtype=bool)
    for field_ in EXACT:
        values = [getattr(m, field_) for m in members]
        for i in range(n):
            if values[i]:
                exact[i] |= np.array([v == values[i] for v in values])
    return np.where(exact, 100.0, bound)


def candidates(records: list[Record], threshold: float = 90.0) -> list[Pair]:
    """The pairs scoring at least ``threshold``, best first (each pair once, ``a < b``)."""
    blocks: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        for key in _blocks(r):
            blocks[key].append(r)
    seen: set[tuple[str, str]] = set()
    out: list[Pair] = []
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:
            continue
        bound = _bounds(members)
        for i, j in zip(*np.nonzero(np.triu(bound >= threshold, k=1)), strict=True):
            x, y = members[int(i)], members[int(j)]
            a, b = (x, y) if x.profile_id < y.profile_id else (y, x)
            pair = (a.profile_id, b.profile_id)
            if pair in seen or a.profile_id == b.profile_id:
                continue
            seen.add(pair)
            s, reasons = score(a, b)
            if s >= threshold:
                out.append(Pair(a.profile_id, b.profile_id, s, reasons))
    return sorted(out, key=lambda p: (-p.score, p.a, p.b))
