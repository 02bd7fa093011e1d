"""Identity deduplication: precision and recall on a synthetic population with injected duplicates.

Usage: .venv/bin/python benchmarks/quality.py [--people 5000] [--dup-share 0.2] [--seed 7]

A second part measures the bot and outlier flags (:mod:`pertinent.quality.outliers`) on synthetic profile
states: people with lognormal activity, and 1% bots of three kinds (crawlers far beyond any cap, scripted
clients repeating one event a few hundred times a day, and slow scrapers of one event over many sessions).
The peer is the hard caps alone.

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
from pertinent.quality.features import rate_features
from pertinent.quality.normalize import identifier
from pertinent.quality.outliers import OutlierSettings, detect

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
    outliers_part(args.people, args.seed)


def human(rng: random.Random) -> dict[str, object]:
    days = max(1, int(rng.lognormvariate(1.2, 0.8)))
    counts: dict[str, dict[str, object]] = {}
    total = sessions = 0
    for day in range(days):
        if rng.random() < 0.5:
            continue
        sessions_today = 1 + int(rng.expovariate(1.0))
        sessions += sessions_today
        for name in ("page", "Product Viewed", "Product Added", "Order Completed"):
            n = int(rng.lognormvariate({"page": 1.8, "Product Viewed": 1.4}.get(name, -0.5), 0.7) * sessions_today)
            if n:
                entry = counts.setdefault(name, {"total": 0, "days": {}})
                entry["total"] += n  # type: ignore[operator]
                entry["days"][str(day)] = n  # type: ignore[index]
                total += n
    return {"events_total": total, "sessions": max(sessions, 1), "first_seen": 0.0, "last_seen": days * 86400.0,
            "counts": counts}  # fmt: skip


def bot(kind: str, rng: random.Random) -> dict[str, object]:
    days = rng.randint(1, 5)
    per_day = {"crawler": rng.randint(3000, 20000), "scripted": rng.randint(250, 900), "slow": rng.randint(80, 200)}
    n = per_day[kind]
    sessions = {"crawler": days, "scripted": days, "slow": days * rng.randint(20, 60)}[kind]
    name = "Product Viewed" if kind != "scripted" else "Coupon Applied"
    counts = {name: {"total": n * days, "days": {str(d): n for d in range(days)}}}
    return {"events_total": n * days, "sessions": sessions, "first_seen": 0.0, "last_seen": days * 86400.0,
            "counts": counts}  # fmt: skip


def outliers_part(people: int, seed: int) -> None:
    rng = random.Random(seed)
    rows: list[dict[str, float | str]] = []
    bots: dict[str, str] = {}
    for i in range(people):
        if rng.random() < 0.01:
            kind = rng.choice(["crawler", "scripted", "slow"])
            bots[f"b{i}"] = kind
            rows.append({"id": f"b{i}", **rate_features(bot(kind, rng))})
        else:
            state = human(rng)
            if state["events_total"]:
                rows.append({"id": f"h{i}", **rate_features(state)})
    print(f"\nbots and outliers: {len(rows)} profiles, {len(bots)} bots "
          f"({', '.join(f'{k} {list(bots.values()).count(k)}' for k in ('crawler', 'scripted', 'slow'))})")  # fmt: skip
    print(f"{'method':<26} {'flagged':>7} {'precision':>9} {'recall':>7} {'F1':>6} {'seconds':>8}  recall by kind")
    truth = set(bots)
    for name, contamination in (("hard caps only (peer)", None), ("caps + IsolationForest", 0.01)):
        t = time.perf_counter()
        if contamination is None:
            cfg = OutlierSettings()
            found = {str(r["id"]) for r in rows if r["max_day_events"] > cfg.max_events_per_day
                     or r["events_per_session"] > cfg.max_events_per_session}  # fmt: skip
        else:
            found = {f.profile_id for f in detect(rows, OutlierSettings(contamination=contamination))}
        seconds = time.perf_counter() - t
        p, r, f = scores(found, truth)  # type: ignore[arg-type]
        by_kind = ", ".join(
            f"{k} {sum(1 for b, kk in bots.items() if kk == k and b in found)}/{list(bots.values()).count(k)}"
            for k in ("crawler", "scripted", "slow")
        )
        print(f"{name:<26} {len(found):>7} {p:>9.3f} {r:>7.3f} {f:>6.3f} {seconds:>8.2f}  {by_kind}")


if __name__ == "__main__":
    main()
