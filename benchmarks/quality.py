"""Identity deduplication: precision and recall on a synthetic population with injected duplicates.

Usage: .venv/bin/python benchmarks/quality.py [--people 5000] [--dup-share 0.2] [--seed 7]

A population of people (names drawn from small lists, so many distinct people share a full name: hard negatives),
each with an email, a phone number and an address. A share of them get a second profile with the kind of
differences real duplicates have: case and spacing, a typo in the name, the name's parts swapped, the email
written with other case or dots or a +tag or at another provider, the phone in national rather than international
format, the address abbreviated. Every method sees the traits as ingestion stores them (identifiers normalised
first, :func:`pertinent.quality.normalize.identifier`) and is scored on the true duplicate pairs:

* ``raw exact email`` (the peer, what Pertinent did before): same email string as sent;
* ``normalised identifiers``: same normalised email or E.164 phone, i.e. the same pseudonym when PII is
  pseudonymised (the default), with no fuzzy matching;
* ``fuzzy >= t``: :func:`pertinent.quality.matching.candidates` on traits kept in clear, at threshold ``t``.
"""

from __future__ import annotations

import argparse
import platform
import random
import time

from pertinent.quality import matching
from pertinent.quality.normalize import identifier

FIRST = """James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph
Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Margaret Donald Sandra Steven Ashley
Paul Kimberly Andrew Emily Joshua Donna Kenneth Michelle Kevin Dorothy Brian Carol George Amanda Edward Melissa Ronald
Deborah Timothy Stephanie Jason Rebecca Jeffrey Sharon Ryan Laura Jacob Cynthia""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson
Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker
Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter
Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward""".split()
STREETS = "Oak Maple Pine Cedar Elm Washington Lake Hill Park Main Church High Mill Station".split()
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "example.org", "mail.net"]


def person(i: int, rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    area, number = rng.randint(201, 989), rng.randint(2000000, 9999999)
    sep = rng.choice([".", "", "_"])
    return {
        "firstName": first,
        "lastName": last,
        "email": f"{first.lower()}{sep}{last.lower()}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}",
        "phone": f"+1 {area} {str(number)[:3]}-{str(number)[3:]}",
        "address": f"{rng.randint(1, 999)} {rng.choice(STREETS)} Street, {rng.randint(10000, 99999)}",
    }


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(["swap", "drop", "double", "replace"])
    if op == "swap":
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiourstn") + word[i + 1 :]


def duplicate(p: dict[str, str], rng: random.Random) -> dict[str, str]:
    """Another profile of the same person, as another channel would have recorded it."""
    d = dict(p)
    first, last = p["firstName"], p["lastName"]
    name_change = rng.choice(["case", "typo", "swap", "same", "spaces"])
    if name_change == "case":
        first, last = first.upper(), last.lower()
    elif name_change == "typo":
        last = typo(last, rng) if rng.random() < 0.5 else last
        first = typo(first, rng) if last == p["lastName"] else first
    elif name_change == "swap":
        d.pop("firstName"), d.pop("lastName")
        d["name"] = f"{last} {first}"
    elif name_change == "spaces":
        first = f"  {first} "
    if "name" not in d:
        d["firstName"], d["lastName"] = first, last
    local, domain = p["email"].split("@")
    email_change = rng.choice(["case", "spaces", "tag", "dots", "provider", "typo", "missing"])
    if email_change == "case":
        d["email"] = p["email"].upper()
    elif email_change == "spaces":
        d["email"] = f" {p['email']} "
    elif email_change == "tag":
        d["email"] = f"{local}+shop@{domain}"
    elif email_change == "dots":
        d["email"] = f"{local.replace('.', '').replace('_', '')}@{domain}"
    elif email_change == "provider":
        d["email"] = f"{local}@{rng.choice([x for x in DOMAINS if x != domain])}"
    elif email_change == "typo":
        d["email"] = f"{typo(local, rng)}@{domain}"
    else:
        d.pop("email")
    digits = "".join(c for c in p["phone"] if c.isdigit())[1:]
    phone_change = rng.choice(["national", "dots", "missing", "same"])
    if phone_change == "national":
        d["phone"] = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    elif phone_change == "dots":
        d["phone"] = f"{digits[:3]}.{digits[3:6]}.{digits[6:]}"
    elif phone_change == "missing":
        d.pop("phone")
    if rng.random() < 0.5:
        d["address"] = p["address"].replace("Street", "St").lower()
    return d


def stored(traits: dict[str, str]) -> dict[str, str]:
    """Traits as ingestion keeps them in clear: identifiers normalised (email lower-cased, phone in E.164)."""
    return {k: identifier(k, v, "US") for k, v in traits.items()}


def scores(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--dup-share", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    profiles: dict[str, dict[str, str]] = {}
    truth: set[tuple[str, str]] = set()
    for i in range(args.people):
        p = person(i, rng)
        profiles[f"p{i:06d}"] = p
        if rng.random() < args.dup_share:
            profiles[f"q{i:06d}"] = duplicate(p, rng)
            truth.add((f"p{i:06d}", f"q{i:06d}"))
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"profiles {len(profiles)} ({args.people} people, {len(truth)} injected duplicates), seed {args.seed}\n")
    print(f"{'method':<26} {'pairs':>7} {'precision':>9} {'recall':>7} {'F1':>6} {'seconds':>8}")

    def show(name: str, found: set[tuple[str, str]], seconds: float) -> None:
        p, r, f = scores(found, truth)
        print(f"{name:<26} {len(found):>7} {p:>9.3f} {r:>7.3f} {f:>6.3f} {seconds:>8.2f}")

    t = time.perf_counter()
    by_raw: dict[str, list[str]] = {}
    for pid, tr in profiles.items():
        if tr.get("email"):
            by_raw.setdefault(tr["email"], []).append(pid)
    raw = {tuple(sorted(ids[:2])) for ids in by_raw.values() if len(ids) > 1}
    show("raw exact email (peer)", raw, time.perf_counter() - t)  # type: ignore[arg-type]

    t = time.perf_counter()
    clear = {pid: stored(tr) for pid, tr in profiles.items()}
    keys: dict[str, list[str]] = {}
    for pid, tr in clear.items():
        for k in ("email", "phone"):
            if tr.get(k):
                keys.setdefault(f"{k}:{tr[k]}", []).append(pid)
    exact = {(a, b) for ids in keys.values() for a in ids for b in ids if a < b}
    show("normalised identifiers", exact, time.perf_counter() - t)

    records = [matching.record(pid, tr) for pid, tr in clear.items()]
    for threshold in (80.0, 85.0, 90.0, 95.0):
        t = time.perf_counter()
        pairs = matching.candidates(records, threshold)
        show(f"fuzzy >= {threshold:g}", {(p.a, p.b) for p in pairs}, time.perf_counter() - t)


if __name__ == "__main__":
    main()
